"""Target-space surrogates of softmax cross-entropy (Lavington et al. 2023).

ℓ(z) = Σ_i [logsumexp(z_i) − z_{i,y_i}] over examples i (logits z_i ∈ R^K).
The surrogate at z_t is g_t(z) = ℓ(z_t) + ⟨∇ℓ(z_t), z − z_t⟩ + ‖z − z_t‖²/(2η);
it majorises ℓ iff the Bregman divergence D(z, z_t) = ℓ(z) − ℓ(z_t) −
⟨∇ℓ(z_t), z − z_t⟩ never exceeds ‖z − z_t‖²/(2η), i.e. iff
η ≤ 1 / sup 2D/‖z − z_t‖².  The labels only enter ℓ linearly, so D — and the
majorisation question — depends on K alone, and a sum over examples has the
per-example supremum.

Everything here is batched over draws with classes padded to K_max (padded
logits are masked to −inf, padded directions to 0).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp
import torch


@functools.lru_cache(maxsize=1)
def smoothness_constant() -> dict:
    """sympy: the Hessian of logsumexp at p = (p, 1 − p) is diag(p) − ppᵀ with
    eigenvalues {0, 2p(1 − p)}; its maximum over [0, 1] is ½ (at p = ½).  For
    any K, Gershgorin bounds λ_max(diag(p) − ppᵀ) by max_i 2p_i(1 − p_i) ≤ ½,
    attained in the limit p → (½, ½, 0, …).  So L = ½ and η_c = 1/L = 2."""
    p = sp.Symbol("p", real=True)
    H = sp.Matrix([[p, 0], [0, 1 - p]]) - sp.Matrix([p, 1 - p]) * sp.Matrix([[p, 1 - p]])
    eig = [sp.factor(e) for e in H.eigenvals()]
    top = [e for e in eig if e != 0][0]
    L = sp.maximum(top, p, sp.Interval(0, 1))
    row = sp.simplify(p * (1 - p) + p * (1 - p))  # Gershgorin radius + centre of row i, Σ_{j≠i} p_j = 1 − p_i
    gersh = sp.maximum(row, p, sp.Interval(0, 1))
    return {"L": L, "eta_crit": 1 / L, "eig_k2": top, "gershgorin": gersh}


def _masked_lse(z, mask):
    return torch.logsumexp(z.masked_fill(~mask, -math.inf), -1)


def bregman(zt, dz, mask):
    """D(zt + dz, zt) of logsumexp, rows of a batch (labels drop out)."""
    p = torch.softmax(zt.masked_fill(~mask, -math.inf), -1)
    return _masked_lse(zt + dz, mask) - _masked_lse(zt, mask) - (p * dz).sum(-1)


def adversary(Ks, gens, restarts: int, steps: int, radius: float = 1e-2, lr: float = 0.5, init_scale: float = 3.0,
              dtype=torch.float64, device="cpu"):
    """Adam ascent (cosine step decay) on the Bregman ratio
    R = 2D(z_t + Δ, z_t)/‖Δ‖² over (z_t, Δ) with ‖Δ‖ = radius, ``restarts``
    random starts per draw (logits N(0, init_scale²)), all draws at once.
    The ascent direction is the gradient of R written out (softmax
    derivatives); what the adversary certifies — the ratio — evaluates ℓ
    itself.  Returns the best ratio per draw and the final (z_t, unit
    direction) of every restart (for the gap search)."""
    B, Kmax = len(Ks), max(Ks)
    mask = torch.zeros(B, restarts, Kmax, dtype=torch.bool, device=device)
    zt = torch.zeros(B, restarts, Kmax, dtype=dtype, device=device)
    u = torch.zeros(B, restarts, Kmax, dtype=dtype, device=device)
    for b, (K, g) in enumerate(zip(Ks, gens)):
        mask[b, :, :K] = True
        zt[b, :, :K] = init_scale * torch.randn(restarts, K, generator=g, dtype=dtype, device=device)
        u[b, :, :K] = torch.randn(restarts, K, generator=g, dtype=dtype, device=device)
    mask, zt, u = mask.view(-1, Kmax), zt.view(-1, Kmax), u.view(-1, Kmax)
    fmask = mask.to(dtype)
    neg = torch.zeros_like(zt).masked_fill(~mask, -math.inf)
    x = torch.cat([zt, u], 1)
    m1, m2 = torch.zeros_like(x), torch.zeros_like(x)
    b1, b2, eps = 0.9, 0.999, 1e-8
    scale = 2.0 / radius**2
    for t in range(1, steps + 1):
        z, w = x[:, :Kmax], x[:, Kmax:] * fmask
        n = w.norm(dim=1, keepdim=True)
        uhat = w / n
        d = radius * uhat
        p = torch.softmax(z + neg, 1)
        q = torch.softmax(z + d + neg, 1)
        pd = (p * d).sum(1, keepdim=True)
        gz = scale * (q - p - p * d + p * pd)
        qp = q - p
        gw = scale * (radius / n) * (qp - uhat * (uhat * qp).sum(1, keepdim=True)) * fmask
        g = -torch.cat([gz, gw], 1)  # minimise −R
        m1.mul_(b1).add_(g, alpha=1 - b1)
        m2.mul_(b2).addcmul_(g, g, value=1 - b2)
        step = lr * 0.5 * (1 + math.cos(math.pi * (t - 1) / steps))
        x -= step * (m1 / (1 - b1**t)) / ((m2 / (1 - b2**t)).sqrt() + eps)
    z, w = x[:, :Kmax], x[:, Kmax:] * fmask
    unit = w / w.norm(dim=1, keepdim=True)
    R = scale * bregman(z, radius * unit, mask)
    return (R.view(B, restarts).max(1).values, z.view(B, restarts, Kmax), unit.view(B, restarts, Kmax),
            mask.view(B, restarts, Kmax))


def max_gap(zt, unit, mask, eta, gens, random_pairs: int = 64):
    """The largest ℓ(z) − g_t(z) = D − ‖Δ‖²/(2η) over the adversary's pairs
    stretched along a grid of radii (1e-3 … 30) and over random pairs
    (z_t ~ N(0, 3²), Δ ~ N(0, 3²)), per draw.  η: (B,)."""
    B, R, Kmax = zt.shape
    radii = torch.logspace(-3, math.log10(30), 24, dtype=zt.dtype, device=zt.device)
    z = zt[:, :, None, :].expand(B, R, len(radii), Kmax)
    d = unit[:, :, None, :] * radii[None, None, :, None]
    m = mask[:, :, None, :].expand_as(z)
    gap = bregman(z, d, m) - (d * d).sum(-1) / (2 * eta[:, None, None])
    best = gap.reshape(B, -1).max(1).values
    zr = torch.zeros(B, random_pairs, Kmax, dtype=zt.dtype, device=zt.device)
    dr = torch.zeros_like(zr)
    for b, g in enumerate(gens):
        K = int(mask[b, 0].sum())
        zr[b, :, :K] = 3.0 * torch.randn(random_pairs, K, generator=g, dtype=zt.dtype, device=zt.device)
        dr[b, :, :K] = 3.0 * torch.randn(random_pairs, K, generator=g, dtype=zt.dtype, device=zt.device)
    mr = mask[:, :1, :].expand(B, random_pairs, Kmax)
    gap_r = bregman(zr, dr, mr) - (dr * dr).sum(-1) / (2 * eta[:, None])
    return torch.maximum(best, gap_r.max(1).values)


def mm_data(params):
    """Gaussian features (N × D) and uniformly random labels in [0, K)."""
    rng = np.random.default_rng(params["data_seed"])
    X = rng.standard_normal((params["N"], params["D"]))
    y = rng.integers(0, params["K"], params["N"])
    return X, y


def mm_train(params_list, steps: int, dtype=torch.float64, device="cpu"):
    """Majorisation–minimisation on a linear softmax model z = XW, all draws at
    once: W_{t+1} = argmin_W g_t(XW), solved exactly (the surrogate is a
    quadratic in XW): XΔ = −η·P∇ℓ with P the projection onto the columns of X,
    i.e. Δ = −η (XᵀX)⁺ Xᵀ∇ℓ.  Returns per draw the losses f_t, the surrogate's
    value at the next iterate g_t(z_{t+1}) and ‖P∇ℓ(z_t)‖² = ∇_Wfᵀ(XᵀX)⁺∇_Wf."""
    B = len(params_list)
    N = max(p["N"] for p in params_list)
    D = max(p["D"] for p in params_list)
    K = max(p["K"] for p in params_list)
    X = torch.zeros(B, N, D, dtype=dtype, device=device)
    Y = torch.zeros(B, N, K, dtype=dtype, device=device)
    cls = torch.zeros(B, 1, K, dtype=torch.bool, device=device)
    eta = torch.tensor([p["eta"] for p in params_list], dtype=dtype, device=device)
    for b, p in enumerate(params_list):
        Xb, yb = mm_data(p)
        X[b, : p["N"], : p["D"]] = torch.as_tensor(Xb, dtype=dtype)
        Y[b, np.arange(p["N"]), yb] = 1.0
        cls[b, 0, : p["K"]] = True
    rows = Y.sum(-1)  # 1 on real examples, 0 on padding
    pinv = torch.linalg.pinv(X.transpose(1, 2) @ X, hermitian=True)  # padded features: zero rows / columns
    W = torch.zeros(B, D, K, dtype=dtype, device=device)
    f_hist, sur_hist, pg_hist = [], [], []
    for t in range(steps + 1):
        z = (X @ W).masked_fill(~cls, -math.inf)
        lse = torch.logsumexp(z, -1)
        f = ((lse - (z.masked_fill(~cls, 0.0) * Y).sum(-1)) * rows).sum(-1)
        G = (torch.softmax(z, -1) - Y) * rows[..., None]
        gW = X.transpose(1, 2) @ G
        pg = (gW * (pinv @ gW)).sum((1, 2))
        f_hist.append(f)
        pg_hist.append(pg)
        if t == steps:
            break
        dW = -eta[:, None, None] * (pinv @ gW)
        dz = X @ dW
        sur_hist.append(f + (G * dz).sum((1, 2)) + (dz * dz).sum((1, 2)) / (2 * eta))
        W = W + dW
    return torch.stack(f_hist, 1), torch.stack(sur_hist, 1), torch.stack(pg_hist, 1)
