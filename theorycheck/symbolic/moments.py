"""Second-moment (mean-square) linear stability of SGD at an interpolating
minimum of least squares.

Near the minimum δ ← (I − η H_B) δ with H_B = (1/B) Σ_{j≤B} H_{i_j}, the
indices drawn uniformly with replacement.  The second moment M = E[δδᵀ]
evolves linearly, M ← T_η(M) with

    T_η(M) = M − η(HM + MH) + η² [ (1/B)·mean_i H_i M H_i + (1 − 1/B)·H M H ],

a p²×p² matrix on vec(M).  The minimum is mean-square stable iff the spectral
radius ρ(T_η) < 1 on the span of the data (directions where every H_i vanishes
never move and are left out).  T_η maps PSD matrices to PSD matrices, so ρ is
its Perron eigenvalue."""
from __future__ import annotations

import numpy as np


def range_basis(Hs: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """Orthonormal basis (columns) of the span of the per-sample Hessians."""
    H = Hs.mean(0)
    w, V = np.linalg.eigh(H)
    return V[:, w > tol * max(w.max(), 1e-300)]


def restrict(Hs: np.ndarray) -> np.ndarray:
    """Per-sample Hessians written in the basis of their common range."""
    U = range_basis(Hs)
    return np.einsum("pa,npq,qb->nab", U, Hs, U)


def lifted_operator(Hs: np.ndarray, eta: float, batch: int = 1) -> np.ndarray:
    """T_η as a matrix acting on vec(M) (row-major), for per-sample Hessians Hs (n, r, r)."""
    r = Hs.shape[1]
    H = Hs.mean(0)
    eye = np.eye(r)
    # vec(A M B) = (A ⊗ Bᵀ) vec(M) for row-major vec
    first = np.kron(H, eye) + np.kron(eye, H.T)
    per_sample = np.mean([np.kron(Hi, Hi.T) for Hi in Hs], axis=0)
    second = per_sample / batch + (1 - 1 / batch) * np.kron(H, H.T)
    return np.eye(r * r) - eta * first + eta**2 * second


def spectral_radius(Hs: np.ndarray, eta: float, batch: int = 1) -> float:
    return float(np.abs(np.linalg.eigvals(lifted_operator(Hs, eta, batch))).max())


def mean_square_threshold(Hs: np.ndarray, batch: int = 1, rtol: float = 1e-12) -> float:
    """η_c = inf{η > 0 : ρ(T_η) ≥ 1} on the data span, by a scan up to
    2/λ_max(H) (beyond it even the mean diverges, so ρ > 1) then bisection."""
    Hs = restrict(Hs)
    lam = np.linalg.eigvalsh(Hs.mean(0)).max()
    hi = 2.0 / lam * (1 + 1e-9)
    grid = hi * np.linspace(0.02, 1.0, 50)
    unstable = [spectral_radius(Hs, e, batch) >= 1 for e in grid]
    if not any(unstable):
        raise ArithmeticError("no mean-square instability found up to 2/λ_max")
    k = unstable.index(True)
    lo, hi = (grid[k - 1] if k else 0.0), grid[k]
    while hi - lo > rtol * hi:
        mid = (lo + hi) / 2
        if spectral_radius(Hs, mid, batch) >= 1:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def scalar_threshold(h: np.ndarray, batch: int = 1) -> float:
    """Closed form for scalar h_i (mean m, variance v): stable iff
    E(1 − η h_B)² < 1 iff 2/η > m + v/(m B)."""
    m, v = float(np.mean(h)), float(np.var(h))
    return 2.0 / (m + v / (m * batch))
