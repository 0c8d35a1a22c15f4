"""Exact predictions of neural-collapse theorems: the reduced scalar problems.

Each theorem says the minimiser has a given *shape* (simplex ETF, orthogonal
frame); what it predicts beyond the shape — the lengths of features and
classifiers, the minimum loss, where classes collapse to zero — follows from
a scalar problem obtained by putting the shape into the loss.  Those scalar
problems are set up and solved here in sympy (numbers enter as exact
rationals; results are evaluated to ``DIGITS`` digits at the end).

- Cross-entropy UFM (balanced, with bias): with W rows and class means on a
  simplex ETF, ‖w_k‖ = a, ‖m_k‖ = h, the loss depends on t = a·h only after
  the AM–GM step min_{a h = t} (K/2)(λ_W a² + nλ_H h²) = K t √(nλ_Wλ_H):
  g(t) = log(1 + (K−1)e^{−tK/(K−1)}) + K√(nλ_Wλ_H)·t.
- MSE UFM with L factors (W_{L−1}⋯W_1 H, no bias), class counts n_k: the
  product's singular values s_k minimise
  φ_k(s) = (s − √n_k)²/(2N) + (L/2)(λ_H Πλ_j)^{1/L} s^{2/L}
  (von Neumann's trace inequality aligns the product with Y; AM–GM balances
  the factors, every factor gets λ_j σ_j² = (s² Πλ)^{1/L}).
- Supervised contrastive loss on the unit sphere: per anchor the loss is a
  log-sum-exp in the similarities z (convex), minimised over the box the
  constraints allow; with non-negative features the box is z ∈ [0, 1/τ] and
  the minimum sits at the corner the orthogonal frame attains.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import sympy as sp

from ..verdict import Inconclusive

DIGITS = 30


def exact(x) -> sp.Rational | sp.Integer:
    """A float parameter as the exact rational it stands for."""
    return sp.Rational(x) if not isinstance(x, sp.Basic) else x


def etf_gram(K: int) -> sp.Matrix:
    """Gram of the unit-norm simplex ETF, (K/(K−1))(I − 11ᵀ/K)."""
    return sp.Rational(K, K - 1) * (sp.eye(K) - sp.ones(K, K) / K)


# ---- cross-entropy, balanced, simplex ETF ---------------------------------------

t_, a_, h_ = sp.symbols("t a h", positive=True)


def ce_at_etf(K: int, t) -> sp.Expr:
    """Cross-entropy of one sample when logits are t times a row of the ETF Gram."""
    logits = [t * g for g in etf_gram(K).row(0)]
    return sp.log(sum(sp.exp(z) for z in logits)) - logits[0]


LW, LH = sp.symbols("lambda_W lambda_H", positive=True)
K_, n_ = sp.symbols("K n", positive=True, integer=True)


def ce_at_etf_symbolic(t) -> sp.Expr:
    """Cross-entropy at logits t·(row of the ETF Gram) for symbolic K: the true
    logit is t, the K − 1 others are −t/(K − 1) (cosines of the simplex ETF)."""
    return sp.log(sp.exp(t) + (K_ - 1) * sp.exp(-t / (K_ - 1))) - t


@lru_cache(maxsize=1)
def _ce_scale_problem() -> dict:
    """The CE scale problem solved once, with K, n, λ_W, λ_H symbolic."""
    # AM–GM step, done as a calculus problem: minimise over a with h = t/a
    reg = K_ / 2 * (LW * a_ ** 2 + n_ * LH * (t_ / a_) ** 2)
    a_star = [r for r in sp.solve(sp.diff(reg, a_), a_) if r.is_positive][0]
    reg_t = sp.simplify(reg.subs(a_, a_star))
    g = ce_at_etf_symbolic(t_) + reg_t
    slope0 = sp.simplify(sp.diff(g, t_).subs(t_, 0))
    roots = sp.solve(sp.Eq(sp.diff(g, t_), 0), t_)
    threshold = sp.solve(sp.Eq(slope0, 0), LH)
    return {"g": g, "a_star": a_star, "slope0": slope0, "roots": roots,
            "threshold": threshold[0] if len(threshold) == 1 else None}


def ce_etf_optimum(K: int, n: int, lam_w, lam_h) -> dict:
    """Optimal scale of the cross-entropy UFM at the simplex ETF.

    Returns exact-then-evaluated values: ``t`` = w_k·m_k, ``norm_w`` = ‖w_k‖,
    ``norm_h`` = ‖m_k‖, ``loss`` (the minimum of the regularised loss) and
    ``threshold_lam_h`` (the λ_H above which the optimum collapses to zero:
    the slope of g at t = 0 turns non-negative)."""
    prob = _ce_scale_problem()
    values = {K_: int(K), n_: int(n), LW: exact(lam_w), LH: exact(lam_h)}
    g = prob["g"].subs(values)
    if prob["slope0"].subs(values) >= 0:  # g is convex in t: collapse to zero
        t_star, a_val, h_val = sp.Integer(0), sp.Integer(0), sp.Integer(0)
    else:
        roots = [r.subs(values) for r in prob["roots"]]
        roots = [r for r in roots if r.is_real and r.is_positive]
        if len(roots) != 1:
            raise Inconclusive(f"stationarity of the CE scale problem gave {roots}")
        t_star = roots[0]
        a_val = prob["a_star"].subs(values).subs(t_, t_star)
        h_val = t_star / a_val
    thr = prob["threshold"].subs(values) if prob["threshold"] is not None else sp.nan
    out = {"t": t_star, "norm_w": a_val, "norm_h": h_val, "loss": g.subs(t_, t_star), "threshold_lam_h": thr}
    return {k: sp.N(v, DIGITS) for k, v in out.items()}


# ---- MSE, L factors, per-class scalar problems ----------------------------------

s_, x_ = sp.symbols("s x", nonnegative=True)


def phi(n_k, N, L: int, c) -> sp.Expr:
    """φ_k(s) = (s − √n_k)²/(2N) + (L/2)·c·s^{2/L}, c = (λ_H Πλ_j)^{1/L}."""
    return (s_ - sp.sqrt(n_k)) ** 2 / (2 * N) + sp.Rational(L, 2) * c * s_ ** sp.Rational(2, L)


def reg_constant(lams: Sequence, lam_h) -> sp.Expr:
    """(λ_H Πλ_j)^{1/L}: what the AM–GM balance of L factors leaves of the regularisers."""
    prod = exact(lam_h)
    for lam in lams:
        prod *= exact(lam)
    return prod ** sp.Rational(1, len(lams) + 1)


def minimise_phi(n_k: int, N: int, L: int, c) -> sp.Expr:
    """Global minimiser of φ_k over s ≥ 0.  L = 2: φ is convex, its
    stationary point clipped at 0.  L ≥ 3: with s = x^L the stationary points
    solve x^{2L−2} − √n_k x^{L−2} + cN = 0; the minimiser is the best of those
    and s = 0 (φ is not convex, s = 0 is always a local minimum)."""
    f = phi(n_k, N, L, c)
    if L == 2:
        roots = sp.solve(sp.Eq(sp.diff(f, s_), 0), s_)
        cands = [sp.Integer(0)] + [r for r in roots if r.is_nonnegative]
    else:
        poly = sp.Poly(x_ ** (2 * L - 2) - sp.sqrt(n_k) * x_ ** (L - 2) + c * N, x_)
        xs = [r for r in poly.nroots(n=DIGITS + 10, maxsteps=200) if r.is_real and r > 0]
        cands = [sp.Integer(0)] + [x ** L for x in xs]
    values = [sp.N(f.subs(s_, c_), DIGITS + 10) for c_ in cands]
    best = min(range(len(cands)), key=lambda i: values[i])
    return cands[best]


def frame_lengths(s, n_k: int, lams: Sequence, lam_h) -> tuple[list, sp.Expr]:
    """Lengths that a product singular value s forces on balanced factors:
    every factor gets λ_j σ_j² = τ = (s² λ_H Πλ_j)^{1/L} (the AM–GM equality
    case).  Returns the class-mean lengths after 0, 1, …, L−2 weight layers
    (σ_H Π_{i≤j} σ_i / √n_k) and the classifier row length σ_{L−1}."""
    lam_list = [exact(lam_h)] + [exact(lam) for lam in lams]
    L = len(lam_list)
    s = sp.N(s, DIGITS + 10) if isinstance(s, sp.Basic) else sp.Float(s, DIGITS + 10)
    tau = (s ** 2 * sp.Mul(*lam_list)) ** sp.Rational(1, L)
    sigmas = [sp.sqrt(tau / lam) for lam in lam_list]           # H first, classifier last
    lengths, acc = [], sp.Integer(1)
    for sig in sigmas[:-1]:
        acc = acc * sig
        lengths.append(acc / sp.sqrt(n_k))
    return lengths, sigmas[-1]


def frame_optimum(counts: Sequence[int], lams: Sequence, lam_h) -> dict:
    """Per-class optimum of the bias-free MSE UFM with factors W_1..W_{L−1}
    (``lams`` from the first layer to the classifier) and features H.

    Returns lists over classes: ``s`` (singular value of the product, i.e.
    W_L⋯W_1 m_k = s_k/√n_k e_k), ``product_scale`` = s_k/√n_k, ``norm_w``
    (classifier rows), ``norm_h`` (class means of H) and ``layer_norms``
    (class-mean lengths after 0, 1, …, L−1 weight layers), plus ``loss``."""
    L = len(lams) + 1
    N = sum(int(n) for n in counts)
    c = reg_constant(lams, lam_h)
    s_vals = [minimise_phi(int(n), N, L, c) for n in counts]
    loss = sum(phi(int(n), N, L, c).subs(s_, s) for n, s in zip(counts, s_vals))
    norm_w, layer_norms = [], []
    for n, s in zip(counts, s_vals):
        lengths, w = frame_lengths(s, n, lams, lam_h)
        layer_norms.append(lengths)
        norm_w.append(w)
    ev = lambda v: sp.N(v, DIGITS)  # noqa: E731
    return {"s": [ev(s) for s in s_vals],
            "product_scale": [ev(s / sp.sqrt(n)) for n, s in zip(counts, s_vals)],
            "norm_w": [ev(v) for v in norm_w],
            "norm_h": [ev(ls[0]) for ls in layer_norms],
            "layer_norms": [[ev(v) for v in ls] for ls in layer_norms],
            "loss": ev(loss), "reg_constant": ev(c)}


def collapse_threshold_two_factor(n_k: int, N: int, lam_w) -> sp.Expr:
    """λ_H at which class k collapses to zero in the 2-factor MSE UFM:
    solve φ_k'(0⁺) = 0, i.e. the stationary point of φ_k reaching s = 0."""
    lam = sp.Symbol("lambda_H", positive=True)
    f = phi(n_k, N, 2, sp.sqrt(exact(lam_w) * lam))
    root = sp.solve(sp.Eq(sp.diff(f, s_).subs(s_, 0), 0), lam)
    return sp.N(root[0], DIGITS)


def collapse_threshold_deep(n_k: int, N: int, L: int) -> sp.Expr:
    """For L ≥ 3 factors: the constant c = (λ_H Πλ)^{1/L} above which s = 0
    beats every positive stationary point of φ_k (first-order transition):
    solve φ_k'(s) = 0 and φ_k(s) = φ_k(0) together."""
    c = sp.Symbol("c", positive=True)
    f = phi(n_k, N, L, c)
    eqs = [sp.diff(f, s_), f - f.subs(s_, 0)]
    guess_s = sp.N(sp.sqrt(n_k) / 2)
    guess_c = sp.N(sp.solve(eqs[1].subs(s_, guess_s), c)[0])
    sol = sp.nsolve(eqs, [s_, c], [guess_s, guess_c], prec=DIGITS)
    return sp.N(sol[1], DIGITS)


def frame_gram(lengths: Sequence) -> sp.Matrix:
    """Gram of an orthogonal frame with the given column lengths."""
    return sp.diag(*[sp.Float(v, DIGITS) ** 2 for v in lengths])


# ---- supervised contrastive loss ------------------------------------------------

zp, zn = sp.symbols("z_p z_n", real=True)


def scl_anchor_loss(n_k: int, N: int) -> sp.Expr:
    """Loss of one anchor of class k when all its positives have similarity
    z_p and all its negatives z_n (similarities already divided by τ)."""
    return sp.log((n_k - 1) * sp.exp(zp) + (N - n_k) * sp.exp(zn)) - zp


def scl_orthogonal_optimum(counts: Sequence[int], tau) -> dict:
    """Minimum SCL loss with non-negative unit features, and its certificate.

    The loss of an anchor is a convex function of its similarities (log-sum-
    exp minus a linear term) on the box positives ≤ 1/τ, negatives ≥ 0.  At
    the corner (1/τ, 0) — attained by the orthogonal frame with collapsed
    classes — the derivative in z_p must be < 0 and in z_n > 0 (KKT of a
    convex problem on a box); sympy simplifies both derivatives and their
    signs are asserted, then the value there is the minimum."""
    tau = exact(tau)
    N = sum(int(n) for n in counts)
    total = sp.Integer(0)
    for n in counts:
        f = scl_anchor_loss(int(n), N)
        dp, dn = sp.simplify(sp.diff(f, zp)), sp.simplify(sp.diff(f, zn))
        corner = {zp: 1 / tau, zn: 0}
        if not (dp.subs(corner) < 0 and dn.subs(corner) > 0):
            raise Inconclusive(f"KKT signs fail at the orthogonal-frame corner for n_k = {n}")
        total += int(n) * f.subs(corner)
    return {"loss": sp.N(total, DIGITS)}


def scl_etf_loss(counts: Sequence[int], tau) -> sp.Expr:
    """SCL loss of collapsed unit features on a simplex ETF (cosine −1/(K−1))."""
    tau, K = exact(tau), len(counts)
    N = sum(int(n) for n in counts)
    corner = {zp: 1 / tau, zn: -1 / (tau * (K - 1))}
    return sp.N(sum(int(n) * scl_anchor_loss(int(n), N).subs(corner) for n in counts), DIGITS)


__all__ = ["exact", "etf_gram", "ce_at_etf", "ce_at_etf_symbolic", "ce_etf_optimum", "phi", "reg_constant",
           "minimise_phi",
           "frame_lengths", "frame_optimum", "collapse_threshold_two_factor", "collapse_threshold_deep", "frame_gram",
           "scl_anchor_loss", "scl_orthogonal_optimum", "scl_etf_loss", "DIGITS"]


def with_lams(params: dict) -> dict:
    """λ_W, λ_H from their geometric mean ``reg`` and ratio ``lam_ratio`` (the
    drawn parameters of the MSE claims)."""
    r = params["lam_ratio"] ** 0.5
    return {**params, "lam_W": params["reg"] / r, "lam_H": params["reg"] * r}
