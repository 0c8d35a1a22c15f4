"""Two-layer ReLU networks in torch: the regularised objective, and many
networks trained at once (batched over initialisations and widths).

Objective (no biases):  ½‖Σ_j (Xu_j)_+ α_j − y‖² + (β/2) Σ_j (‖u_j‖² + α_j²).

Runs of different widths share one tensor of the largest width; a 0/1 mask
switches the extra neurons off (they stay at zero, carry no gradient and add
nothing to the regulariser), so R runs cost one batched forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

TINY = 1e-150  # flushed to zero during training (far below any objective resolution)


def relu_objective(X: torch.Tensor, y: torch.Tensor, U: torch.Tensor, alpha: torch.Tensor,
                   beta: float) -> torch.Tensor:
    """Objective of a batch of networks: U (..., m, d), alpha (..., m) -> (...)."""
    hidden = torch.relu(U @ X.T)  # (..., m, n)
    fit = (alpha.unsqueeze(-1) * hidden).sum(-2)  # (..., n)
    loss = 0.5 * ((fit - y) ** 2).sum(-1)
    return loss + 0.5 * beta * ((U ** 2).sum((-1, -2)) + (alpha ** 2).sum(-1))


@dataclass
class TrainedRuns:
    widths: np.ndarray       # (R,) width of each run
    objective: np.ndarray    # (R,) final objective
    grad_norm: np.ndarray    # (R,) ‖∇‖ at the end (a stationarity certificate)
    history: np.ndarray      # (T, R) objective along training, sampled
    steps: np.ndarray        # (T,) the steps of the history


def train_relu_nets(X: torch.Tensor, y: torch.Tensor, beta: float, widths, restarts: int,
                    generator: torch.Generator, steps: int = 3000, lr: float = 0.02,
                    init_scale: float = 0.5, positive_output: bool = False,
                    record_every: int = 50) -> TrainedRuns:
    """Adam on every (width, restart) pair at once, the step size decayed
    geometrically by 100× over the run so the last iterates settle.

    ``positive_output`` projects α onto α ≥ 0 after each step (a network
    class that the convex theorem does not cover: an assumption break)."""
    widths = np.repeat(np.asarray(widths, dtype=int), restarts)
    R, m = len(widths), int(widths.max())
    d = X.shape[1]
    dev, dt = X.device, X.dtype
    mask = (torch.arange(m, device=dev)[None, :] < torch.as_tensor(widths, device=dev)[:, None]).to(dt)
    U = init_scale * torch.randn(R, m, d, generator=generator, device=dev, dtype=dt) / np.sqrt(d)
    alpha = init_scale * torch.randn(R, m, generator=generator, device=dev, dtype=dt) / np.sqrt(m)
    U, alpha = U * mask[..., None], alpha * mask
    if positive_output:
        alpha = alpha.abs()
    U.requires_grad_(True)
    alpha.requires_grad_(True)
    opt = torch.optim.Adam([U, alpha], lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.01 ** (1.0 / steps))
    history, at = [], []
    for t in range(steps):
        opt.zero_grad(set_to_none=True)
        obj = relu_objective(X, y, U * mask[..., None], alpha * mask, beta)
        obj.sum().backward()  # runs are independent: the sum's gradient is each run's gradient
        opt.step()
        sched.step()
        with torch.no_grad():
            if positive_output:
                alpha.clamp_(min=0.0)
            if t % 64 == 0:  # weight decay shrinks dead neurons geometrically: subnormals are very slow
                U.masked_fill_(U.abs() < TINY, 0.0)
                alpha.masked_fill_(alpha.abs() < TINY, 0.0)
        if t % record_every == 0:
            history.append(obj.detach().cpu().numpy())
            at.append(t)
    Um, am = (U * mask[..., None]).detach().requires_grad_(True), (alpha * mask).detach().requires_grad_(True)
    final = relu_objective(X, y, Um, am, beta)
    final.sum().backward()
    gU, ga = Um.grad * mask[..., None], am.grad * mask
    if positive_output:  # projected gradient: a neuron pinned at α = 0 with ∂/∂α > 0 is stationary
        ga = torch.where((am.detach() <= 0) & (ga > 0), torch.zeros_like(ga), ga)
    gnorm = torch.sqrt((gU ** 2).sum((-1, -2)) + (ga ** 2).sum(-1))
    history.append(final.detach().cpu().numpy())
    at.append(steps)
    return TrainedRuns(widths, final.detach().cpu().numpy(), gnorm.cpu().numpy(),
                       np.array(history), np.array(at))


__all__ = ["relu_objective", "train_relu_nets", "TrainedRuns"]
