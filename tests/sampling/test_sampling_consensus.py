"""CBO consensus helpers: objectives and their autograd gradients, the
weighted moments against a direct computation, the symbolic identities,
batched vs per-draw simulations, and the uniform-cloud break."""
import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

from theorycheck.discovery import _family_package, load_claim
from theorycheck.sim.context import SimContext

ROOT = Path(__file__).resolve().parents[2]
CLAIM = ROOT / "claims/sampling/cbo_consensus.py"


@pytest.fixture(scope="module")
def mod():
    claim = load_claim(CLAIM)
    return claim, importlib.import_module(f"{_family_package(CLAIM.parent)}._consensus")


def draw(**kw):
    p = {"d": 3, "f": "quadratic", "alpha": 1.0, "tau_lam": 0.5, "r_off": 1.0, "cond": 3.0, "nl": 0.3,
         "data_seed": 5}
    p.update(kw)
    return p


def test_symbolic(mod):
    assert mod[1].symbolic_identities()


def test_weighted_moments_direct(mod):
    _, C = mod
    g = torch.Generator().manual_seed(0)
    X = torch.randn(1, 500, 2, generator=g, dtype=torch.float64)
    G = torch.randn(1, 500, 2, generator=g, dtype=torch.float64)
    f = torch.rand(1, 500, generator=g, dtype=torch.float64)
    m = torch.zeros(1, 2, dtype=torch.float64)
    vx, vg, Vxx, Vxg, Vgg, ess = C.weighted_moments(X, G, f, torch.tensor([2.0], dtype=torch.float64), m)
    w = np.exp(-2.0 * f[0].numpy())
    w /= w.sum()
    np.testing.assert_allclose(vx[0].numpy(), w @ X[0].numpy(), rtol=1e-12)
    r = X[0].numpy() - w @ X[0].numpy()
    np.testing.assert_allclose(Vxx[0].numpy(), (r * w[:, None] ** 2).T @ r, rtol=1e-12)
    assert float(ess[0]) == pytest.approx(1 / np.sum(w**2), rel=1e-12)


@pytest.mark.parametrize("kind", ["quadratic", "quartic", "logcosh", "coupled"])
def test_batched_equals_single_and_identity_holds(mod, kind):
    claim, _ = mod
    draws = [draw(f=kind, d=2, data_seed=1), draw(f=kind, d=2, data_seed=2, alpha=5.0)]
    batch = claim.simulate_batch(draws, SimContext(seed=0).with_seeds([7, 8]))
    for p, b, s in zip(draws, batch, (7, 8)):
        one = claim.simulate(p, SimContext(seed=s))
        np.testing.assert_allclose(one["v"], b["v"], rtol=1e-12)
        pred = claim.derive(p)
        assert claim.checks[0](pred, b, p).passed
        assert claim.checks[1](pred, b, p).passed


def test_uniform_cloud_breaks_stein(mod):
    claim, _ = mod
    p = draw(tau_lam=2.0, r_off=1.5, alpha=1.0)
    pred = claim.derive(p)
    ev = claim.checks[0](pred, claim.simulate({**p, "rho": "uniform"}, SimContext(seed=1)), p)
    assert ev.passed is False
