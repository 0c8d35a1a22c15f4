"""One layer of linear self-attention trained on in-context linear regression
(Mahankali, Hashimoto, Ma 2023).

Tasks w ~ N(0, Σ_w), x_i, x_q ~ N(0, Σ), y_i = wᵀx_i + ε_i (Var ε = σ²),
z_i = (x_i, y_i), M = (1/n)Σ_i z_i z_iᵀ; the layer predicts ŷ = uᵀ M V x_q with
u ∈ R^{d+1}, V ∈ R^{(d+1)×d}, i.e. the vector p = VᵀMu with ŷ = pᵀx_q.  The
query is integrated out exactly: a task's loss is (p − w)ᵀΣ(p − w) + σ².

The pre-training risk on N tasks is a polynomial in (u, V) whose data enter
only through S1 = mean M⊗M, S2 = mean w⊗M and mean wᵀΣw — the simulation
computes these from sampled tasks, then trains (u, V) on the empirical risk.
Tasks come in antithetic pairs (X, w, ε) and (X, −w, −ε): a symmetry of the
task distribution, made exact in the sample.
"""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp
import torch


def model(params):
    """Σ (diagonal), Σ_w (diagonal), from the draw: identity when isotropic,
    else eigenvalues spread geometrically over [1/√κ, √κ] (Σ) and random in
    [½, 2] (Σ_w)."""
    d = params["d"]
    if params["cov"] == "isotropic":
        return np.ones(d), np.ones(d)
    rng = np.random.default_rng(params["data_seed"])
    k = params["kappa"]
    sig = k ** (np.linspace(-0.5, 0.5, d) if d > 1 else np.zeros(1))
    sig = rng.permutation(sig)
    sw = 2.0 ** rng.uniform(-1, 1, d)
    return sig, sw


def gamma_star(sig, sw, n, s2):
    """Γ* = Σ_wΣ[((n+1)/n)ΣΣ_wΣ + ((tr(Σ_wΣ) + σ²)/n)Σ]⁻¹ for diagonal Σ, Σ_w."""
    tr = float(np.sum(sw * sig))
    return np.diag(sw * sig / ((n + 1) / n * sig * sw * sig + (tr + s2) / n * sig))


def risk_of(G, sig, sw, n, s2):
    """Pre-training risk of the predictor x_qᵀΓh (h = (1/n)Σ y_i x_i):
    tr(ΣΓE[hhᵀ]Γᵀ) − 2tr(ΣΓE[hwᵀ]) + tr(ΣΣ_w) + σ², with the Gaussian moments
    E[hhᵀ] = ((n+1)/n)ΣΣ_wΣ + ((tr(Σ_wΣ) + σ²)/n)Σ, E[hwᵀ] = ΣΣ_w."""
    S, W = np.diag(sig), np.diag(sw)
    Ehh = (n + 1) / n * S @ W @ S + (np.trace(W @ S) + s2) / n * S
    return float(np.trace(S @ G @ Ehh @ G.T) - 2 * np.trace(S @ G @ S @ W) + np.trace(S @ W) + s2)


@functools.lru_cache(maxsize=1)
def symbolic_checks() -> bool:
    """sympy with Isserlis' theorem:
    (i) any d (symbolic), isotropic: E[xxᵀAxxᵀ] = 2A + tr(A)I, so with
    h = Σ̂w + noise, E[hhᵀ] = ((n + d + 1 + σ²)/n)I and E[whᵀ] = I, hence
    Γ* = E[whᵀ]E[hhᵀ]⁻¹ = η*I with η* = n/(n + d + 1 + σ²) and risk
    d + σ² − dη*;
    (ii) d = 2, symbolic diagonal Σ, Σ_w, n, σ: E[hhᵀ] from the fourth moments
    (Isserlis pairings enumerated) equals ((n+1)/n)ΣΣ_wΣ + ((tr Σ_wΣ + σ²)/n)Σ."""
    n, s2, d = sp.symbols("n sigma2 d", positive=True)
    # (i) isotropic: E[x xᵀ A x xᵀ] with A = E[wwᵀ] = I gives (d + 2)I
    Ehh_iso = ((d + 2) + (n - 1) + s2) / n
    eta = sp.simplify(1 / Ehh_iso)
    ok1 = sp.simplify(eta - n / (n + d + 1 + s2)) == 0
    risk = sp.simplify(d * eta**2 * Ehh_iso - 2 * d * eta + d + s2)
    ok2 = sp.simplify(risk - (d + s2 - d * eta)) == 0
    # (ii) d = 2 with Isserlis pairings
    a1, a2, b1, b2 = sp.symbols("a1 a2 b1 b2", positive=True)  # Σ = diag(a), Σ_w = diag(b)
    Sig = sp.diag(a1, a2)
    A = sp.diag(b1, b2)
    def fourth(i, j, k, l):  # E[x_i x_j x_k x_l] for x ~ N(0, Σ)
        return Sig[i, j] * Sig[k, l] + Sig[i, k] * Sig[j, l] + Sig[i, l] * Sig[j, k]
    E_xxAxx = sp.Matrix(2, 2, lambda i, l: sum(fourth(i, j, k, l) * A[j, k] for j in range(2) for k in range(2)))
    Ehh = (E_xxAxx + (n - 1) * Sig * A * Sig + s2 * Sig) / n
    formula = (n + 1) / n * Sig * A * Sig + ((A * Sig).trace() + s2) / n * Sig
    ok3 = all(sp.simplify(e) == 0 for e in (Ehh - formula))
    return bool(ok1 and ok2 and ok3)


def randn(*shape, generator, dtype, device):
    """Standard normals drawn in float32 (torch's float64 sampler is ~5× slower
    on CPU) and used in ``dtype``: the Monte Carlo statistics are unaffected
    by the 2⁻²⁴ granularity."""
    return torch.randn(*shape, generator=generator, dtype=torch.float32, device=device).to(dtype)


def sample_tasks(p, gen, pairs, dtype=torch.float64, device="cpu"):
    """``pairs`` sampled tasks (X, w, ε); each also stands for its mirror
    (X, −w, −ε) (see :func:`statistics`).  Returns the flattened M
    (pairs, (d+1)²), w and h = (1/n)Σ y_i x_i."""
    d, n = p["d"], p["n"]
    sig, sw = model(p)
    rs, rw = torch.as_tensor(np.sqrt(sig), dtype=dtype, device=device), torch.as_tensor(np.sqrt(sw), dtype=dtype,
                                                                                       device=device)
    if p.get("covariates") == "rademacher":  # the break: same covariance, lighter fourth moment
        X = torch.where(torch.rand(pairs, n, d, generator=gen, dtype=dtype, device=device) < 0.5, -1.0, 1.0)
    else:
        X = randn(pairs, n, d, generator=gen, dtype=dtype, device=device)
    X = X * rs
    w = randn(pairs, d, generator=gen, dtype=dtype, device=device) * rw
    eps = p["sigma"] * randn(pairs, n, generator=gen, dtype=dtype, device=device)
    y = (X @ w[:, :, None]).squeeze(-1) + eps
    M = torch.empty(pairs, d + 1, d + 1, dtype=dtype, device=device)
    M[:, :d, :d] = X.transpose(1, 2) @ X / n
    h = (X.transpose(1, 2) @ y[:, :, None]).squeeze(-1) / n
    M[:, :d, d] = h
    M[:, d, :d] = h
    M[:, d, d] = (y * y).sum(1) / n
    return M.reshape(pairs, -1), w, h


def flip_signs(d, dtype=torch.float64, device="cpu"):
    """±1 on the flattened entries of M: −1 where (w, ε) ↦ (−w, −ε) negates M (the h entries)."""
    f = torch.ones(d + 1, d + 1, dtype=dtype, device=device)
    f[:d, d] = f[d, :d] = -1.0
    return f.reshape(-1)


def statistics(Mf, w, sig):
    """S1 (P × P, P = (d+1)²), S2 (d × P) and mean wᵀΣw over the antithetic
    sample: the tasks (M, w) and their mirror images (F⊙M, −w), F =
    :func:`flip_signs`, without materialising the mirrors:
    S1 = ½(A + FAF) with A = mean MMᵀ, S2 = ½ mean w(M − F⊙M)ᵀ."""
    N = Mf.shape[0]
    d = w.shape[1]
    F = flip_signs(d, Mf.dtype, Mf.device)
    A = Mf.T @ Mf / N
    S1 = 0.5 * (A + F[:, None] * A * F[None, :])
    S2 = 0.5 * (w.T @ Mf / N) * (1 - F)[None, :]
    return S1, S2, float(((w * w) * sig).sum() / N)


def als(S1, S2, sig, ww, s2, gens, restarts: int, iters: int):
    """Exact block-coordinate minimisation of the empirical risk over (u, V)
    (each block is a least-squares problem), from ``restarts`` random starts
    per draw, batched: S1 (B, p, p, p, p) as E[M_ba M_ce], S2 (B, d, p, p) as
    E[w_j M_ba], sig (B, d) the diagonal of Σ, ww (B,) mean wᵀΣw, s2 (B,) σ².
    Returns u (B, R, p), V (B, R, p, d) and the risk of every restart."""
    B, p = S1.shape[0], S1.shape[1]
    d = p - 1
    R = restarts
    u = torch.stack([torch.randn(R, p, generator=g, dtype=S1.dtype, device=S1.device) for g in gens])
    V = torch.zeros(B, R, p, d, dtype=S1.dtype, device=S1.device)
    # S1 as a (b, c) × (a, e) matrix; S2 as a (b, j) × a matrix
    S1m = S1.permute(0, 1, 3, 2, 4).reshape(B, 1, p * p, p * p)
    S2m = S2.permute(0, 2, 1, 3).reshape(B, 1, p * d, p)
    eye = torch.eye(p, dtype=S1.dtype, device=S1.device)
    sigr = sig[:, None, None, :]

    def u_system(V):
        G = (V * sigr) @ V.transpose(-1, -2)                                   # VΣVᵀ (B, R, p, p)
        H = (G.reshape(B, R, 1, p * p) @ S1m).reshape(B, R, p, p)              # Σ_bc G_bc S1[b,a,c,e]
        g = ((V * sigr).reshape(B, R, 1, p * d) @ S2m).reshape(B, R, p)        # Σ_bj V_bj Σ_jj S2[j,b,a]
        return H, g

    def solve(A, b):
        ridge = 1e-13 * A.diagonal(dim1=-2, dim2=-1).sum(-1)[..., None, None] * eye
        return torch.linalg.solve(A + ridge, b)

    for _ in range(iters):
        uu = (u[..., :, None] * u[..., None, :]).reshape(B, R, p * p, 1)
        Emm = (S1m @ uu).reshape(B, R, p, p)                                   # Σ_ae u_a u_e S1[b,a,c,e]
        Emw = (S2m @ u[..., None]).reshape(B, R, p, d)                         # Σ_a u_a S2[j,b,a]
        V = solve(Emm, Emw)
        H, g = u_system(V)
        u = solve(H, g[..., None]).squeeze(-1)
    H, g = u_system(V)
    risk = (u[..., None, :] @ H @ u[..., :, None]).squeeze(-1).squeeze(-1) - 2 * (g * u).sum(-1) \
        + ww[:, None] + s2[:, None]
    return u, V, risk


def best_linear_risk(S1, S2, sig, ww, s2):
    """The minimum of the empirical risk over *every* predictor linear in the
    features M_ba·x_q (the LSA is the rank-one subset T = u⊗V of these):
    mean wᵀΣw + σ² − Σ_j Σ_jj S2_jᵀ S1⁺ S2_j."""
    pinv = torch.linalg.pinv(S1, hermitian=True)
    quad = torch.einsum("zjP,zPQ,zjQ->zj", S2, pinv, S2)
    return ww + s2 - (sig * quad).sum(-1)


def effective_predictor(u, V):
    """Γ (d × d) with ŷ = x_qᵀΓh + other terms: Γ = u_y V_xᵀ + v_y u_xᵀ, and the
    norm of the other terms (M_xx and M_yy features) relative to ‖Γ‖."""
    d = V.shape[-1]
    uy, ux = u[..., d], u[..., :d]
    Vx, vy = V[..., :d, :], V[..., d, :]
    G = uy[..., None, None] * Vx.transpose(-1, -2) + vy[..., :, None] * ux[..., None, :]
    other = torch.sqrt((Vx**2).sum((-1, -2)) * (ux**2).sum(-1) + uy**2 * (vy**2).sum(-1))
    return G, other / G.norm(dim=(-1, -2))
