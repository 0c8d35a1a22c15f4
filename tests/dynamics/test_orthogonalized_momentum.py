"""The FISMO re-implementation (theorycheck.sim.orthomomentum) and its two claims."""
from pathlib import Path

import numpy as np
import pytest

from theorycheck.sim import orthomomentum as O

ROOT = Path(__file__).resolve().parents[2]


def test_closed_forms_match_linear_algebra():
    rng = np.random.default_rng(0)
    for _ in range(5):
        S = rng.standard_normal((2, 2))
        S = S @ S.T + 0.1 * np.eye(2)
        w, V = np.linalg.eigh(S)
        ref = (V / np.sqrt(w)) @ V.T
        a, b, d = O._inv_sqrt(S[0, 0], S[0, 1], S[1, 1])
        assert np.allclose([[a, b], [b, d]], ref, atol=1e-13)
        P = rng.standard_normal((2, 2))
        U, _, Vt = np.linalg.svd(P)
        assert np.allclose(np.array(O._polar(*P.ravel())).reshape(2, 2), U @ Vt, atol=1e-13)


def test_gradient_matches_finite_differences():
    X, Y, W0 = O.problem(1, 0.5)
    f = lambda W: 0.5 * np.mean(np.sum((np.tanh(X @ W.T) - Y) ** 2, 1))
    g = np.array(O._full_grad([tuple(x) for x in X], [tuple(y) for y in Y], *W0.ravel())).reshape(2, 2)
    num = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            E = np.zeros((2, 2))
            E[i, j] = 1e-6
            num[i, j] = (f(W0 + E) - f(W0 - E)) / 2e-6
    assert np.allclose(g, num, atol=1e-8)


def test_unit_rms_steps_and_run_independence():
    d = O.problem(2, 0.5)
    g1, _ = O.run([d], [0.05], [8], [0.9], 200, [7])
    g2, _ = O.run([d, d], [0.05, 0.08], [8, 16], [0.9, 0.85], 200, [7, 9])
    assert np.array_equal(g1[0], g2[0])


def test_claims():
    from theorycheck.discovery import load_claim
    pub = load_claim(str(ROOT / "claims/published/fismo_rate.py"))
    fix = load_claim(str(ROOT / "claims/dynamics/orthogonalized_momentum_floor.py"))
    assert pub.expected == "refuted" and pub.rescue == fix.id
    p = {"eta": 0.08, "batch": 16, "mu": 0.9, "sigma": 0.5, "data_seed": 3}
    obs = pub.simulate(p, None)
    assert obs["rate_exponent"] > -0.5          # a floor, not 1/T
    pred, o = fix.derive(p), fix.simulate(p, None)
    assert pred["stationary_range"][0] == pytest.approx(0.25)
    assert all(c(pred, o, p).passed is not False for c in fix.checks)
