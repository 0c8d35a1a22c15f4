"""dynamics.diag_net_implicit_bias: sympy facts of the potential, the polished dual gives the
minimal-Q interpolant, the flow integrator converges at order 4, batched = per-draw, and the
checks refute the mutants and the break on a cheap draw."""
import sys
from pathlib import Path

import numpy as np

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = load_claim(Path(__file__).parents[2] / "claims" / "dynamics" / "diag_net_implicit_bias.py")
MOD = sys.modules[CLAIM.derive.__module__]
D = sys.modules[MOD.interpolant.__module__]

DRAW = {"n": 4, "d": 9, "alpha": 0.12, "target": "dense", "data_seed": 11}
KERNEL = {"n": 3, "d": 7, "alpha": 1.5, "target": "sparse", "data_seed": 5}


def test_potential_facts():
    f = D.potential_facts()
    z, s = f["z"], f["s"]
    assert f["conjugate"] == 2 * __import__("sympy").cosh(s) - 2
    assert f["q_second"].subs(z, 0) == __import__("sympy").Rational(1, 2)


def test_interpolant_is_feasible_and_minimises_Q():
    X, y = D.data(DRAW)
    w, nu, conic_res, kkt = D.interpolant(X, y, DRAW["alpha"])
    assert kkt <= 1e-12 and np.abs(X @ w - y).max() <= 1e-11
    assert np.allclose(w, 2 * DRAW["alpha"] ** 2 * np.sinh(X.T @ nu))
    null = np.linalg.svd(X)[2][DRAW["n"]:]  # rows spanning the null space of X
    rng = np.random.default_rng(0)
    q0 = D.Q(w, DRAW["alpha"])
    for _ in range(20):
        assert D.Q(w + 1e-3 * rng.standard_normal(len(null)) @ null, DRAW["alpha"]) > q0


def test_limits_of_small_and_large_alpha():
    X, y = D.data(DRAW)
    l1, l2 = D.min_l1(X, y), D.min_l2(X, y)
    w_small, *_ = D.interpolant(X, y, 0.01)
    w_large, *_ = D.interpolant(X, y, 30.0)
    assert np.linalg.norm(w_small - l1) < 0.05 * np.linalg.norm(l1)
    assert np.linalg.norm(w_large - l2) < 1e-3 * np.linalg.norm(l2)


def test_batched_equals_per_draw():
    draws = [DRAW, KERNEL, {**DRAW, "data_seed": 3, "target": "sparse"}]
    batch = CLAIM.simulate_batch(draws, SimContext().with_seeds([1, 2, 3]))
    for p, b in zip(draws, batch):
        one = CLAIM.simulate(p, SimContext(seed=7))
        for k in ("w_coarse", "w_fine", "w_flow"):
            assert np.allclose(one[k], b[k], rtol=1e-9, atol=1e-12), k


def test_flow_matches_and_mutants_and_break_fail():
    pred = CLAIM.derive(dict(DRAW))
    obs = CLAIM.simulate(dict(DRAW), SimContext())
    ev = [c(pred, obs, DRAW, None) for c in CLAIM.checks]
    assert all(e.passed for e in ev), [e.detail for e in ev]
    assert ev[0].observed < 1e-4  # extrapolated error, far below the 1e-3 tolerance
    for m in CLAIM.mutants:
        bad = m.derive(dict(DRAW), dict(pred))
        assert any(c(bad, obs, DRAW, None).passed is False for c in CLAIM.checks), m.name
    broken = CLAIM.breaks[0].apply(dict(DRAW))
    ev = CLAIM.checks[0](pred, CLAIM.simulate(broken, SimContext()), broken, None)
    assert ev.passed is False


def test_mutant_grading_rule_returns_the_truth_where_not_applicable():
    pred = CLAIM.derive(dict(KERNEL))
    # at α = 1.5 the kernel regime: Q_{1.1α} lies < 1e-2 from w_α, so the mutant predicts w_α itself
    m = CLAIM.mutants[0].derive(dict(KERNEL), dict(pred))
    assert np.array_equal(m["w_alpha"], pred["w_alpha"])


def test_gauss_newton_tail_agrees_with_integrating_on():
    X, y = D.data(DRAW)
    a = DRAW["alpha"]
    old = D.SWITCH, D.SWITCH_RES
    try:
        D.SWITCH, D.SWITCH_RES = 1e-8, 1e-12
        w_long, _ = D.flow_limits([(X, y, np.full(9, a), np.full(9, a))], 1.6, SimContext(), rungs=(1.0,))[0][0]
    finally:
        D.SWITCH, D.SWITCH_RES = old
    w_tail, _ = D.flow_limits([(X, y, np.full(9, a), np.full(9, a))], 1.6, SimContext(), rungs=(1.0,))[0][0]
    assert np.linalg.norm(w_tail - w_long) <= 1e-6 * np.linalg.norm(w_long)
