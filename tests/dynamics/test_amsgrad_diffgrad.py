"""diffGrad / AMSGrad-diffGrad on Reddi et al.'s instance (theorycheck.sim.adaptive_regret)."""
from pathlib import Path

import numpy as np
import pytest

from theorycheck.sim import adaptive_regret as A

ROOT = Path(__file__).resolve().parents[2]


def test_scalar_and_batched_runs_agree():
    rng = np.random.default_rng(0)
    B = 6
    C, b2, b1 = rng.uniform(2.5, 10, B), 10 ** rng.uniform(-3, -0.01, B), rng.uniform(0, 0.3, B)
    lam, alpha, x1 = rng.uniform(0.5, 0.99, B), rng.uniform(0.25, 1, B), rng.uniform(-1, 1, B)
    ams = np.array([True, False] * 3)
    R, x, _ = A.run_batch(C, b1, b2, lam, alpha, x1, 3000, ams, np.ones(B, bool), np.ones(B, bool))
    for i in range(B):
        Rs, xs, _ = A.run_scalar(C[i], b1[i], b2[i], lam[i], alpha[i], x1[i], 3000, amsgrad=bool(ams[i]))
        assert np.allclose(Rs, R[i], rtol=1e-12, atol=1e-9) and xs == pytest.approx(x[i], abs=1e-12)


def test_adversarial_beta2_diffgrad_is_stuck_and_amsgrad_recovers():
    p = {"C": 3.0, "beta2": 1 / 10, "beta1": 0.0, "lam": 0.5, "alpha": 0.5, "x1": 1.0}
    plain, fixed = A.simulate_one(p, amsgrad=False), A.simulate_one(p, amsgrad=True)
    assert plain["x_final"] == 1.0 and plain["regret_exponent"] == pytest.approx(1.0, abs=0.01)
    assert plain["avg_regret"] == pytest.approx(A.stuck_regret_rate(3.0), rel=0.01)
    assert fixed["x_final"] < -0.95 and fixed["regret_exponent"] == pytest.approx(0.5, abs=0.004)


def test_exact_side():
    out = A.exact({"C": 5.0, "beta2": 0.04, "beta1": 0.1, "lam": 0.9, "alpha": 1.0, "x1": 0.0})
    assert out["x_star"] == -1.0 and out["stuck_rate"] == pytest.approx(2.0)
    assert out["hypotheses_hold"]


def test_claims_load_and_share_the_space():
    from theorycheck.discovery import load_claim
    pub = load_claim(str(ROOT / "claims/published/diffgrad_regret.py"))
    fix = load_claim(str(ROOT / "claims/dynamics/amsgrad_diffgrad_regret.py"))
    assert pub.expected == "refuted" and pub.rescue == fix.id
    assert pub.assumptions.describe() == fix.assumptions.describe()
    p = {"C": 2.5, "beta2": 0.001, "beta1": 0.0, "lam": 0.5, "alpha": 0.25, "x1": -1.0}   # the shrunk counterexample
    pred, obs = pub.derive(p), pub.simulate(p, None)
    assert pred["hypotheses_hold"] and not pub.checks[0](pred, obs, p).passed
    pred, obs = fix.derive(p), fix.simulate(p, None)
    assert all(c(pred, obs, p).passed for c in fix.checks)
