"""Gradient descent on quadratics, batched over step sizes (one tensor program
for a whole sweep of η), with heavy-ball momentum and weight decay as options
for assumption breaks."""
from __future__ import annotations

import torch


def gd_quadratic(H: torch.Tensor, w0: torch.Tensor, etas: torch.Tensor, steps: int,
                 momentum: float = 0.0, weight_decay: float = 0.0) -> torch.Tensor:
    """Run w ← w − η(H w + λ w) (+ β(w − w_prev)) for every η at once.

    Returns ‖w_t‖ for t = 0..steps, shape (steps + 1, len(etas)).  Overflow
    shows up as inf, which the checks read as divergence."""
    w = w0.expand(etas.shape[0], -1).clone()
    prev = w.clone()
    norms = [w.norm(dim=1)]
    eta = etas[:, None]
    with torch.no_grad():
        for _ in range(steps):
            grad = w @ H.T + weight_decay * w
            nxt = w - eta * grad + momentum * (w - prev)
            prev, w = w, nxt
            norms.append(w.norm(dim=1))
    return torch.stack(norms)


def empirical_threshold(H: torch.Tensor, w0: torch.Tensor, steps: int = 2000, lo: float = 1e-4,
                        hi: float = 1e4, rounds: int = 4, points: int = 64, **kwargs) -> float:
    """The step size where GD from w0 switches from shrinking to growing,
    found from the simulation alone: a geometric grid, refined ``rounds`` times."""
    for _ in range(rounds):
        etas = torch.logspace(torch.log10(torch.tensor(lo)), torch.log10(torch.tensor(hi)), points,
                              dtype=H.dtype, device=H.device)
        final = gd_quadratic(H, w0, etas, steps, **kwargs)[-1]
        grows = ~(final < w0.norm())  # inf and NaN count as growth
        if not grows.any():
            return float("inf")
        k = int(torch.nonzero(grows)[0])
        if k == 0:
            return float(etas[0])
        lo, hi = float(etas[k - 1]), float(etas[k])
    return (lo * hi) ** 0.5
