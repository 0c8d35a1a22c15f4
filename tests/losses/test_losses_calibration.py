"""losses.logistic_calibration: the sympy derivation of ψ, its inverse, the exact
excess risk, and batched vs per-draw simulations."""
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIMS = Path(__file__).resolve().parents[2] / "claims" / "losses"


def _module(name):
    claim = load_claim(CLAIMS / f"{name}.py")
    mod = next(m for k, m in sys.modules.items() if k.endswith(f".{name}") and getattr(m, "claim", None) is claim)
    return claim, mod


def _helpers():
    _module("logistic_calibration")
    return next(m for k, m in sys.modules.items() if k.endswith("._calibration"))


def test_psi_derivation_is_the_infimum_and_its_series():
    h = _helpers()
    d = h.psi_derivation()
    assert d["stationary_residual"] == 0 and d["curvature_residual"] == 0
    assert d["closed_vs_infimum"] < 1e-40
    t = d["t"]
    assert sp.expand(d["series"] - (t**2 / 2 + t**4 / 12 + t**6 / 30)) == 0
    assert d["psi_at_1"] == sp.log(2)
    assert sp.simplify(d["psi_second"] - 1 / (1 - t**2)) == 0  # convex on [0, 1)


def test_psi_inverse_and_wrong_side_excess():
    h = _helpers()
    t = np.array([1e-3, 0.05, 0.3, 0.7, 0.99])
    grid = h.psi(h.T_GRID)
    assert np.allclose(h.psi_inverse(h.psi(t), grid), t, rtol=1e-5, atol=1e-6)
    assert h.psi_inverse(1.0, grid) == 1.0
    rng = np.random.default_rng(0)
    tt = rng.uniform(0, 1, 2000)
    eta = torch.tensor((1 + tt) / 2)
    hs = -torch.tensor(rng.exponential(1.0, 2000))  # wrong side
    exc = h.logistic_excess(eta, hs).numpy()
    assert np.all(exc >= h.psi(tt) - 1e-12)
    assert np.allclose(h.logistic_excess(eta, torch.zeros(2000, dtype=torch.float64)).numpy(), h.psi(tt), atol=1e-12)


def test_batched_equals_single_draws():
    claim, mod = _module("logistic_calibration")
    draws = claim.assumptions.sample(5, seed=3)
    draws[0].update(labels="sampled", batch=3, margins="spread")
    draws[1].update(labels="population", margins="equal")
    ctx = SimContext(seed=0).with_seeds([11, 12, 13, 14, 15])
    batch = claim.simulate_batch(draws, ctx)
    for i, p in enumerate(draws):
        one = claim.simulate(p, SimContext(seed=11 + i))
        for k in ("min_wrong_excess", "excess01", "excess_log"):
            np.testing.assert_allclose(one[k], batch[i][k], rtol=1e-9, atol=1e-13)
        pred = claim.derive(p)
        for c in claim.checks:
            assert c(pred, batch[i], p).passed


@pytest.mark.parametrize("factor", [1.1])
def test_tight_family_refutes_a_larger_psi(factor):
    claim, mod = _module("logistic_calibration")
    p = {"bins": 8, "margins": "equal", "t_min": 0.3, "t_max": 0.3, "lr": 0.05, "batch": 4,
         "labels": "population", "init": 0.5, "data_seed": 1}
    obs = claim.simulate(p, SimContext(seed=0))
    pred = claim.derive(p)
    assert all(c(pred, obs, p).passed for c in claim.checks)
    wrong = {**pred, "psi_bins": factor * pred["psi_bins"], "psi_grid": factor * pred["psi_grid"]}
    assert not all(c(wrong, obs, p).passed for c in claim.checks)
