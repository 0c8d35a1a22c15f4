"""GD on f(x, y) = ½(xy − 1)² (or the degenerate ¼(xy − 1)⁴) from many starts, many
draws at once: the simulation of ``dynamics.large_step_balancing``."""
from __future__ import annotations

import torch

from theorycheck.sim.context import derive_seed

BOX = 4.0  # starts uniform on [−4, 4]² ("box")


def draw_generators(ctx, n: int) -> list[torch.Generator]:
    """One generator per draw: the per-draw seeds of a batched call, or (a single-seed
    context) seeds derived from the context's seed."""
    if ctx.seeds:
        return ctx.generators()
    return [ctx.with_seed(derive_seed(ctx.seed, "draw", i)).generator() for i in range(n)]


def starts(kind: str, n: int, generator: torch.Generator, dtype=torch.float64, device="cpu"):
    """``n`` starts (x₀, y₀): ``box`` uniform on [−4, 4]²; ``balanced`` near the diagonal
    (|x₀ − y₀| ≤ 0.1, |x₀| ≤ 3); ``unbalanced`` one coordinate in ±[2.5, 4], the other in
    [−0.4, 0.4] (|x₀² − y₀²| ≥ 6)."""
    u = torch.rand(4, n, generator=generator, dtype=dtype, device=device)
    if kind == "box":
        return BOX * (2 * u[0] - 1), BOX * (2 * u[1] - 1)
    if kind == "balanced":
        x = 3 * (2 * u[0] - 1)
        return x, x + 0.1 * (2 * u[1] - 1)
    if kind == "unbalanced":
        big = torch.where(u[2] < 0.5, -1.0, 1.0).to(dtype) * (1.5 + 1.5 * u[0])
        small = 0.3 * (2 * u[1] - 1)
        swap = u[3] < 0.5
        return torch.where(swap, small, big), torch.where(swap, big, small)
    raise ValueError(f"unknown kind of starts {kind!r}")


def gd(x: torch.Tensor, y: torch.Tensor, eta: torch.Tensor, steps: int, loss: str = "square",
       check_every: int = 250):
    """``steps`` GD steps on ½(xy − 1)² (``square``) or ¼(xy − 1)⁴ (``quartic``), elementwise
    over any batch shape; ``eta`` broadcasts.  Stops early once every run has converged
    (|xy − 1| < 1e-13) or overflowed.  Returns the final (x, y)."""
    for t in range(steps):
        r = torch.addcmul(torch.full_like(x, -1.0), x, y)  # xy − 1
        g = eta * (r if loss == "square" else r * r * r)
        x, y = torch.addcmul(x, g, y, value=-1.0), torch.addcmul(y, g, x, value=-1.0)
        if check_every and (t + 1) % check_every == 0:
            a = (x * y - 1).abs()
            if bool(((a < 1e-13) | ~torch.isfinite(a)).all()):
                break
    return x, y
