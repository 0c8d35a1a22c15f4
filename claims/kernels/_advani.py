"""Gradient descent on high-dimensional linear regression: the Marchenko–Pastur theory of the
test error along the GD path (exact side) and GD on sampled data (simulation) for
``kernels.advani_saxe_curves``."""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

from theorycheck.sim.context import derive_seed

POOL = 16          # design matrices per (n, d): shared by the draws of that shape
REPLICATES = 16    # (w*, ε) pairs per design matrix and draw


def draw_generators(ctx, n: int) -> list[torch.Generator]:
    if ctx.seeds:
        return ctx.generators()
    return [ctx.with_seed(derive_seed(ctx.seed, "draw", i)).generator() for i in range(n)]


# ---- exact side ---------------------------------------------------------------------------
def mp_edges(gamma: float) -> tuple[float, float]:
    return (1 - math.sqrt(gamma)) ** 2, (1 + math.sqrt(gamma)) ** 2


def mp_quadrature(gamma: float, nodes: int):
    """Nodes λ_j and weights (ν_j, ω_j) with ∫ρ_γ(λ) f(λ) dλ ≈ Σ_j ν_j f(λ_j) and
    ∫ρ_γ(λ)·λ·f(λ) dλ = Σ_j ω_j f(λ_j).

    ρ_γ(λ) = √((b − λ)(λ − a))/(2πγλ) on [a, b] is the continuous part of the Marchenko–Pastur
    law of XᵀX/n (mass min(1, 1/γ)).  With λ = c + h·cos θ, ρ_γ(λ)·λ dλ = h² sin²θ dθ/(2πγ): the
    trapezoid rule in θ (Gauss–Chebyshev of the second kind) integrates λ·ρ_γ·f exactly for
    polynomials f of degree < 2·nodes.  For ρ_γ·f itself the θ-integrand h² sin²θ/λ · f/(2πγ) is
    smooth and even in θ (also at γ = 1, where a = 0 and sin²θ/λ → 1/h at θ = π), so the
    trapezoid rule with both end points converges spectrally."""
    a, b = mp_edges(gamma)
    c, h = (a + b) / 2, (b - a) / 2
    theta = np.arange(0, nodes + 2) * math.pi / (nodes + 1)
    x = np.cos(theta)
    lam = c + h * x
    dtheta = np.full(nodes + 2, math.pi / (nodes + 1))
    dtheta[[0, -1]] /= 2
    omega = dtheta * h * h * np.sin(theta) ** 2 / (2 * math.pi * gamma)
    # sin²θ/λ = h²(1 − x)(1 + x)/(a + h(1 + x)) / h² … written without the 0/0 at a = 0, x = −1
    one_plus = 1 + x
    denom = a + h * one_plus
    ratio = np.where(denom > 0, one_plus / np.where(denom > 0, denom, 1.0), 1.0 / h)
    nu = dtheta * h * h * (1 - x) * ratio / (2 * math.pi * gamma)
    return lam, nu, omega


def test_error_theory(ks, gamma: float, eta: float, r2: float, s2: float, bias_power: int = 2) -> np.ndarray:
    """E_g(k) = σ² + r²[(1 − 1/γ)₊ + ∫ρ_γ(1 − ηλ)^{2k}] + γσ²∫ρ_γ(1 − (1 − ηλ)^k)²/λ for finite k.
    (1 − (1 − ηλ)^k)²/λ = λ·η²(Σ_{j<k}(1 − ηλ)^j)²: the variance term is ∫ρ_γ·λ·(polynomial),
    integrated exactly; the bias term converges spectrally (both agree with scipy / mpmath
    quadrature in the tests).  ``bias_power`` = 1 gives the near-miss mutant (1 − ηλ)^k."""
    ks = np.asarray(ks, dtype=float)
    nodes = int(max(256, 2 * ks.max() + 64))
    lam, nu, omega = mp_quadrature(gamma, nodes)
    u = 1 - eta * lam
    atom = max(0.0, 1 - 1 / gamma)
    out = []
    for k in ks:
        bias = r2 * (atom + np.sum(nu * u ** (k * bias_power)))
        var = gamma * s2 * eta**2 * np.sum(omega * _geometric(u, k) ** 2)
        out.append(s2 + bias + var)
    return np.array(out)


def finite_n_correction(ks, gamma: float, eta: float, r2: float, s2: float) -> np.ndarray:
    """The O(1/n) term of the expected test error at finite n, times n (Bai–Silverstein 2004,
    real Gaussian data: E Σ_i f(λ_i) − d∫f dF^{γ} → (f(a) + f(b))/4 − (1/2π)∫_a^b f(x)dx/√((b − x)(x − a))),
    applied to E_g = σ² + (r²/d)Σ_i (1 − ηλ_i)^{2k} + (σ²/n)Σ_i (1 − (1 − ηλ_i)^k)²/λ_i:
    n·(E_n − E) → (r²/γ)·μ((1 − ηλ)^{2k}) + σ²·μ((1 − (1 − ηλ)^k)²/λ).  Both f are polynomials,
    so Gauss–Chebyshev of the first kind is exact with nodes > k."""
    a, b = mp_edges(gamma)
    c, h = (a + b) / 2, (b - a) / 2
    out = []
    for k in np.asarray(ks, dtype=float):
        nodes = int(2 * k + 64)
        x = c + h * np.cos((2 * np.arange(1, nodes + 1) - 1) * math.pi / (2 * nodes))

        def mu(f):
            return (f(np.array([a]))[0] + f(np.array([b]))[0]) / 4 - f(x).mean() / 2

        fb = lambda t: (1 - eta * t) ** (2 * k)
        fv = lambda t: eta**2 * t * _geometric(1 - eta * t, k) ** 2      # (1 − u^k)²/λ = η²λ(Σ_{j<k} u^j)²
        out.append(r2 / gamma * mu(fb) + s2 * mu(fv))
    return np.array(out)


def _geometric(u, k):
    """Σ_{j<k} u^j, stable at u = 1."""
    u = np.asarray(u, dtype=float)
    close = np.abs(1 - u) < 1e-12
    return np.where(close, float(k), (1 - u ** k) / np.where(close, 1.0, 1 - u))


def test_error_limit(gamma: float, r2: float, s2: float) -> float:
    """k = ∞ (GD → the minimum-norm least-squares solution): σ² + γσ²/(1 − γ) for γ < 1,
    σ² + r²(1 − 1/γ) + σ²/(γ − 1) for γ > 1 (∫ρ_γ/λ = 1/(1 − γ), resp. 1/(γ(γ − 1)))."""
    if gamma < 1:
        return s2 + gamma * s2 / (1 - gamma)
    if gamma > 1:
        return s2 + r2 * (1 - 1 / gamma) + s2 / (gamma - 1)
    return math.inf


def test_error_limit_finite_n(n: int, d: int, r2: float, s2: float) -> float:
    """The exact expectation at finite n of the k = ∞ test error (inverse-Wishart means):
    d < n: σ²(1 + d/(n − d − 1)); d > n: r²(1 − n/d) + σ²(1 + n/(d − n − 1))."""
    if d < n - 1:
        return s2 * (1 + d / (n - d - 1))
    if d > n + 1:
        return r2 * (1 - n / d) + s2 * (1 + n / (d - n - 1))
    return math.inf


# ---- simulation ---------------------------------------------------------------------------
def spectrum(n: int, d: int, anisotropic: bool, dtype=torch.float64):
    """The pool of design matrices of shape (n, d): rows x ~ N(0, I_d) (or N(0, Σ) with Σ
    diagonal, geometric from 0.1 to 10 and trace d: the break), seeded by (n, d, replicate).
    Returns their thin SVDs X = U diag(s) Vᵀ and Σ's diagonal: U (P, n, m), s (P, m), V (P, d, m)."""
    return _spectrum(n, d, anisotropic, str(dtype))


@functools.lru_cache(maxsize=64)
def _spectrum(n, d, anisotropic, dtype_name):
    dtype = getattr(torch, dtype_name.replace("torch.", ""))
    g = torch.Generator().manual_seed(derive_seed("advani-saxe pool", n, d, anisotropic) % 2**63)
    X = torch.randn(POOL, n, d, generator=g, dtype=dtype)
    cov = torch.ones(d, dtype=dtype)
    if anisotropic:
        cov = torch.logspace(-1, 1, d, dtype=dtype)
        cov = cov * d / cov.sum()
        X = X * cov.sqrt()
    U, s, Vh = torch.linalg.svd(X, full_matrices=False)
    return U, s, Vh.transpose(1, 2), cov


def simulate_one(n, d, ks, eta, r2, s2, generator, anisotropic=False, dtype=torch.float64):
    """GD from w = 0 on (1/2n)‖Xw − y‖², y = Xw* + ε, for every matrix of the (n, d) pool and
    REPLICATES draws of (w*, ε) each: ‖w*‖² = r² in a uniform direction, ε ~ N(0, σ²I_n).
    The iterate after k steps is computed exactly in the eigenbasis of XᵀX/n = V diag(λ) Vᵀ
    (w_k = V diag((1 − (1 − ηλ)^k)/λ) Vᵀ Xᵀy/n, which is k GD steps; a test compares with
    literal iterations), k = ∞ is the minimum-norm least-squares solution.  The test error is
    exact given (w_k, w*): σ² + (w_k − w*)ᵀΣ(w_k − w*).
    Returns the mean over all pool × replicates and its standard error, each (len(ks),): the
    larger of the spread of the POOL per-matrix means (15 degrees of freedom; carries the
    variation between design matrices) and the pooled within-matrix spread over P·R (carries the
    (w*, ε) noise with P(R − 1) degrees of freedom, which a skewed χ²-like noise needs)."""
    U, s, V, cov = spectrum(n, d, anisotropic, dtype)
    P, m = s.shape
    R = REPLICATES
    z = torch.randn(P, R, d, generator=generator, dtype=dtype)
    w_star = z / z.norm(dim=-1, keepdim=True) * math.sqrt(r2)                 # (P, R, d)
    eps = torch.randn(P, R, n, generator=generator, dtype=dtype) * math.sqrt(s2)
    beta = torch.einsum("prd,pdm->prm", w_star, V)                            # Vᵀw*
    w_perp = w_star - torch.einsum("prm,pdm->prd", beta, V)                   # null-space part
    ueps = torch.einsum("prn,pnm->prm", eps, U)                               # Uᵀε
    lam = (s * s / n)[:, None, :]                                             # (P, 1, m)
    b = lam * beta + s[:, None, :] * ueps / n                                 # VᵀXᵀy/n
    errs = []
    for k in ks:
        if math.isinf(k):
            coef = 1 / lam
        else:
            coef = (1 - (1 - eta * lam) ** int(k)) / lam
        delta_row = coef * b - beta                                           # Vᵀ(w_k − w*) in the row space
        if anisotropic:
            delta = torch.einsum("prm,pdm->prd", delta_row, V) - w_perp
            err = (delta * delta * cov).sum(-1)
        else:
            err = (delta_row * delta_row).sum(-1) + (w_perp * w_perp).sum(-1)
        errs.append(s2 + err)                                                  # (P, R)
    E = torch.stack(errs)                                                      # (K, P, R)
    per_matrix = E.mean(-1)
    se_between = per_matrix.std(1) / math.sqrt(P)
    se_within = (E.var(-1).mean(-1) / (P * R)).sqrt()
    return E.mean((1, 2)).cpu().numpy(), torch.maximum(se_between, se_within).cpu().numpy()
