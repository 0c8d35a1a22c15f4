"""Diagonal linear networks w = u⊙u − v⊙v: data, the exact implicit-bias
interpolant (sympy facts, cvxpy dual, KKT polishing) and the batched
gradient-flow simulation of ``dynamics.diag_net_implicit_bias``."""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp
import torch

from theorycheck import Inconclusive
from theorycheck.symbolic.polish import polish_minimum

KKT_TOL = 1e-12        # ‖X w − y‖_∞ / ‖y‖_∞ after polishing the dual
SWITCH = 1e-3          # the flow's tail is finished by Gauss–Newton once its step moves no coordinate of
                       # θ = (u, v) by more than this fraction (the neglected terms are second order) ...
SWITCH_RES = 1e-4      # ... or once ‖Xw − y‖ ≤ 1e-4‖y‖ (measured: either way the limit is within 2e-7)
MAX_STEPS = 4_000      # RK4 steps at the coarse step (twice as many at h/2) before a draw is undecidable
CHECK_EVERY = 16       # residual checks (host syncs) every this many steps


# ---- data ---------------------------------------------------------------------------------------

def data(params) -> tuple[np.ndarray, np.ndarray]:
    """X (n×d, Gaussian, rank n almost surely) and y, scaled so that the minimum-ℓ2
    interpolant has max-abs entry 1 (α is then measured against the solution's scale:
    α² ≪ 1 rich, α² ≫ 1 kernel).  target = sparse: y = X w* with ⌈n/3⌉ non-zeros."""
    rng = np.random.default_rng(params["data_seed"])
    n, d = params["n"], params["d"]
    X = rng.standard_normal((n, d))
    if params["target"] == "sparse":
        k = max(1, -(-n // 3))
        w = np.zeros(d)
        w[rng.choice(d, k, replace=False)] = rng.standard_normal(k) + np.sign(rng.standard_normal(k))
        y = X @ w
    else:
        y = rng.standard_normal(n)
    scale = np.abs(np.linalg.pinv(X) @ y).max()
    return X, y / scale


# ---- exact side -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def potential_facts() -> dict:
    """sympy: q′(z) = asinh(z/2), q″(z) = (4 + z²)^(-1/2) > 0 (strictly convex) and the
    convex conjugate q*(s) = 2 cosh s − 2 (maximiser z = 2 sinh s), hence the dual
    min_ν α²·Σ q*((Xᵀν)_i) − yᵀν and w_α = 2α² sinh(Xᵀν)."""
    z, s = sp.symbols("z s", real=True)
    q = 2 - sp.sqrt(4 + z**2) + z * sp.asinh(z / 2)
    q1 = sp.diff(q, z)
    q2 = sp.diff(q1, z)
    assert sp.radsimp(sp.together(q1 - sp.asinh(z / 2))) == 0
    assert sp.radsimp(sp.together(q2 - 1 / sp.sqrt(4 + z**2))) == 0
    # asinh∘sinh is the identity on the reals: derivative 1 (cosh/√(1 + sinh²)) and 0 at 0
    inv = sp.asinh(sp.sinh(s))
    assert sp.diff(inv, s).subs(sp.sinh(s) ** 2, sp.cosh(s) ** 2 - 1) == 1 and inv.subs(s, 0) == 0
    zstar = 2 * sp.sinh(s)  # solves q′(z) = asinh(z/2) = s
    conj = (s * zstar - q.subs(z, zstar)).subs(inv, s).subs(sp.sinh(s) ** 2, sp.cosh(s) ** 2 - 1)
    assert sp.expand(conj - (2 * sp.cosh(s) - 2)) == 0
    return {"q": q, "q_prime": sp.asinh(z / 2), "q_second": 1 / sp.sqrt(4 + z**2), "conjugate": 2 * sp.cosh(s) - 2,
            "z": z, "s": s}


def Q(w: np.ndarray, alpha: float) -> float:
    """Q_α(w) = α² Σ q(w_i/α²), q(z) = 2 − √(4+z²) + z·asinh(z/2)."""
    z = np.asarray(w) / alpha**2
    return float(alpha**2 * np.sum(2 - np.sqrt(4 + z**2) + z * np.arcsinh(z / 2)))


def dual_functions(X, y, alpha):
    a2 = alpha**2

    def f(nu):
        return float(2 * a2 * np.sum(np.cosh(X.T @ nu) - 1) - y @ nu)

    def grad(nu):
        return 2 * a2 * X @ np.sinh(X.T @ nu) - y

    def hess(nu):
        return 2 * a2 * (X * np.cosh(X.T @ nu)) @ X.T

    return f, grad, hess


N_MAX, D_MAX = 15, 60   # the assumption space's largest problem: one compiled conic program serves every draw


@functools.lru_cache(maxsize=1)
def _padded_dual():
    """The dual as one parametrised (DPP) cvxpy program of the largest shape: X is zero-padded
    (a padded column adds the constant 2α², a padded row leaves its ν_j free, which the term
    Σ m_j ν_j² with m_j = 1 on padded rows pins to 0).  Compiled once per process."""
    import cvxpy as cp

    Xt = cp.Parameter((D_MAX, N_MAX))
    y = cp.Parameter(N_MAX)
    c = cp.Parameter()
    pad = cp.Parameter(N_MAX, nonneg=True)
    nu = cp.Variable(N_MAX)
    z = Xt @ nu
    obj = cp.sum(cp.exp(z + c)) + cp.sum(cp.exp(-z + c)) - y @ nu + cp.sum(cp.multiply(pad, cp.square(nu)))
    return cp.Problem(cp.Minimize(obj)), Xt, y, c, pad, nu


def _solve_padded(X, y, alpha) -> np.ndarray:
    from theorycheck.symbolic.convex import solve

    n, d = X.shape
    problem, Xt, yp, c, pad, nu = _padded_dual()
    Xpad = np.zeros((D_MAX, N_MAX))
    Xpad[:d, :n] = X.T
    ypad = np.zeros(N_MAX)
    ypad[:n] = y
    mask = np.zeros(N_MAX)
    mask[n:] = 1.0
    Xt.value, yp.value, c.value, pad.value = Xpad, ypad, float(np.log(alpha**2)), mask
    solve(problem, solver="CLARABEL")
    return np.asarray(nu.value[:n], dtype=float)


def conic_dual(X, y, alpha) -> np.ndarray:
    """The dual min_ν α²Σ(e^z + e^{−z}) − yᵀν, z = Xᵀν, as an exponential-cone program
    (cvxpy + Clarabel; anything short of status optimal is inconclusive)."""
    import cvxpy as cp

    from theorycheck.symbolic.convex import solve

    n, d = X.shape
    if n <= N_MAX and d <= D_MAX:
        try:
            return _solve_padded(X, y, alpha)
        except Inconclusive:
            pass  # the padded program came back 'optimal_inaccurate' (~1 % of draws): solve the draw's own
    nu = cp.Variable(n)
    z = X.T @ nu
    c = np.log(alpha**2)
    solve(cp.Problem(cp.Minimize(cp.sum(cp.exp(z + c)) + cp.sum(cp.exp(-z + c)) - y @ nu)), solver="CLARABEL")
    return np.asarray(nu.value, dtype=float)


def interpolant(X, y, alpha, nu0=None, conic=True):
    """w_α = 2α² sinh(Xᵀν) with ν the dual optimum: the conic solution polished by Newton
    until the KKT residual ‖X w − y‖_∞/‖y‖_∞ ≤ 1e-12 (stationarity of Q_α holds by
    construction).  Returns (w, ν, residual after the conic solve, residual after polishing)."""
    facts = potential_facts()  # noqa: F841 - the sympy facts the dual rests on (cached)
    if nu0 is None:
        nu0 = conic_dual(X, y, alpha) if conic else np.zeros(X.shape[0])
    f, grad, hess = dual_functions(X, y, alpha)
    scale = max(float(np.abs(y).max()), 1e-300)
    pol = polish_minimum(f, grad, hess, nu0, tol=KKT_TOL, scale=scale, max_iter=200)
    if not pol.converged:
        raise Inconclusive(f"KKT residual {pol.residual:.1e} after polishing (need ≤ {KKT_TOL:g})")
    w = 2 * alpha**2 * np.sinh(X.T @ pol.x)
    return w, pol.x, pol.start_residual, pol.residual


def min_l1(X, y) -> np.ndarray:
    """argmin ‖w‖₁ s.t. Xw = y (the α → 0 limit), as an LP (HiGHS)."""
    from scipy.optimize import linprog

    n, d = X.shape
    res = linprog(np.ones(2 * d), A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None), method="highs")
    if res.status != 0:
        raise Inconclusive(f"min-ℓ1 LP: {res.message}")
    return res.x[:d] - res.x[d:]


def min_l2(X, y) -> np.ndarray:
    """X⁺y (the α → ∞ limit)."""
    return np.linalg.pinv(X) @ y


# ---- simulation ---------------------------------------------------------------------------------

STRAGGLERS = 3         # rows still running when the batch is this small continue one by one in numpy


def _field(X, Xt_n, y, d):
    """The gradient flow of L = (1/2n)‖Xw − y‖² in θ = (u, v): u′ = −2u⊙g, v′ = 2v⊙g,
    g = Xᵀ(Xw − y)/n (batched torch).  Returns (θ′, g)."""

    def F(theta):
        sq = theta * theta
        r = torch.baddbmm(y, X, (sq[:, :d] - sq[:, d:]).unsqueeze(-1), beta=-1.0)
        g = torch.bmm(Xt_n, r).squeeze(-1)
        return theta * torch.cat([g, -g], dim=1).mul_(-2.0), g

    return F


def _step_scale(theta, g, lam4, d):
    """The step of one RK4 step is eps·s(θ_k), s = 1/(4λ_max(XᵀX/n)·‖u² + v²‖₄ + 2‖g‖₄), taken
    at the step's start: the first term bounds the stiffness (4λ_max·max(u² + v²)), the second
    the growth rate of coordinates escaping a saddle, so eps is the step in units of the
    fastest local time scale from the tiny-curvature start (α²) to the end (|w| ~ 1).  A step
    size that is a smooth function of the state keeps RK4's order-4 error expansion in eps."""
    sq = theta * theta
    D = sq[:, :d] + sq[:, d:]
    return 1.0 / (lam4 * (D * D).square_().sum(1, keepdim=True).sqrt_().sqrt_()
                  + 2 * (g * g).square_().sum(1, keepdim=True).sqrt_().sqrt_())


def _tail_move(X, y, theta) -> float:
    """max_i |Δθ_i|/θ_i of the Gauss–Newton step Δθ = J⁺r, J = X[diag(2u), −diag(2v)]
    (u, v > 0 along the flow): how far the linear tail still has to go, coordinatewise."""
    d = X.shape[1]
    sq = theta * theta
    r = X @ (sq[:d] - sq[d:]) - y
    lam = np.linalg.solve(4 * (X * (sq[:d] + sq[d:])) @ X.T, r)
    g = X.T @ lam
    step = 2 * theta * np.concatenate([g, -g])  # Jᵀλ
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.max(np.abs(step) / theta))


def _residual(X, y, theta) -> float:
    d = X.shape[1]
    sq = theta * theta
    return float(np.linalg.norm(X @ (sq[:d] - sq[d:]) - y) / np.linalg.norm(y))


def _rk4_numpy(X, y, lam4, eps, theta, t, max_steps, check_every):
    """One row, continued in numpy (small arrays: far less overhead per operation than torch):
    the same steps as the batched loop.  Returns (θ, step at which the switch residual was
    reached, or −1)."""
    n, d = X.shape
    Xt_n = X.T / n

    def F(th):
        sq = th * th
        g = Xt_n @ (X @ (sq[:d] - sq[d:]) - y)
        return -2.0 * th * np.concatenate([g, -g]), g

    while True:
        if t % check_every == 0:
            move = _tail_move(X, y, theta)
            if move <= SWITCH or _residual(X, y, theta) <= SWITCH_RES:
                return theta, t
            if not np.isfinite(move) or t >= max_steps:
                return theta, -1
        k1, g = F(theta)
        sq = theta * theta
        D = sq[:d] + sq[d:]
        h = eps / (lam4 * np.sqrt(np.sqrt(((D * D) ** 2).sum())) + 2 * np.sqrt(np.sqrt(((g * g) ** 2).sum())))
        k2, _ = F(theta + 0.5 * h * k1)
        k3, _ = F(theta + 0.5 * h * k2)
        k4, _ = F(theta + h * k3)
        theta = theta + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        t += 1


def _gauss_newton_tail(X, y, u, v, iters=8, tol=1e-15):
    """The limit of the flow from a state whose residual is ~1e-6: the linearised flow
    from θ converges to θ − J⁺(Xw − y) (the gradient only moves θ in range(Jᵀ));
    iterated, the neglected terms are second order in the remaining displacement."""
    for _ in range(iters):
        r = X @ (u * u - v * v) - y
        if np.abs(r).max() <= tol * max(1.0, np.abs(y).max()):
            break
        J = np.hstack([X * (2 * u), -X * (2 * v)])
        step = np.linalg.lstsq(J, r, rcond=None)[0]
        d = X.shape[1]
        u, v = u - step[:d], v - step[d:]
    return u, v


def flow_limits(problems, eps: float, ctx, rungs=(1.0, 0.5)):
    """RK4 on the gradient flow with steps eps·rung·s(θ_k), for every rung, all draws and rungs in
    one tensor program (zero-padded to the largest n, d; padded coordinates have u = v = 0 and
    stay there, the field being multiplicative) until at most STRAGGLERS rows are left, which
    finish one by one in numpy.  problems: list of (X, y, u0, v0).  Returns per rung a list of
    (w_limit, steps) per draw; w is NaN when the flow did not reach the switch residual within
    MAX_STEPS / rung steps."""
    B, R = len(problems), len(rungs)
    n_max = max(p[0].shape[0] for p in problems)
    d_max = max(p[0].shape[1] for p in problems)
    dev, dt = ctx.device, ctx.dtype
    Xn = np.zeros((B * R, n_max, d_max))
    yn = np.zeros((B * R, n_max, 1))
    th = np.zeros((B * R, 2 * d_max))
    scal = np.zeros((B * R, 4))  # n, 4·λ_max, eps·rung, ‖y‖
    for j, rung in enumerate(rungs):
        for b, (Xb, yb, u0, v0) in enumerate(problems):
            i = j * B + b
            nb, db = Xb.shape
            Xn[i, :nb, :db], yn[i, :nb, 0] = Xb, yb
            th[i, :db], th[i, d_max:d_max + db] = u0, v0
            scal[i] = nb, 4 * np.linalg.eigvalsh(Xb.T @ Xb / nb)[-1], eps * rung, np.linalg.norm(yb)
    max_steps = np.array([int(MAX_STEPS / r) for r in rungs for _ in range(B)])
    steps = np.full(B * R, -1)
    out = th.copy()
    active = np.arange(B * R)
    t = 0
    if B * R > STRAGGLERS:
        X = torch.as_tensor(Xn, dtype=dt, device=dev)
        y = torch.as_tensor(yn, dtype=dt, device=dev)
        theta = torch.as_tensor(th, dtype=dt, device=dev)
        sc = torch.as_tensor(scal, dtype=dt, device=dev)
        Xt_n = X.transpose(1, 2) / sc[:, 0, None, None]
        lam4, h, ynorm = sc[:, 1:2], sc[:, 2:3], sc[:, 3]
        rows = torch.arange(n_max, device=dev)
        pad_eye = torch.diag_embed((rows[None, :] >= sc[:, 0:1]).to(dt))
        F = _field(X, Xt_n, y, d_max)
        while True:
            if t % CHECK_EVERY == 0:
                sq = theta * theta
                r = torch.baddbmm(y, X, (sq[:, :d_max] - sq[:, d_max:]).unsqueeze(-1), beta=-1.0)
                # the Gauss–Newton step J⁺r = Jᵀ(JJᵀ)⁻¹r, JJᵀ = 4X diag(u² + v²)Xᵀ (padded rows: identity)
                JJ = 4 * torch.bmm(X * (sq[:, :d_max] + sq[:, d_max:]).unsqueeze(1), X.transpose(1, 2)) + pad_eye
                g = torch.bmm(X.transpose(1, 2), torch.linalg.solve(JJ, r)).squeeze(-1)
                move = (2 * torch.cat([g, -g], dim=1).abs()).amax(dim=1).cpu().numpy()  # |Δθ_i|/θ_i = 2|g_i|
                res = (torch.linalg.vector_norm(r.squeeze(-1), dim=1) / ynorm).cpu().numpy()
                tail = (move <= SWITCH) | (res <= SWITCH_RES)
                done = tail | ~np.isfinite(move) | (t >= max_steps[active])
                if done.any() or len(active) <= STRAGGLERS:
                    out[active[done]] = theta[torch.as_tensor(done, device=dev)].cpu().numpy()
                    steps[active[done]] = np.where(tail[done], t, -1)
                    keep = torch.as_tensor(~done, device=dev)
                    active = active[~done]
                    X, Xt_n, y, lam4, h, pad_eye, ynorm, theta = (X[keep], Xt_n[keep], y[keep], lam4[keep],
                                                                  h[keep], pad_eye[keep], ynorm[keep], theta[keep])
                    if len(active) <= STRAGGLERS:
                        out[active] = theta.cpu().numpy()
                        break
                    F = _field(X, Xt_n, y, d_max)
            k1, g = F(theta)
            hs = h * _step_scale(theta, g, lam4, d_max)
            k2, _ = F(torch.addcmul(theta, hs, k1, value=0.5))
            k3, _ = F(torch.addcmul(theta, hs, k2, value=0.5))
            k4, _ = F(torch.addcmul(theta, hs, k3))
            theta = torch.addcmul(theta, hs, k1.add_(k4).add_(k2.add_(k3), alpha=2.0), value=1.0 / 6.0)
            t += 1
    for i in active:  # the stragglers (or a small call: everything) continue one by one in numpy
        nb, db = problems[i % B][0].shape
        th_i = np.concatenate([out[i, :db], out[i, d_max:d_max + db]])
        th_i, steps[i] = _rk4_numpy(Xn[i, :nb, :db], yn[i, :nb, 0], scal[i, 1], scal[i, 2], th_i, t,
                                    max_steps[i], CHECK_EVERY)
        out[i, :db], out[i, d_max:d_max + db] = th_i[:db], th_i[db:]
    results = []
    for j in range(R):
        row = []
        for b, (Xb, yb, _, _) in enumerate(problems):
            i = j * B + b
            db = Xb.shape[1]
            if steps[i] < 0:
                row.append((np.full(db, np.nan), int(max_steps[i])))
                continue
            ub, vb = _gauss_newton_tail(Xb, yb, out[i, :db].copy(), out[i, d_max:d_max + db].copy())
            row.append((ub * ub - vb * vb, int(steps[i])))
        results.append(row)
    return results
