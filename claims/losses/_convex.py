"""Random convex piecewise-linear margin losses in exact rational arithmetic,
the exact minimiser sets of their conditional risks, and their torch
evaluation (batched, padded) for training.

φ is given by knots κ_1 < … < κ_m and slopes s_0 ≤ s_1 ≤ … ≤ s_m (φ′ = s_j on
(κ_j, κ_{j+1}), κ_0 = −∞, κ_{m+1} = +∞), φ(0) = 1; s_0 < 0 ≤ s_m makes every
C_η(α) = ηφ(α) + (1 − η)φ(−α), 0 < η < 1, coercive (minimisers exist).
"""
from __future__ import annotations

import functools
from fractions import Fraction as Fr

import numpy as np
import sympy as sp
import torch  # noqa: F401  (typing of the torch helpers)

# the margins at which calibration is tested (exact rationals)
ETAS = (Fr(1, 10), Fr(3, 10), Fr(9, 20), Fr(11, 20), Fr(3, 5), Fr(7, 10), Fr(9, 10))
AT0 = ("negative", "zero", "positive", "kink_negative", "kink_sign")


def _q(x) -> Fr:
    return Fr(int(round(float(x) * 1000)), 1000)


def random_loss(params) -> tuple[list[Fr], list[Fr]]:
    """(knots, slopes) of a random convex piecewise-linear φ whose behaviour at 0 is
    ``params["at0"]``: differentiable with φ′(0) = −slope0 / 0 / +slope0, or a knot at 0
    with slopes (−r·slope0, −slope0) (kink_negative) or (−slope0, +r·slope0) (kink_sign),
    r = kink_ratio.  Every other knot is at least 0.1 away from 0; at least one knot lies
    on each side of 0."""
    rng = np.random.default_rng(params["data_seed"])
    m, at0, v = params["knots"], params["at0"], _q(params["slope0"])
    r = _q(params.get("kink_ratio", 2.0))
    kink = at0.startswith("kink")
    n_free = m - 1 if kink else m
    mags = 0.1 + 2.9 * rng.random(n_free)
    signs = np.where(rng.random(n_free) < 0.5, -1.0, 1.0)
    signs[0], signs[-1] = -1.0, 1.0  # one knot on each side of 0 (n_free ≥ 2)
    knots = sorted({_q(s * x) for s, x in zip(signs, mags)} | ({Fr(0)} if kink else set()))
    left = sum(1 for k in knots if k < 0)  # pieces left of 0's piece (or of the knot at 0)
    slopes = [Fr(0)] * (len(knots) + 1)
    incs = [_q(0.05 + rng.exponential(1.0)) for _ in range(len(knots) + 1)]
    if kink:
        a, b = (-r * v, -v) if at0 == "kink_negative" else (-v, r * v)
        slopes[left], slopes[left + 1] = a, b
        lo_piece, hi_piece = left, left + 1
    else:
        slopes[left] = {"negative": -v, "zero": Fr(0), "positive": v}[at0]
        lo_piece = hi_piece = left
    for j in range(lo_piece - 1, -1, -1):
        slopes[j] = slopes[j + 1] - incs[j]
    for j in range(hi_piece + 1, len(slopes)):
        slopes[j] = slopes[j - 1] + incs[j]
    if slopes[0] >= 0:
        slopes[0] = Fr(-1, 2)
    if slopes[-1] < 0:
        slopes[-1] = Fr(0)
    return knots, slopes


def one_sided_derivatives_at_0(knots, slopes) -> tuple[Fr, Fr]:
    """φ′(0⁻), φ′(0⁺): the slopes of the pieces left and right of 0 (exact rationals)."""
    return _dphi(knots, slopes, Fr(0), "-"), _dphi(knots, slopes, Fr(0), "+")


def _dphi(knots, slopes, x: Fr, side: str) -> Fr:
    idx = sum(1 for k in knots if (k <= x if side == "+" else k < x))
    return slopes[idx]


def minimiser_set(knots, slopes, eta: Fr) -> tuple[Fr, Fr]:
    """[lo, hi]: the exact minimiser set of C_η (convex, piecewise linear).
    D⁺C(α) = ηφ′(α⁺) − (1 − η)φ′((−α)⁻), D⁻C(α) = ηφ′(α⁻) − (1 − η)φ′((−α)⁺);
    lo = first breakpoint with D⁺ ≥ 0, hi = last breakpoint with D⁻ ≤ 0."""
    pts = sorted(set(knots) | {-k for k in knots})
    dplus = [eta * _dphi(knots, slopes, b, "+") - (1 - eta) * _dphi(knots, slopes, -b, "-") for b in pts]
    dminus = [eta * _dphi(knots, slopes, b, "-") - (1 - eta) * _dphi(knots, slopes, -b, "+") for b in pts]
    lo = next(b for b, d in zip(pts, dplus) if d >= 0)
    hi = next(b for b, d in zip(reversed(pts), reversed(dminus)) if d <= 0)
    return lo, hi


@functools.lru_cache(maxsize=1)
def kink_example() -> dict:
    """The entry's kink: slopes −2 (left) and −½ (right) at 0.  C_η′(0⁺) = 2 − 5η/2,
    C_η′(0⁻) = ½ − 5η/2 (sympy), so 0 is a minimiser for η ∈ [1/5, 4/5]."""
    eta = sp.Symbol("eta", positive=True)
    right = eta * sp.Rational(-1, 2) - (1 - eta) * (-2)
    left = eta * (-2) - (1 - eta) * sp.Rational(-1, 2)
    return {"right": sp.expand(right), "left": sp.expand(left),
            "interval": (sp.solve(sp.Eq(left, 0), eta)[0], sp.solve(sp.Eq(right, 0), eta)[0])}


# ---- torch evaluation (batched over draws; padded knots at +inf) ------------------------------------

def pad_losses(losses, ctx):
    """knots (B, M) padded with +inf, slopes (B, M+1), values φ(κ_j) (B, M)."""
    M = max(len(k) for k, _ in losses)
    K = torch.full((len(losses), M), np.inf, dtype=ctx.dtype, device=ctx.device)
    S = torch.zeros(len(losses), M + 1, dtype=ctx.dtype, device=ctx.device)
    V = torch.zeros(len(losses), M, dtype=ctx.dtype, device=ctx.device)
    for i, (knots, slopes) in enumerate(losses):
        vals, j0 = {}, sum(1 for k in knots if k < 0)
        # φ(0) = 1; integrate φ′ outwards from 0 (exactly, in rationals)
        x, y = Fr(0), Fr(1)
        for j in range(j0, len(knots)):
            y += slopes[j] * (knots[j] - x)
            x = knots[j]
            vals[j] = y
        x, y = Fr(0), Fr(1)
        for j in range(j0 - 1, -1, -1):
            y -= slopes[j + 1] * (x - knots[j])
            x = knots[j]
            vals[j] = y
        m = len(knots)
        K[i, :m] = ctx.tensor([float(k) for k in knots])
        S[i, : m + 1] = ctx.tensor([float(s) for s in slopes])
        S[i, m + 1:] = float(slopes[-1])
        V[i, :m] = ctx.tensor([float(vals[j]) for j in range(m)])
    return K, S, V


def phi_eval(K, S, V, x):
    """φ(x) and the midpoint subgradient of φ at x; x: (B, ...) broadcast per draw."""
    B = K.shape[0]
    flatx = x.reshape(B, -1)
    jr = torch.searchsorted(K, flatx, right=True)   # pieces: slope index to the right of x
    jl = torch.searchsorted(K, flatx, right=False)  # slope index to the left of x
    grad = 0.5 * (S.gather(1, jr) + S.gather(1, jl))
    # value: from the nearest knot at or below x (or the first knot, extrapolated with s_0)
    base = (jr - 1).clamp_min(0)
    kb = K.gather(1, base)
    vb = V.gather(1, base)
    val = vb + S.gather(1, jr) * (flatx - kb)
    return val.reshape(x.shape), grad.reshape(x.shape)


def nonconvex_eval(x):
    """The break's loss ln(1 + e^{−x}) − 3e^{−(x+3)²} and its derivative."""
    val = torch.nn.functional.softplus(-x) - 3 * torch.exp(-(x + 3) ** 2)
    grad = -torch.sigmoid(-x) + 6 * (x + 3) * torch.exp(-(x + 3) ** 2)
    return val, grad
