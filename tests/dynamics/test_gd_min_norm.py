"""dynamics.gd_min_norm: the exact ℚ solution against the convex program,
batched = per-draw, and truth / mutants / breaks on a few draws."""
import sys
from pathlib import Path

import numpy as np
import pytest

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = load_claim(Path(__file__).parents[2] / "claims" / "dynamics" / "gd_min_norm.py")
MOD = sys.modules[CLAIM.derive.__module__]
DRAWS = [{"n": 1, "d": 2, "eta_frac": 1.5, "data_seed": 3}, {"n": 3, "d": 7, "eta_frac": 0.9, "data_seed": 11},
         {"n": 5, "d": 6, "eta_frac": 1.9, "data_seed": 5}]


@pytest.mark.parametrize("p", DRAWS, ids=lambda p: f"n{p['n']}d{p['d']}")
def test_exact_solution_is_the_convex_programs_optimum(p):
    cp = pytest.importorskip("cvxpy")
    X, y = MOD.data(p)
    w = cp.Variable(p["d"])
    problem = cp.Problem(cp.Minimize(cp.sum_squares(w)), [X @ w == y])
    problem.solve()
    assert problem.status == cp.OPTIMAL
    pred = CLAIM.derive(dict(p))
    assert np.allclose(pred["w_star"], w.value, atol=1e-6)
    assert pred["norm_sq"] == pytest.approx(problem.value, rel=1e-6)


def test_batched_equals_per_draw():
    ctx = SimContext().with_seeds([1, 2, 3])
    batch = CLAIM.simulate_batch([dict(p) for p in DRAWS], ctx)
    for p, seed, b in zip(DRAWS, ctx.seeds, batch):
        one = CLAIM.simulate(dict(p), SimContext(seed=seed))
        assert np.allclose(one["w_gd"], b["w_gd"], rtol=1e-10, atol=1e-12)  # padding changes only round-off


def _failed(pred, obs, p):
    return [c.name for c in CLAIM.checks if c(pred, obs, p, None).passed is False]


@pytest.mark.parametrize("p", DRAWS, ids=lambda p: f"n{p['n']}d{p['d']}")
def test_truth_passes_mutants_and_breaks_fail(p):
    pred = CLAIM.derive(dict(p))
    obs = CLAIM.simulate(dict(p), SimContext(seed=7))
    assert _failed(pred, obs, p) == []
    for m in CLAIM.mutants:
        assert _failed(m.derive(dict(p), dict(pred)), obs, p), m.name
    for b in CLAIM.breaks:
        broken = b.apply(dict(p))
        failed = _failed(pred, CLAIM.simulate(broken, SimContext(seed=7)), broken)
        assert set(failed) & set(b.expect), b.name
