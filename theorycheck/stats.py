"""Statistical decisions over seeds: standard errors and Bonferroni levels.

A stochastic statement is decided by a stated test, never by a band tuned on
the draws judged.  A claim checks it on every draw of the run, so the level
of each test must shrink with the number of draws (the family-wise error of
the whole run is what is stated): ``family_z(per_draw, alpha)`` is the
Bonferroni z of the run's own draw count (``ctx.draws``: about 300 in quick,
2 100 in full, 16 500 in gpu), for ``per_draw`` comparisons on each draw.
Pass it as the ``z`` of :func:`theorycheck.checks.within_se`.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

DEFAULT_ALPHA = 0.01  # family-wise: the chance that a true claim is refuted by noise in one run


def bonferroni_z(comparisons: int, alpha: float = DEFAULT_ALPHA) -> float:
    """Two-sided z such that ``comparisons`` tests all pass with probability ≥ 1 − alpha."""
    m = max(1, int(comparisons))
    return NormalDist().inv_cdf(1 - alpha / (2 * m))


def family_z(per_draw: int = 1, alpha: float = DEFAULT_ALPHA):
    """A z that depends on the run: Bonferroni over (draws of the run × per_draw)."""
    def z(ctx) -> float:
        return bonferroni_z(getattr(ctx, "draws", 0) * per_draw or per_draw * 300, alpha)
    z.__name__ = f"Bonferroni z over the run's draws × {per_draw} (family-wise {alpha:g})"
    return z


def mean_and_se(samples, axis=-1) -> tuple[np.ndarray, np.ndarray]:
    """Sample mean and its standard error (ddof = 1) along ``axis``."""
    x = np.asarray(samples, dtype=np.float64)
    n = x.shape[axis]
    if n < 2:
        return x.mean(axis=axis), np.full(np.shape(x.mean(axis=axis)), math.inf)
    return x.mean(axis=axis), x.std(axis=axis, ddof=1) / math.sqrt(n)


__all__ = ["bonferroni_z", "family_z", "mean_and_se", "DEFAULT_ALPHA"]
