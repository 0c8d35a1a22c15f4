"""dynamics.max_margin: the data carry the SVM they were built with (cvxpy finds it), the flow's
right-hand side is (1 + t)·(−∇L), batched = per-draw."""
import sys
from pathlib import Path

import numpy as np
import torch

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = load_claim(Path(__file__).parents[2] / "claims" / "dynamics" / "max_margin.py")
MOD = sys.modules[CLAIM.derive.__module__]


def test_cvxpy_svm_recovers_the_construction():
    for p in CLAIM.assumptions.design(12, 5):
        X, y, w, alpha = MOD.data(p)
        pred = CLAIM.derive(p)
        np.testing.assert_allclose(pred["w_hat"], w, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(pred["alpha"], alpha, rtol=1e-5, atol=1e-6)
        margins = y * (X @ w)
        assert np.allclose(margins[:p["k"]], 1) and np.all(margins[p["k"]:] >= 1 + p["gap"] - 1e-12)


def test_logistic_gradient():
    p = CLAIM.assumptions.design(1, 2)[0]
    X, y, _, _ = MOD.data(p)
    w = torch.randn(p["d"], dtype=torch.float64, requires_grad=True)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    loss = torch.nn.functional.softplus(-yt * (Xt @ w)).sum()
    (g,) = torch.autograd.grad(loss, w)
    m = yt * (Xt @ w.detach())
    s = 1.3
    mine = ((yt[:, None] * Xt) * torch.exp(s - torch.nn.functional.softplus(m))[:, None]).sum(0)
    torch.testing.assert_close(mine, -np.exp(s) * g)


def test_batched_equals_per_draw():
    ps = CLAIM.assumptions.design(5, 6)
    batch = CLAIM.simulate_batch(ps, SimContext().with_seeds(range(5)))
    for i, (p, ob) in enumerate(zip(ps, batch)):
        one = CLAIM.simulate(p, SimContext(seed=i))
        np.testing.assert_allclose(ob["w_slope"], one["w_slope"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ob["t_weights"], one["t_weights"], rtol=1e-10, atol=1e-12)
