"""geometry.svm_min_norm: exact SVM (NNLS dual) against cvxpy, the criterion, GD in dual coordinates."""
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
_CACHE = {}


def _claim():
    if "claim" not in _CACHE:
        from theorycheck.discovery import load_claim
        _CACHE["claim"] = load_claim(str(ROOT / "claims/geometry/svm_min_norm.py"))
    return _CACHE["claim"]


def _m():
    return sys.modules[_claim().derive.__module__]


@pytest.mark.parametrize("ratio", [0.4, 3.0])
def test_nnls_svm_matches_cvxpy(ratio):
    import cvxpy as cp
    m = _m()
    X, y = m.data({"n": 8, "ratio": ratio, "shift": 0.5, "data_seed": 3})
    w_nnls, lam, kkt = m.exact_svm(X, y)
    assert kkt < 1e-9
    w = cp.Variable(X.shape[1])
    cp.Problem(cp.Minimize(cp.sum_squares(w)), [cp.multiply(y, X @ w) >= 1]).solve()
    assert np.allclose(w.value, w_nnls, atol=1e-5)


def test_criterion_is_equivalent_to_svm_equal_min_norm():
    c = _claim()
    seen = set()
    for p in c.assumptions.sample(60, 5):
        pred = c.derive(p)
        seen.add(pred["criterion"])
        assert pred["criterion"] == (pred["gap"] < 1e-10)
        if pred["criterion"]:
            assert pred["margin"] == pytest.approx(pred["min_norm_margin"], rel=1e-10)
    assert seen == {True, False}


def test_dual_coordinates_are_primal_gd():
    from theorycheck.sim.context import SimContext
    m = _m()
    p = {"n": 6, "ratio": 1.0, "shift": 0.3, "data_seed": 9}
    X, y = m.data(p)
    eta = m.STEP_SCALE / np.max(np.sum(X * X, 1))
    w = np.zeros(X.shape[1])
    for _ in range(m.STEPS):
        e = np.exp(-(y * (X @ w)) - np.max(-(y * (X @ w))))
        w = w + eta * X.T @ (y * e / e.sum())          # −η ∇L / L, L = Σ exp(−y xᵀw)
    obs = m.simulate(p, SimContext())
    assert np.allclose(obs["w_gd"], w / np.linalg.norm(w), atol=1e-10)


def test_batched_equals_per_draw_and_checks_pass():
    from theorycheck.sim.context import SimContext
    c = _claim()
    draws = c.assumptions.sample(8, 2)
    batch = c.simulate_batch(draws, SimContext())
    for p, o in zip(draws, batch):
        single = c.simulate(p, SimContext())
        assert np.allclose(single["w_gd"], o["w_gd"], atol=1e-12)
        pred = c.derive(p)
        assert all(ch(pred, o, p).passed is not False for ch in c.checks)
