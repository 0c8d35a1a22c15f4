"""Batched training of many ReLU networks (widths × restarts)."""
import numpy as np
import torch

from theorycheck.sim.relu_nets import regression_data, relu_objective, train_relu_nets


def test_objective_matches_a_loop_over_neurons():
    X, y = regression_data(5, 3, 0)
    rng = np.random.default_rng(1)
    U, a = rng.standard_normal((4, 3)), rng.standard_normal(4)
    fit = sum(np.maximum(X @ U[j], 0) * a[j] for j in range(4))
    expected = 0.5 * np.sum((fit - y) ** 2) + 0.15 * (np.sum(U ** 2) + np.sum(a ** 2))
    got = relu_objective(torch.tensor(X), torch.tensor(y), torch.tensor(U), torch.tensor(a), 0.3)
    assert abs(float(got) - expected) < 1e-12


def test_batched_runs_are_independent_and_widths_are_honoured():
    X, y = regression_data(6, 2, 2)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    runs = train_relu_nets(Xt, yt, 0.2, [1, 3], 2, torch.Generator().manual_seed(0), steps=300)
    assert list(runs.widths) == [1, 1, 3, 3]
    assert np.all(np.isfinite(runs.objective))
    assert np.all(runs.history[-1] <= runs.history[0])  # training lowered every run
    assert runs.objective[2:].min() <= runs.objective[:2].min() + 1e-9  # wider runs fit at least as well here


def test_positive_output_keeps_alpha_nonnegative_and_costs_fit():
    X, y = regression_data(6, 2, 3)
    y = -np.abs(y)  # targets a non-negative-output network cannot fit at all
    Xt, yt = torch.tensor(X), torch.tensor(y)
    free = train_relu_nets(Xt, yt, 0.1, [8], 4, torch.Generator().manual_seed(0), steps=800)
    pos = train_relu_nets(Xt, yt, 0.1, [8], 4, torch.Generator().manual_seed(0), steps=800, positive_output=True)
    assert pos.objective.min() >= 0.5 * float(np.sum(y ** 2)) - 1e-9  # best it can do is output 0
    assert free.objective.min() < pos.objective.min() - 1e-2
