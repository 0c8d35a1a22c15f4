"""kernels.catapult_phases: the exact side, the GD simulation, the phases, batching."""
import importlib
from pathlib import Path

import numpy as np
import pytest

from theorycheck.discovery import _family_package, load_claim
from theorycheck.sim.context import SimContext

PATH = Path(__file__).resolve().parents[2] / "claims" / "kernels" / "catapult_phases.py"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def claim():
    return load_claim(PATH)


@pytest.fixture(scope="module")
def cat(claim):
    return importlib.import_module(_family_package(PATH.parent) + "._catapult")


@pytest.mark.parametrize("a0", [0.3, 0.9, 1.5, 1.8])
def test_lazy_expansion_matches_the_map(cat, a0):
    limit, K, _ = cat.lazy_expansion()
    b0 = 1e-5
    a, b = a0, b0
    for _ in range(5000):
        c = 1 - a + b
        a, b = a - b * (4 - a), b * c * c
    rel = (a0 - a) / b0 / limit(a0) - 1
    assert limit(a0) == pytest.approx((4 - a0) / (a0 * (2 - a0)))
    assert rel == pytest.approx(K(a0) * b0, rel=0.05)


def _draw(a0, m=100, x=1.0, s=1.0):
    if a0 < 1.9 or 2.1 < a0 < 3.97 or a0 > 4.03:
        return {"zone": "wide", "u": (a0 - 0.1) / 5.8, "m": m, "x": x, "init_scale": s}
    zone, (lo, hi) = ("near 2", (1.9, 2.1)) if a0 < 3 else ("near 4", (3.97, 4.03))
    return {"zone": zone, "u": (a0 - lo) / (hi - lo), "m": m, "x": x, "init_scale": s}


@pytest.mark.parametrize("a0, phase", [(1.0, "lazy"), (3.0, "catapult"), (3.99, "catapult"), (4.5, "divergent")])
def test_phases(claim, a0, phase):
    mod = importlib.import_module(_family_package(PATH.parent) + ".catapult_phases")
    p = _draw(a0, m=1000, x=0.7, s=1.3)
    obs = claim.simulate(p, SimContext(seed=1))
    assert mod.observed_phase(obs) == phase
    pred = claim.derive(p)
    assert all(ch(pred, obs, p).passed for ch in claim.checks)
    if phase == "catapult":
        assert obs["a_inf"] < 2 and obs["peak_b"] > 0.1


def test_traces_follow_the_recursion(claim):
    mod = importlib.import_module(_family_package(PATH.parent) + ".catapult_phases")
    p = _draw(3.5, m=100)
    obs = claim.simulate(p, SimContext(seed=2))
    assert mod.recursion_error(claim.derive(p), obs, p) < 1e-12
    assert mod.recursion_error({**claim.derive(p), "recursion_c4": 4.04}, obs, p) > 1e-6


def test_batched_equals_per_draw(claim):
    draws = [_draw(0.7, 100), _draw(3.2, 100), _draw(4.5, 1000), _draw(1.97, 1000, x=2.0)]
    ctx = SimContext(seed=0)
    seeds = [3, 4, 5, 6]
    batch = claim.simulate_batch(draws, ctx.with_seeds(seeds))
    for p, s, b in zip(draws, seeds, batch):
        one = claim.simulate(p, ctx.with_seed(s))
        assert one["status"] == b["status"] and one["rose"] == b["rose"]
        for k in ("a0", "b0", "a_inf", "peak_b"):
            assert one[k] == pytest.approx(b[k], rel=1e-12, nan_ok=True)
        np.testing.assert_allclose(one["f_trace"], b["f_trace"], rtol=1e-12)
