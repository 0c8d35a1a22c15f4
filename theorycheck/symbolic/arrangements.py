"""Activation patterns of a ReLU layer: the regions of a hyperplane arrangement.

For data X ∈ R^{n×d} the hyperplanes x_iᵀu = 0 (all through the origin) cut
R^d into open cones; on each cone the pattern D = diag(1[Xu > 0]) is constant.
Patterns of lower-dimensional faces are redundant for the convex program (on a
face the ReLU equals the pattern of any adjacent open cone), so the exact set
is the set of open regions.

``enumerate_patterns`` is exact, by vertex (extreme-ray) enumeration: after
restricting to the row space (rank r), the closure of every region is a
pointed cone whose extreme rays are lines of the arrangement (intersections of
r − 1 independent hyperplanes), and the regions touching a ray ±ℓ are, near
it, the regions of the hyperplanes through ℓ — all 2^{r−1} sign choices when
r − 1 of them meet there (general position), a smaller arrangement solved the
same way otherwise.  So every region is produced from its rays, with no LP;
candidates are deduplicated by bit-packed masks and each region gets the
average of its per-ray interior directions (a point well inside the cone).
O(C(n, r−1)·2^r) candidates, i.e. O(n²) lines for d = 3.
``enumerate_patterns_lp`` is the older incremental construction (one LP per
region and hyperplane), kept as an independent reference.
``cover_count`` is Cover's formula for the number of regions when the rows
are in general position, which certifies completeness; ``sample_patterns`` is
the cheap heuristic (random directions), which misses regions.

What is guaranteed (both enumerators): every returned pattern comes with a
direction u that realises it strictly (every |x_iᵀu| > 0, checked); zero rows
have pattern 0 everywhere.  The set is complete for any X whose incidences are
decided correctly in floating point: ``enumerate_patterns`` treats a row as
containing a line ℓ when |x̂_iᵀℓ̂| ≤ ``FLAT_TOL`` (unit vectors), so exact
degeneracies (repeated or parallel rows, three rows in a common plane, rank
deficiency) are handled, and rows in general position are handled as long as
no non-incident |x̂_iᵀℓ̂| falls below ``FLAT_TOL`` (regions that thin would be
below floating-point resolution anyway).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np

MARGIN_TOL = 1e-9  # an LP margin above this (with |u|_∞ ≤ 1, rows normalised) is an open region
FLAT_TOL = 1e-10  # |x̂ᵀℓ̂| at or below this: the line ℓ lies on the hyperplane of x
STRICT_TOL = 1e-13  # a direction realises a pattern when every |x̂_iᵀû| exceeds this
_CHUNK = 4096  # subsets per batched SVD


@dataclass
class Patterns:
    """Activation patterns as rows of a 0/1 matrix (P × n) with one direction
    per pattern that realises it strictly (P × d)."""

    masks: np.ndarray
    directions: np.ndarray

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def subset(self, index) -> "Patterns":
        index = np.asarray(index, dtype=int)
        return Patterns(self.masks[index], self.directions[index])

    def union(self, other: "Patterns") -> "Patterns":
        """Patterns of both sets, without duplicates, in first-seen order."""
        masks = np.concatenate([self.masks, other.masks])
        dirs = np.concatenate([self.directions, other.directions])
        _, first = np.unique(masks, axis=0, return_index=True)
        keep = np.sort(first)
        return Patterns(masks[keep], dirs[keep])


def cover_count(n: int, rank: int) -> int:
    """Regions of a central arrangement of n hyperplanes in general position
    in a space of dimension ``rank``: 2·Σ_{k<rank} C(n−1, k) (Cover 1965)."""
    return 2 * sum(comb(n - 1, k) for k in range(rank))


# ----------------------------------------------------------------------------------------------
# exact enumeration by extreme rays


def _all_signs(k: int) -> np.ndarray:
    """Every ±1 vector of length k, as rows (2^k × k)."""
    if k == 0:
        return np.ones((1, 0))
    bits = (np.arange(2 ** k)[:, None] >> np.arange(k)[None, :]) & 1
    return (2.0 * bits - 1.0)


def _lines(Y: np.ndarray):
    """The lines (1-dim flats) of the essential arrangement Y (n × r, unit rows):
    unit directions L (c × r) and incidences ``on`` (n × c: |y_iᵀℓ| ≤ FLAT_TOL,
    and always the r − 1 rows that define ℓ), one per distinct line."""
    n, r = Y.shape
    if r == 2:
        L = np.stack([-Y[:, 1], Y[:, 0]], 1)  # each hyperplane is a line
        defining = np.arange(n)[:, None]
    else:
        subsets = np.array(list(combinations(range(n), r - 1)), dtype=np.intp)
        found, kept = [], []
        for start in range(0, len(subsets), _CHUNK):
            block = subsets[start:start + _CHUNK]
            A = Y[block]  # (c, r−1, r)
            if r == 3:
                ell = np.cross(A[:, 0], A[:, 1])
                norms = np.linalg.norm(ell, axis=1)
                ok = norms > 1e3 * FLAT_TOL  # the two rows are not parallel
                found.append(ell[ok] / norms[ok, None])
            else:
                _, s, Vt = np.linalg.svd(A, full_matrices=True)
                ok = s[:, -1] > 1e3 * FLAT_TOL * s[:, 0]  # r − 1 independent rows
                found.append(Vt[ok, -1, :])
            kept.append(block[ok])
        L = np.concatenate(found)
        defining = np.concatenate(kept)
    on = np.abs(Y @ L.T) <= FLAT_TOL
    on[defining, np.arange(len(L))[:, None]] = True  # rounding must not drop a defining row
    # one line per incidence set (the set determines the line: its rows have rank r − 1)
    _, first = np.unique(np.packbits(on.T, axis=1), axis=0, return_index=True)
    first = np.sort(first)
    return L[first], on[:, first]


def _regions(Y: np.ndarray):
    """Open regions of the arrangement of Y (n × r, unit rows, rank r): signs
    (m × n, ±1) and unit interior directions (m × r)."""
    n, r = Y.shape
    if r == 1:
        W = np.array([[1.0], [-1.0]])
        return np.sign(Y @ W.T).T, W
    if n == r:  # independent rows: every sign pattern is a region
        E = _all_signs(r)
        W = np.linalg.solve(Y, E.T).T
        return E, W / np.linalg.norm(W, axis=1, keepdims=True)
    L, on = _lines(Y)
    proj = Y @ L.T  # (n, c): y_iᵀℓ
    signs_out, dirs_out = [], []
    k = on.sum(0)
    simple = np.nonzero(k == r - 1)[0]
    if len(simple):  # general-position lines, all at once: every sign choice for the r − 1 rows
        H = np.nonzero(on[:, simple].T)[1].reshape(len(simple), r - 1)  # (c, r−1) row indices
        E = _all_signs(r - 1)  # (e, r−1)
        Wc = np.einsum("crk,ek->cer", np.linalg.pinv(Y[H]), E)  # y_{H_j}ᵀw = ε_j
        _emit(Y, L[simple], proj[:, simple], on[:, simple], Wc, np.broadcast_to(E, (len(simple),) + E.shape),
              H, signs_out, dirs_out)
    for c in np.nonzero(k > r - 1)[0]:  # degenerate lines: the local arrangement, recursively
        Hc = np.nonzero(on[:, c])[0]
        _, _, Vt = np.linalg.svd(Y[Hc], full_matrices=False)
        Q = Vt[: r - 1].T  # basis of ℓ^⊥ (r × (r−1))
        Z = Y[Hc] @ Q
        sub_signs, sub_W = _regions(Z / np.linalg.norm(Z, axis=1, keepdims=True))
        _emit(Y, L[c:c + 1], proj[:, c:c + 1], on[:, c:c + 1], (sub_W @ Q.T)[None], sub_signs[None],
              Hc[None], signs_out, dirs_out)
    signs = np.concatenate(signs_out)
    dirs = np.concatenate(dirs_out)
    return _merge(Y, signs, dirs)


def _emit(Y, L, proj, on, Wc, Ec, H, signs_out, dirs_out):
    """Candidates ±ℓ + δw for lines L (c × r), local directions Wc (c × e × r)
    with local signs Ec (c × e × |H|) on the rows H (c × |H|)."""
    c, e, r = Wc.shape
    n = Y.shape[0]
    Wc = Wc / np.linalg.norm(Wc, axis=2, keepdims=True)
    B = np.einsum("nr,cer->cen", Y, Wc)  # y_iᵀw
    for s in (1.0, -1.0):
        a = (s * proj.T)[:, None, :]  # (c, 1, n): y_iᵀ(sℓ), non-zero off the line's rows
        against = (a * B < 0) & ~on.T[:, None, :]
        ratio = np.where(against, np.abs(a) / np.where(against, np.abs(B), 1.0), np.inf)
        delta = np.minimum(0.5 * ratio.min(2), 1.0)  # (c, e): keeps every other row's sign
        U = s * L[:, None, :] + delta[..., None] * Wc
        sg = np.broadcast_to(np.sign(a), (c, e, n)).copy()
        np.put_along_axis(sg, np.broadcast_to(H[:, None, :], (c, e, H.shape[1])), Ec, axis=2)
        signs_out.append(sg.reshape(c * e, n))
        dirs_out.append((U / np.linalg.norm(U, axis=2, keepdims=True)).reshape(c * e, r))


def _merge(Y, signs, dirs):
    """One row per distinct sign vector, its direction the normalised mean of
    the candidates' (each inside the same open cone, so the mean is too); a
    mean that fails the strict check falls back to the best single candidate."""
    packed = np.packbits(signs > 0, axis=1)
    _, first, inv = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    m = len(first)
    mean = np.zeros((m, dirs.shape[1]))
    np.add.at(mean, inv, dirs)
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    out_signs = signs[first]
    bad = ~_realises(Y, mean, out_signs)
    if bad.any():
        margin = (signs * (dirs @ Y.T)).min(1)
        for g in np.nonzero(bad)[0]:
            members = np.nonzero(inv == g)[0]
            mean[g] = dirs[members[np.argmax(margin[members])]]
    return out_signs, mean


def _realises(Y, W, signs):
    """Which directions W (rows) give exactly these signs with a strict margin (Y unit rows)."""
    P = W @ Y.T
    return np.all(signs * P > STRICT_TOL, axis=1)


def _row_space(X: np.ndarray):
    """Orthonormal basis (d × r) of the row space, r = numpy's matrix_rank."""
    if X.size == 0:
        return np.zeros((X.shape[1], 0))
    _, s, Vt = np.linalg.svd(X, full_matrices=False)
    tol = s.max(initial=0.0) * max(X.shape) * np.finfo(X.dtype).eps
    return Vt[: int((s > tol).sum())].T


def enumerate_patterns(X: np.ndarray) -> Patterns:
    """All open regions of the arrangement {x_iᵀu = 0}, exactly (see the module
    docstring for the method and what is guaranteed)."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    norms = np.linalg.norm(X, axis=1)
    live = norms > 0
    B = _row_space(X[live])
    r = B.shape[1]
    if r == 0:  # no hyperplane: the whole space, pattern 0
        dirs = np.zeros((1, d))
        if d:
            dirs[0, 0] = 1.0
        return Patterns(np.zeros((1, n), dtype=np.int8), dirs)
    Y = X[live] @ B
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    signs, W = _regions(Y)
    U = W @ B.T
    masks = np.zeros((len(U), n), dtype=np.int8)
    masks[:, live] = signs > 0
    Xn = X[live] / norms[live, None]
    if not np.all(_realises(Xn, U, signs)):
        # a direction too close to a hyperplane: re-centre those regions by LP (rare; near-degenerate data)
        for p in np.nonzero(~_realises(Xn, U, signs))[0]:
            t, u = _interior_direction(Xn, signs[p].astype(np.float64))
            if t <= MARGIN_TOL:
                raise ArithmeticError("arrangement too close to degenerate for a certified pattern set")
            U[p] = u / np.linalg.norm(u)
    assert np.array_equal(masks, (X @ U.T > 0).T.astype(np.int8)), "interior directions disagree with patterns"
    return Patterns(masks, U)


# ----------------------------------------------------------------------------------------------
# the incremental LP construction (reference)


def _interior_direction(rows: np.ndarray, signs: np.ndarray):
    """max t s.t. s_j·x_jᵀu ≥ t, |u|_∞ ≤ 1: the region is open iff t* > 0.
    Returns (t*, u*)."""
    from scipy.optimize import linprog

    d = rows.shape[1]
    A = np.hstack([-(signs[:, None] * rows), np.ones((rows.shape[0], 1))])  # t − s xᵀu ≤ 0
    c = np.zeros(d + 1)
    c[-1] = -1.0
    bounds = [(-1.0, 1.0)] * d + [(None, 1.0)]
    res = linprog(c, A_ub=A, b_ub=np.zeros(rows.shape[0]), bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"pattern LP failed: {res.message}")
    return -res.fun, res.x[:d]


def enumerate_patterns_lp(X: np.ndarray) -> Patterns:
    """All open regions of the arrangement {x_iᵀu = 0}, by the incremental LP
    construction: a region of the first i hyperplanes either lies on one side
    of hyperplane i+1 (its interior direction tells which) or is cut in two;
    one LP decides whether the other side is non-empty.  Slow (one LP per
    region and row); kept as an independent reference for the vertex method.
    Zero rows get pattern 0."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    norms = np.linalg.norm(X, axis=1)
    live = np.nonzero(norms > 0)[0]
    rows = X[live] / norms[live, None]  # scale-free margins
    regions = [(np.zeros(0), np.ones(d) / np.sqrt(d))]  # no hyperplane yet: any direction is interior
    for i in range(len(live)):
        grown = []
        for signs, u in regions:
            side = 1.0 if rows[i] @ u > 0 else -1.0
            if abs(rows[i] @ u) <= MARGIN_TOL:  # direction on the new hyperplane: decide both sides by LP
                side_options = (1.0, -1.0)
            else:
                grown.append((np.append(signs, side), u))
                side_options = (-side,)
            for s in side_options:
                new_signs = np.append(signs, s)
                t, v = _interior_direction(rows[: i + 1], new_signs)
                if t > MARGIN_TOL:
                    grown.append((new_signs, v))
        regions = grown
    masks = np.zeros((len(regions), n), dtype=np.int8)
    masks[:, live] = np.array([(s > 0) for s, _ in regions], dtype=np.int8).reshape(len(regions), -1)
    dirs = np.array([u for _, u in regions]).reshape(-1, d)
    assert np.array_equal(masks, (X @ dirs.T > 0).T.astype(np.int8)), "interior directions disagree with patterns"
    return Patterns(masks, dirs)


# ----------------------------------------------------------------------------------------------


def patterns_of(X: np.ndarray, directions: np.ndarray) -> Patterns:
    """Patterns of the given directions (rows), in order of first appearance,
    duplicates dropped, and directions lying on a hyperplane skipped."""
    X, directions = np.asarray(X, dtype=np.float64), np.asarray(directions, dtype=np.float64)
    proj = X @ directions.T
    strict = np.all(np.abs(proj) > 1e-12 * np.abs(proj).max(initial=1.0), axis=0)
    masks = (proj[:, strict] > 0).T.astype(np.int8)
    _, first = np.unique(masks, axis=0, return_index=True)
    keep = np.sort(first)
    return Patterns(masks[keep].reshape(-1, X.shape[0]), directions[strict][keep])


def sample_patterns(X: np.ndarray, count: int, rng: np.random.Generator) -> Patterns:
    """Patterns of ``count`` Gaussian directions: a subset of the exact set
    that misses regions."""
    return patterns_of(X, rng.standard_normal((count, np.asarray(X).shape[1])))


def in_general_position(X: np.ndarray, tol: float = 1e-9) -> bool:
    """Every min(n, rank) rows linearly independent (checked on all subsets of
    size rank, in batched SVDs; fine for the small n, d where exact
    enumeration is used)."""
    X = np.asarray(X, dtype=np.float64)
    r = np.linalg.matrix_rank(X)
    k = min(X.shape[0], r)
    if k == 0:
        return True
    subsets = np.array(list(combinations(range(X.shape[0]), k)), dtype=np.intp)
    for start in range(0, len(subsets), _CHUNK):
        s = np.linalg.svd(X[subsets[start:start + _CHUNK]], compute_uv=False)
        if np.any(s[:, -1] <= tol * s[:, 0]):
            return False
    return True


__all__ = ["Patterns", "cover_count", "enumerate_patterns", "enumerate_patterns_lp", "patterns_of",
           "sample_patterns", "in_general_position"]
