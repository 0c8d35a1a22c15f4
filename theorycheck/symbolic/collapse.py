"""Exact predictions of neural-collapse theorems: the reduced scalar problems.

Each theorem says the minimiser has a given *shape* (simplex ETF, orthogonal
frame); what it predicts beyond the shape — the lengths of features and
classifiers, the minimum loss, where classes collapse to zero — follows from
a scalar problem obtained by putting the shape into the loss.  Those scalar
problems are solved here in sympy *once, with every parameter symbolic*
(cached per process): the closed forms are then evaluated per draw in
floating point (float64; the checks compare at ≥ 1e-9 relative), so a draw
costs microseconds instead of a fresh symbolic solve.

- Cross-entropy UFM (balanced, with bias): with W rows and class means on a
  simplex ETF, ‖w_k‖ = a, ‖m_k‖ = h, the regulariser at fixed t = a·h is
  minimised by the AM–GM balance a⁴ = nλ_H t²/λ_W (solved in sympy), leaving
  g(t) = log(e^t + (K−1)e^{−t/(K−1)}) − t + Kσt, σ = √(nλ_Wλ_H).  In
  u = e^{−tK/(K−1)} the stationarity condition is linear; sympy solves it and
  checks the root by substituting it back into g'(t).  g is convex (a
  log-sum-exp of linear functions plus a linear term), so the minimiser is
  that root when g'(0) < 0 and t = 0 (W = H = 0) otherwise; the threshold
  g'(0) = 0 is solved for λ_H.
- MSE UFM with L factors (W_{L−1}⋯W_1 H, no bias), class counts n_k: the
  product's singular values s_k minimise
  φ_k(s) = (s − √n_k)²/(2N) + (L/2)c s^{2/L}, c = (λ_H Πλ_j)^{1/L}
  (von Neumann's trace inequality aligns the product with Y; AM–GM balances
  the factors: every factor gets λ_j σ_j² = (s² Πλ)^{1/L}).  L = 2: sympy's
  root of φ' clipped at 0.  L ≥ 3: φ is not convex; with s = x^L the positive
  stationary points are roots of the polynomial sympy derives from φ'
  (found numerically, polished by Newton, every candidate and s = 0
  compared).  The collapse threshold: in u = s/√n_k, φ_k ∝ (u − 1)² +
  Lβu^{2/L} with β = cN n_k^{1/L−1}; sympy solves "φ = φ(0) and φ' = 0"
  exactly, giving β*(L) (a first-order transition for L ≥ 3, β* = 1 for
  L = 2), hence c*_k = β*(L) n_k^{1−1/L}/N.
- Supervised contrastive loss on the unit sphere with non-negative features:
  per anchor the loss is convex in its similarities on the box the
  constraints allow (z ∈ [0, 1/τ]); sympy simplifies the two partial
  derivatives at the corner (positives 1/τ, negatives 0) and proves their
  signs (KKT of a convex problem on a box), so the corner — attained by
  collapsed classes on an orthogonal frame — is the minimum.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np
import sympy as sp

from ..verdict import Inconclusive

DIGITS = 30  # kept for callers that format exact values

# symbols shared by the derivations
t_, a_, u_, s_, x_ = sp.symbols("t a u s x", positive=True)
K_, n_, N_ = sp.symbols("K n N", positive=True)
LW, LH, SIG, TAU, BETA, C_ = sp.symbols("lambda_W lambda_H sigma tau beta c", positive=True)
zp, zn = sp.symbols("z_p z_n", real=True)


def exact(x) -> sp.Rational | sp.Integer:
    """A float parameter as the exact rational it stands for."""
    return sp.Rational(x) if not isinstance(x, sp.Basic) else x


def etf_gram(K: int) -> sp.Matrix:
    """Gram of the unit-norm simplex ETF, (K/(K−1))(I − 11ᵀ/K)."""
    return sp.Rational(K, K - 1) * (sp.eye(K) - sp.ones(K, K) / K)


def etf_gram_np(K: int) -> np.ndarray:
    return K / (K - 1) * (np.eye(K) - 1.0 / K)


# ---- cross-entropy, balanced, simplex ETF ---------------------------------------

def ce_at_etf(K: int, t) -> sp.Expr:
    """Cross-entropy of one sample when logits are t times a row of the ETF Gram."""
    logits = [t * g for g in etf_gram(K).row(0)]
    return sp.log(sum(sp.exp(z) for z in logits)) - logits[0]


def ce_at_etf_symbolic(t) -> sp.Expr:
    """Cross-entropy at logits t·(row of the ETF Gram) for symbolic K: the true
    logit is t, the K − 1 others are −t/(K − 1) (cosines of the simplex ETF)."""
    return sp.log(sp.exp(t) + (K_ - 1) * sp.exp(-t / (K_ - 1))) - t


@lru_cache(maxsize=1)
def ce_scale_law() -> dict:
    """The CE scale problem solved once with K, n, λ_W, λ_H symbolic.

    Returns sympy expressions (``a_star``: ‖w‖ at given t; ``g``: the scalar
    loss; ``u_star`` / ``t_star``: the minimiser while g'(0) < 0;
    ``threshold_lam_h``) and float functions of (K, n, λ_W, λ_H)."""
    p = sp.Symbol("p", positive=True)                                   # p = a² = ‖w_k‖²
    reg = K_ / 2 * (LW * p + n_ * LH * t_ ** 2 / p)                     # K/2(λ_W a² + nλ_H h²), h = t/a
    p_star = sp.solve(sp.diff(reg, p), p, simplify=False)
    if len(p_star) != 1:
        raise AssertionError(f"AM–GM step gave {p_star}")
    a_star = sp.sqrt(p_star[0])
    sigma = sp.sqrt(n_ * LW * LH)
    if sp.simplify(reg.subs(p, p_star[0]) - K_ * sigma * t_) != 0:    # the balanced regulariser is Kσt
        raise AssertionError("AM–GM step")
    # CE at the ETF is log(1 + (K−1)E), E = e^{−tK/(K−1)}: the stationarity condition is linear in E
    E = sp.exp(-t_ * K_ / (K_ - 1))
    g_e = sp.log(1 + (K_ - 1) * E) + K_ * SIG * t_
    eq = sp.fraction(sp.together(sp.diff(g_e, t_).subs(E, u_)))[0]
    roots = sp.solve(eq, u_, simplify=False)
    if len(roots) != 1:
        raise AssertionError(f"CE stationarity in u gave {roots}")
    u_star = roots[0]
    t_star = -(K_ - 1) / K_ * sp.log(u_star)
    g = ce_at_etf_symbolic(t_) + K_ * SIG * t_                         # the loss as the ETF logits give it
    dg = sp.diff(g, t_)
    if sp.simplify(dg.subs(t_, t_star)) != 0:                           # certificate: g'(t*) = 0 in that form
        raise AssertionError("the CE root does not make g' vanish")
    slope0 = sp.simplify(dg.subs(t_, 0))                               # K σ − 1
    sig_star = sp.solve(slope0, SIG, simplify=False)[0]                                # σ* = 1/K
    thr = sp.solve(sp.Eq(sigma, sig_star), LH, simplify=False)[0]                      # λ_H* = 1/(K² n λ_W)
    args = (K_, n_, LW, LH)
    sub = {SIG: sigma}
    return {"a_star": a_star, "g": g, "u_star": u_star, "t_star": t_star, "slope0": slope0,
            "threshold_lam_h": thr,
            "f_t": sp.lambdify(args, t_star.subs(sub), "math"),
            "f_g": sp.lambdify((t_, *args), g.subs(sub), "math"),
            "f_a": sp.lambdify((t_, *args), a_star, "math"),
            "f_thr": sp.lambdify(args, thr, "math"),
            "f_slope0": sp.lambdify(args, slope0.subs(sub), "math")}


def ce_etf_optimum(K: int, n: int, lam_w: float, lam_h: float) -> dict:
    """Optimal scale of the cross-entropy UFM at the simplex ETF (floats):
    ``t`` = w_k·m_k, ``norm_w`` = ‖w_k‖, ``norm_h`` = ‖m_k‖, ``loss`` (the
    minimum of the regularised loss), ``threshold_lam_h`` (the λ_H from which
    on the optimum is W = H = 0) and ``collapsed``."""
    law = ce_scale_law()
    args = (int(K), int(n), float(lam_w), float(lam_h))
    collapsed = law["f_slope0"](*args) >= 0
    if collapsed:
        t = a = h = 0.0
    else:
        t = float(law["f_t"](*args))
        a = float(law["f_a"](t, *args))
        h = t / a
    return {"t": t, "norm_w": a, "norm_h": h, "loss": float(law["f_g"](t, *args)),
            "threshold_lam_h": float(law["f_thr"](*args)), "collapsed": bool(collapsed)}


# ---- MSE, L factors, per-class scalar problems ----------------------------------

def phi(n_k, N, L: int, c) -> sp.Expr:
    """φ_k(s) = (s − √n_k)²/(2N) + (L/2)·c·s^{2/L}, c = (λ_H Πλ_j)^{1/L}."""
    return (s_ - sp.sqrt(n_k)) ** 2 / (2 * N) + sp.Rational(L, 2) * c * s_ ** sp.Rational(2, L)


@lru_cache(maxsize=8)
def mse_scale_law(L: int) -> dict:
    """The per-class scalar problem of an L-factor MSE UFM, solved once with
    n_k, N, c symbolic: ``s_star`` (L = 2, before clipping at 0) or the
    stationary polynomial in x = s^{1/L} (L ≥ 3), and the collapse constant
    β*(L) from "φ = φ(0), φ' = 0" in u = s/√n."""
    f = phi(n_, N_, L, C_)
    out: dict = {"phi": f, "f_phi": sp.lambdify((s_, n_, N_, C_), f, "math")}
    if L == 2:
        roots = sp.solve(sp.diff(f, s_), s_)
        if len(roots) != 1:
            raise AssertionError(f"φ' = 0 gave {roots}")
        out["s_star"] = roots[0]                                   # √n − N c
        out["f_s"] = sp.lambdify((n_, N_, C_), roots[0], "math")
    else:
        # φ'(x^L)·x^{L−2}·N = x^{2L−2} − √n x^{L−2} + cN after clearing powers: derived, not typed in
        dphi = sp.diff(f, s_).subs(s_, x_ ** L)
        poly = sp.Poly(sp.expand(sp.powsimp(dphi * N_ * x_ ** (L - 2), force=True)), x_)
        out["poly"] = poly
        out["poly_coeffs"] = [sp.lambdify((n_, N_, C_), cf, "math") for cf in poly.all_coeffs()]
    # collapse: (u − 1)² + Lβu^{2/L} = 1 and its u-derivative = 0, u > 0
    w = sp.Symbol("w", positive=True)                              # u = w^L keeps the powers integral
    e1 = sp.expand((w ** L - 1) ** 2 + L * BETA * w ** 2 - 1)
    e2 = sp.expand(sp.diff((w ** L - 1) ** 2 + L * BETA * w ** 2, w) / w)
    if L == 2:
        beta_star = sp.Integer(1)                                  # continuous: s* = √n − Nc reaches 0 at β = 1
        if sp.simplify(out["s_star"].subs(C_, beta_star * sp.sqrt(n_) / N_)) != 0:
            raise AssertionError("L = 2 threshold")
    else:
        # e2 is linear in β: eliminate it, then e1 is a polynomial in w alone (far faster than
        # sympy's general polynomial-system solver, which takes seconds at L = 3 and stalls at L = 5)
        beta_w = sp.solve(e2, BETA)
        if len(beta_w) != 1:
            raise AssertionError(f"φ' = 0 in β gave {beta_w}")
        sols = [(wv, sp.simplify(beta_w[0].subs(w, wv))) for wv in sp.solve(sp.factor(e1.subs(BETA, beta_w[0])), w)]
        sols = [(wv, bv) for wv, bv in sols if wv.is_positive and bv.is_positive]
        if len(sols) != 1:
            raise AssertionError(f"collapse system gave {sols}")
        for e in (e1, e2):   # certificate: the pair solves both equations
            if sp.simplify(e.subs({w: sols[0][0], BETA: sols[0][1]})) != 0:
                raise AssertionError("collapse system")
        beta_star = sp.nsimplify(sp.simplify(sols[0][1]))
    out["beta_star"] = beta_star
    out["u_jump"] = sp.Integer(0) if L == 2 else sp.simplify(sols[0][0] ** L)
    return out


@lru_cache(maxsize=8)
def beta_star(L: int) -> float:
    """β*(L) as a float (evaluated once per L)."""
    return float(mse_scale_law(L)["beta_star"])


def collapse_constant(n_k: int, N: int, L: int) -> float:
    """c*_k = β*(L)·n_k^{1 − 1/L}/N: class k collapses to 0 once c = (λ_H Πλ)^{1/L} ≥ c*_k
    (for L = 2 equivalently λ_H ≥ n_k/(N²λ_W))."""
    return beta_star(L) * n_k ** (1 - 1 / L) / N


@lru_cache(maxsize=4096)
def minimise_phi(n_k: int, N: int, L: int, c: float) -> float:
    """Global minimiser of φ_k over s ≥ 0 (float).  L = 2: the root clipped at 0.
    L ≥ 3: the best of s = 0 and every positive stationary point (roots of the
    derived polynomial, Newton-polished)."""
    law = mse_scale_law(L)
    c = float(c)
    if L == 2:
        return max(0.0, float(law["f_s"](n_k, N, c)))
    coeffs = [float(f(n_k, N, c)) for f in law["poly_coeffs"]]
    fphi = law["f_phi"]
    cands = [0.0]
    p = np.poly1d(coeffs)
    dp = p.deriv()
    for r in np.roots(coeffs):
        if abs(r.imag) > 1e-6 * max(1.0, abs(r)) or r.real <= 0:
            continue
        x = float(r.real)
        for _ in range(5):
            dv = dp(x)
            if dv == 0:
                break
            x -= p(x) / dv
        if x > 0:
            cands.append(x ** L)
    vals = [fphi(s, n_k, N, c) for s in cands]
    return cands[int(np.argmin(vals))]


def reg_constant(lams: Sequence, lam_h) -> float:
    """(λ_H Πλ_j)^{1/L}: what the AM–GM balance of L factors leaves of the regularisers."""
    logs = math.log(float(lam_h)) + sum(math.log(float(lam)) for lam in lams)
    return math.exp(logs / (len(lams) + 1))


def frame_lengths(s: float, n_k: int, lams: Sequence, lam_h) -> tuple[list, float]:
    """Lengths that a product singular value s forces on balanced factors:
    every factor gets λ_j σ_j² = τ = (s² λ_H Πλ_j)^{1/L} (the AM–GM equality
    case).  Returns the class-mean lengths after 0, 1, …, L−2 weight layers
    (σ_H Π_{i≤j} σ_i / √n_k) and the classifier row length σ_{L−1}."""
    lam_list = [float(lam_h)] + [float(lam) for lam in lams]
    L = len(lam_list)
    if s <= 0:
        return [0.0] * (L - 1), 0.0
    tau = math.exp((2 * math.log(s) + sum(math.log(v) for v in lam_list)) / L)
    sigmas = [math.sqrt(tau / lam) for lam in lam_list]           # H first, classifier last
    lengths, acc = [], 1.0
    for sig in sigmas[:-1]:
        acc *= sig
        lengths.append(acc / math.sqrt(n_k))
    return lengths, sigmas[-1]


def frame_optimum(counts: Sequence[int], lams: Sequence, lam_h) -> dict:
    """Per-class optimum of the bias-free MSE UFM with factors W_1..W_{L−1}
    (``lams`` from the first layer to the classifier) and features H (floats).

    Returns arrays over classes: ``s`` (singular value of the product, i.e.
    W_L⋯W_1 m_k = s_k/√n_k e_k), ``product_scale`` = s_k/√n_k, ``norm_w``
    (classifier rows), ``norm_h`` (class means of H), ``layer_norms``
    (class-mean lengths after 0, 1, …, L−2 weight layers, shape (K, L−1)),
    ``collapse_c`` (c*_k) and ``collapsed`` (c ≥ c*_k), plus ``loss`` and
    ``reg_constant``."""
    L = len(lams) + 1
    N = sum(int(n) for n in counts)
    c = reg_constant(lams, lam_h)
    fphi = mse_scale_law(L)["f_phi"]
    s_vals = [minimise_phi(int(n), N, L, float(c)) for n in counts]
    loss = sum(fphi(s, int(n), N, c) for n, s in zip(counts, s_vals))
    layer_norms, norm_w = [], []
    for n, s in zip(counts, s_vals):
        lengths, w = frame_lengths(s, int(n), lams, lam_h)
        layer_norms.append(lengths)
        norm_w.append(w)
    thr = [collapse_constant(int(n), N, L) for n in counts]
    return {"s": np.array(s_vals), "product_scale": np.array([s / math.sqrt(n) for n, s in zip(counts, s_vals)]),
            "norm_w": np.array(norm_w), "norm_h": np.array([ls[0] for ls in layer_norms]),
            "layer_norms": np.array(layer_norms), "loss": float(loss), "reg_constant": c,
            "collapse_c": np.array(thr), "collapsed": np.array([c >= t for t in thr])}


def collapse_threshold_two_factor(n_k: int, N: int, lam_w) -> float:
    """λ_H at which class k collapses to zero in the 2-factor MSE UFM (c*_k² / λ_W)."""
    return collapse_constant(n_k, N, 2) ** 2 / float(lam_w)


# ---- supervised contrastive loss ------------------------------------------------

def scl_anchor_loss(n_k, N) -> sp.Expr:
    """Loss of one anchor of class k when all its positives have similarity
    z_p and all its negatives z_n (similarities already divided by τ)."""
    return sp.log((n_k - 1) * sp.exp(zp) + (N - n_k) * sp.exp(zn)) - zp


@lru_cache(maxsize=1)
def scl_corner_law() -> dict:
    """KKT at the orthogonal-frame corner, proved once for symbolic n_k < N:
    the loss of an anchor, as a function of each single similarity, has
    derivative e^{z_a}/D − 1/|P| in a positive and e^{z_a}/D in a negative
    (D the softmax denominator); at the corner these are −(N − n_k)/(|P|D) < 0
    and 1/D > 0, so raising a positive or lowering a negative is impossible
    and the corner is the minimum on the box (the anchor loss is convex)."""
    P = sp.Symbol("P", positive=True)               # |P(i)| = n_k − 1 positives
    Q = sp.Symbol("Q", positive=True)               # N − n_k negatives
    zs = sp.symbols("z_a z_b", real=True)
    # one positive z_a among P − 1 others at 1/τ, negatives at 0 (and symmetrically for a negative z_b)
    D_pos = sp.exp(zs[0]) + (P - 1) * sp.exp(1 / TAU) + Q
    loss_pos = sp.log(D_pos) - (zs[0] + (P - 1) / TAU) / P
    d_pos = sp.simplify(sp.diff(loss_pos, zs[0]).subs(zs[0], 1 / TAU))
    D_neg = P * sp.exp(1 / TAU) + (Q - 1) + sp.exp(zs[1])
    loss_neg = sp.log(D_neg) - 1 / TAU
    d_neg = sp.simplify(sp.diff(loss_neg, zs[1]).subs(zs[1], 0))
    if not (sp.simplify(d_pos * P * (P * sp.exp(1 / TAU) + Q) + Q) == 0):
        raise AssertionError(f"positive-side derivative {d_pos}")
    if not d_neg.is_positive:
        raise AssertionError(f"negative-side derivative {d_neg}")
    corner = scl_anchor_loss(n_, N_).subs({zp: 1 / TAU, zn: 0})
    return {"d_pos": d_pos, "d_neg": d_neg, "corner": corner,
            "f_corner": sp.lambdify((n_, N_, TAU), corner, "math")}


def scl_orthogonal_optimum(counts: Sequence[int], tau) -> dict:
    """Minimum SCL loss with non-negative unit features (float): Σ_k n_k ×
    (corner value of its anchors), valid when every class has n_k ≥ 2 and
    there is more than one class (the KKT signs of :func:`scl_corner_law`)."""
    N = sum(int(n) for n in counts)
    if min(counts) < 2 or len(counts) < 2:
        raise Inconclusive("SCL corner needs n_k ≥ 2 and K ≥ 2")
    f = scl_corner_law()["f_corner"]
    return {"loss": float(sum(int(n) * f(int(n), N, float(tau)) for n in counts))}


def scl_loss_at(counts: Sequence[int], tau, cosines: np.ndarray) -> float:
    """SCL loss of collapsed unit features whose class vectors have the cosine
    matrix ``cosines`` (K×K, ones on the diagonal)."""
    counts = [int(n) for n in counts]
    total = 0.0
    for k, n in enumerate(counts):
        z = np.array([cosines[k, j] for j in range(len(counts)) for _ in range(counts[j])]) / tau
        # the anchor itself is one of the n copies of class k: drop one entry at 1/τ
        z = np.delete(z, sum(counts[:k]))
        m = z.max()
        lse = m + math.log(np.exp(z - m).sum())
        total += n * (lse - cosines[k, k] / tau)
    return total


def scl_etf_loss(counts: Sequence[int], tau) -> float:
    """SCL loss of collapsed unit features on a simplex ETF (cosine −1/(K−1))."""
    return scl_loss_at(counts, float(tau), etf_gram_np(len(counts)))


def with_lams(params: dict) -> dict:
    """λ_W, λ_H from their geometric mean ``reg`` and ratio ``lam_ratio`` (the
    drawn parameters of the MSE claims)."""
    r = params["lam_ratio"] ** 0.5
    return {**params, "lam_W": params["reg"] / r, "lam_H": params["reg"] * r}


__all__ = ["exact", "etf_gram", "etf_gram_np", "ce_at_etf", "ce_at_etf_symbolic", "ce_scale_law", "ce_etf_optimum",
           "phi", "mse_scale_law", "beta_star", "collapse_constant", "minimise_phi", "reg_constant", "frame_lengths",
           "frame_optimum", "collapse_threshold_two_factor", "scl_anchor_loss", "scl_corner_law",
           "scl_orthogonal_optimum", "scl_loss_at", "scl_etf_loss", "with_lams", "DIGITS"]
