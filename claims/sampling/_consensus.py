"""The consensus point of consensus-based optimisation (CBO) for a Gaussian
particle cloud (Riedl, Klock, Geldhauser, Fornasier 2023).

ρ = N(m, s²I), weights e^{−αf}, τ = αs².  v_α = E_ρ[Xe^{−αf}]/E_ρ[e^{−αf}].
Stein's identity E[(X − m)φ(X)] = s²E[∇φ(X)] with φ = e^{−αf} gives
v_α − m = −τ·E_w[∇f] (E_w: the e^{−αf}-weighted mean); for a quadratic
f = ½(x − c)ᵀA(x − c) the weighted law is Gaussian and v_α = prox_{τf}(m).

Objectives (all C¹ with at most polynomial growth, so Stein applies):
quadratic; quadratic + quartic Σ(x_j − c_j)⁴; log-cosh along the eigenvectors
of A (saturating to linear growth); quadratic + the square of a second
quadratic form (coupled).  Every objective is scaled by the draw so that the
weights stay informative: A has top eigenvalue 1 and τ = τλ_max; the
nonlinear parts have strength ``nl`` in units of the cloud's spread.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp
import torch


def problem(params) -> dict:
    """m, s, c, A (d × d, λ_max = 1), B (PSD, ‖B‖ = 1), the nonlinearity's
    coefficient and the log-cosh width, from the draw."""
    rng = np.random.default_rng(params["data_seed"])
    d = params["d"]
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    eig = np.exp(-np.log(params["cond"]) * rng.random(d))
    eig[0] = 1.0
    A = (Q * eig) @ Q.T
    Bh = rng.standard_normal((d, d))
    B = Bh @ Bh.T
    B /= np.linalg.norm(B, 2)
    tau = params["tau_lam"]                      # λ_max(A) = 1
    s = math.sqrt(tau / params["alpha"])
    c = rng.standard_normal(d)
    u = rng.standard_normal(d)
    m = c + params["r_off"] * s * u / np.linalg.norm(u)
    nl = params["nl"]
    return {"m": m, "s": s, "c": c, "A": A, "Q": Q, "eig": eig, "B": B, "tau": tau,
            "q": nl / (params["alpha"] * s**4), "width": s / math.sqrt(nl)}


def objective(kind: str, x: torch.Tensor, P: dict) -> torch.Tensor:
    """f at particles x (B, N, d); P holds batched tensors c (B, 1, d), A, Q, B
    (B, d, d), eig (B, 1, d), q and width (B, 1)."""
    y = x - P["c"]
    quad = 0.5 * ((y @ P["A"]) * y).sum(-1)
    if kind == "quadratic":
        return quad
    if kind == "quartic":
        return quad + 0.25 * P["q"] * (y**4).sum(-1)
    if kind == "logcosh":
        z = (y @ P["Q"]) / P["width"][..., None]
        # log cosh z = |z| + log1p(e^{−2|z|}) − log 2 (stable for large |z|)
        lc = z.abs() + torch.log1p(torch.exp(-2 * z.abs())) - math.log(2.0)
        return (P["eig"] * P["width"][..., None] ** 2 * lc).sum(-1)
    if kind == "coupled":
        return quad + 0.25 * P["q"] * ((y @ P["B"]) * y).sum(-1) ** 2
    raise ValueError(kind)


@functools.lru_cache(maxsize=1)
def symbolic_identities() -> bool:
    """sympy, 1-D with symbolic m, s, a, c, α: (i) the exponent of
    N(x; m, s²)·e^{−αa(x−c)²/2} is a concave quadratic, so the weighted law is
    Gaussian with mean its maximiser, and that mean minus
    prox_{τf}(m) = (m + τac)/(1 + τa) (τ = αs²) simplifies to 0; (ii) Stein's
    lemma by parts: (x − m)N(x) = −s²N′(x)."""
    x, m, c = sp.symbols("x m c", real=True)
    s, a, al = sp.symbols("s a alpha", positive=True)
    E = -(x - m) ** 2 / (2 * s**2) - al * a * (x - c) ** 2 / 2
    concave = sp.simplify(sp.diff(E, x, 2)) .is_negative
    mean = sp.solve(sp.diff(E, x), x)[0]
    tau = al * s**2
    prox = sp.simplify(mean - (m + tau * a * c) / (1 + tau * a)) == 0
    N = sp.exp(-(x - m) ** 2 / (2 * s**2))
    stein = sp.simplify(-s**2 * sp.diff(N, x) - (x - m) * N) == 0
    return bool(concave and prox and stein)


def weighted_moments(X: torch.Tensor, g: torch.Tensor, f: torch.Tensor, alpha: torch.Tensor, m: torch.Tensor):
    """Self-normalised importance estimates over particles (batch B, N, d):
    v − m = E_w[X] − m, E_w[∇f], the delta-method covariance blocks of the
    ratio estimators (V_xx, V_xg, V_gg, each (B, d, d)), and the effective
    sample size.  Log-sum-exp: weights e^{−α(f − min f)} ∈ (0, 1]."""
    logw = -alpha[:, None] * (f - f.min(1, keepdim=True).values)
    w = torch.exp(logw)
    W = w.sum(1)
    ess = W**2 / (w**2).sum(1)
    wn = w / W[:, None]
    dx = X - m[:, None, :]
    vx = (wn[..., None] * dx).sum(1)
    vg = (wn[..., None] * g).sum(1)
    rx, rg = dx - vx[:, None, :], g - vg[:, None, :]
    w2 = wn**2
    Vxx = (rx * w2[..., None]).transpose(1, 2) @ rx
    Vxg = (rx * w2[..., None]).transpose(1, 2) @ rg
    Vgg = (rg * w2[..., None]).transpose(1, 2) @ rg
    return vx, vg, Vxx, Vxg, Vgg, ess
