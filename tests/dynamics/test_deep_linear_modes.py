"""dynamics.deep_linear_modes: the sympy solution is Saxe's formula, the flow's gradient is the
loss gradient, the Hermite crossing finder is exact on cubics, batched = per-draw."""
import sys
from pathlib import Path

import numpy as np
import sympy as sp
import torch

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = load_claim(Path(__file__).parents[2] / "claims" / "dynamics" / "deep_linear_modes.py")
MOD = sys.modules[CLAIM.derive.__module__]


def test_dsolve_gives_saxe_formula():
    expr, t_half = MOD.exact_solution()
    t, s, u0 = MOD.t, MOD.s, MOD.u0
    saxe = s * sp.exp(2 * s * t) / (sp.exp(2 * s * t) - 1 + s / u0)
    assert sp.simplify(expr - saxe) == 0
    assert sp.simplify(t_half - sp.log(s / u0 - 1) / (2 * s)) == 0


def test_flow_is_the_loss_gradient():
    p = {"d_in": 3, "d_out": 2, "r": 3, "s_top": 1.0, "spread": 2.0, "u0_rel": 0.1, "data_seed": 3}
    X, Y, _, _ = (torch.as_tensor(a) for a in MOD.data(p))
    W1 = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    W2 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    n = X.shape[1]
    loss = ((Y - W2 @ W1 @ X) ** 2).sum() / (2 * n)
    g1, g2 = torch.autograd.grad(loss, (W1, W2))
    E = Y @ X.T / n - W2 @ W1 @ (X @ X.T / n)
    torch.testing.assert_close(-g1, W2.T @ E)
    torch.testing.assert_close(-g2, E @ W1.T)


def test_half_times_exact_on_a_cubic():
    h = torch.tensor([0.1], dtype=torch.float64)
    tt = torch.arange(0, 11, dtype=torch.float64) * 0.1
    f, df = tt**3, 3 * tt**2
    got = MOD.half_times(f[None, None], df[None, None], h, torch.tensor([[0.125]], dtype=torch.float64))
    assert abs(float(got) - 0.5) < 1e-12


def test_batched_equals_per_draw():
    ps = CLAIM.assumptions.design(5, 1)
    seeds = [11, 12, 13, 14, 15]
    batch = CLAIM.simulate_batch(ps, SimContext().with_seeds(seeds))
    for p, sd, ob in zip(ps, seeds, batch):
        one = CLAIM.simulate(p, SimContext(seed=sd))
        np.testing.assert_allclose(ob["u_obs"], one["u_obs"], rtol=1e-9)
        np.testing.assert_allclose(ob["t_half_obs"], one["t_half_obs"], rtol=1e-6)
        pred = CLAIM.derive(p)
        np.testing.assert_allclose(ob["t_half_obs"], pred["t_half"], rtol=1e-4)
