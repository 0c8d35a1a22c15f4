"""Activation patterns of a ReLU layer: the regions of a hyperplane arrangement.

For data X ∈ R^{n×d} the hyperplanes x_iᵀu = 0 (all through the origin) cut
R^d into open cones; on each cone the pattern D = diag(1[Xu > 0]) is constant.
Patterns of lower-dimensional faces are redundant for the convex program (on a
face the ReLU equals the pattern of any adjacent open cone), so the exact set
is the set of open regions.

``enumerate_patterns`` is exact (one small LP per region and hyperplane,
built incrementally, each region carrying an interior direction);
``cover_count`` is Cover's formula for the number of regions when the rows
are in general position, which certifies completeness; ``sample_patterns`` is
the cheap heuristic (random directions), which misses regions.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

MARGIN_TOL = 1e-9  # an LP margin above this (with |u|_∞ ≤ 1, rows normalised) is an open region


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


def enumerate_patterns(X: np.ndarray) -> Patterns:
    """All open regions of the arrangement {x_iᵀu = 0}, exactly.

    Incremental construction: a region of the first i hyperplanes either lies
    on one side of hyperplane i+1 (its interior direction tells which) or is
    cut in two; one LP decides whether the other side is non-empty."""
    X = np.asarray(X, dtype=np.float64)
    rows = X / np.linalg.norm(X, axis=1, keepdims=True)  # scale-free margins
    n, d = rows.shape
    # start from the whole space: no hyperplane yet, any direction is interior
    regions = [(np.zeros(0), np.ones(d) / np.sqrt(d))]
    for i in range(n):
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
    masks = np.array([(s > 0).astype(np.int8) for s, _ in regions], dtype=np.int8).reshape(-1, n)
    dirs = np.array([u for _, u in regions]).reshape(-1, d)
    assert np.array_equal(masks, (X @ dirs.T > 0).T.astype(np.int8)), "interior directions disagree with patterns"
    return Patterns(masks, dirs)


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
    size rank; fine for the small n, d where exact enumeration is used)."""
    from itertools import combinations

    X = np.asarray(X, dtype=np.float64)
    r = np.linalg.matrix_rank(X)
    k = min(X.shape[0], r)
    for idx in combinations(range(X.shape[0]), k):
        s = np.linalg.svd(X[list(idx)], compute_uv=False)
        if s[-1] <= tol * s[0]:
            return False
    return True


__all__ = ["Patterns", "cover_count", "enumerate_patterns", "patterns_of", "sample_patterns", "in_general_position"]
