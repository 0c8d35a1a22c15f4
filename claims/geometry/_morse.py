"""Networks for geometry.no_critical_points: f(x) = wᵀσ(W_L σ(… σ(W_1x + b_1) …) + b_L),
widths (d_0, d_1, …, d_L), scalar output, and a batched search for small gradients.

Activations with σ′ ≥ a > 0 everywhere:
  softplus_mix: σ(z) = az + (1 − a) softplus(z), σ′ = a + (1 − a)·sigmoid(z) ∈ (a, 1);
  leaky_c1:     σ(z) = az (z ≤ 0), az + (1 − a)(z − log(1 + z)) (z > 0),
                σ′ = a + (1 − a)·z₊/(1 + z₊) ∈ [a, 1), equal to a on z ≤ 0 (C¹).
Breaks: relu (σ′ = 0 on a half-line) and cube (σ = z³, σ′(0) = 0).

Weights (all from the draw's seed):
  random   Gaussian W_l, biases N(0, 1);
  aligned  (non-increasing widths) W_l = U_l S_l V_lᵀ with the left singular vector of
           σ_min(W_l) equal to the right singular vector of σ_min(W_{l+1}) (w for the last
           layer) and very negative biases: on a region every D_l = aI and
           ‖∇f‖ = a^L Π σ_min(W_l)‖w‖ exactly — the bound is attained;
  planted  (widening widths) a critical point x* is built in: at the first widening layer l,
           k = s ⊙ v (v = W_{l+1}ᵀD_{l+1}⋯W_LᵀD_L w with the later D's fixed by their biases,
           s ∈ (a, 1)) spans a direction of ker W_lᵀ (W_l projected), and z_l(x*) = (σ′)⁻¹(s):
           then ∇f(x*) = W_1ᵀD_1⋯W_lᵀk = 0.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

BOX = 6.0


def widths(arch: str) -> tuple:
    return tuple(int(x) for x in arch.split("-"))


def widening(ws) -> bool:
    return any(ws[i] > ws[i - 1] for i in range(1, len(ws)))


def max_widening(ws) -> int:
    return max([ws[i] - ws[i - 1] for i in range(1, len(ws))] + [0])


# ---- activations (numpy and torch) ------------------------------------------------------------

def sigma_np(z, kind, a):
    if kind == "softplus_mix":
        return a * z + (1 - a) * np.logaddexp(0, z)
    zp = np.maximum(z, 0)
    return a * z + (1 - a) * (zp - np.log1p(zp))


def dsigma_np(z, kind, a):
    if kind == "softplus_mix":
        return a + (1 - a) / (1 + np.exp(-z))
    zp = np.maximum(z, 0)
    return a + (1 - a) * zp / (1 + zp)


def dsigma_inverse(s, kind, a):
    """z with σ′(z) = s, for s ∈ (a, 1)."""
    t = (s - a) / (1 - a)
    if kind == "softplus_mix":
        return np.log(t / (1 - t))
    return t / (1 - t)


def sigma_torch(z, kind, a):
    """a: tensor broadcastable to z."""
    if kind == "softplus_mix":
        return a * z + (1 - a) * torch.nn.functional.softplus(z)
    if kind == "leaky_c1":
        zp = torch.clamp(z, min=0)
        return a * z + (1 - a) * (zp - torch.log1p(zp))
    if kind == "relu":
        return torch.relu(z)
    if kind == "cube":
        return z**3
    raise ValueError(kind)


# ---- weights -----------------------------------------------------------------------------------

def _orthogonal_with_last_column(e, rng):
    d = e.size
    M = np.column_stack([e, rng.standard_normal((d, d - 1))]) if d > 1 else e[:, None]
    Q, _ = np.linalg.qr(M)
    Q[:, 0] *= np.sign(Q[:, 0] @ e)
    return np.column_stack([Q[:, 1:], Q[:, :1]])


@functools.lru_cache(maxsize=1024)
def network(arch: str, activation: str, a: float, weights: str, data_seed: int):
    """(Ws, bs, w, x_star): weights of the draw's network (x_star for planted ones, else None)."""
    ws = widths(arch)
    L = len(ws) - 1
    rng = np.random.default_rng(data_seed)
    if widening(ws):
        return _planted(ws, activation, a, rng)
    if weights == "aligned":
        return _aligned(ws, activation, a, rng)
    Ws = [1.5 * rng.standard_normal((ws[l], ws[l - 1])) / math.sqrt(ws[l - 1]) for l in range(1, L + 1)]
    bs = [rng.standard_normal(ws[l]) for l in range(1, L + 1)]
    w = rng.standard_normal(ws[-1])
    return Ws, bs, w, None


def _aligned(ws, activation, a, rng):
    L = len(ws) - 1
    w = rng.standard_normal(ws[-1])
    e = w / np.linalg.norm(w)
    Ws = [None] * L
    for l in range(L, 0, -1):
        dl, dprev = ws[l], ws[l - 1]
        U = _orthogonal_with_last_column(e, rng)
        V, _ = np.linalg.qr(rng.standard_normal((dprev, dl)))
        s = np.sort(rng.uniform(0.5, 2.0, size=dl))[::-1]
        Ws[l - 1] = U @ np.diag(s) @ V.T
        e = V[:, -1]
    # biases: every preactivation ≤ −30 on the box |x_i| ≤ BOX (|σ(z)| ≤ |z| for these σ)
    bs, R = [], BOX * math.sqrt(ws[0])
    for W in Ws:
        b = -(np.linalg.norm(W, 2) * R + 30.0) * np.ones(W.shape[0])
        bs.append(b)
        R = np.linalg.norm(W, 2) * R + np.linalg.norm(b)
    return Ws, bs, w, None


def _planted(ws, activation, a, rng):
    L = len(ws) - 1
    lw = next(l for l in range(1, L + 1) if ws[l] > ws[l - 1])     # first widening layer
    x_star = rng.uniform(-2, 2, size=ws[0])
    Ws = [1.5 * rng.standard_normal((ws[l], ws[l - 1])) / math.sqrt(ws[l - 1]) for l in range(1, L + 1)]
    w = rng.standard_normal(ws[-1])
    z_later = {l: rng.uniform(-1, 1, size=ws[l]) for l in range(lw + 1, L + 1)}
    v = w.copy()
    for l in range(L, lw, -1):     # v = W_{lw+1}ᵀ D_{lw+1} ⋯ W_Lᵀ D_L w
        v = Ws[l - 1].T @ (dsigma_np(z_later[l], activation, a) * v)
    s = rng.uniform(a + 0.2 * (1 - a), 1 - 0.2 * (1 - a), size=ws[lw])
    k = s * v
    W = Ws[lw - 1]
    Ws[lw - 1] = W - np.outer(k, k @ W) / (k @ k)                  # W_lᵀ k = 0
    bs = []
    h = x_star
    for l in range(1, L + 1):
        z_target = (dsigma_inverse(s, activation, a) if l == lw else
                    z_later[l] if l > lw else rng.standard_normal(ws[l]))
        bs.append(z_target - Ws[l - 1] @ h)
        h = sigma_np(z_target, activation, a)
    return Ws, bs, w, x_star


def gradient_np(x, Ws, bs, w, activation, a):
    """∇f(x) = W_1ᵀD_1 ⋯ W_LᵀD_L w (numpy, one point)."""
    h, Ds = x, []
    for W, b in zip(Ws, bs):
        z = W @ h + b
        Ds.append(dsigma_np(z, activation, a))
        h = sigma_np(z, activation, a)
    g = w
    for W, D in zip(Ws[::-1], Ds[::-1]):
        g = W.T @ (D * g)
    return g


# ---- batched search for the smallest gradient --------------------------------------------------

KINDS = ("softplus_mix", "leaky_c1", "relu", "cube")


def sigma_mixed(z, code, a):
    """σ of each draw's own kind: code (B, 1, 1) indexes KINDS; a (B, 1, 1)."""
    out = torch.zeros_like(z)
    for i, kind in enumerate(KINDS):
        sel = code == i
        if bool(sel.any()):
            out = torch.where(sel, sigma_torch(z, kind, a), out)
    return out


def net_widths(net):
    Ws = net[0]
    return (Ws[0].shape[1],) + tuple(W.shape[0] for W in Ws)


def pad_network(net, ws_max):
    """Zero-pad a network to the widths ws_max (same depth): padded units have zero incoming
    and outgoing weights, padded inputs zero weight columns, so f and ∇f are unchanged (the
    padded input coordinates have ∂f = 0)."""
    Ws, bs, w, _ = net
    Wp, bp = [], []
    for l, (W, b) in enumerate(zip(Ws, bs)):
        M = np.zeros((ws_max[l + 1], ws_max[l]))
        M[: W.shape[0], : W.shape[1]] = W
        v = np.zeros(ws_max[l + 1])
        v[: b.size] = b
        Wp.append(M), bp.append(v)
    wp = np.zeros(ws_max[-1])
    wp[: w.size] = w
    return Wp, bp, wp


def _activation_parts(z, code, a):
    """σ(z), σ′(z), σ″(z) of each draw's own kind (closed forms)."""
    outs = [torch.zeros_like(z) for _ in range(3)]
    for i, kind in enumerate(KINDS):
        sel = code == i
        if not bool(sel.any()):
            continue
        if kind == "softplus_mix":
            sg = torch.sigmoid(z)
            parts = (a * z + (1 - a) * torch.nn.functional.softplus(z), a + (1 - a) * sg, (1 - a) * sg * (1 - sg))
        elif kind == "leaky_c1":
            zp = torch.clamp(z, min=0)
            parts = (a * z + (1 - a) * (zp - torch.log1p(zp)), a + (1 - a) * zp / (1 + zp),
                     torch.where(z > 0, (1 - a) / (1 + zp) ** 2, torch.zeros_like(z)))
        elif kind == "relu":
            parts = (torch.relu(z), (z > 0).to(z.dtype), torch.zeros_like(z))
        else:   # cube
            parts = (z**3, 3 * z**2, 6 * z)
        outs = [torch.where(sel, q, o) for q, o in zip(parts, outs)]
    return outs


def grad_and_hessian(x, Ws, bs, w, code, a):
    """∇f(x) and ∇²f(x) in closed form (no autograd), batched: x (B, S, d0).
    Backward: δ_L = σ′(z_L)⊙w, δ_{l−1} = σ′(z_{l−1})⊙(W_lᵀδ_l), ∇f = W_1ᵀδ_1.  The Hessian is
    the forward-mode derivative of that recursion along each input direction e_j."""
    d0 = x.shape[-1]
    zs, D1s, D2s = [], [], []
    dh = torch.eye(d0, dtype=x.dtype, device=x.device).expand(*x.shape[:-1], d0, d0)   # (B,S,dir,d)
    h = x
    dzs = []
    for W, b in zip(Ws, bs):
        z = h @ W.transpose(1, 2) + b[:, None, :]
        dz = dh @ W.transpose(1, 2)[:, None]                         # (B,S,dir,d_l)
        s0, s1, s2 = _activation_parts(z, code, a)
        zs.append(z), D1s.append(s1), D2s.append(s2), dzs.append(dz)
        h, dh = s0, s1[..., None, :] * dz
    delta = D1s[-1] * w[:, None, :]
    ddelta = D2s[-1][..., None, :] * dzs[-1] * w[:, None, None, :]
    for l in range(len(Ws) - 1, 0, -1):
        back = torch.einsum("bsk,bkj->bsj", delta, Ws[l])
        dback = torch.einsum("bsrk,bkj->bsrj", ddelta, Ws[l])
        ddelta = D2s[l - 1][..., None, :] * dzs[l - 1] * back[..., None, :] + D1s[l - 1][..., None, :] * dback
        delta = D1s[l - 1] * back
    g = torch.einsum("bsk,bkj->bsj", delta, Ws[0])
    H = torch.einsum("bsrk,bkj->bsrj", ddelta, Ws[0])
    return g, 0.5 * (H + H.transpose(-1, -2))


def search_min_gradient(items, starts, ctx, steps=50):
    """min over x of ‖∇f(x)‖ for a batch of networks of one depth (zero-padded to common
    widths), from ``starts`` (B, S, d0_max; padded coordinates 0): Levenberg–Marquardt on
    ∇f(x) = 0 with adaptive damping per start (a trial step is kept only if it lowers ‖∇f‖),
    closed-form ∇f and ∇²f.  items: list of (network, activation, a).  Returns the smallest
    finite ‖∇f‖ seen per network and where."""
    T = ctx.tensor
    ws_max = tuple(np.max([net_widths(n) for n, _, _ in items], axis=0))
    padded = [pad_network(n, ws_max) for n, _, _ in items]
    Ws = [T(np.stack([p[0][l] for p in padded])) for l in range(len(ws_max) - 1)]
    bs = [T(np.stack([p[1][l] for p in padded])) for l in range(len(ws_max) - 1)]
    w = T(np.stack([p[2] for p in padded]))
    code = torch.tensor([KINDS.index(k) for _, k, _ in items], device=ctx.device)[:, None, None]
    a = T([x for _, _, x in items])[:, None, None]
    net = (Ws, bs, w, code, a)
    B = len(items)
    rows = torch.arange(B, device=starts.device)
    x = starts.clone()
    g, H = grad_and_hessian(x, *net)
    gn = g.norm(dim=-1)
    mu = 1e-3 * torch.ones_like(gn)
    eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
    for _ in range(steps):
        HtH = H.transpose(-1, -2) @ H
        scale = HtH.diagonal(dim1=-2, dim2=-1).sum(-1) + 1e-300
        step = torch.linalg.solve(HtH + (mu * scale)[..., None, None] * eye, H.transpose(-1, -2) @ g[..., None])[..., 0]
        x_try = x - step
        g_try, H_try = grad_and_hessian(x_try, *net)
        gn_try = g_try.norm(dim=-1)
        ok = torch.isfinite(gn_try) & (gn_try < gn)
        x = torch.where(ok[..., None], x_try, x)
        g = torch.where(ok[..., None], g_try, g)
        H = torch.where(ok[..., None, None], H_try, H)
        gn = torch.where(ok, gn_try, gn)
        mu = torch.where(ok, torch.clamp(mu / 10, min=1e-15), torch.clamp(mu * 10, max=1e8))
    gn = torch.where(torch.isfinite(gn), gn, torch.full_like(gn, math.inf))
    best, idx = gn.min(dim=1)
    return best.cpu().numpy(), x[rows, idx].cpu().numpy()
