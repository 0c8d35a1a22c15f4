"""The integrators' orders, and the conservation check on a known flow."""
import math

import torch

from theorycheck.checks import loglog_slope
from theorycheck.sim.flows import gradient_field, integrate, with_momentum


def _error(method, h):
    # x' = −x: exact x(1) = e^{−1}
    x = integrate(lambda s: (-s[0],), (torch.ones(3, dtype=torch.float64),), 1.0, h, method)[0]
    return float((x - math.exp(-1)).abs().max())


def test_euler_is_first_order():
    hs = [1 / 32, 1 / 64, 1 / 128]
    assert abs(loglog_slope(hs, [_error("gd", h) for h in hs]) - 1) < 0.1


def test_rk4_is_fourth_order():
    hs = [1 / 4, 1 / 8, 1 / 16]
    assert abs(loglog_slope(hs, [_error("rk4", h) for h in hs]) - 4) < 0.2


def test_gradient_field_is_batched_per_draw():
    w = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.float64)
    f = gradient_field(lambda s: 0.5 * (s[0] ** 2).sum(-1), weight_decay=0.5)
    assert torch.allclose(f((w,))[0], -1.5 * w)


def test_momentum_flow_loses_balance_and_gradient_flow_keeps_it():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1, 3, generator=g, dtype=torch.float64), torch.randn(1, 3, generator=g, dtype=torch.float64)
    loss = lambda s: 0.5 * ((s[0] * s[1]).sum(-1) - 1.0) ** 2  # noqa: E731
    q = lambda s: float(((s[0] ** 2).sum() - (s[1] ** 2).sum()))  # noqa: E731
    drift = {}
    for mom in (0.0, 1.0):
        field, start, theta = with_momentum(loss, 0.0, mom, (a, b))
        end = theta(integrate(field, start, 1.0, 1 / 128, "rk4"))
        drift[mom] = abs(q(end) - q((a, b)))
    assert drift[0.0] < 1e-5 and drift[1.0] > 1e-2
