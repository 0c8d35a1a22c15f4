"""Agreement predicates between a prediction and an observation.

A check is a named function ``(prediction, observation, params, ctx) ->
Evidence``.  Its arguments ``theory`` / ``observed`` name a key of the
prediction / observation dict, or are callables ``f(prediction, observation,
params)`` for derived quantities.

Non-finite values, the same rule in every check:

* NaN on either side makes the comparison undecidable (``passed=None``):
  never a pass, never a failure.
* ±inf is an overflow, and the numerics could not decide a comparison of
  values (``close``, ``at_most``, ``at_least``, ``within_se``,
  ``mean_within``, ``holds``, ``conserved``): undecidable too.
* Checks whose subject *is* growth read an overflow as what it is:
  ``diverges`` passes when the trajectory reaches ±inf (or the growth
  factor) before any NaN, and ``converges`` fails when it ends at ±inf.

Every evidence carries ``used``: the share of the allowed tolerance the
comparison used (0 = exact, 1 = at the edge, > 1 = failed), the normalised
margin the search targets.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .verdict import Evidence

Getter = str | Callable[..., Any]

BOTH = ("minus", "plus")


@dataclass
class Check:
    """``bound_sides`` maps a prediction key this check reads as a one-sided
    bound to the side of a perturbation that can refute it (``at_most``'s
    bound can only be refuted when it is too small: "minus")."""

    name: str
    fn: Callable[..., Evidence]
    description: str = ""
    bound_sides: dict = field(default_factory=dict)

    def __call__(self, prediction: dict, observation: dict, params: dict, ctx=None) -> Evidence:
        ev = self.fn(prediction, observation, params, ctx)
        ev.name = self.name
        return ev


def _label(getter: Getter) -> str:
    """How a getter reads in a description: its key, or the function's name."""
    if callable(getter):
        name = getattr(getter, "__name__", "")
        return name if name and name != "<lambda>" else "a derived value"
    return str(getter)


def _get(getter: Getter, source: dict, prediction, observation, params):
    if callable(getter):
        return getter(prediction, observation, params)
    if getter not in source:
        raise KeyError(f"no value {getter!r} (have: {sorted(source)})")
    return source[getter]


def as_array(x) -> np.ndarray:
    """numbers, sympy numbers, lists, numpy arrays and torch tensors -> float64 array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except TypeError:
        return np.asarray([float(v) for v in np.ravel(x)], dtype=np.float64).reshape(np.shape(x))


def as_float(x) -> float:
    a = as_array(x)
    return float(a) if a.ndim == 0 else float(a.ravel()[0]) if a.size == 1 else math.nan


def _summary(a: np.ndarray):
    a = np.asarray(a)
    return float(a) if a.ndim == 0 else a.tolist() if a.size <= 16 else f"array{a.shape}"


def tolerance_for(tol, ctx) -> float:
    """A tolerance given as a number, or per dtype: ``{"float32": 1e-4, "float64": 1e-9}``."""
    if isinstance(tol, dict):
        key = str(getattr(ctx, "dtype", "float64")).replace("torch.", "")
        return float(tol.get(key, max(tol.values())))
    return float(tol)


def _nonfinite(name, theory, observed, *arrays) -> Evidence | None:
    """The shared rule: any NaN or ±inf among the compared values -> undecidable."""
    for a in arrays:
        if not np.all(np.isfinite(a)):
            what = "NaN" if np.any(np.isnan(a)) else "an infinite value"
            return Evidence(name, None, math.nan, _summary(theory), _summary(observed), None,
                            f"{what} in a compared value")
    return None


def _used_from_margin(margin: float) -> float:
    return max(0.0, 1.0 - margin)


def close(name: str, theory: Getter, observed: Getter, rtol=1e-6, atol=1e-9) -> Check:
    """|observed - theory| <= atol + rtol·|theory| elementwise; margin is the
    smallest remaining room relative to the tolerance (1 = exact, < 0 = fail)."""

    def fn(pred, obs, params, ctx):
        t = as_array(_get(theory, pred, pred, obs, params))
        o = as_array(_get(observed, obs, pred, obs, params))
        r, a = tolerance_for(rtol, ctx), tolerance_for(atol, ctx)
        if t.shape != o.shape and t.size != 1 and o.size != 1:
            return Evidence(name, False, -math.inf, _summary(t), _summary(o), None,
                            f"shape mismatch {t.shape} vs {o.shape}", used=math.inf)
        bad = _nonfinite(name, t, o, t, o)
        if bad:
            return bad
        tol = a + r * np.abs(t)
        err = np.abs(o - t)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(tol > 0, err / np.where(tol > 0, tol, 1), np.where(err > 0, np.inf, 0.0))
        used = float(np.max(ratio)) if ratio.size else 0.0
        return Evidence(name, bool(np.all(err <= tol)), 1.0 - used, _summary(t), _summary(o),
                        {"rtol": r, "atol": a}, f"max |error| = {float(np.max(err)) if err.size else 0.0:.3g}",
                        used=used)

    return Check(name, fn, f"{_label(observed)} ≈ {_label(theory)} (rtol {rtol}, atol {atol})")


def _bound_check(name, lhs, rhs, sign, margin, rtol):
    def fn(pred, obs, params, ctx):
        lv = as_array(_get(lhs, obs, pred, obs, params))
        rv = as_array(_get(rhs, pred, pred, obs, params))
        bad = _nonfinite(name, rv, lv, lv, rv)
        if bad:
            return bad
        tol = tolerance_for(margin, ctx) + tolerance_for(rtol, ctx) * np.abs(rv)
        room = (rv - lv) * sign + tol  # at_most: rhs - lhs + tol >= 0
        m = float(np.min(room))
        # an exact bound (no tolerance) is measured against round-off of its own size (1e-12, at least absolute)
        unit = np.maximum(tol, 1e-12 * np.maximum(np.abs(rv), 1.0))
        with np.errstate(over="ignore", invalid="ignore"):
            used = float(np.max(1.0 - room / unit))
        return Evidence(name, bool(m >= 0), m, _summary(rv), _summary(lv), float(np.max(tol)),
                        used=max(0.0, used))

    return fn


def at_most(name: str, observed: Getter, bound: Getter, margin=0.0, rtol=0.0) -> Check:
    """observed <= bound + margin + rtol·|bound| (observed from the observation,
    bound from the prediction unless callables say otherwise).  A bound that is
    too large is not a wrong theorem, only a weaker one: its resolution is
    measured on the side where it is too small."""
    sides = {bound: ("minus",)} if isinstance(bound, str) else {}
    return Check(name, _bound_check(name, observed, bound, +1, margin, rtol),
                 f"{_label(observed)} ≤ {_label(bound)}", sides)


def at_least(name: str, observed: Getter, bound: Getter, margin=0.0, rtol=0.0) -> Check:
    """observed >= bound - margin - rtol·|bound|."""
    sides = {bound: ("plus",)} if isinstance(bound, str) else {}
    return Check(name, _bound_check(name, observed, bound, -1, margin, rtol),
                 f"{_label(observed)} ≥ {_label(bound)}", sides)


def holds(name: str, value: Getter, description: str = "") -> Check:
    """A boolean verdict computed by a callable (or an observation key).  For
    comparisons that are neither closeness nor bounds (e.g. the sign of a
    symbolic derivative).  ``None`` or NaN counts as undecidable."""

    def fn(pred, obs, params, ctx):
        v = _get(value, obs, pred, obs, params)
        if v is None or (isinstance(v, (float, np.floating)) and not math.isfinite(v)):
            return Evidence(name, None, math.nan, None, None, None, "undecidable (None, NaN or inf)")
        ok = bool(v)
        return Evidence(name, ok, 1.0 if ok else -1.0, True, ok, used=0.0 if ok else math.inf)

    return Check(name, fn, description or f"{_label(value)} holds")


def within_se(name: str, estimate: Getter, std_error: Getter, theory: Getter, z=3.0,
              atol=0.0) -> Check:
    """A statistical agreement: |estimate − theory| ≤ z·SE + atol, the estimate
    and its standard error from the observation (Monte Carlo over seeds).  A
    zero standard error is handled exactly: then the estimate must equal the
    theory up to ``atol`` plus round-off (1e-12 relative), never divided by 0.
    ``z`` may be a function of the context (``theorycheck.stats.family_z``:
    Bonferroni over the run's draws)."""
    z_of = z if callable(z) else (lambda ctx: z)
    z_text = getattr(z, "__name__", "z") if callable(z) else f"{z:g}"

    def fn(pred, obs, params, ctx):
        z = float(z_of(ctx))
        est = as_array(_get(estimate, obs, pred, obs, params))
        se = as_array(_get(std_error, obs, pred, obs, params))
        t = as_array(_get(theory, pred, pred, obs, params))
        bad = _nonfinite(name, t, est, est, se, t)
        if bad:
            return bad
        if np.any(se < 0):
            return Evidence(name, None, math.nan, _summary(t), _summary(est), None, "negative standard error")
        a = tolerance_for(atol, ctx) + 1e-12 * np.maximum(np.abs(t), 1.0)
        allowed = z * se + a
        err = np.abs(est - t)
        used = float(np.max(err / allowed))
        zs = np.where(se > 0, err / np.where(se > 0, se, 1), np.where(err <= a, 0.0, np.inf))
        return Evidence(name, bool(np.all(err <= allowed)), 1.0 - used, _summary(t), _summary(est),
                        {"z": z, "atol": tolerance_for(atol, ctx)},
                        f"largest |z| = {float(np.max(zs)):.3g} (allowed {z:g})", used=used)

    return Check(name, fn, f"{_label(estimate)} within {z_text} standard errors of {_label(theory)}")


def loglog_slope(steps, drifts) -> float:
    """Least-squares slope of log(drift) against log(step)."""
    x, y = np.log(as_array(steps)), np.log(as_array(drifts))
    return float(np.polyfit(x, y, 1)[0])


def conserved(name: str, steps: Getter, drifts: Getter, order: Getter, slope_tol=0.5,
              floor=1e-12, one_sided: bool = False, min_points: int = 2) -> Check:
    """A quantity conserved by the flow: its drift after integrating to a fixed
    time must shrink like step**order as the step shrinks (log-log slope within
    ``slope_tol`` of the order; with ``one_sided`` at least order − slope_tol,
    since an order-p scheme may converge faster on special flows).  A drift that
    does not shrink (slope ≈ 0) fails.  Drifts at the round-off floor count as
    exact conservation; with fewer than ``min_points`` drifts above the floor the
    drift passes when it stays below 1e3·floor and is undecidable otherwise."""

    def fn(pred, obs, params, ctx):
        h = as_array(_get(steps, obs, pred, obs, params))
        d = as_array(_get(drifts, obs, pred, obs, params))
        p = float(as_float(_get(order, pred, pred, obs, params)))
        if not (np.all(np.isfinite(d)) and np.all(np.isfinite(h)) and math.isfinite(p)):
            return Evidence(name, None, math.nan, p, None, slope_tol, "non-finite drift, step or order")
        fl = tolerance_for(floor, ctx)
        if np.all(d <= fl):
            return Evidence(name, True, slope_tol, p, "drift at round-off", slope_tol,
                            f"max drift {float(np.max(d)):.2e} ≤ floor {fl:.0e}", used=0.0)
        keep = d > fl
        if keep.sum() < max(2, min_points):
            if np.max(d) <= 1e3 * fl:
                return Evidence(name, True, slope_tol, p, "drift near round-off", slope_tol,
                                f"max drift {float(np.max(d)):.2e} ≤ 1e3·floor; too few points for a slope",
                                used=0.0)
            return Evidence(name, None, math.nan, p, _summary(d), slope_tol, "too few drifts above the floor")
        s = loglog_slope(h[keep], d[keep])
        m = s - (p - slope_tol) if one_sided else slope_tol - abs(s - p)
        relation = "≥" if one_sided else "≈"
        return Evidence(name, bool(m >= 0), m, p, s, slope_tol,
                        f"drift slope {s:.2f} {relation} order {p:g} (tol {slope_tol:g}); "
                        f"drifts {np.array2string(d, precision=2)}", used=max(0.0, 1 - m / slope_tol))

    shape = "at least like" if one_sided else "like"
    # "at least like step^p" is a lower bound on the order: too low an order is a weaker statement
    sides = {order: ("plus",)} if one_sided and isinstance(order, str) else {}
    return Check(name, fn, f"drift of {_label(drifts)} shrinks {shape} step^{_label(order)}", sides)


def conserved_at_least(name: str, steps: Getter, drifts: Getter, order: Getter, slope_tol=0.6,
                       floor=1e-12, min_points=3) -> Check:
    """:func:`conserved`, one-sided: drift shrinks at least like step**order."""
    return conserved(name, steps, drifts, order, slope_tol, floor, one_sided=True, min_points=min_points)


def _trajectory(getter, name, pred, obs, params):
    a = as_array(_get(getter, obs, pred, obs, params)).ravel()
    if a.size == 0:
        return None, Evidence(name, None, math.nan, None, None, None, "empty trajectory")
    return a, None


def converges(name: str, trajectory: Getter, rel_tol=1e-6, abs_tol=0.0) -> Check:
    """A nonnegative sequence (distance to the minimum, loss gap) ends below
    rel_tol·(first value) + abs_tol.  Ending at ±inf means it did not converge;
    a NaN is undecidable."""

    def fn(pred, obs, params, ctx):
        a, bad = _trajectory(trajectory, name, pred, obs, params)
        if bad:
            return bad
        if np.any(np.isnan(a)) or not math.isfinite(float(a[0])):
            return Evidence(name, None, math.nan, None, None, None, "NaN in trajectory or infinite start")
        first, last = float(a[0]), float(a[-1])
        bound = tolerance_for(rel_tol, ctx) * abs(first) + tolerance_for(abs_tol, ctx)
        if not math.isfinite(last):
            return Evidence(name, False, -math.inf, bound, last, rel_tol, "overflowed", used=math.inf)
        m = math.log10(bound + 1e-300) - math.log10(abs(last) + 1e-300)
        return Evidence(name, bool(abs(last) <= bound), m, bound, last, rel_tol, f"{first:.3g} → {last:.3g}",
                        used=abs(last) / max(bound, 1e-300))

    return Check(name, fn, f"{_label(trajectory)} converges")


def diverges(name: str, trajectory: Getter, growth=1e6) -> Check:
    """A sequence grows by at least ``growth`` relative to its first value.
    Reaching ±inf (or the growth factor) before any NaN is divergence; a NaN
    before that is undecidable."""

    def fn(pred, obs, params, ctx):
        a, bad = _trajectory(trajectory, name, pred, obs, params)
        if bad:
            return bad
        first = abs(float(a[0]))
        if not math.isfinite(first):
            return Evidence(name, None, math.nan, None, None, None, "NaN or infinite start")
        nan_at = np.flatnonzero(np.isnan(a))
        seen = a[: nan_at[0]] if nan_at.size else a
        if seen.size == 0:
            return Evidence(name, None, math.nan, None, None, None, "NaN in trajectory")
        peak = float(np.max(np.abs(seen)))
        if math.isinf(peak):
            return Evidence(name, True, math.inf, growth, peak, growth, "overflowed", used=0.0)
        ratio = peak / max(first, 1e-300) if nan_at.size else abs(float(seen[-1])) / max(first, 1e-300)
        if nan_at.size and ratio < growth:
            return Evidence(name, None, math.nan, growth, ratio, growth, "NaN before the growth was reached")
        m = math.log10(max(ratio, 1e-300)) - math.log10(growth)
        return Evidence(name, bool(ratio >= growth), m, growth, ratio, growth, f"grew ×{ratio:.3g}",
                        used=growth / max(ratio, 1e-300))

    return Check(name, fn, f"{_label(trajectory)} diverges")


def mean_within(name: str, samples: Getter, theory: Getter, atol=0.0, confidence=0.99,
                n_boot=2000, min_samples=8) -> Check:
    """The theory value lies inside a bootstrap confidence interval of the mean
    of per-seed samples, widened by atol.  Fewer than ``min_samples`` samples,
    or any NaN / inf among them, is undecidable (a failed seed is never dropped
    silently).  All samples equal: the interval is that value, exactly."""

    def fn(pred, obs, params, ctx):
        x = as_array(_get(samples, obs, pred, obs, params)).ravel()
        t = as_float(_get(theory, pred, pred, obs, params))
        bad = _nonfinite(name, t, x, x, np.asarray(t))
        if bad:
            return bad
        if x.size < min_samples:
            return Evidence(name, None, math.nan, t, None, None, f"only {x.size} samples")
        lo, hi = bootstrap_ci(x, confidence, n_boot, seed=getattr(ctx, "seed", 0) or 0)
        a = tolerance_for(atol, ctx) + 1e-12 * max(abs(t), 1.0)
        lo, hi = lo - a, hi + a
        m = min(t - lo, hi - t)
        half = max((hi - lo) / 2, 1e-300)
        return Evidence(name, bool(lo <= t <= hi), m, t, float(x.mean()), [lo, hi],
                        f"{confidence:.0%} CI of the mean over {x.size} seeds",
                        used=abs(t - (lo + hi) / 2) / half)

    return Check(name, fn, f"mean of {_label(samples)} matches {_label(theory)}")


def bootstrap_ci(x: np.ndarray, confidence=0.99, n_boot=2000, seed=0) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean (heavy tails: no normal approximation)."""
    rng = np.random.default_rng(seed % (2**32))
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    means = x[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


__all__ = ["Check", "close", "at_most", "at_least", "holds", "within_se", "conserved", "conserved_at_least",
           "converges", "diverges", "mean_within", "bootstrap_ci", "loglog_slope", "as_array", "as_float",
           "tolerance_for"]
