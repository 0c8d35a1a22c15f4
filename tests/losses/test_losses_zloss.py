"""losses.zloss_invariance: the sympy derivation, the analytic gradient against
autograd, and batched vs per-draw simulations."""
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = Path(__file__).resolve().parents[2] / "claims" / "losses" / "zloss_invariance.py"


def _load():
    claim = load_claim(CLAIM)
    helpers = next(m for k, m in sys.modules.items() if k.endswith("._zloss"))
    return claim, helpers


def test_derivation():
    _, z = _load()
    d = z.derivation()
    al = d["alpha"]
    assert d["invariance"] == 0
    assert sp.simplify(d["grad_factor"] - 1 / al) == 0
    assert d["time_scale"] == [al**2]


@pytest.mark.parametrize("kind,eps", [("zloss", 0.0), ("zloss", 0.1), ("ce", 0.0)])
def test_gradient_matches_autograd(kind, eps):
    _, z = _load()
    g = torch.Generator().manual_seed(0)
    B, N, K = 3, 4, 6
    o = torch.randn(B, N, K, generator=g, dtype=torch.float64, requires_grad=True)
    tgt = torch.randint(0, 5, (B, N), generator=g)
    kmask = torch.ones(B, 1, K, dtype=torch.float64)
    kmask[0, 0, 5] = 0  # draw 0 has 5 classes
    nmask = torch.ones(B, N, dtype=torch.float64)
    nmask[1, 3] = 0
    a = torch.tensor([[0.5], [2.0], [1.0]], dtype=torch.float64)
    b = torch.tensor([[0.0], [1.0], [-0.5]], dtype=torch.float64)
    loss, grad = z.zloss_and_grad(o, tgt, kmask, nmask, a, b, kind, eps)
    (auto,) = torch.autograd.grad(loss.sum(), o)
    np.testing.assert_allclose(grad.detach().numpy(), (auto * kmask).numpy(), atol=1e-12)


def test_batched_equals_single_draws_and_checks_pass():
    claim, _ = _load()
    draws = claim.assumptions.sample(4, seed=5)
    batch = claim.simulate_batch(draws, SimContext(seed=0).with_seeds([1, 2, 3, 4]))
    for i, p in enumerate(draws):
        one = claim.simulate(p, SimContext(seed=1 + i))
        for k in ("grad_factor_fit", "time_scale_fit", "plain_loss", "scaled_loss"):
            np.testing.assert_allclose(one[k], batch[i][k], rtol=1e-10)
        for k in ("loss_change", "path_deviation", "spread_drift"):
            np.testing.assert_allclose(one[k], batch[i][k], atol=1e-11)
        pred = claim.derive(p)
        assert all(c(pred, batch[i], p).passed for c in claim.checks)
        wrong = {**pred, "time_scale": 1.1 * pred["time_scale"]}
        assert not all(c(wrong, batch[i], p).passed for c in claim.checks)
