"""kernels.advani_saxe_curves: the MP quadrature, the k = ∞ forms, the finite-n correction,
GD in the eigenbasis vs literal GD, batching."""
import importlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import integrate

from theorycheck.discovery import _family_package, load_claim
from theorycheck.sim.context import SimContext

PATH = Path(__file__).resolve().parents[2] / "claims" / "kernels" / "advani_saxe_curves.py"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def claim():
    return load_claim(PATH)


@pytest.fixture(scope="module")
def A(claim):
    return importlib.import_module(_family_package(PATH.parent) + "._advani")


def _quad(f, g, A):
    a, b = A.mp_edges(g)
    val, _ = integrate.quad(lambda x: f(x) * math.sqrt(max((b - x) * (x - a), 0)) / (2 * math.pi * g * x), a, b,
                            limit=500, epsabs=1e-13, epsrel=1e-12)
    return val


@pytest.mark.parametrize("g, eta, k", [(0.5, 0.25, 2), (0.5, 0.25, 40), (2.0, 0.1, 7), (0.9, 0.1, 300), (1.0, 0.1, 50)])
def test_theory_matches_scipy_quadrature(A, g, eta, k):
    r2, s2 = 1.0, 0.25
    ref = s2 + r2 * (max(0, 1 - 1 / g) + _quad(lambda x: (1 - eta * x) ** (2 * k), g, A)) \
        + g * s2 * _quad(lambda x: (1 - (1 - eta * x) ** k) ** 2 / x, g, A)
    assert A.test_error_theory([k], g, eta, r2, s2)[0] == pytest.approx(ref, rel=1e-7)


def test_prototype_numbers_and_limits(A):
    th = A.test_error_theory([2, 8, 40], 0.5, 0.25, 1.0, 0.25)
    np.testing.assert_allclose(th, [0.6835, 0.4576, 0.4621], atol=2e-4)     # CLAIMS-2 prototype: 0.684 0.458 0.462
    for g in (0.5, 2.0, 4.0):                                               # k = ∞ closed forms = ∫ρ/λ
        assert A.test_error_limit(g, 1.0, 0.25) == pytest.approx(
            0.25 + max(0, 1 - 1 / g) + g * 0.25 * _quad(lambda x: 1 / x, g, A), rel=1e-8)
        assert A.test_error_theory([20000], g, 0.3 / (1 + g**0.5) ** 2, 1.0, 0.25)[0] == pytest.approx(
            A.test_error_limit(g, 1.0, 0.25), rel=1e-6)


def test_eigenbasis_gd_equals_literal_gd(A):
    n, d, eta, k = 30, 45, 0.1, 25
    U, s, V, cov = A.spectrum(n, d, False)
    X = U[0] @ torch.diag(s[0]) @ V[0].T
    g = torch.Generator().manual_seed(0)
    w_star = torch.randn(d, generator=g, dtype=torch.float64)
    y = X @ w_star + 0.3 * torch.randn(n, generator=g, dtype=torch.float64)
    w = torch.zeros(d, dtype=torch.float64)
    for _ in range(k):
        w = w - eta * X.T @ (X @ w - y) / n
    lam = s[0] ** 2 / n
    w_eig = V[0] @ ((1 - (1 - eta * lam) ** k) / lam * (V[0].T @ (X.T @ y / n)))
    torch.testing.assert_close(w, w_eig, rtol=1e-10, atol=1e-12)


def test_finite_n_correction_explains_the_bias(A):
    """At γ = 0.5, k = 40 the pool mean over many matrices moves by ≈ c_n/n from the limit."""
    n, g, eta, k, r2, s2 = 100, 0.5, 0.25, 40, 1.0, 0.25
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(200, n, int(g * n), generator=gen, dtype=torch.float64)
    lam = (torch.linalg.svdvals(X) ** 2 / n).numpy()
    u = (1 - eta * lam) ** k
    e = s2 + r2 * (u**2).mean(1) + s2 / n * ((1 - u) ** 2 / lam).sum(1)
    bias = e.mean() - A.test_error_theory([k], g, eta, r2, s2)[0]
    corr = A.finite_n_correction([k], g, eta, r2, s2)[0] / n
    assert abs(bias - corr) < 0.5 * abs(corr) + 4 * e.std() / math.sqrt(len(e))


def test_batched_equals_per_draw(claim):
    draws = [{"gamma": 0.5, "eta_rel": 0.8, "sigma2": 0.3, "r2": 1.0, "log2_K": 6},
             {"gamma": 2.0, "eta_rel": 1.2, "sigma2": 0.0, "r2": 2.0, "log2_K": 3}]
    ctx = SimContext(seed=0)
    batch = claim.simulate_batch(draws, ctx.with_seeds([3, 4]))
    for p, s, b in zip(draws, [3, 4], batch):
        one = claim.simulate(p, ctx.with_seed(s))
        np.testing.assert_allclose(one["eg"], b["eg"], rtol=1e-12)
        pred = claim.derive(p)
        assert all(c(pred, b, p).passed for c in claim.checks)
