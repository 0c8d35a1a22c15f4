"""Thousands of linearised-SGD chains w_{t+1} = A_{i_t} w_t (+ β(w_t − w_{t−1})),
batched in torch over draws and chains.

A_i = I − ηH_i are the step matrices of two per-sample Hessians (sample 1
with probability q, else sample 2, i.i.d. over steps).  The chains are the
process itself (matrix–vector products in whatever basis the caller built
H_i in), not a sum of logarithms: the caller's theory (a Lyapunov exponent)
is not used here.  Magnitudes are tracked in log space (renormalising every
few steps), so chains that shrink or grow by e^{±1000} stay finite."""
from __future__ import annotations

import torch

RENORM_EVERY = 16  # |factor| ≤ ~3 per step: 3^16 ≈ 4e7, far from overflow; 1e-6^16 far from underflow


def sample_picks(q, steps: int, chains: int, generators, device="cpu", dtype=torch.float64,
                 frozen: bool = False) -> torch.Tensor:
    """Which sample each chain uses at each step: (B, steps, chains) booleans,
    True = sample 1 (probability q[b]).  Draw b takes its uniforms from
    ``generators[b]`` alone, so a draw sees the same steps batched or alone.
    ``frozen``: every step repeats the first pick (a non-ergodic sequence)."""
    u = torch.stack([torch.rand(steps, chains, generator=g, dtype=torch.float32, device=device)
                     for g in generators])
    q = torch.as_tensor(q, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    picks = u < q
    if frozen:
        picks = picks[:, :1].expand(-1, steps, -1)
    return picks


def linear_chains(A: torch.Tensor, w0: torch.Tensor, picks: torch.Tensor, horizons,
                  momentum: float = 0.0) -> torch.Tensor:
    """log(‖w_t‖ / ‖w_0‖) at the given horizons for every draw and chain.

    A: (B, 2, p, p) step matrices of the two samples; w0: (B, p); picks:
    (B, steps, chains) from :func:`sample_picks`.  Heavy-ball momentum β
    starts from w_{−1} = w_0.  Returns (B, len(horizons), chains)."""
    B, _, p, _ = A.shape
    steps, chains = picks.shape[1], picks.shape[2]
    w = (w0 / w0.norm(dim=-1, keepdim=True))[:, None, :].expand(B, chains, p).clone()
    prev = w.clone()
    log_scale = torch.zeros(B, chains, dtype=A.dtype, device=A.device)
    wanted = {int(h): k for k, h in enumerate(horizons)}
    out = torch.empty(B, len(wanted), chains, dtype=A.dtype, device=A.device)
    A1, A2 = A[:, 0], A[:, 1]
    for t in range(steps):
        if p == 1:  # the scalar chain: one multiplication
            nxt = w * torch.where(picks[:, t, :, None], A1[:, None, 0], A2[:, None, 0])
        else:
            nxt = torch.where(picks[:, t, :, None], w @ A1.transpose(1, 2), w @ A2.transpose(1, 2))
        if momentum:
            nxt = nxt + momentum * (w - prev)
            prev = w
        w = nxt
        if (t + 1) % RENORM_EVERY == 0 or (t + 1) in wanted:
            s = w.norm(dim=-1)
            if momentum:
                s = torch.maximum(s, prev.norm(dim=-1))
            s = s.clamp_min(1e-300)
            w = w / s[..., None]
            if momentum:
                prev = prev / s[..., None]
            log_scale = log_scale + torch.log(s)
            if (t + 1) in wanted:
                out[:, wanted[t + 1]] = log_scale + torch.log(w.norm(dim=-1).clamp_min(1e-300))
    return out
