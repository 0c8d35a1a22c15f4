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


def test_lanczos_value_tolerance_stops_earlier_and_stays_accurate():
    loss, theta = small_model(4, width=10)
    top = float(torch.linalg.eigvalsh(dense_hessian(loss, theta))[-1])
    strict = lanczos(loss, theta, k=1, tol=1e-8, generator=torch.Generator().manual_seed(0))
    loose = lanczos(loss, theta, k=1, tol=1e-8, value_tol=1e-8, generator=torch.Generator().manual_seed(0))
    assert strict.converged and loose.converged
    assert loose.hvps <= strict.hvps
    assert abs(float(loose.values[0]) - top) <= 1e-7 * abs(top)  # value error ≈ residual² / gap


def test_lanczos_checks_every_few_iterations_with_the_same_answer():
    loss, theta = small_model(5)
    ev = torch.linalg.eigvalsh(dense_hessian(loss, theta)).flip(0)
    for every in (1, 3, 7):
        rep = lanczos(loss, theta, k=2, tol=1e-10, generator=torch.Generator().manual_seed(0), check_every=every)
        assert rep.converged
        assert rep.hvps % every == 0 or rep.hvps == theta.numel()
        assert torch.allclose(rep.values, ev[:2], rtol=1e-8, atol=1e-10)


def test_lanczos_stops_on_an_invariant_subspace():
    # three distinct eigenvalues: the Krylov space is invariant after three products
    A = torch.diag(torch.tensor([5.0, 5.0, 2.0, 2.0, 2.0, -1.0, -1.0, -1.0], dtype=torch.float64))
    rep = lanczos(lambda w: 0.5 * w @ A @ w, torch.zeros(8, dtype=torch.float64), k=1, tol=1e-14,
                  generator=torch.Generator().manual_seed(0), check_every=5)
    assert rep.converged and rep.iterations == 3
    assert abs(float(rep.values[0]) - 5.0) <= 1e-12


def test_lanczos_warm_start_converges_at_once():
    loss, theta = small_model(6)
    first = lanczos(loss, theta, k=1, tol=1e-10, generator=torch.Generator().manual_seed(0))
    again = lanczos(loss, theta, k=1, tol=1e-6, start=first.vectors[:, 0])
    assert again.converged and again.hvps <= 2
    assert abs(float(again.values[0]) - float(first.values[0])) <= 1e-9 * abs(float(first.values[0]))


def test_hutchinson_stops_on_its_standard_error():
    loss, theta = small_model(3)
    tr = float(torch.trace(dense_hessian(loss, theta)))
    est = hutchinson_trace(loss, theta, samples=100000, batch=25, target_stderr=0.05,
                           generator=torch.Generator().manual_seed(0))
    assert est.stderr <= 0.05 and est.samples < 100000 and est.samples % 25 == 0
    assert abs(est.value - tr) <= 4 * est.stderr
    rel = hutchinson_trace(loss, theta, samples=100000, batch=25, target_rel_stderr=0.01,
                           generator=torch.Generator().manual_seed(1))
    assert rel.stderr <= 0.01 * abs(rel.value)


def test_deflated_hutchinson_is_unbiased_and_needs_fewer_probes():
    loss, theta = small_model(7, width=8)
    H = dense_hessian(loss, theta)
    tr = float(torch.trace(H))
    target = 0.1
    plain = hutchinson_trace(loss, theta, samples=100000, target_stderr=target,
                             generator=torch.Generator().manual_seed(0))
    defl = hutchinson_trace(loss, theta, samples=100000, target_stderr=target, deflate=10,
                            generator=torch.Generator().manual_seed(0))
    assert defl.deflated == 10 and defl.hvps == defl.samples + 10
    assert defl.stderr <= target and abs(defl.value - tr) <= 4 * defl.stderr
    assert defl.hvps < plain.hvps
    # deflating the whole space leaves nothing to sample: the exact trace
    full = hutchinson_trace(loss, theta, samples=20, deflate=theta.numel(),
                            generator=torch.Generator().manual_seed(0))
    assert abs(full.value - tr) <= 1e-9 * max(1.0, abs(tr)) and full.stderr <= 1e-9


def test_custom_hvp_is_used_for_probes_and_deflation():
    A = torch.diag(torch.arange(1.0, 21.0, dtype=torch.float64))
    calls = []

    def hv(v):
        calls.append(1)
        return A @ v

    est = hutchinson_trace(None, torch.zeros(20, dtype=torch.float64), samples=40, hv=hv, deflate=5,
                           generator=torch.Generator().manual_seed(0))
    assert abs(est.value - 210.0) <= 4 * est.stderr + 1e-9
