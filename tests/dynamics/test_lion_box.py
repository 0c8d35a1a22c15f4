"""dynamics.lion_box: the certified box minimiser (cvxpy and the cvxpy-free path agree and satisfy
KKT), the entry bound, batched = per-draw."""
import sys
from pathlib import Path

import numpy as np

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext
from theorycheck.verdict import Inconclusive

CLAIM = load_claim(Path(__file__).parents[2] / "claims" / "dynamics" / "lion_box.py")
MOD = sys.modules[CLAIM.derive.__module__]


def test_box_minimisers_agree_and_are_kkt():
    for seed in range(5):
        p = {"d": 4, "lam": 1.0, "a_scale": 2.0, "cond": 10.0, "beta1": 0.9, "beta2": 0.99, "data_seed": seed}
        H, a, _ = MOD.problem(p)
        x1, kkt = MOD.box_minimiser(H, a, 1.0)
        x2, _ = MOD.box_minimiser_fast(H, a, 1.0)
        np.testing.assert_allclose(x1, x2, atol=1e-12)
        assert kkt <= 1e-9 and np.abs(x1).max() <= 1.0 + 1e-15
        assert np.isclose(np.abs(x1).max(), 1.0)  # a outside the box: some constraint active


def test_batched_equals_per_draw_and_entry_bound_holds():
    ps = CLAIM.assumptions.design(6, 4)
    batch = CLAIM.simulate_batch(ps, SimContext().with_seeds(range(6)))
    for i, (p, ob) in enumerate(zip(ps, batch)):
        one = CLAIM.simulate(p, SimContext(seed=i))
        np.testing.assert_allclose(ob["x_scaled"], one["x_scaled"], rtol=1e-12, atol=1e-14)
        try:
            pred = CLAIM.derive(p)
        except Inconclusive:
            continue
        assert np.all(MOD.excess(pred, ob, p) <= pred["excess_bound"])
