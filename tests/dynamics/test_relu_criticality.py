"""dynamics.relu_criticality: rsolve's closed form is the recursion, batched = per-draw."""
import sys
from pathlib import Path

import numpy as np

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = load_claim(Path(__file__).parents[2] / "claims" / "dynamics" / "relu_criticality.py")
MOD = sys.modules[CLAIM.derive.__module__]


def test_closed_form_iterates_the_recursion():
    for tuning, bias, cw in [("critical", "none", 1.0), ("free", "none", 0.7), ("free", "on", 3.1),
                             ("free", "on", 2.0)]:
        p = {"tuning": tuning, "bias": bias, "C_W": cw, "C_b": 0.4, "q0": 1.7, "n": 32, "L": 6, "data_seed": 0}
        c_b, c_w = MOD.constants(p)
        k = [c_b + c_w * p["q0"]]
        for _ in range(5):
            k.append(c_b + c_w * k[-1] / 2)
        np.testing.assert_allclose(CLAIM.derive(p)["K"], k, rtol=1e-12)


def test_batched_equals_per_draw():
    ps = CLAIM.assumptions.design(5, 2)
    batch = CLAIM.simulate_batch(ps, SimContext().with_seeds(range(5)))
    for i, (p, ob) in enumerate(zip(ps, batch)):
        one = CLAIM.simulate(p, SimContext(seed=i))
        np.testing.assert_allclose(ob["K_hat"], one["K_hat"], rtol=1e-5)
        np.testing.assert_allclose(ob["gain_hat"], one["gain_hat"], rtol=1e-5)
