"""The Hessian toolkit against dense Hessians of small models."""
import math

import torch

from theorycheck.sim.hessian import (dense_hessian, flat_loss, hutchinson_trace, hvp_fn, lanczos,
                                     power_iteration)


def small_model(seed=0, width=6):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(3, width), torch.nn.Tanh(), torch.nn.Linear(width, 2)).double()
    x = torch.randn(20, 3, dtype=torch.float64)
    y = torch.randn(20, 2, dtype=torch.float64)
    return flat_loss(net, torch.nn.functional.mse_loss, x, y)


def test_hvp_matches_dense():
    loss, theta = small_model()
    H = dense_hessian(loss, theta)
    v = torch.randn(theta.numel(), dtype=theta.dtype)
    assert torch.allclose(hvp_fn(loss, theta)(v), H @ v, rtol=1e-10, atol=1e-12)


def test_lanczos_top_eigenvalues_match_dense():
    loss, theta = small_model(1)
    ev = torch.linalg.eigvalsh(dense_hessian(loss, theta)).flip(0)
    rep = lanczos(loss, theta, k=3, tol=1e-10, generator=torch.Generator().manual_seed(0))
    assert rep.converged and rep.iterations <= theta.numel()
    assert torch.allclose(rep.values, ev[:3], rtol=1e-8, atol=1e-10)
    assert max(rep.residuals) <= 1e-10 * abs(float(ev[0])) + 1e-12


def test_power_iteration_reports_convergence():
    loss, theta = small_model(2)
    H = dense_hessian(loss, theta)
    ev = torch.linalg.eigvalsh(H)
    top = float(ev[ev.abs().argmax()])
    rep = power_iteration(loss, theta, max_iter=5000, tol=1e-7, generator=torch.Generator().manual_seed(0))
    assert rep.converged
    assert math.isclose(float(rep.values[0]), top, rel_tol=1e-6)
    short = power_iteration(loss, theta, max_iter=2, tol=1e-12, generator=torch.Generator().manual_seed(0))
    assert not short.converged  # two iterations cannot reach 1e-12


def test_hutchinson_trace_within_its_error():
    loss, theta = small_model(3)
    tr = float(torch.trace(dense_hessian(loss, theta)))
    est = hutchinson_trace(loss, theta, samples=400, generator=torch.Generator().manual_seed(0))
    assert est.samples == 400 and est.stderr > 0
    assert abs(est.value - tr) <= 4 * est.stderr


def test_dense_hessian_of_quadratic_is_exact():
    A = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    H = dense_hessian(lambda w: 0.5 * w @ A @ w, torch.zeros(2, dtype=torch.float64))
    assert torch.equal(H, A)
