"""ℓp max-margin classifiers (exact side) and mirror descent with the potential
ψ(w) = ‖w‖_p^p/p on separable data, many draws at once (the simulation) for
``dynamics.mirror_descent_margin``."""
from __future__ import annotations

import functools
import warnings

import numpy as np
import torch

from theorycheck.sim.context import derive_seed
from theorycheck.verdict import Inconclusive

GAP_TOL = 1e-9   # relative duality gap that certifies a max-margin solution
TRACK_EVERY = 4  # the best iterate by normalised margin is looked for every 4 steps (and at checkpoints)


def draw_generators(ctx, n: int) -> list[torch.Generator]:
    if ctx.seeds:
        return ctx.generators()
    return [ctx.with_seed(derive_seed(ctx.seed, "draw", i)).generator() for i in range(n)]


@functools.lru_cache(maxsize=4096)
def data(n: int, d: int, redundant: int, data_seed: int) -> np.ndarray:
    """Rows z_i = y_i x_i: n Gaussian points in R^d (d > n: separable) with random labels,
    then ``redundant`` points z = Σ_j c_j z_j with c ≥ 0, Σ c_j ∈ [1.5, 2.5]: their margin
    under any feasible w is ≥ 1.5, so they are never support vectors."""
    rng = np.random.default_rng(data_seed)
    X = rng.normal(size=(n, d))
    y = rng.choice([-1.0, 1.0], size=n)
    Z = y[:, None] * X
    if redundant:
        C = rng.uniform(0, 1, size=(redundant, n))
        C = C / C.sum(1, keepdims=True) * rng.uniform(1.5, 2.5, size=(redundant, 1))
        Z = np.vstack([Z, C @ Z])
    Z.setflags(write=False)
    return Z


def _grad_psi_star(theta, q):
    return np.sign(theta) * np.abs(theta) ** (q - 1)


def _dual_newton(ZS, q, a, iters=100):
    """Newton ascent with backtracking on D(α) = Σα − ‖Z_Sᵀα‖_q^q/q (α unconstrained on S)."""
    def D(a):
        return a.sum() - (np.abs(ZS.T @ a) ** q).sum() / q
    lm = 0.0
    for _ in range(iters):
        th = ZS.T @ a
        g = 1 - ZS @ _grad_psi_star(th, q)
        if np.abs(g).max() < 1e-13:
            break
        H = ZS @ (((q - 1) * np.abs(th) ** (q - 2))[:, None] * ZS.T)
        H = H + lm * np.trace(H) / len(H) * np.eye(len(H))
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, g, rcond=1e-14)[0]
        t = 1.0
        if np.abs(g).max() > 1e-6:  # globalise far away; near the optimum D is flat to round-off
            d0, slope = D(a), g @ step
            while D(a + t * step) < d0 + 1e-4 * t * slope and t > 1e-10:
                t *= 0.5
        lm = 0.0 if t == 1.0 else max(1e-8, 10 * lm if lm else 1e-6)
        a = a + t * step
    return a


def certify(Z, p, a):
    """Weak duality: α ≥ 0 gives D(α) ≤ min ψ; w(α) rescaled to margin 1 is feasible, ψ(w) ≥ min ψ.
    Returns (feasible w, relative gap (ψ(w) − D(α))/ψ(w))."""
    q = p / (p - 1)
    a = np.maximum(a, 0)
    th = Z.T @ a
    D = a.sum() - (np.abs(th) ** q).sum() / q
    w = _grad_psi_star(th, q)
    mm = (Z @ w).min()
    if not mm > 0:
        return None, np.inf
    w = w / mm
    P = (np.abs(w) ** p).sum() / p
    return w, (P - D) / P


def _active_set(Z, p, S, a_S):
    n, q = Z.shape[0], p / (p - 1)
    best = (None, np.inf)
    # scale the start so that the margins are about 1: w(cα) = c^{q−1}·w(α)
    marg = Z[S] @ _grad_psi_star(Z[S].T @ a_S, q)
    if np.all(np.isfinite(marg)) and marg.mean() > 0:
        a_S = a_S * marg.mean() ** (-1 / (q - 1))
    for _ in range(30):
        a_S = _dual_newton(Z[S], q, a_S)
        a = np.zeros(n)
        a[S] = a_S
        w, gap = certify(Z, p, a)
        if gap < best[1]:
            best = (w, gap)
        if gap < 1e-13:
            break
        marg = Z @ _grad_psi_star(Z.T @ a, q)
        neg = np.flatnonzero(S & (a < 0))
        viol = np.flatnonzero(~S & (marg < 1 - 1e-12))
        if neg.size:
            S[neg[np.argmin(a[neg])]] = False
        elif viol.size:
            S[viol[np.argmin(marg[viol])]] = True
        else:
            break
        a_S = np.maximum(a[S], 1e-3 * np.abs(a).max())
    return best


@functools.lru_cache(maxsize=4096)
def max_margin(n: int, d: int, redundant: int, data_seed: int, p: float):
    """argmin{‖w‖_p : Zw ≥ 1}, certified by a relative duality gap ≤ GAP_TOL: the dual
    max_{α≥0} Σα − ‖Zᵀα‖_q^q/q (1/p + 1/q = 1) by Newton with an active set; when that does
    not certify, cvxpy (pnorm, power cones, status optimal) finds the support set and the
    dual Newton polishes on it.  Returns (w with min margin 1, ℓp margin 1/‖w‖_p, gap)."""
    Z = data(n, d, redundant, data_seed)
    S = np.zeros(Z.shape[0], bool)
    S[:n] = True
    a0 = np.abs(np.linalg.solve(Z[:n] @ Z[:n].T, np.ones(n)))
    w, gap = _active_set(Z, p, S, a0)
    if not gap <= GAP_TOL:
        w, gap = _via_cvxpy(Z, p, (w, gap))
    if not gap <= GAP_TOL:
        raise Inconclusive(f"ℓ{p:g} max-margin not certified: relative duality gap {gap:.1e} > {GAP_TOL:g}")
    w.setflags(write=False)
    return w, float(1 / np.linalg.norm(w, p)), float(gap)


def _via_cvxpy(Z, p, fallback):
    import cvxpy as cp

    from theorycheck.symbolic.convex import solve

    v = cp.Variable(Z.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            solve(cp.Problem(cp.Minimize(cp.pnorm(v, p, approx=False)), [Z @ v >= 1]))
        except Inconclusive:
            return fallback
    w = np.asarray(v.value, dtype=float)
    marg = Z @ w / (Z @ w).min()
    S = marg <= 1 + 1e-6
    theta = np.sign(w) * np.abs(w) ** (p - 1)          # ∇ψ(w) = Z_Sᵀα on the support set
    a_S = np.abs(np.linalg.lstsq(Z[S].T, theta, rcond=None)[0])
    got = _active_set(Z, p, S.copy(), a_S)
    return got if got[1] < fallback[1] else fallback


def cosine_gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@functools.lru_cache(maxsize=64)
def uniform_convexity(p: float) -> float:
    """The modulus used by ``ball_radius``.  p ≤ 2: ½‖·‖_p² is (p − 1)-strongly convex w.r.t.
    ‖·‖_p.  p ≥ 2: per coordinate |b|^p − |a|^p − p|a|^{p−2}a(b − a) ≥ c_p|b − a|^p with
    c_p = min_t (|t + 1|^p − |t|^p − p|t|^{p−2}t) (homogeneity reduces it to one variable;
    ≥ 1/(2^{p−1} − 1)); returned ×0.999 for the numerical minimisation."""
    if p <= 2:
        return p - 1
    from scipy.optimize import minimize_scalar

    g = lambda t: abs(t + 1) ** p - abs(t) ** p - p * abs(t) ** (p - 2) * t
    ts = np.linspace(-3, 3, 6001)
    v = np.array([g(t) for t in ts])
    i = int(v.argmin())
    r = minimize_scalar(g, bracket=(ts[i - 1], ts[i], ts[i + 1]))
    c = min(float(r.fun), float(v.min()))
    assert c >= 1 / (2 ** (p - 1) - 1) - 1e-12
    return 0.999 * c


def ball_radius(norm_w: float, norm_star: float, p: float) -> float:
    """For w feasible (Zw ≥ 1) and w* = argmin{‖w‖_p : Zw ≥ 1}, first-order optimality and
    uniform convexity give ‖w − w*‖_p ≤ radius; NaN when ‖w‖_p < ‖w*‖_p (impossible if w*
    is the minimiser)."""
    c = uniform_convexity(p)
    if p <= 2:
        r2 = (norm_w**2 - norm_star**2) / c
        return float(np.sqrt(r2)) if r2 >= 0 else float("nan")
    rp = (norm_w**p - norm_star**p) / c
    return float(rp ** (1 / p)) if rp >= 0 else float("nan")


# ---- simulation ---------------------------------------------------------------------------
def mirror_descent(Z, mask, p, modes, steps: int, checkpoints, eta: float = 1.0):
    """Mirror descent ∇ψ(w_{t+1}) = ∇ψ(w_t) − η∇L(w_t), ∇ψ(w) = sign(w)|w|^{p−1}, from w = 0,
    for a batch of rows: Z (B, N, d) zero-padded, mask (B, N) marks real points, p (B,), modes
    (B,) codes: 0 normalized, L = log Σ_i exp(−z_i·w) (steps normalised by the loss, η = 1);
    1 logistic, L = (1/N)Σ_i log(1 + exp(−z_i·w)), fixed η; 2 square, L = (1/2N)Σ_i (z_i·w − 1)²
    (= the square loss on ±1 labels; the break).  Torch tensors (batched sweeps) or numpy
    arrays (single draws: the same arithmetic, far cheaper per step at batch size 1).
    Returns, at the checkpoints: the iterate w_t, the best iterate so far by ℓp-normalised
    margin min_i z_i·w/‖w‖_p (among every 4th iterate and the checkpoints), and that margin:
    (C, B, d), (C, B, d), (C, B).  (MD's normalised margin oscillates from step to step; its
    running maximum has the same limit.)"""
    xp = np if isinstance(Z, np.ndarray) else torch
    B, N, d = Z.shape
    pp = p[:, None]
    q = pp / (pp - 1.0)
    q1 = 1.0 / (pp - 1.0)                                # w = sign(θ)|θ|^{1/(p−1)}
    theta = Z[:, 0, :] * 0
    w = theta * 1
    best_w = theta * 1
    best = p * 0 - float("inf")
    count = mask.sum(1)[:, None] * 1.0
    norm_, logi_, sq_ = (modes == 0)[:, None], (modes == 1)[:, None], (modes == 2)[:, None]
    maskf = mask * 1.0
    ninf = xp.where(mask, 0.0, float("-inf")) if xp is np else torch.where(mask, 0.0, float("-inf")).to(Z.dtype)
    pinf = -ninf

    def softmax(x):
        if xp is np:
            e = np.exp(x - x.max(1, keepdims=True))
            return e / e.sum(1, keepdims=True)
        return torch.softmax(x, dim=1)

    def track(margins, la, best, best_w, w):
        # ℓp-normalised margin of w: ‖w‖_p = (Σ|θ|^q)^{1/p}
        mn = (margins + pinf).min(1)
        mn = mn if xp is np else mn.values
        gam = mn / xp.exp(q * la).sum(1) ** (1.0 / p)
        better = gam > best
        return xp.where(better, gam, best), xp.where(better[:, None], w, best_w)

    out_w, out_best, out_margin, cps = [], [], [], set(checkpoints)
    only_normalized = bool((modes == 0).all())
    la = None
    with np.errstate(divide="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            margins = (Z * w[:, None, :]).sum(-1)                       # (B, N), of w = w_{t−1}
            if la is not None and t % TRACK_EVERY == 0:
                best, best_w = track(margins, la, best, best_w, w)
            if only_normalized:
                weights = softmax(ninf - margins)
            else:
                soft = softmax(ninf - margins)
                sig = 0.5 * (1 + xp.tanh(-margins / 2)) if xp is np else torch.sigmoid(-margins)
                weights = norm_ * soft + logi_ * (sig * maskf / count) + sq_ * ((1 - margins) * maskf / count)
            theta = theta + eta * (weights[:, :, None] * Z).sum(1)
            la = xp.log(xp.abs(theta))
            w = xp.sign(theta) * xp.exp(q1 * la)
            if t in cps:
                b2, bw2 = track((Z * w[:, None, :]).sum(-1), la, best, best_w, w)
                out_w.append(w * 1)
                out_best.append(bw2)
                out_margin.append(b2)
    return xp.stack(out_w), xp.stack(out_best), xp.stack(out_margin)


def mirror_descent_single(z: np.ndarray, p: float, mode: int, steps: int, checkpoints, eta: float = 1.0):
    """``mirror_descent`` for one draw (z (N, d), no padding) in plain numpy matrix–vector
    products: the same arithmetic, ~10× cheaper per step than a batch of one.  Same returns
    (with B = 1)."""
    N, d = z.shape
    q, q1 = p / (p - 1.0), 1.0 / (p - 1.0)
    theta = np.zeros(d)
    w = np.zeros(d)
    best_w, best = np.zeros(d), -np.inf
    out_w, out_best, out_margin, cps = [], [], [], set(checkpoints)
    la = None

    def track(margins, la, best, best_w, w):
        gam = margins.min() / np.exp(q * la).sum() ** (1.0 / p)
        return (gam, w) if gam > best else (best, best_w)

    with np.errstate(divide="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            margins = z @ w
            if la is not None and t % TRACK_EVERY == 0:
                best, best_w = track(margins, la, best, best_w, w)
            if mode == 0:
                e = np.exp(-margins - (-margins).max())
                weights = e / e.sum()
            elif mode == 1:
                weights = 0.5 * (1 + np.tanh(-margins / 2)) / N
            else:
                weights = (1 - margins) / N
            theta = theta + eta * (weights @ z)
            la = np.log(np.abs(theta))
            w = np.sign(theta) * np.exp(q1 * la)
            if t in cps:
                b2, bw2 = track(z @ w, la, best, best_w, w)
                out_w.append(w.copy())
                out_best.append(bw2.copy())
                out_margin.append(b2)
    return np.stack(out_w)[:, None], np.stack(out_best)[:, None], np.array(out_margin)[:, None]
