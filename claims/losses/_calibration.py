"""Shared pieces of the binary / multi-class calibration claims of the losses family.

* ``psi_derivation()``: the calibration function of the logistic loss, derived in
  sympy as the smallest excess conditional risk of a wrong-signed score.
* ``psi(t)``, ``psi_inverse(v, grid)``: its closed form in numpy and the inverse
  from a tabulated prediction.
* ``draw_generators(ctx, n)``: the per-draw torch generators of a batched call
  (falls back to seeds derived from ``ctx.seed`` for an engine that passes none).
* ``logistic_excess(eta, h)``: the exact excess conditional logistic risk
  KL(η ‖ σ(h)) of a score h, computed from the two log-losses.
"""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp
import torch
from scipy.special import xlogy

# Abscissae of the tabulated ψ: dense near t = 0, where ψ(t) ≈ t²/2 (a fixed
# discretisation, not a prediction; the prediction is ψ on this grid).
T_GRID = np.linspace(0.0, 1.0, 4097) ** 2


@functools.lru_cache(maxsize=1)
def psi_derivation() -> dict:
    """ψ(t) = inf over wrong-signed scores of the excess conditional logistic risk
    at η = (1 + t)/2, derived step by step:

    C_η(h) = η ln(1 + e^{−h}) + (1 − η) ln(1 + e^{h}) is strictly convex
    (C'' = σ(h)(1 − σ(h)) > 0), stationary at h* = ln(η/(1 − η)) > 0 for η > ½,
    and decreasing at 0 (C'(0) = ½ − η < 0), so over h ≤ 0 the infimum is at
    h = 0 and ψ(t) = C_η(0) − C_η(h*).  The closed form of the claim,
    ((1+t)/2)ln(1+t) + ((1−t)/2)ln(1−t), is compared with that difference at
    rational points to 40 digits; its series, derivatives and value at 1 come
    from sympy too."""
    eta, h = sp.symbols("eta h", positive=True)
    t = sp.Symbol("t", positive=True)
    C = eta * sp.log(1 + sp.exp(-h)) + (1 - eta) * sp.log(1 + sp.exp(h))
    h_star = sp.log(eta / (1 - eta))
    stationary = sp.simplify(sp.diff(C, h).subs(h, h_star))
    curvature = sp.simplify(sp.diff(C, h, 2) - sp.exp(h) / (1 + sp.exp(h)) ** 2)
    slope_at_0 = sp.simplify(sp.diff(C, h).subs(h, 0))
    gap = (C.subs(h, 0) - C.subs(h, h_star)).subs(eta, (1 + t) / 2)
    closed = (1 + t) / 2 * sp.log(1 + t) + (1 - t) / 2 * sp.log(1 - t)
    points = [sp.Rational(k, 13) for k in range(1, 13)] + [sp.Rational(1, 1000), sp.Rational(999, 1000)]
    worst = max(abs(sp.N(gap.subs(t, x) - closed.subs(t, x), 50)) for x in points)
    series = sp.series(closed, t, 0, 8).removeO()
    d1 = sp.simplify(sp.diff(closed, t))
    d2 = sp.simplify(sp.diff(closed, t, 2))
    return {"stationary_residual": stationary, "curvature_residual": curvature, "slope_at_0": slope_at_0,
            "closed_vs_infimum": float(worst), "series": series, "psi_prime": d1, "psi_second": d2,
            "psi_at_1": sp.limit(closed, t, 1, "-"), "expr": closed, "t": t}


def psi(t):
    """ψ(t) = ((1+t)/2)ln(1+t) + ((1−t)/2)ln(1−t) on [0, 1] (ψ(1) = ln 2)."""
    t = np.asarray(t, dtype=np.float64)
    return 0.5 * (xlogy(1 + t, 1 + t) + xlogy(1 - t, 1 - t))


def psi_inverse(v, psi_grid):
    """ψ⁻¹ from a tabulated ψ on ``T_GRID`` (increasing), extended by 1 above
    ψ(1): the excess 0-1 risk never exceeds 1.  Linear interpolation of the
    inverse of a convex function undershoots by O(grid²): conservative."""
    v = np.asarray(v, dtype=np.float64)
    return np.interp(v, np.asarray(psi_grid, dtype=np.float64), T_GRID, left=0.0, right=1.0)


def draw_generators(ctx, n: int) -> list[torch.Generator]:
    """One generator per draw of a batched call (``ctx.seeds``); an engine that
    passes no per-draw seeds gets seeds derived from ``ctx.seed`` and the index."""
    if getattr(ctx, "seeds", ()) and len(ctx.seeds) == n:
        return ctx.generators()
    from theorycheck.sim.context import derive_seed

    return [ctx.with_seed(derive_seed(ctx.seed, "draw", i)).generator() for i in range(n)]


def logistic_excess(eta: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """KL(η ‖ σ(h)) = C_η(h) − C_η(h*), from the two log-losses (softplus)."""
    nf = torch.nn.functional
    risk = eta * nf.softplus(-h) + (1 - eta) * nf.softplus(h)
    bayes = -(torch.special.xlogy(eta, eta) + torch.special.xlogy(1 - eta, 1 - eta))
    return risk - bayes
