"""The direct Clarabel formulation against the cvxpy one, batched training
against per-draw training, and the claims' batched vs per-draw simulations."""
import numpy as np
import pytest
import torch

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext
from theorycheck.sim.relu_nets import clear_training_cache, regression_data, train_relu_nets, train_relu_nets_batch
from theorycheck.symbolic.arrangements import enumerate_patterns, sample_patterns
from theorycheck.symbolic.group_lasso import solve_convex_relu


@pytest.mark.parametrize("seed, cone", [(0, True), (1, False), (2, True)])
def test_direct_clarabel_matches_the_cvxpy_program(seed, cone):
    X, y = regression_data(6 + seed, 2 + seed % 2, seed)
    pats = enumerate_patterns(X)
    direct = solve_convex_relu(X, y, 0.1 + 0.2 * seed, pats, cone=cone)
    model = solve_convex_relu(X, y, 0.1 + 0.2 * seed, pats, cone=cone, solver="cvxpy")
    assert direct.value == pytest.approx(model.value, rel=1e-6)
    assert 0 <= direct.gap <= 1e-6 * max(1.0, direct.value)


def test_sampled_patterns_give_an_upper_bound():
    X, y = regression_data(8, 3, 4)
    exact = solve_convex_relu(X, y, 0.05, enumerate_patterns(X)).value
    sampled = solve_convex_relu(X, y, 0.05, sample_patterns(X, 6, np.random.default_rng(0))).value
    assert sampled >= exact * (1 - 1e-7)


def test_batched_training_equals_each_draw_alone():
    probs, widths = [], []
    for i, (n, d) in enumerate([(4, 2), (7, 3), (5, 2)]):
        X, y = regression_data(n, d, i)
        probs.append((torch.tensor(X), torch.tensor(y), 0.1 * (i + 1)))
        widths.append([n + 1, 2 * (n + 1)])
    gens = [torch.Generator().manual_seed(s) for s in (5, 6, 7)]
    batch = train_relu_nets_batch(probs, widths, 3, gens, steps=200, lr=0.15)
    for (X, y, beta), w, s, b in zip(probs, widths, (5, 6, 7), batch):
        alone = train_relu_nets(X, y, beta, w, 3, torch.Generator().manual_seed(s), steps=200, lr=0.15)
        np.testing.assert_allclose(b.objective, alone.objective, rtol=1e-10)
        np.testing.assert_array_equal(b.widths, alone.widths)


def test_batched_positive_output_projects_only_its_draw():
    X, y = regression_data(6, 2, 3)
    y = -np.abs(y)
    p = (torch.tensor(X), torch.tensor(y), 0.1)
    free, pos = train_relu_nets_batch([p, p], [[8], [8]], 4, [torch.Generator().manual_seed(0)] * 2, steps=400,
                                      positive_output=[False, True])
    assert pos.objective.min() >= 0.5 * float(np.sum(y ** 2)) - 1e-9
    assert free.objective.min() < pos.objective.min() - 1e-2


@pytest.mark.parametrize("path", ["claims/convex_relu/exact.py", "claims/convex_relu/sparsity.py"])
def test_claim_batch_equals_each_draw(path):
    """Also for an escalated draw: the second prediction's optimum is lowered so
    that its best standard run misses the bound and the stronger optimiser runs."""
    claim = load_claim(path)
    ps = [{"n": 4, "d": 2, "beta": 0.3, "data_seed": 1}, {"n": 6, "d": 3, "beta": 0.08, "data_seed": 2}]
    preds = [claim.derive(p) for p in ps]
    preds[1] = {**preds[1], "optimum": 0.5 * preds[1]["optimum"]}
    clear_training_cache()
    batch = claim.simulate_batch(ps, SimContext(seed=0).with_seeds([11, 12]), preds)
    assert [b["escalated"] for b in batch] == [False, True]
    for p, s, b, q in zip(ps, (11, 12), batch, preds):
        clear_training_cache()  # the draw trained again, alone
        alone = claim.simulate(p, SimContext(seed=s), q)
        np.testing.assert_allclose(b["trained"], alone["trained"], rtol=1e-10)
        np.testing.assert_array_equal(b["stage"], alone["stage"])
