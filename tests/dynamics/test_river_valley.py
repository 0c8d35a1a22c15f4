"""dynamics.river_valley: the sympy moment recursions and plateau, the recursion's limit, the
schedules, batched = per-draw, and truth / mutants / breaks on one draw."""
import sys
from pathlib import Path

import numpy as np
import sympy as sp

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = load_claim(Path(__file__).parents[2] / "claims" / "dynamics" / "river_valley.py")
MOD = sys.modules[CLAIM.derive.__module__]
DRAW = {"eta_lam": 0.8, "lam": 2.0, "a_ratio": 1e-3, "m": 6, "sigma": 1.0, "schedule": "wsd", "decay_frac": 0.2,
        "data_seed": 1}


def test_plateau_formula():
    rec = MOD.recursions()
    eta, lam, sig, m = rec["syms"]
    assert sp.simplify(rec["plateau"] - m * eta * sig**2 / (2 * (2 - eta * lam))) == 0
    assert abs(rec["plateau_fn"](0.25, 2.0, 1.0, 10) - 10 * 0.25 / (2 * 1.5)) < 1e-15


def test_recursion_reaches_the_plateau_and_decay_removes_it():
    p = {**DRAW, "schedule": "constant"}
    hill, river = MOD.moment_curves(p, 400)
    assert abs(hill[-1] / CLAIM.derive(dict(p))["plateau"] - 1) < 1e-12
    hill_wsd, _ = MOD.moment_curves(DRAW, 400)
    assert hill_wsd[-1] < 0.1 * hill[-1]  # the decay phase removes most of the plateau
    etas = MOD.schedule(DRAW, 400)
    assert abs(river - np.prod(1 - MOD.schedule(p, 400) * p["a_ratio"] * p["lam"])) < 1e-14
    assert etas[0] > 0 and etas[-1] > 0 and abs(etas.max() - 0.4) < 1e-15


def test_batched_equals_per_draw():
    draws = [DRAW, {**DRAW, "m": 1, "schedule": "cosine"}, {**DRAW, "m": 17, "schedule": "constant"}]
    ctx = SimContext().with_seeds([3, 4, 5])
    batch = CLAIM.simulate_batch(draws, ctx)
    for p, s, b in zip(draws, ctx.seeds, batch):
        one = CLAIM.simulate(p, SimContext(seed=s))
        for k in ("hill_mc", "hill_se", "final_mc", "river_mc"):
            assert np.allclose(one[k], b[k], rtol=1e-12, atol=0), k


def test_truth_mutants_breaks():
    ctx = SimContext(seed=9)
    pred, obs = CLAIM.derive(dict(DRAW)), CLAIM.simulate(dict(DRAW), ctx)
    assert all(c(pred, obs, DRAW, ctx).passed for c in CLAIM.checks)
    for m in CLAIM.mutants[:2]:
        bad = m.derive(dict(DRAW), dict(pred))
        assert any(c(bad, obs, DRAW, ctx).passed is False for c in CLAIM.checks), m.name
    for b in CLAIM.breaks:
        broken = b.apply(dict(DRAW))
        ob = CLAIM.simulate(broken, ctx)
        assert any(c(pred, ob, broken, ctx).passed is False for c in CLAIM.checks if c.name in b.expect), b.name
