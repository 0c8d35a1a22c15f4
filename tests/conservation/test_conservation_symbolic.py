"""The sympy zero-derivative proofs, and the agreement of the two Lie-rank routes."""
import numpy as np
import sympy as sp
import torch

from theorycheck.sim.conservation_nets import flat_linear_outputs, flat_relu_outputs
from theorycheck.symbolic.conservation import (derivative_vanishes, linear_balance_proof, linear_net_fields,
                                               linear_net_hessians, neuron_balance_proof, relu_region_fields,
                                               relu_region_hessians)
from theorycheck.symbolic.lie import exact_lie_rank, exact_linear_lie_rank, numeric_lie_rank, numeric_lie_rank_batch


def test_zero_derivative_detects_conserved_and_not():
    x, y = sp.symbols("x y")
    rotation = [-y, x]
    assert derivative_vanishes(x**2 + y**2, [x, y], rotation)
    assert not derivative_vanishes(x**2, [x, y], rotation)


def test_linear_balance_proofs():
    p = linear_balance_proof(2, 2, 2)
    assert p["balance"] and not p["sum"] and not p["trace_w1"]
    q = linear_balance_proof(2, 2, 2, decay=True)
    assert q["balance_decays_2lambda"] and not q["balance_decays_lambda"] and not q["balance"]


def test_neuron_balance():
    assert neuron_balance_proof(2, 1)


def _linear_counts(d, r, k, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(-5, 6, size=(d + 1, d))
    theta = rng.integers(1, 30, size=r * (d + k)) * rng.choice([-1, 1], size=r * (d + k))
    exact = exact_linear_lie_rank(linear_net_hessians(d, r, k, X), theta)
    num = numeric_lie_rank(flat_linear_outputs(d, r, k, torch.tensor(X, dtype=torch.float64)),
                           torch.tensor(theta / 7.0), X.shape[0] * k, generator=torch.Generator().manual_seed(seed))
    return exact, num


def test_linear_counts_hand_checked_sizes():
    for (d, r, k), laws in {(2, 2, 2): 3, (3, 2, 2): 3, (2, 3, 2): 6, (3, 3, 3): 6}.items():
        exact, num = _linear_counts(d, r, k)
        assert exact.laws == num.laws == laws
        assert num.gap > 1e6


def test_linear_count_beyond_r_le_d_plus_k():
    exact, num = _linear_counts(1, 3, 1)
    assert exact.laws == num.laws == 5  # not r(r+1)/2 = 6: Q has rank ≤ d + k


def test_relu_routes_agree_on_one_law_per_neuron():
    rng = np.random.default_rng(3)
    d, r, k = 2, 2, 1
    X = rng.integers(-6, 7, size=(16, d))
    while True:
        th = rng.integers(1, 30, size=r * d + r + k * r) * rng.choice([-1, 1], size=r * d + r + k * r)
        pre = X @ th[: r * d].reshape(r, d).T + th[r * d: r * d + r]
        pat = (pre > 0).astype(int)
        if (pat.sum(0) >= d + 2).all() and len({tuple(c) for c in pat.T}) == r and (pre != 0).all():
            break
    fields, syms = relu_region_fields(d, r, k, X.tolist(), pat.tolist())
    exact = exact_lie_rank(fields, syms, [sp.Rational(int(v), 7) for v in th])
    num = numeric_lie_rank(flat_relu_outputs(d, r, k, torch.tensor(X, dtype=torch.float64)),
                           torch.tensor(th / 7.0), X.shape[0] * k, generator=torch.Generator().manual_seed(0))
    assert exact.laws == num.laws == r


def _jacobians(fields, syms):
    return [np.array(sp.Matrix([[sp.diff(f, t) for t in syms] for f in field]).tolist(), dtype=np.int64)
            for field in fields]


def test_hessians_are_the_fields_and_both_exact_routes_agree():
    rng = np.random.default_rng(1)
    d, r, k = 2, 2, 2
    X = rng.integers(-5, 6, size=(d + 1, d))
    theta = rng.integers(1, 30, size=r * (d + k)) * rng.choice([-1, 1], size=r * (d + k))
    fields, syms = linear_net_fields(d, r, k, X.tolist())
    H = linear_net_hessians(d, r, k, X)
    assert all(np.array_equal(a, b) for a, b in zip(_jacobians(fields, syms), H))
    poly = exact_lie_rank(fields, syms, [sp.Rational(int(v), 7) for v in theta])
    lin = exact_linear_lie_rank(H, theta)
    assert (poly.rank, poly.algebra_dim) == (lin.rank, lin.algebra_dim)
    pat = rng.integers(0, 2, size=(5, r))
    Xr = rng.integers(-5, 6, size=(5, d))
    fields, syms = relu_region_fields(d, r, k, Xr.tolist(), pat.tolist())
    assert all(np.array_equal(a, b) for a, b in zip(_jacobians(fields, syms), relu_region_hessians(d, r, k, Xr, pat)))


def test_numeric_batch_equals_each_point_alone():
    d, r, k = 2, 2, 1
    rng = np.random.default_rng(2)
    Xs = torch.tensor(rng.integers(-5, 6, size=(3, d + 1, d)), dtype=torch.float64)
    thetas = torch.tensor(rng.integers(1, 30, size=(3, r * (d + k))) / 7.0)
    batch = numeric_lie_rank_batch(lambda th, x: flat_linear_outputs(d, r, k, x)(th), thetas, Xs, (d + 1) * k,
                                   generators=[torch.Generator().manual_seed(s) for s in range(3)])
    for i, b in enumerate(batch):
        alone = numeric_lie_rank(flat_linear_outputs(d, r, k, Xs[i]), thetas[i], (d + 1) * k,
                                 generator=torch.Generator().manual_seed(i))
        assert (alone.rank, alone.levels) == (b.rank, b.levels)
        np.testing.assert_allclose(alone.singular_values, b.singular_values, rtol=1e-10, atol=1e-14)
