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
    """η_c = inf{η > 0 : ρ(T_η) ≥ 1} on the data span.

    T_η − I = −ηL + η²Q (L(M) = HM + MH, Q(M) = E[H_B M H_B]), and T_η maps PSD
    matrices to PSD matrices, so ρ(T_η) is an eigenvalue and it reaches 1
    exactly where L v = η Q v: η_c is the smallest positive real generalized
    eigenvalue of the pair (L, Q) (no η below it has an eigenvalue 1).  The
    value is then certified by the spectral radius on both sides (ρ < 1 at
    η_c(1 − 1e-10), ρ ≥ 1 at η_c(1 + 1e-10)), polished by bisection where the
    certificate fails, and found by a scan + bisection when no candidate is
    certified."""
    import scipy.linalg

    Hs = restrict(Hs)
    r = Hs.shape[1]
    H = Hs.mean(0)
    eye = np.eye(r)
    Lop = np.kron(H, eye) + np.kron(eye, H.T)
    per_sample = np.mean([np.kron(Hi, Hi.T) for Hi in Hs], axis=0)
    Qop = per_sample / batch + (1 - 1 / batch) * np.kron(H, H.T)
    with np.errstate(all="ignore"):
        w = scipy.linalg.eigvals(Lop, Qop)
    real = w[np.isfinite(w) & (np.abs(w.imag) <= 1e-9 * np.abs(w)) & (w.real > 0)].real
    for cand in np.sort(real)[:3]:
        lo, hi = cand * (1 - 1e-10), cand * (1 + 1e-10)
        if spectral_radius(Hs, lo, batch) < 1 <= spectral_radius(Hs, hi, batch):
            return float(cand)
        lo, hi = cand * (1 - 1e-6), cand * (1 + 1e-6)
        if spectral_radius(Hs, lo, batch) < 1 <= spectral_radius(Hs, hi, batch):
            return _bisect(Hs, lo, hi, batch, rtol)
    return _scan(Hs, batch, rtol)


def _bisect(Hs, lo, hi, batch, rtol):
    while hi - lo > rtol * hi:
        mid = (lo + hi) / 2
        if spectral_radius(Hs, mid, batch) >= 1:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def _scan(Hs, batch, rtol):
    """A scan up to 2/λ_max(H) (beyond it even the mean diverges), then bisection."""
    lam = np.linalg.eigvalsh(Hs.mean(0)).max()
    hi = 2.0 / lam * (1 + 1e-9)
    grid = hi * np.linspace(0.02, 1.0, 50)
    unstable = [spectral_radius(Hs, e, batch) >= 1 for e in grid]
    if not any(unstable):
        raise ArithmeticError("no mean-square instability found up to 2/λ_max")
    k = unstable.index(True)
    return _bisect(Hs, (grid[k - 1] if k else 0.0), grid[k], batch, rtol)


def scalar_threshold(h: np.ndarray, batch: int = 1) -> float:
    """Closed form for scalar h_i (mean m, variance v): stable iff
    E(1 − η h_B)² < 1 iff 2/η > m + v/(m B)."""
    m, v = float(np.mean(h)), float(np.var(h))
    return 2.0 / (m + v / (m * batch))


def moment_curve(Hs: np.ndarray, M0: np.ndarray, eta: float, steps: int, batch: int = 1) -> np.ndarray:
    """tr E[δ_t δ_tᵀ] for t = 0..steps from E[δ_0 δ_0ᵀ] = M0, by powers of the lifted operator T_η."""
    T = lifted_operator(Hs, eta, batch)
    m = M0.reshape(-1)
    r = M0.shape[0]
    out = [float(np.trace(M0))]
    for _ in range(steps):
        m = T @ m
        out.append(float(np.trace(m.reshape(r, r))))
    return np.array(out)


def fourth_moment_curve(Hs: np.ndarray, d0: np.ndarray, eta: float, steps: int) -> np.ndarray:
    """E‖δ_t‖⁴ for t = 0..steps of batch-1 SGD δ ← (I − ηH_i)δ from a fixed δ_0:
    the fourth-moment tensor E[δ^{⊗4}] propagated by mean_i A_i^{⊗4} (r⁴ entries)."""
    r = Hs.shape[1]
    A = [np.eye(r) - eta * Hi for Hi in Hs]
    op = np.mean([np.kron(np.kron(a, a), np.kron(a, a)) for a in A], axis=0)
    S = np.kron(np.kron(d0, d0), np.kron(d0, d0))
    out = [float(d0 @ d0) ** 2]
    for _ in range(steps):
        S = op @ S
        out.append(float(np.einsum("aabb->", S.reshape(r, r, r, r))))
    return np.array(out)
