"""The group-lasso cone program: certified solve, dual bound, rebuilt networks,
sparsification, and a closed-form case."""
import numpy as np
import pytest
import torch

from theorycheck.sim.relu_nets import regression_data, relu_objective
from theorycheck.symbolic.arrangements import enumerate_patterns
from theorycheck.symbolic.group_lasso import (dual_certificate, rebuild_network, solve_convex_relu, sparsify)


def torch_objective(net, X, y, beta):
    return float(relu_objective(torch.tensor(X), torch.tensor(y), torch.tensor(net.U), torch.tensor(net.alpha), beta))


@pytest.mark.parametrize("x, y, beta", [(2.0, 1.5, 0.4), (-1.0, 0.5, 0.2), (0.5, 0.3, 1.0)])
def test_one_sample_closed_form(x, y, beta):
    # n = d = 1: the network output a = (xu)_+ α costs β|a|/|x| (balanced weights): soft thresholding
    X, Y = np.array([[x]]), np.array([y])
    t = beta / abs(x)
    expected = 0.5 * y ** 2 if abs(y) <= t else t * abs(y) - 0.5 * t ** 2
    sol = solve_convex_relu(X, Y, beta, enumerate_patterns(X))
    assert sol.value == pytest.approx(expected, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_rebuilt_network_attains_the_optimum_and_dual_bounds_it(seed):
    X, y = regression_data(7, 3, seed)
    beta = 0.1 + 0.1 * seed
    pats = enumerate_patterns(X)
    sol = solve_convex_relu(X, y, beta, pats)
    assert sol.status == "optimal" and 0 <= sol.gap <= 1e-6 * max(1.0, sol.value)
    dual, _ = dual_certificate(X, y, beta, pats.masks, sol.V, sol.W)  # no multipliers: still a valid bound
    assert dual <= sol.value + 1e-9
    net = rebuild_network(sol)
    assert torch_objective(net, X, y, beta) == pytest.approx(sol.value, rel=1e-6)


def test_relaxation_below_exact_below_subset():
    X, y = regression_data(8, 3, 11)
    pats = enumerate_patterns(X)
    exact = solve_convex_relu(X, y, 0.05, pats).value
    relaxed = solve_convex_relu(X, y, 0.05, pats, cone=False).value
    subset = solve_convex_relu(X, y, 0.05, pats.subset(np.arange(0, len(pats), 3))).value
    assert relaxed < exact * (1 - 1e-3)
    assert subset >= exact * (1 - 1e-7)


@pytest.mark.parametrize("seed", range(3))
def test_sparsify_keeps_the_objective_with_at_most_n_neurons(seed):
    X, y = regression_data(8, 3, 20 + seed)
    sol = solve_convex_relu(X, y, 0.05, enumerate_patterns(X))
    net = sparsify(sol, X)
    assert net.width <= X.shape[0]
    assert torch_objective(net, X, y, 0.05) == pytest.approx(sol.value, rel=1e-6)


def test_dual_certificate_catches_a_wrong_point():
    X, y = regression_data(6, 2, 1)
    pats = enumerate_patterns(X)
    sol = solve_convex_relu(X, y, 0.2, pats)
    _, gap = dual_certificate(X, y, 0.2, pats.masks, 0.5 * sol.V, 0.5 * sol.W)
    assert gap > 1e-3  # a scaled-down solution is visibly suboptimal
