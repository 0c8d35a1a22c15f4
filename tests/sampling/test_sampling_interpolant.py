"""Interpolant helpers: symbolic identities, the written-out reverse-mode
gradients of the RK4 flow against torch autograd, the delta-method covariance
against its definition, the discretisation bias of the time grid with the
exact velocity, batched vs per-draw simulations and the mixture break."""
import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

from theorycheck.discovery import _family_package, load_claim
from theorycheck.sim.context import SimContext

ROOT = Path(__file__).resolve().parents[2]
CLAIM = ROOT / "claims/sampling/interpolant_transport.py"


@pytest.fixture(scope="module")
def mod():
    claim = load_claim(CLAIM)
    return claim, importlib.import_module(f"{_family_package(CLAIM.parent)}._interpolant")


def test_symbolic(mod):
    assert mod[1].symbolic_checks()


def test_adjoint_matches_autograd(mod):
    _, I = mod
    torch.manual_seed(0)
    B, J, d, S = 2, 7, 3, 4
    th = torch.randn(B, J, d + 1, d, dtype=torch.float64) * 0.5
    Mo, G = I.moment_gradients(th, S)
    th2 = th.clone().requires_grad_(True)
    Phi, psi = I.flow_map(th2[:, :, :d, :].transpose(-1, -2), th2[:, :, d, :], S)
    Mo2 = I.moments(Phi, psi)
    torch.testing.assert_close(Mo, Mo2.detach())
    for i in range(Mo2.shape[1]):
        (g,) = torch.autograd.grad(Mo2[:, i].sum(), th2, retain_graph=True)
        torch.testing.assert_close(G[:, i], g, rtol=1e-10, atol=1e-12)


def test_delta_covariance_definition(mod):
    _, I = mod
    torch.manual_seed(1)
    B, J, d, S = 1, 5, 2, 3
    th = torch.randn(B, J, d + 1, d, dtype=torch.float64) * 0.5
    A = torch.randn(B, J, d + 1, d + 1, dtype=torch.float64)
    XtX = A @ A.transpose(-1, -2) + torch.eye(d + 1, dtype=torch.float64)
    Pm = torch.randn(B, J, d, d, dtype=torch.float64)
    psi = Pm @ Pm.transpose(-1, -2) + torch.eye(d, dtype=torch.float64)
    _, cov = I.moment_covariance(th, XtX, psi, S)
    _, G = I.moment_gradients(th, S)
    inv = torch.linalg.inv(XtX)
    k = G.shape[1]
    ref = torch.tensor([[sum(torch.trace(G[0, i, j].T @ inv[0, j] @ G[0, m, j] @ psi[0, j]) for j in range(J))
                         for m in range(k)] for i in range(k)], dtype=torch.float64)
    torch.testing.assert_close(cov[0], ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("a", [0.0, 0.5, 1.0])
def test_time_grid_resolves_the_exact_velocity(mod, a):
    """RK4 with S = 16 on the exact velocity: the flow's push-forward is ρ₁ to
    < 1e-3 in whitened units (far below the quick statistical error ~1e-2)."""
    _, I = mod
    for seed, d in enumerate((1, 3, 6)):
        p = {"d": d, "a": a, "cond": 20.0, "mu_scale": 2.0, "data_seed": seed}
        K, k = I.exact_velocity(p, I.stage_times(16))
        Phi, psi = I.flow_map(torch.as_tensor(K)[None], torch.as_tensor(k)[None], 16)
        mu, Sig, root, *_ = I.target(p)
        W = np.linalg.inv(root)
        P = Phi[0].numpy()
        assert np.abs(W @ P @ P.T @ W - np.eye(d)).max() < 1e-3
        assert np.abs(W @ (psi[0].numpy() - mu)).max() < 1e-3


def test_batched_equals_single_and_checks_pass(mod):
    claim, _ = mod
    draws = [{"d": 2, "a": 0.5, "cond": 5.0, "mu_scale": 1.0, "data_seed": 3},
             {"d": 2, "a": 1.0, "cond": 2.0, "mu_scale": 0.5, "data_seed": 4}]
    batch = claim.simulate_batch(draws, SimContext(seed=0).with_seeds([5, 6]))
    for p, b, s in zip(draws, batch, (5, 6)):
        one = claim.simulate(p, SimContext(seed=s))
        np.testing.assert_allclose(one["moments"], b["moments"], rtol=1e-10)
        pred = claim.derive(p)
        assert all(c(pred, b, p).passed for c in claim.checks)


def test_mixture_target_fails_the_fourth_moment(mod):
    claim, _ = mod
    p = {"d": 1, "a": 0.0, "cond": 1.0, "mu_scale": 0.0, "data_seed": 1}
    o = claim.simulate({**p, "target": "mixture"}, SimContext(seed=2))
    assert o["b2_target"] < 2.0 and o["b2_moved"] > 2.5
