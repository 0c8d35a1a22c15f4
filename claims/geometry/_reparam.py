"""A small tanh network with a planted critical point, its θ-coordinate Hessian
(closed form, numpy) and the reparametrisations θ = φ(ψ) of
geometry.reparam_spectrum.

Network: f(x) = w₂ᵀ tanh(V x̃) + b₂, x̃ = (x, 1), θ = (vec V, w₂, b₂);
L(θ) = (1/n) Σ (f(x_i) − y_i)², n = 32 points, at most 21 parameters.

Planted critical point (see :func:`planted`): the labels are chosen so that the
residual at θ* lies in the null space of J_fᵀ, which makes ∇L(θ*) = 0 exactly;
its size s decides whether θ* is a strict minimum or a saddle.  No L2 term is
needed for strictness: J_f has full column rank (cond ≤ 300 enforced).
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.linalg as sla

N_POINTS = 32     # > number of parameters (≤ 21): null(J_fᵀ) is not empty
COND_MAX = 300.0  # cond(J_f) of the planted network
ELEMENTWISE = (0.4, 0.1)   # φ(ψ) = ψ + 0.4 sin ψ + 0.1 ψ³ (φ′ ≥ 0.6: a global diffeomorphism)


def n_params(d, k):
    return k * (d + 1) + k + 1


def unpack(theta, d, k):
    V = theta[: k * (d + 1)].reshape(k, d + 1)
    w2 = theta[k * (d + 1): k * (d + 1) + k]
    return V, w2, theta[-1]


def outputs_and_derivatives(theta, Xt, d, k):
    """f (n,), ∇f (n, p), ∇²f (n, p, p): closed forms of the one-hidden-layer tanh net."""
    V, w2, b2 = unpack(theta, d, k)
    n = Xt.shape[0]
    p = n_params(d, k)
    z = Xt @ V.T
    h = np.tanh(z)
    h1 = 1 - h**2
    h2 = -2 * h * h1
    f = h @ w2 + b2
    e = d + 1
    grad = np.zeros((n, p))
    grad[:, : k * e] = ((w2 * h1)[:, :, None] * Xt[:, None, :]).reshape(n, k * e)
    grad[:, k * e: k * e + k] = h
    grad[:, -1] = 1.0
    hess = np.zeros((n, p, p))
    for j in range(k):
        sl = slice(j * e, (j + 1) * e)
        hess[:, sl, sl] = (w2[j] * h2[:, j])[:, None, None] * Xt[:, :, None] * Xt[:, None, :]
        cross = h1[:, j][:, None] * Xt               # ∂²f / ∂V_j ∂w2_j
        hess[:, sl, k * e + j] = cross
        hess[:, k * e + j, sl] = cross
    return f, grad, hess


@functools.lru_cache(maxsize=512)
def planted(d: int, k: int, point: str, data_seed: int):
    """(X̃, y, θ*, s): data for which θ* is an exact critical point of L, a minimum or a saddle.

    The residual r = f(X; θ*) − y is s·u with u a unit vector of null(J_fᵀ), so
    ∇L(θ*) = (2/n) J_fᵀ r = 0; ∇²L(θ*) = A + sB with A = (2/n) J_fᵀJ_f ≻ 0 and
    B = (2/n) Σ_i u_i ∇²f_i.  With μ the largest eigenvalue of the pencil (−B, A),
    s = 1/(2μ) keeps ∇²L ⪰ A/2 (a strict minimum) and s = 2/μ makes its smallest
    eigenvalue relative to A equal −1 (a saddle).  θ* is redrawn (same seed
    stream) until cond(J_f) ≤ COND_MAX, so both sides are well conditioned."""
    rng = np.random.default_rng(data_seed)
    n = N_POINTS
    for _ in range(100):
        Xt = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
        V = rng.standard_normal((k, d + 1))
        V[:, -1] *= 0.5
        theta = np.concatenate([V.ravel(), rng.standard_normal(k), 0.5 * rng.standard_normal(1)])
        f, J, Hf = outputs_and_derivatives(theta, Xt, d, k)
        if np.linalg.cond(J) <= COND_MAX:
            break
    else:
        raise RuntimeError("no well-conditioned network in 100 draws")
    Q, _ = np.linalg.qr(J, mode="complete")
    u = Q[:, J.shape[1]:] @ rng.standard_normal(n - J.shape[1])   # null(J_fᵀ)
    u /= np.linalg.norm(u)
    A = (2 / n) * J.T @ J
    B = (2 / n) * np.einsum("i,ipq->pq", u, Hf)
    mu = sla.eigh(-B, A, eigvals_only=True)
    if mu[-1] < -mu[0]:   # the sign of u with the larger negative curvature
        u, B, mu = -u, -B, -mu[::-1]
    s = (0.5 if point == "minimum" else 2.0) / mu[-1]
    y = f - s * u
    return Xt, y, theta, s


def loss_parts(theta, Xt, y, d, k):
    """L, ∇L, ∇²L and the Gauss–Newton metric (2/n) J_fᵀJ_f, closed forms in θ."""
    n = Xt.shape[0]
    f, J, Hf = outputs_and_derivatives(theta, Xt, d, k)
    r = f - y
    L = (r @ r) / n
    g = (2 / n) * J.T @ r
    G = (2 / n) * J.T @ J
    H = G + (2 / n) * np.einsum("i,ipq->pq", r, Hf)
    return L, g, H, G


@functools.lru_cache(maxsize=512)
def linear_map(kind: str, d: int, k: int, data_seed: int):
    """The matrix A of θ = A·ψ: a random matrix with singular values in [e⁻¹, e], or a per-neuron rescaling
    (row j of V times c_j, w2_j divided by c_j, b2 kept), c_j = e^{U(-1, 1)}."""
    p = n_params(d, k)
    rng = np.random.default_rng([data_seed, 7])
    if kind == "linear":   # U diag(e^{U(-1,1)}) Vᵀ: cond(A) ≤ e²
        U, _ = np.linalg.qr(rng.standard_normal((p, p)))
        W, _ = np.linalg.qr(rng.standard_normal((p, p)))
        return U @ np.diag(np.exp(rng.uniform(-1, 1, size=p))) @ W.T
    c = np.exp(rng.uniform(-1, 1, size=k))
    diag = np.concatenate([np.repeat(c, d + 1), 1 / c, [1.0]])
    return np.diag(diag)


def phi_spec(kind, d, k, data_seed):
    """(A, a, b): θ = A·(ψ + a sin ψ + b ψ³)."""
    if kind == "elementwise":
        return np.eye(n_params(d, k)), ELEMENTWISE[0], ELEMENTWISE[1]
    return linear_map(kind, d, k, data_seed), 0.0, 0.0


def phi_inverse(theta, A, a, b, iters=60):
    """ψ with A(ψ + a sin ψ + b ψ³) = θ: a linear solve, then Newton on the monotone scalar map."""
    t = np.linalg.solve(A, theta)
    psi = t.copy()
    if a or b:
        for _ in range(iters):
            F = psi + a * np.sin(psi) + b * psi**3 - t
            psi = psi - F / (1 + a * np.cos(psi) + 3 * b * psi**2)
    return psi


def phi_jacobian(psi, A, a, b):
    return A * (1 + a * np.cos(psi) + 3 * b * psi**2)[None, :]
