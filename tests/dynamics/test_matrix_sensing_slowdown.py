"""dynamics.matrix_sensing_slowdown: the sympy laws, the blockwise error formula, batched =
per-draw, and the checks separate the truth from the mutants and the asymmetric break."""
import sys
from pathlib import Path

import numpy as np
import torch

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = load_claim(Path(__file__).parents[2] / "claims" / "dynamics" / "matrix_sensing_slowdown.py")
MOD = sys.modules[CLAIM.derive.__module__]
S = sys.modules[MOD.run_gd.__module__]

OVER = {"n": 12, "r": 2, "k_excess": 2, "eta": 0.2, "alpha": 0.2, "spectrum": "distinct", "data_seed": 1}
EXACT = {"n": 12, "r": 2, "k_excess": 0, "eta": 0.3, "alpha": 0.05, "spectrum": "distinct", "data_seed": 2}


def test_sympy_laws():
    law = S.excess_law()
    assert float(law["slope"].subs({law["eta"]: 0.1, law["m"]: 4})) == 0.1
    assert S.slowest_mode(0.1, np.array([1.0, 0.5])) == 1 - 0.1 * 0.5
    assert abs(S.slowest_mode(0.3, np.array([1.0])) - 0.7) < 1e-15


def test_blockwise_error_equals_the_direct_norm():
    rng = np.random.default_rng(0)
    X0 = rng.standard_normal((9, 4)) * 0.3
    lams = np.array([1.0, 0.5])
    E = S.run_gd([(9, 4, lams, 0.1, X0, None, None)], SimContext(), T=30, record_every=10)
    X = torch.as_tensor(X0)
    M = torch.diag(torch.as_tensor(np.r_[lams, np.zeros(7)]))
    for t in range(31):
        if t % 10 == 0:
            assert abs(E[t // 10, 0] - float(torch.linalg.norm(X @ X.T - M))) < 1e-12
        X = X - 0.1 * (X @ X.T - M) @ X


def test_batched_equals_per_draw():
    draws = [OVER, EXACT, {**OVER, "n": 10, "r": 1, "k_excess": 1, "data_seed": 4}]
    ctx = SimContext().with_seeds([11, 12, 13])
    batch = CLAIM.simulate_batch(draws, ctx)
    for p, s, b in zip(draws, ctx.seeds, batch):
        one = CLAIM.simulate(p, SimContext(seed=s))
        assert np.allclose(one["e"], b["e"], rtol=1e-9, atol=1e-300)
        assert np.isclose(one["contraction"], b["contraction"], rtol=0, atol=1e-12)


def test_truth_passes_mutants_and_break_fail():
    ctx = SimContext(seed=5)
    for p in (OVER, EXACT):
        pred, obs = CLAIM.derive(dict(p)), CLAIM.simulate(dict(p), ctx)
        assert all(c(pred, obs, p, ctx).passed for c in CLAIM.checks)
        refuted = [m.name for m in CLAIM.mutants
                   if any(c(m.derive(dict(p), dict(pred)), obs, p, ctx).passed is False for c in CLAIM.checks)]
        if p["k_excess"]:
            want = {"near-miss: slope 2.2η/√(k−r)", "exponential convergence for k > r", "slope 2η/(k−r)"}
            assert want <= set(refuted)
        else:
            assert refuted == ["rate 1 − 2ηλ_r for k = r"]
    broken = CLAIM.breaks[0].apply(dict(OVER))
    obs = CLAIM.simulate(broken, ctx)
    assert CLAIM.checks[0](CLAIM.derive(dict(OVER)), obs, broken, ctx).passed is False
    assert CLAIM.breaks[0].apply(dict(EXACT)) is None
