"""dynamics.large_step_balancing: the GD helper, the exact side, batched = per-draw."""
import importlib
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch

from theorycheck.discovery import _family_package, load_claim
from theorycheck.sim.context import SimContext

PATH = Path(__file__).resolve().parents[2] / "claims" / "dynamics" / "large_step_balancing.py"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def claim():
    return load_claim(PATH)


@pytest.fixture(scope="module")
def helpers(claim):
    return importlib.import_module(_family_package(PATH.parent) + "._balancing")


def test_exact_side(claim):
    mod = importlib.import_module(_family_package(PATH.parent) + ".large_step_balancing")
    x = sp.Symbol("x", real=True)
    assert sp.simplify(mod.LAMBDA_EXPR - (x**2 + 1 / x**2)) == 0
    assert mod.LAMBDA_MIN == 2
    pred = claim.derive({"side": -1, "gap": 0.5, "starts": "box", "data_seed": 0})
    assert pred["sharpness_bound"] == 2 and pred["eta_max"] == 1 and pred["imbalance_bound"] == pytest.approx(2.0)


def test_gd_step_and_the_law_of_x2_minus_y2(helpers):
    g = torch.Generator().manual_seed(0)
    x0, y0 = helpers.starts("box", 64, g)
    eta = 0.3
    x1, y1 = helpers.gd(x0, y0, torch.tensor(eta, dtype=torch.float64), 1)
    r = x0 * y0 - 1
    assert torch.allclose(x1, x0 - eta * r * y0, rtol=0, atol=1e-14)
    assert torch.allclose(x1**2 - y1**2, (x0**2 - y0**2) * (1 - eta**2 * r**2), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["box", "balanced", "unbalanced"])
def test_starts(helpers, kind):
    x, y = helpers.starts(kind, 1000, torch.Generator().manual_seed(1))
    assert x.shape == (1000,) and bool((x.abs() <= 4).all() and (y.abs() <= 4).all())
    if kind == "balanced":
        assert float((x - y).abs().max()) <= 0.1
    if kind == "unbalanced":
        assert float((x**2 - y**2).abs().min()) >= 2.16 - 1e-12


def test_converges_at_moderate_step_and_never_above_one(helpers):
    x, y = helpers.starts("box", 512, torch.Generator().manual_seed(2))
    for eta, some in [(0.5, True), (1.1, False)]:
        x1, y1 = helpers.gd(x, y, torch.tensor(eta, dtype=torch.float64), 3000)
        conv = (x1 * y1 - 1).abs() < 1e-10
        assert bool(conv.any()) == some
        if some:
            assert float((eta * (x1**2 + y1**2))[conv].max()) <= 2 * (1 + 1e-9)


def test_batched_equals_per_draw(claim):
    draws = claim.assumptions.sample(6, 3)
    ctx = SimContext(seed=0)
    seeds = [11, 12, 13, 14, 15, 16]
    batch = claim.simulate_batch(draws, ctx.with_seeds(seeds))
    for p, s, b in zip(draws, seeds, batch):
        one = claim.simulate(p, ctx.with_seed(s))
        for k in ("n_conv", "max_sharpness", "eta_if_converged", "n_converged_violating"):
            assert one[k] == pytest.approx(b[k], rel=1e-12, abs=1e-14), k
        np.testing.assert_allclose(one["limit_sharpness"], b["limit_sharpness"], rtol=1e-12)
