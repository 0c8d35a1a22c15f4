"""Statistical decisions over seeds: standard errors and Bonferroni levels.

A stochastic statement is decided by a stated test, never by a band tuned on
the draws judged.  A claim checks it on every draw of the run, so the level
of each test must shrink with the number of draws (the family-wise error of
the whole run is what is stated): ``family_z(per_draw, alpha)`` is the
Bonferroni z of the run's own draw count (``ctx.draws``: about 300 in quick,
2 100 in full, 16 500 in gpu), for ``per_draw`` comparisons on each draw.
Pass it as the ``z`` of :func:`theorycheck.checks.within_se` (or call it on
``ctx`` inside a check); ``at_least`` keeps a hand-calibrated quick-profile z
as a floor.  ``family_p`` is the same level as a p-value threshold (Wald χ²,
exact binomial tests), and ``at_most_in_run`` a bound check whose critical
value reads the run's context.
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


def family_z(per_draw: int = 1, alpha: float = DEFAULT_ALPHA, at_least: float = 0.0, scale: float = 1.0):
    """A z that depends on the run: Bonferroni over (draws of the run × per_draw).

    ``at_least`` is a floor: the z a claim calibrated by hand for its statistic
    (skewed, few degrees of freedom) in the quick profile; the run's z is never
    below it, and grows past it once the run's Bonferroni level does.
    ``scale`` multiplies the Bonferroni z for a statistic whose tail is heavier
    than the normal's (its tail quantiles measured ≈ ``scale`` × the normal's).
    The returned function takes the context (``ctx.draws``; without it, ~300
    draws: the quick profile)."""
    def z(ctx) -> float:
        m = getattr(ctx, "draws", 0) * per_draw or per_draw * 300
        return max(float(at_least), scale * bonferroni_z(m, alpha))
    parts = [f"Bonferroni z over the run's draws × {per_draw} (family-wise {alpha:g}"]
    if scale != 1.0:
        parts.append(f", ×{scale:g} for a heavier tail")
    if at_least:
        parts.append(f", at least {at_least:g}")
    z.__name__ = "".join(parts) + ")"
    return z


def family_p(per_draw: int = 1, alpha: float = DEFAULT_ALPHA, at_most: float = 1.0):
    """The per-comparison level (a p-value threshold, e.g. of a Wald χ² test) that
    depends on the run: Bonferroni α/(draws of the run × per_draw), the two-sided
    level of :func:`family_z`; never above ``at_most`` (a level set by hand for
    the quick profile stays a ceiling).  Returns a function of the context."""
    def p(ctx) -> float:
        m = getattr(ctx, "draws", 0) * per_draw or per_draw * 300
        return min(float(at_most), alpha / m)
    p.__name__ = f"Bonferroni level over the run's draws × {per_draw} (family-wise {alpha:g}, at most {at_most:g})"
    return p


def at_most_in_run(name: str, statistic, critical, description: str = ""):
    """``checks.at_most(name, statistic, ·)`` whose bound also reads the run's
    context: ``critical(pred, obs, params, ctx)`` (a test statistic against its
    critical value at the run's Bonferroni level: ``family_z`` / ``family_p``)."""
    from .checks import Check, at_most

    def fn(pred, obs, params, ctx):
        bound = critical(pred, obs, params, ctx)
        return at_most(name, statistic, lambda *a: bound).fn(pred, obs, params, ctx)

    return Check(name, fn, description or at_most(name, statistic, critical).description)


def mean_and_se(samples, axis=-1) -> tuple[np.ndarray, np.ndarray]:
    """Sample mean and its standard error (ddof = 1) along ``axis``."""
    x = np.asarray(samples, dtype=np.float64)
    n = x.shape[axis]
    if n < 2:
        return x.mean(axis=axis), np.full(np.shape(x.mean(axis=axis)), math.inf)
    return x.mean(axis=axis), x.std(axis=axis, ddof=1) / math.sqrt(n)


__all__ = ["bonferroni_z", "family_z", "family_p", "at_most_in_run", "mean_and_se", "DEFAULT_ALPHA"]
