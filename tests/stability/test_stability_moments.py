"""The lifted second-moment operator (numpy) and its torch propagation agree,
and both reproduce the closed forms."""
import math

import numpy as np
import pytest
import torch

from theorycheck.sim.descent import gd_quadratic, gd_quadratic_final
from theorycheck.sim.sgd import second_moment_step, simulated_threshold, step_matrix
from theorycheck.symbolic.moments import lifted_operator, mean_square_threshold, scalar_threshold


def random_hessians(n, p, seed):
    G = np.random.default_rng(seed).normal(size=(n, p))
    return np.einsum("na,nb->nab", G, G)


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_torch_step_matrix_equals_kronecker_operator(batch):
    Hs = random_hessians(3, 3, 0)
    T_np = lifted_operator(Hs, 0.07, batch)
    T_t = step_matrix(torch.as_tensor(Hs), 0.07, batch).numpy()
    np.testing.assert_allclose(T_t, T_np, rtol=1e-12, atol=1e-12)


def test_second_moment_step_matches_enumerated_expectation():
    """B = 2 with replacement: average over all n² ordered index pairs."""
    Hs = random_hessians(3, 2, 1)
    M = np.array([[1.0, 0.3], [0.3, 2.0]])
    eta = 0.1
    want = np.zeros_like(M)
    for i in range(3):
        for j in range(3):
            A = np.eye(2) - eta * (Hs[i] + Hs[j]) / 2
            want += A @ M @ A / 9
    got = second_moment_step(torch.as_tensor(Hs), torch.as_tensor(M), eta, batch=2).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("batch", [1, 2, 4])
def test_scalar_case_closed_form(batch):
    h = np.array([0.5, 1.0, 3.0])
    Hs = h[:, None, None]
    assert math.isclose(mean_square_threshold(Hs, batch), scalar_threshold(h, batch), rel_tol=1e-9)


def test_equal_norms_threshold_is_two_over_trace():
    base = np.array([1.0, -2.0, 2.0, 0.0])
    G = np.stack([np.roll(base, k) for k in range(3)])
    Hs = np.einsum("na,nb->nab", G, G)
    assert math.isclose(mean_square_threshold(Hs), 2 / np.trace(Hs.mean(0)), rel_tol=1e-9)


def test_trace_bound_holds_for_batch_one_and_fails_for_larger_batches():
    Hs = random_hessians(4, 6, 3)
    tr = np.trace(Hs.mean(0))
    assert mean_square_threshold(Hs, 1) * tr / 2 <= 1 + 1e-9
    assert mean_square_threshold(Hs, 4) * tr / 2 > 1


def test_propagated_threshold_matches_operator():
    Hs = random_hessians(3, 5, 4)
    U = np.linalg.eigh(Hs.mean(0))[1][:, -3:]
    Hr = np.einsum("pa,npq,qb->nab", U, Hs, U)
    eta_c = mean_square_threshold(Hs)
    lam = np.linalg.eigvalsh(Hr.mean(0)).max()
    sim = simulated_threshold(torch.as_tensor(Hr), torch.eye(3, dtype=torch.float64), hi=2 / lam * 1.001)
    assert math.isclose(sim, eta_c, rel_tol=1e-6)


@pytest.mark.parametrize("kw", [{}, {"momentum": 0.5}, {"weight_decay": 0.3, "momentum": 0.2}])
def test_gd_quadratic_final_equals_the_loop(kw):
    g = torch.Generator().manual_seed(0)
    A = torch.randn(3, 3, generator=g, dtype=torch.float64)
    H = A.T @ A + torch.eye(3, dtype=torch.float64)
    w0 = torch.randn(3, generator=g, dtype=torch.float64)
    etas = torch.logspace(-3, -0.3, 12, dtype=torch.float64)
    loop = gd_quadratic(H, w0, etas, 300, **kw)[-1]
    fast = gd_quadratic_final(H, w0, etas, 300, **kw)
    assert torch.allclose(fast, loop, rtol=1e-8, atol=1e-300)
