"""Thousands of scalar linearised-SGD chains w_{t+1} = (1 − η h_t) w_t (+ β(w_t − w_{t−1})),
batched in torch.  Magnitudes are tracked in log space (renormalising), so
chains that shrink or grow by e^{±1000} stay finite."""
from __future__ import annotations

import torch


def two_point_steps(q: float, a: float, b: float, shape, generator, device, dtype, persist: float = 0.0):
    """η h_t ∈ {a (prob q), b}.  ``persist`` > 0 repeats the previous draw with
    that probability (a Markov chain with the same stationary law; not i.i.d.)."""
    steps, chains = shape
    fresh = torch.rand(shape, generator=generator, device=device, dtype=dtype) < q
    if persist > 0:
        keep = torch.rand(shape, generator=generator, device=device, dtype=dtype) < persist
        for t in range(1, steps):
            fresh[t] = torch.where(keep[t], fresh[t - 1], fresh[t])
    return torch.where(fresh, torch.as_tensor(a, dtype=dtype, device=device),
                       torch.as_tensor(b, dtype=dtype, device=device))


def log_growth(eta_h: torch.Tensor, horizons, momentum: float = 0.0) -> torch.Tensor:
    """log|w_t / w_0| at the given horizons for chains driven by η h_t
    (shape (steps, chains)), w_{-1} = w_0.  Returns (len(horizons), chains)."""
    steps, chains = eta_h.shape
    if momentum == 0.0:
        cum = torch.cumsum(torch.log(torch.abs(1 - eta_h)), 0)
        return cum[torch.as_tensor(horizons, device=eta_h.device) - 1]
    w = torch.ones(chains, dtype=eta_h.dtype, device=eta_h.device)
    prev = w.clone()
    log_scale = torch.zeros_like(w)
    out = {}
    wanted = set(horizons)
    for t in range(steps):
        w, prev = (1 - eta_h[t]) * w + momentum * (w - prev), w
        s = torch.maximum(w.abs(), prev.abs()).clamp_min(1e-300)
        w, prev = w / s, prev / s
        log_scale += torch.log(s)
        if t + 1 in wanted:
            out[t + 1] = log_scale + torch.log(w.abs().clamp_min(1e-300))
    return torch.stack([out[h] for h in horizons])
