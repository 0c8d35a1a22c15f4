"""Logistic regression by gradient descent with large steps, and its batch-perceptron limit
(Tyurin 2024).

LR+GD from w₀ = 0 with step γ: w_{t+1} = w_t + (γ/n) Σ_i y_i x_i σ(−y_i x_iᵀw_t).  With
u_t = w_t/γ this is u_{t+1} = u_t + (1/n) Σ_i y_i x_i σ(−γ y_i x_iᵀu_t), and as γ → ∞,
σ(−γm) → 1 (m < 0), ½ (m = 0), 0 (m > 0): the batch perceptron (weight ½ on ties — the first
step, from u₀ = 0, is all ties and is the same for every γ).  K(γ) is the first t ≥ 1 with
y_i x_iᵀw_t > 0 for every i (the classification problem solved).

Deviation from the perceptron (derived again here): with m_min = min over 1 ≤ s ≤ K, i of
|y_i x_iᵀu_s| (the perceptron's margins up to its separation step K), X̄ = (1/n)Σ‖x_i‖ and
X_max = max‖x_i‖: as long as ‖w_s/γ − u_s‖ ≤ m_min/(2X_max) every margin keeps its sign and
half its size, so each step adds at most X̄ e^{−γ m_min/2}: ‖w_t/γ − u_t‖ ≤ (t − 1) X̄ e^{−γ m_min/2}
for t ≤ K.  This stays below m_min/(2X_max) — and LR+GD separates exactly at K — once
γ ≥ γ₀ = (2/m_min) log(2 K X̄ X_max / m_min).
"""
from __future__ import annotations

import math

import numpy as np

CAP = 3000          # iterations; a run that has not separated by then counts as not separated
TRACK = 64          # iterates kept per run (to compare with the perceptron's)


def instance(n: int, d: int, margin: float, seed: int):
    """Separable Gaussian data: x ~ N(0, I_d), labels of a random unit teacher, points with
    |x·w*| < margin rejected."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    w /= np.linalg.norm(w)
    X = np.empty((0, d))
    while X.shape[0] < n:
        cand = rng.standard_normal((2 * n, d))
        X = np.vstack([X, cand[np.abs(cand @ w) >= margin]])
    X = X[:n]
    return X, np.sign(X @ w)


def perceptron(X, y, ties: float = 0.5, cap: int = CAP):
    """Batch perceptron from u₀ = 0 (weight ``ties`` on zero margins): (K, iterates u_0..u_K,
    m_min over 1 ≤ s ≤ K)."""
    n = len(y)
    Z = y[:, None] * X
    u = np.zeros(X.shape[1])
    its = [u]
    for t in range(1, cap + 1):
        m = Z @ u
        h = np.where(m < 0, 1.0, np.where(m == 0, ties, 0.0))
        u = u + Z.T @ h / n
        its.append(u)
        if np.all(Z @ u > 0):
            U = np.array(its)
            margins = np.abs(U[1:] @ Z.T)
            return t, U, float(margins.min())
    return math.inf, np.array(its), math.nan


def gamma0(X, K, m_min):
    norms = np.linalg.norm(X, axis=1)
    return 2.0 / m_min * math.log(max(2.0 * K * norms.mean() * norms.max() / m_min, 1.0 + 1e-12))


def deviation_bound(X, K, m_min, gamma):
    """Bound on max_{t ≤ K} ‖w_t/γ − u_t‖ for γ ≥ γ₀: (K − 1) X̄ e^{−γ m_min/2}."""
    return (K - 1) * np.linalg.norm(X, axis=1).mean() * math.exp(-gamma * m_min / 2)


def lr_gd_counts(Xs, ys, gammas, cap: int = CAP, w0s=None, track: int = TRACK, losses=None):
    """LR+GD for many runs at once (run r: data (Xs[r], ys[r]), step gammas[r], optional initial
    u₀ = w₀/γ), zero-padded to common n and d (padded points are masked out).  Returns the
    separation counts K (inf when not separated by ``cap``) and the first ``track`` iterates
    u_t = w_t/γ of every run (NaN after it stopped).  ``losses[r] == "square"`` runs GD on
    ½(1 − y xᵀw)² instead (a break: its weight 1 − γm in place of σ(−γm))."""
    R = len(Xs)
    n = max(len(y) for y in ys)
    d = max(X.shape[1] for X in Xs)
    Z = np.zeros((R, n, d))
    mask = np.zeros((R, n), dtype=bool)
    cnt = np.zeros((R, 1))
    for r, (X, y) in enumerate(zip(Xs, ys)):
        Z[r, : len(y), : X.shape[1]] = y[:, None] * X
        mask[r, : len(y)] = True
        cnt[r] = len(y)
    g = np.asarray(gammas, dtype=float)[:, None]
    sq = np.array([lo == "square" for lo in (losses or ["logistic"] * R)])[:, None]
    u = np.zeros((R, d))
    if w0s is not None:
        for r, w0 in enumerate(w0s):
            if w0 is not None:
                u[r, : len(w0)] = w0
    K = np.full(R, math.inf)
    traj = np.full((R, track + 1, d), np.nan)
    traj[:, 0] = u
    active = np.arange(R)
    Za, ma, ga, ca, ua, qa = Z, mask, g, cnt, u, sq
    with np.errstate(over="ignore", invalid="ignore"):   # a diverging square-loss break overflows: K = inf
        return _loop(Za, ma, ga, ca, ua, qa, active, K, traj, cap, track)


def _loop(Za, ma, ga, ca, ua, qa, active, K, traj, cap, track):
    for t in range(1, cap + 1):
        m = np.einsum("rnd,rd->rn", Za, ua)
        s = 0.5 * (1.0 - np.tanh(0.5 * ga * m))            # σ(−γm), overflow-free
        if qa.any():
            s = np.where(qa, 1.0 - ga * m, s)
        ua = ua + np.einsum("rnd,rn->rd", Za, np.where(ma, s, 0.0)) / ca
        if t <= track:
            traj[active, t] = ua
        sep = np.all((np.einsum("rnd,rd->rn", Za, ua) > 0) | ~ma, axis=1)
        blown = ~np.isfinite(ua).all(1)                 # a diverging (square-loss) run: never separates
        if sep.any() or blown.any():
            K[active[sep]] = t
            keep = ~(sep | blown)
            active, Za, ma, ga, ca, ua, qa = (active[keep], Za[keep], ma[keep], ga[keep], ca[keep], ua[keep],
                                              qa[keep])
            if active.size == 0:
                break
    return K, traj
