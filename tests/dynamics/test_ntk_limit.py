"""dynamics.ntk_limit: the sympy kernel is the arc-cosine NTK, the Jacobian formula is autograd's,
batched = per-draw."""
import sys
from pathlib import Path

import numpy as np
import sympy as sp
import torch
from scipy import integrate

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = load_claim(Path(__file__).parents[2] / "claims" / "dynamics" / "ntk_limit.py")
MOD = sys.modules[CLAIM.derive.__module__]


def test_kernel_is_the_arc_cosine_form():
    k1, k0 = MOD.arccos_ntk()
    th, a, b = MOD.theta, MOD.nx, MOD.ny
    assert sp.simplify(k1 - a * b * (sp.sin(th) + (sp.pi - th) * sp.cos(th)) / (2 * sp.pi)) == 0
    assert sp.simplify(k0 - (sp.pi - th) / (2 * sp.pi)) == 0
    # and equals the Gaussian integral done numerically at one angle
    t0, na, nb = 1.1, 0.7, 1.9
    dens = lambda g1, g2: np.exp(-(g1**2 + g2**2) / 2) / (2 * np.pi)  # noqa: E731
    u = lambda g1, g2: na * g1  # noqa: E731
    v = lambda g1, g2: nb * (np.cos(t0) * g1 + np.sin(t0) * g2)  # noqa: E731
    e = integrate.dblquad(lambda g2, g1: max(u(g1, g2), 0) * max(v(g1, g2), 0) * dens(g1, g2), -8, 8, -8, 8)[0]
    assert abs(e - float(k1.subs({th: t0, a: na, b: nb}))) < 1e-5


def test_block_kernel_equals_autograd_ntk():
    torch.manual_seed(0)
    d, m, n = 3, 5, 4
    X = torch.randn(n, d, dtype=torch.float64)
    W = torch.randn(m, d, dtype=torch.float64, requires_grad=True)
    a = torch.randn(m, dtype=torch.float64, requires_grad=True)
    f = torch.relu(X @ W.T) @ a / np.sqrt(m)
    J = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(f[i], (W, a), retain_graph=True)])
                     for i in range(n)])
    ntk = J @ J.T
    pre = X @ W.detach().T
    act, gate = torch.relu(pre), (pre > 0).double()
    mine = (act @ act.T + ((gate * a.detach()[None] ** 2) @ gate.T) * (X @ X.T)) / m
    torch.testing.assert_close(ntk, mine)


def test_batched_equals_per_draw():
    ps = CLAIM.assumptions.design(4, 3)
    seeds = [5, 6, 7, 8]
    batch = CLAIM.simulate_batch(ps, SimContext().with_seeds(seeds))
    for p, sd, ob in zip(ps, seeds, batch):
        one = CLAIM.simulate(p, SimContext(seed=sd))
        np.testing.assert_allclose(ob["mean_hat"], one["mean_hat"], rtol=1e-5)
        np.testing.assert_allclose(ob["rate_hat"], one["rate_hat"], rtol=1e-4)
