"""Escalation of random-start training (theorycheck.sim.relu_nets): which
draws escalate, determinism batched vs alone (also across chunks), and the
memo that keeps repeated simulations from training twice."""
import numpy as np
import pytest
import torch

import theorycheck.sim.relu_nets as rn
from theorycheck.sim.relu_nets import Schedule, clear_training_cache, regression_data, train_with_escalation

SMALL = Schedule(restarts=2, steps=60, lr=0.15)
STRONG = Schedule(restarts=3, steps=120, lr=0.15)


def _problems(specs):
    out = []
    for n, d, beta, seed in specs:
        X, y = regression_data(n, d, seed)
        out.append((torch.tensor(X), torch.tensor(y), beta))
    return out


def test_only_draws_above_their_threshold_escalate():
    clear_training_cache()
    probs = _problems([(5, 2, 0.2, 1), (6, 3, 0.1, 2)])
    runs = train_with_escalation(probs, [[6], [7]], [11, 12], [np.inf, 0.0], SMALL, STRONG)
    assert not runs[0].escalated and set(runs[0].stage) == {0} and len(runs[0].objective) == 2
    assert runs[1].escalated and list(runs[1].stage) == [0, 0, 1, 1, 1]
    assert runs[1].objective[:2] == pytest.approx(
        train_with_escalation(probs[1:], [[7]], [12], [np.inf], SMALL, STRONG)[0].objective)


def test_escalation_is_the_same_batched_and_alone(monkeypatch):
    monkeypatch.setattr(rn, "CHUNK_RUNS", 8)  # the escalated draws are trained in two chunks
    probs = _problems([(5, 2, 0.2, 1), (7, 3, 0.06, 2), (4, 2, 0.5, 3)])
    widths, seeds = [[6, 12], [8, 16], [5, 10]], [21, 22, 23]
    clear_training_cache()
    batch = train_with_escalation(probs, widths, seeds, [0.0, np.inf, 0.0], SMALL, STRONG)
    for i in range(3):
        clear_training_cache()
        alone = train_with_escalation([probs[i]], [widths[i]], [seeds[i]], [[0.0, np.inf, 0.0][i]], SMALL, STRONG)[0]
        np.testing.assert_allclose(batch[i].objective, alone.objective, rtol=1e-10)
        np.testing.assert_array_equal(batch[i].stage, alone.stage)


def test_repeated_simulations_train_nothing_twice(monkeypatch):
    clear_training_cache()
    calls = []
    real = rn.train_relu_nets_batch

    def counting(problems, *args, **kw):
        calls.append(len(problems))
        return real(problems, *args, **kw)

    monkeypatch.setattr(rn, "train_relu_nets_batch", counting)
    probs = _problems([(5, 2, 0.2, 1), (6, 2, 0.1, 2)])
    first = train_with_escalation(probs, [[6], [7]], [1, 2], [0.0, 0.0], SMALL, STRONG)
    n = len(calls)
    again = train_with_escalation(probs, [[6], [7]], [1, 2], [0.0, np.inf], SMALL, STRONG)
    assert len(calls) == n  # the same draws under other thresholds: all from the memo
    assert again[0].objective == pytest.approx(first[0].objective) and not again[1].escalated


def test_escalation_cannot_cross_a_constraint():
    """Under the α ≥ 0 break the stronger optimiser is no way around the constraint."""
    clear_training_cache()
    X, y = regression_data(6, 2, 3)
    y = -np.abs(y)
    runs = train_with_escalation([(torch.tensor(X), torch.tensor(y), 0.1)], [[7]], [5], [0.0], SMALL, STRONG,
                                 positive_output=[True])[0]
    assert runs.escalated
    assert runs.objective.min() >= 0.5 * float(np.sum(y ** 2)) - 1e-9
