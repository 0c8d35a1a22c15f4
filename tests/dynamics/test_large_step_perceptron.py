"""LR+GD with large steps and the batch perceptron (theorycheck.sim.large_step)."""
import math
from pathlib import Path

import numpy as np

from theorycheck.sim import large_step as L

ROOT = Path(__file__).resolve().parents[2]


def test_first_step_is_the_same_for_every_gamma():
    X, y = L.instance(30, 4, 0.05, 1)
    K, traj = L.lr_gd_counts([X] * 3, [y] * 3, [0.5, 10.0, 1e6])
    assert np.allclose(traj[:, 1], traj[0, 1], atol=1e-15)          # σ(0) = ½ at u₀ = 0
    Kp, U, _ = L.perceptron(X, y)
    assert np.allclose(U[1], traj[0, 1], atol=1e-15)


def test_gradient_step_matches_the_logistic_gradient():
    X, y = L.instance(20, 3, 0.05, 2)
    g = 3.0
    w = np.zeros(3)
    for _ in range(4):
        w = w + g / len(y) * X.T @ (y / (1 + np.exp(y * (X @ w))))  # w − γ∇L
    _, traj = L.lr_gd_counts([X], [y], [g], cap=4)
    assert np.allclose(traj[0, 4], w / g, atol=1e-13)


def test_beyond_gamma0_the_count_is_the_perceptrons_and_the_bound_holds():
    for s in range(20):
        X, y = L.instance(40, 5, 0.05, s)
        K, U, mm = L.perceptron(X, y)
        g0 = L.gamma0(X, K, mm)
        gs = [g0, 3 * g0]
        Kl, traj = L.lr_gd_counts([X, X], [y, y], gs)
        assert np.all(Kl == K)
        for j, g in enumerate(gs):
            dev = np.max(np.linalg.norm(traj[j, : K + 1] - U[: K + 1], axis=1))
            assert dev <= L.deviation_bound(X, K, mm, g) * (1 + 1e-9) + 1e-13


def test_square_loss_break_diverges_without_running_to_the_cap():
    X, y = next((X, y) for X, y in (L.instance(60, 6, 0.02, s) for s in range(50)) if L.perceptron(X, y)[0] >= 3)
    K, _ = L.lr_gd_counts([X], [y], [1e4], losses=["square"])
    assert math.isinf(K[0])


def test_published_claim_has_counterexamples_and_the_rescue_holds():
    from theorycheck.discovery import load_claim
    pub = load_claim(str(ROOT / "claims/published/large_step_separation.py"))
    fix = load_claim(str(ROOT / "claims/dynamics/large_step_perceptron_limit.py"))
    assert pub.expected == "refuted" and pub.rescue == fix.id
    draws = pub.assumptions.sample(40, 0)
    obs = pub.simulate_batch(draws, None)
    fails = [pub.checks[0](pub.derive(p), o, p).passed for p, o in zip(draws, obs)]
    assert False in fails and True in fails
    p = fix.assumptions.sample(1, 5)[0]
    pred, o = fix.derive(p), fix.simulate(p, None)
    assert all(c(pred, o, p).passed is not False for c in fix.checks)
    batch = fix.simulate_batch([p], None)[0]
    assert np.array_equal(batch["counts"], o["counts"])
