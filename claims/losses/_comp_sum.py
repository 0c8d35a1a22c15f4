"""Exact conditional risks of multi-class scores against a known conditional
distribution, and the sympy derivation of the comp-sum constants (τ = 1: the
cross-entropy; τ = 2: the mean absolute error).

Shapes: Bayes logits s and model scores h are (..., K) with a class mask
(padded classes: mask 0); p = softmax(s), q = softmax(h) over the real classes.
"""
from __future__ import annotations

import functools

import sympy as sp
import torch

def neg(t: torch.Tensor) -> float:
    """The logit of a padded class: exp underflows to an exact 0 in the tensor's dtype."""
    return -torch.finfo(t.dtype).max / 4


@functools.lru_cache(maxsize=1)
def derivation() -> dict:
    """The constants and why they are tight.

    Cross-entropy: the excess conditional risk is KL(p ‖ q).  Pointwise
    Δ₀₁ = p_max − p_ŷ ≤ (p_y* − q_y*) + (q_ŷ − p_ŷ) ≤ 2·TV(p, q) ≤ √(2·KL) (q_ŷ ≥ q_y*;
    Pinsker).  Tight: the binary family p = (½ + t/2, ½ − t/2), q → (½, ½) from the
    wrong side has Δ₀₁ = t and KL = T(t) = ((1+t)/2)ln(1+t) + ((1−t)/2)ln(1−t)
    = t²/2 + t⁴/12 + … (sympy series, positive coefficients), so Δ²/KL = t²/T(t) < 2
    on the family and → 1/(t² coefficient) = 2 as t → 0.

    MAE (ℓ = 1 − q_y): the excess is p_max − ⟨p, q⟩ = Σ_y q_y (p_max − p_y) ≥ q_ŷ·Δ₀₁ ≥ Δ₀₁/K.
    Tight: p uniform on K − 1 classes, q uniform tilted by g toward the empty class:
    the ratio Δ₀₁/excess simplifies to 1/q_ŷ = (e^g + K − 1)e^{−g} → K as g → 0 (symbolic K)."""
    t = sp.Symbol("t", positive=True)
    T = (1 + t) / 2 * sp.log(1 + t) + (1 - t) / 2 * sp.log(1 - t)
    series = sp.series(T, t, 0, 10).removeO()
    ce_const = 1 / series.coeff(t, 2)  # t²/T(t) → 1/(coefficient of t²); all coefficients positive: T ≥ t²/2
    K, g = sp.symbols("K g", positive=True)
    q_hat = sp.exp(g) / (sp.exp(g) + K - 1)
    delta = 1 / (K - 1)
    p_max, inner = 1 / (K - 1), (1 - q_hat) / (K - 1)  # ⟨p, q⟩ = Σ_{y ≠ ŷ} q_y/(K − 1)
    excess = p_max - inner
    family = sp.cancel(sp.together(delta / excess))  # = 1/q_ŷ, continuous in g
    mae_const = sp.cancel(family.subs(g, 0))
    return {"ce_const": ce_const, "T": T, "T_series": series, "mae_const": mae_const,
            "mae_ratio_family": family, "t": t, "K": K}


def risks(s, h, kmask):
    """Per point: Δ₀₁, KL(p ‖ q), the MAE excess p_max − ⟨p, q⟩, the CE risk
    −Σ p log q and the entropy of p (for class-referenced excesses).

    KL is computed from log-ratios d = log p − log q (no difference of two
    nearly equal risks), so it keeps its relative accuracy near ties; the
    measurement is in float64 whatever the training dtype (near a tie KL ≈ 2ε²
    is below float32's resolution of the log-ratios)."""
    s, h, kmask = s.double(), h.double(), kmask.double()
    s = s.masked_fill(kmask == 0, neg(s))
    h = h.masked_fill(kmask == 0, neg(h))
    logp = torch.log_softmax(s, -1)
    logq = torch.log_softmax(h, -1)
    p = logp.exp()
    q = logq.exp()
    zero = torch.zeros_like(logp)
    on = p > 0  # classes with p = 0 (padded, or empty in the tight families) contribute 0 · log(·) = 0
    kl = (p * torch.where(on, logp - logq, zero)).sum(-1).clamp_min(0.0)
    yhat = h.argmax(-1, keepdim=True)
    pmax = p.amax(-1)
    delta = pmax - p.gather(-1, yhat).squeeze(-1)
    mae = (q * (pmax[..., None] - p)).sum(-1)
    ce = -(p * torch.where(on, logq, zero)).sum(-1)
    ent = -(p * torch.where(on, logp, zero)).sum(-1)
    return delta, kl, mae, ce, ent


def ratios(delta, kl, mae):
    """Pointwise Δ₀₁²/KL and Δ₀₁/excess_MAE (0 where Δ₀₁ = 0)."""
    pos = delta > 0
    ce_r = torch.where(pos, delta * delta / torch.where(pos, kl, torch.ones_like(kl)), torch.zeros_like(kl))
    mae_r = torch.where(pos, delta / torch.where(pos, mae, torch.ones_like(mae)), torch.zeros_like(mae))
    return ce_r, mae_r


def grad_scores(h, target, kmask, mae):
    """Gradient of the mean loss in the scores: CE (q − target) or MAE
    (q_k(⟨target, q⟩ − target_k)) per draw (``mae``: boolean, broadcastable);
    the target is one-hot labels (a sample) or p (the population risk)."""
    q = torch.softmax(h.masked_fill(kmask == 0, neg(h)), -1)
    g_ce = q - target
    g_mae = q * ((target * q).sum(-1, keepdim=True) - target)
    return torch.where(mae, g_mae, g_ce)


def tie_risks(s, h, kmask):
    """Δ₀₁, KL and the MAE excess only (the per-step quantities of the tight families)."""
    delta, kl, mae, _, _ = risks(s, h, kmask)
    return delta, kl, mae
