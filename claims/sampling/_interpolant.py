"""Stochastic interpolants between N(0, I) and N(μ, Σ₁) (Albergo, Boffi,
Vanden-Eijnden 2023).

x_t = α(t)x₀ + β(t)x₁ + γ(t)z, α = cos(πt/2), β = sin(πt/2), γ = √(a t(1 − t)).
The velocity minimising E‖b(t, x_t) − ∂_t x_t‖² is E[∂_t x_t | x_t = x], for
Gaussian ends b(t, x) = β̇μ + C_t(x − βμ), C_t = (α̇αI + β̇βΣ₁ + γ̇γI)Σ_t⁻¹,
Σ_t = α²I + β²Σ₁ + γ²I.

Time grid.  The ODE is integrated in s with t = (1 − cos πs)/2 (dt/ds =
(π/2) sin πs vanishes at both ends): RK4 in s with S steps needs the velocity
only at the 2S − 1 interior stage times, where the sampled objective has
finite variance (γ̇ blows up at t = 0, 1), and the steps cluster where C_t
varies fastest (near t = 1 for small eigenvalues of Σ₁).  The learned
velocity is an affine least-squares fit per stage time — the paper's
quadratic objective restricted to each time — so it is evaluated exactly
where it was fitted, without interpolation.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp
import torch

from ._random import randn


def target(params):
    """μ, Σ₁ (eigenvalues in [λ_top/cond, λ_top]) and its square root."""
    rng = np.random.default_rng(params["data_seed"])
    d = params["d"]
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    top = math.exp(rng.uniform(-0.7, 0.7))
    lam = top * np.exp(-np.log(params["cond"]) * rng.random(d))
    lam[0] = top
    u = rng.standard_normal(d)
    mu = params["mu_scale"] * u / np.linalg.norm(u)
    return mu, (Q * lam) @ Q.T, (Q * np.sqrt(lam)) @ Q.T, Q, lam


def stage_times(S: int) -> np.ndarray:
    """t at the interior RK4 stage points s = h/2, h, …, 1 − h/2 (h = 1/S)."""
    s = np.arange(1, 2 * S) / (2 * S)
    return (1 - np.cos(np.pi * s)) / 2


def schedule(t, a):
    """α, β, γ and their t-derivatives (γ̇γ returned as the product, finite)."""
    al, be = np.cos(np.pi * t / 2), np.sin(np.pi * t / 2)
    dal, dbe = -np.pi / 2 * np.sin(np.pi * t / 2), np.pi / 2 * np.cos(np.pi * t / 2)
    ga = np.sqrt(a * t * (1 - t))
    gdg = a * (1 - 2 * t) / 2
    dga = np.where(ga > 0, gdg / np.where(ga > 0, ga, 1.0), 0.0)
    return al, be, ga, dal, dbe, dga, gdg


def exact_velocity(params, t, drop_gamma_term=False):
    """(K_t, k_t) with b(t, x) = K_t x + k_t at each time of ``t``."""
    mu, Sig, _, Q, lam = target(params)
    al, be, ga, dal, dbe, dga, gdg = schedule(np.asarray(t, dtype=float), params["a"])
    if drop_gamma_term:
        gdg = 0 * gdg
    c = (dal * al)[:, None] + (dbe * be)[:, None] * lam[None, :] + gdg[:, None]
    v = (al**2)[:, None] + (be**2)[:, None] * lam[None, :] + (ga**2)[:, None]
    K = np.einsum("ij,tj,kj->tik", Q, c / v, Q)
    k = dbe[:, None] * mu[None, :] - np.einsum("tij,j->ti", K, mu) * be[:, None]
    return K, k


@functools.lru_cache(maxsize=1)
def symbolic_checks() -> bool:
    """sympy, one eigendirection (eigenvalue λ, mean m) with symbolic t, a, λ:
    (i) Gaussian conditioning: E[∂_t x_t | x_t = x] for the jointly Gaussian
    (x_t, ∂_t x_t) is β̇m + (cov/var)(x − βm) with cov = α̇α + β̇βλ + γ̇γ,
    var = α² + β²λ + γ² — the regression of ∂_t x_t on x_t computed from the
    definitions; (ii) the ODE's variance σ_t² solves d/dt σ² = 2C_tσ² with
    σ² = var (difference simplifies to 0), σ_0² = 1, σ_1² = λ; (iii) its mean
    βm solves d/dt(βm) = β̇m."""
    t, a, lam = sp.symbols("t a lambda", positive=True)
    m, x0, x1, z = sp.symbols("m x0 x1 z", real=True)
    al, be, ga = sp.cos(sp.pi * t / 2), sp.sin(sp.pi * t / 2), sp.sqrt(a * t * (1 - t))
    xt = al * x0 + be * (m + sp.sqrt(lam) * x1) + ga * z
    dxt = sp.diff(xt, t)

    def E2(u, v):  # centred second moment of two linear forms in independent N(0, 1) variables
        return sum(sp.diff(u, g) * sp.diff(v, g) for g in (x0, x1, z))

    cov, var = E2(dxt, xt), E2(xt, xt)
    formula_cov = sp.diff(al, t) * al + sp.diff(be, t) * be * lam + sp.diff(ga, t) * ga
    formula_var = al**2 + be**2 * lam + ga**2
    ok1 = sp.expand(cov - formula_cov) == 0 and sp.expand(var - formula_var) == 0
    ok2 = sp.expand(sp.diff(var, t) - 2 * (cov / var) * var) == 0          # σ̇² = 2C_tσ²
    ok3 = sp.simplify(var.subs(t, 0) - 1) == 0 and sp.simplify(var.subs(t, 1) - lam) == 0
    mean = xt.subs({x0: 0, x1: 0, z: 0})
    ok4 = sp.expand(sp.diff(mean, t) - sp.diff(be, t) * m) == 0
    return bool(ok1 and ok2 and ok3 and ok4)


def learn(params_list, gens, S: int, per_bin: int, dtype=torch.float64, device="cpu", mixture=None):
    """Samples (x₀, x₁, z) at every stage time and the affine least-squares
    velocity there, per draw (all draws share d here: call per dimension).
    Returns Θ̂ (B, J, d+1, d) [rows: x then 1], XᵀX (B, J, d+1, d+1), the
    residual covariance Ψ̂ (B, J, d, d) and the x₁ samples (B, J·per_bin, d)."""
    B, d = len(params_list), params_list[0]["d"]
    ts = stage_times(S)
    J = len(ts)
    x0 = torch.zeros(B, J, per_bin, d, dtype=dtype, device=device)
    x1 = torch.zeros_like(x0)
    zz = torch.zeros_like(x0)
    sched = torch.zeros(B, 6, J, dtype=dtype, device=device)
    for b, (p, g) in enumerate(zip(params_list, gens)):
        mu, _, root, Q, lam = target(p)
        x0[b] = randn(J, per_bin, d, generator=g, dtype=dtype, device=device)
        xi = randn(J, per_bin, d, generator=g, dtype=dtype, device=device)
        zz[b] = randn(J, per_bin, d, generator=g, dtype=dtype, device=device)
        if p.get("target") == "mixture":  # the break: same mean and covariance, bimodal along the top direction
            sign = torch.where(torch.rand(J, per_bin, 1, generator=g, dtype=dtype, device=device) < 0.5, -1.0, 1.0)
            q = torch.as_tensor(Q[:, 0], dtype=dtype, device=device)
            shrink = torch.eye(d, dtype=dtype, device=device) - (1 - math.sqrt(1 - 0.9)) * torch.outer(q, q)
            xi = xi @ shrink.T + math.sqrt(0.9) * sign * q
        x1[b] = torch.as_tensor(mu, dtype=dtype, device=device) + xi @ torch.as_tensor(root, dtype=dtype,
                                                                                         device=device).T
        al, be, ga, dal, dbe, dga, _ = schedule(ts, p["a"])
        sched[b] = torch.as_tensor(np.stack([al, be, ga, dal, dbe, dga]), dtype=dtype, device=device)
    al, be, ga, dal, dbe, dga = (sched[:, i][:, :, None, None] for i in range(6))
    xt = al * x0 + be * x1 + ga * zz
    dx = dal * x0 + dbe * x1 + dga * zz
    X = torch.cat([xt, torch.ones_like(xt[..., :1])], -1)
    XtX = X.transpose(-1, -2) @ X
    theta = torch.linalg.solve(XtX, X.transpose(-1, -2) @ dx)
    R = dx - X @ theta
    psi = R.transpose(-1, -2) @ R / (per_bin - d - 1)
    return theta, XtX, psi, x1.reshape(B, J * per_bin, d)


def _stage_matrices(K, k, S):
    """M at the 2S + 1 stage points of the s-grid: (dt/ds)·[[K, k], [0, 0]], zero at
    the end points (where dt/ds = 0)."""
    s = np.arange(0, 2 * S + 1) / (2 * S)
    w = np.where((s > 0) & (s < 1), np.pi / 2 * np.sin(np.pi * s), 0.0)
    top = torch.cat([K, k[..., None]], -1)                                   # (B, J, d, d+1)
    rows = torch.cat([top, torch.zeros_like(top[:, :, :1, :])], -2)          # (B, J, d+1, d+1)
    zero = torch.zeros_like(rows[:, :1])
    M = torch.cat([zero, rows, zero], 1)
    return M * torch.as_tensor(w, dtype=K.dtype, device=K.device)[None, :, None, None], w


def _rk4_factor(A0, A1, A2, h):
    """The RK4 step of the linear ODE Y′ = M(s)Y as one matrix:
    P = I + h/6(A0 + 4A1 + A2) + h²/6(A1A0 + A1A1 + A2A1) + h³/12(A1A1A0 + A2A1A1) + h⁴/24·A2A1A1A0."""
    I = torch.eye(A0.shape[-1], dtype=A0.dtype, device=A0.device)
    A10, A11, A21 = A1 @ A0, A1 @ A1, A2 @ A1
    return (I + h / 6 * (A0 + 4 * A1 + A2) + h**2 / 6 * (A10 + A11 + A21)
            + h**3 / 12 * (A11 @ A0 + A21 @ A1) + h**4 / 24 * (A21 @ A10))


def flow_map(K, k, S: int, keep=False):
    """RK4 in s (t = (1 − cos πs)/2) of Y′ = (dt/ds)·[[K, k], [0, 0]]·Y from
    Y = I, the velocity given at the 2S − 1 interior stage times
    (K (B, J, d, d), k (B, J, d)).  Returns Φ (B, d, d) and ψ (B, d): the flow
    x ↦ Φx + ψ (RK4 on an affine field is an affine map of the start point, so
    this is every particle's end point)."""
    B, J, d, _ = K.shape
    h = 1.0 / S
    M, _ = _stage_matrices(K, k, S)
    Y = torch.eye(d + 1, dtype=K.dtype, device=K.device).expand(B, d + 1, d + 1)
    Ys, Ps = [Y], []
    for n in range(S):
        P = _rk4_factor(M[:, 2 * n], M[:, 2 * n + 1], M[:, 2 * n + 2], h)
        Y = P @ Y
        Ys.append(Y)
        Ps.append(P)
    if keep:
        return Y[:, :d, :d], Y[:, :d, d], (M, Ys, Ps)
    return Y[:, :d, :d], Y[:, :d, d]


def moments(Phi, psi):
    """(mean, upper triangle of the covariance) of the push-forward of N(0, I)."""
    d = Phi.shape[-1]
    cov = Phi @ Phi.transpose(-1, -2)
    iu = torch.triu_indices(d, d)
    return torch.cat([psi, cov[:, iu[0], iu[1]]], -1)


def moment_gradients(theta, S):
    """The moments of the learned flow and their gradients with respect to
    every Θ̂_j, by reverse-mode differentiation of the RK4 factors written out
    (all moments at once; tests compare with torch autograd).
    Returns (moments (B, k), G (B, k, J, d+1, d))."""
    B, J, p, d = theta.shape
    h = 1.0 / S
    K, k = theta[:, :, :d, :].transpose(-1, -2), theta[:, :, d, :]
    Phi, psi, (M, Ys, Ps) = flow_map(K, k, S, keep=True)
    Mo = moments(Phi, psi)
    Y = Ys[-1]
    iu = torch.triu_indices(d, d)
    nk = d + len(iu[0])
    G = torch.zeros(B, nk, p, p, dtype=theta.dtype, device=theta.device)   # ∂moment/∂Y_S
    for i in range(d):
        G[:, i, i, d] = 1.0
    for c, (a, b) in enumerate(zip(iu[0].tolist(), iu[1].tolist())):
        G[:, d + c, a, :d] += Y[:, b, :d]
        G[:, d + c, b, :d] += Y[:, a, :d]
    T = lambda X: X.transpose(-1, -2)  # noqa: E731

    def L(A, W):   # A (B, p, p) @ W (B, k, p, p), as one (p × p)(p × kp) product per draw
        return (A @ W.transpose(1, 2).reshape(B, p, nk * p)).reshape(B, p, nk, p).transpose(1, 2)

    def R(W, A):   # W (B, k, p, p) @ A (B, p, p)
        return (W.reshape(B, nk * p, p) @ A).reshape(B, nk, p, p)

    gM = torch.zeros(B, nk, 2 * S + 1, p, p, dtype=theta.dtype, device=theta.device)
    lam = G
    for n in range(S - 1, -1, -1):
        A0, A1, A2 = M[:, 2 * n], M[:, 2 * n + 1], M[:, 2 * n + 2]
        W = R(lam, T(Ys[n]))                                 # ∂m/∂P_n
        A10, A11, A21 = A1 @ A0, A1 @ A1, A2 @ A1
        g0 = L(h / 6 * torch.eye(p, dtype=W.dtype, device=W.device) + h**2 / 6 * T(A1) + h**3 / 12 * T(A11)
               + h**4 / 24 * T(A21 @ A1), W)
        g1 = (4 * h / 6 * W
              + h**2 / 6 * (R(W, T(A0) + T(A1)) + L(T(A1) + T(A2), W))
              + h**3 / 12 * (R(W, T(A10)) + R(L(T(A1), W), T(A0)) + R(L(T(A2), W), T(A1)) + L(T(A21), W))
              + h**4 / 24 * (R(L(T(A2), W), T(A10)) + R(L(T(A21), W), T(A0))))
        g2 = R(W, h / 6 * torch.eye(p, dtype=W.dtype, device=W.device) + h**2 / 6 * T(A1) + h**3 / 12 * T(A11)
               + h**4 / 24 * T(A1 @ A10))
        gM[:, :, 2 * n] += g0
        gM[:, :, 2 * n + 1] += g1
        gM[:, :, 2 * n + 2] += g2
        lam = L(T(Ps[n]), lam)
    s = np.arange(0, 2 * S + 1) / (2 * S)
    w = torch.as_tensor(np.pi / 2 * np.sin(np.pi * s[1:-1]), dtype=theta.dtype, device=theta.device)
    gTheta = T(gM[:, :, 1:-1, :d, :]) * w[None, None, :, None, None]   # M[:d, :] = w·Θᵀ
    return Mo, gTheta


def moment_covariance(theta, XtX, psi_res, S):
    """Delta method: the covariance of the push-forward moments from the
    sampling covariance of the per-time least-squares fits,
    Cov(Θ̂_j[a, i], Θ̂_j[b, l]) = (XᵀX)⁻¹_ab Ψ_il:
    Cov(m, m′) = Σ_j tr(G_{m,j}ᵀ (XᵀX)_j⁻¹ G_{m′,j} Ψ_j).  Returns (moments, covariance)."""
    Mo, G = moment_gradients(theta, S)
    B, k, J, p, d = G.shape
    inv = torch.linalg.inv(XtX)                                             # (B, J, p, p)
    kron = torch.einsum("bjac,bjil->bjaicl", inv, psi_res).reshape(B, J, p * d, p * d)
    Gv = G.reshape(B, k, J, p * d).transpose(1, 2)                          # (B, J, k, pd)
    cov = ((Gv @ kron) @ Gv.transpose(-1, -2)).sum(1)
    return Mo, cov


def mardia_kurtosis(x):
    """Mardia's multivariate kurtosis b₂ = mean(((x − x̄)ᵀS⁻¹(x − x̄))²) per
    batch row (B, N, d); N(·) has b₂ → d(d + 2), standard error √(8d(d+2)/N)."""
    xc = x - x.mean(1, keepdim=True)
    Sg = xc.transpose(1, 2) @ xc / x.shape[1]
    r2 = (xc * torch.linalg.solve(Sg, xc.transpose(1, 2)).transpose(1, 2)).sum(-1)
    return (r2**2).mean(1)
