"""Richardson extrapolation of a discrete scheme to its continuous limit.

A discrete scheme with step h (GD with step η for the gradient flow, RK4 with
step h for an ODE, ...) produces a value V(h) (a limit point, a state at a
fixed time) that differs from the continuous value V(0) by

    V(h) = V(0) + c·h^p + O(h^(p+1))

with p the order of the scheme (p = 1 for GD / forward Euler).  Running the
scheme on a ladder h, h/q, h/q², ... (q = 2 by default) and eliminating the
leading term gives an estimate of V(0) whose error is O(h^(p+1)).

The assumption behind the extrapolation is *checked*, never taken for
granted:

* against a reference value (the theory's prediction):
  :func:`raw_errors` and :func:`error_ratios` give ‖V(h_i) − ref‖ and the
  ratio between consecutive rungs, which must be ≈ q^p (2 for GD at η and
  η/2) when the O(h^p) model holds and the reference is right.  A wrong
  reference makes the raw errors stall and the ratio drop to ≈ 1, so a
  check on the ratio also refutes a wrong prediction;
* without a reference (three or more rungs): :func:`difference_ratios` gives
  ‖V(h_i) − V(h_{i+1})‖ / ‖V(h_{i+1}) − V(h_{i+2})‖ → q^p.

Everything works on batches: values have shape (draws, ...) (numpy or torch)
and every norm is taken per draw over the remaining axes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _norms(x: np.ndarray) -> np.ndarray:
    """Per-draw Euclidean norm over every axis but the first."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim <= 1:
        return np.abs(x)
    return np.sqrt((x.reshape(x.shape[0], -1) ** 2).sum(axis=1))


def extrapolate(values: Sequence, order: int = 1, ratio: float = 2.0) -> np.ndarray:
    """Richardson's table on a ladder h, h/q, h/q², …: eliminates the terms
    h^p, h^(p+1), …, one per extra rung, and returns the most extrapolated
    entry.  Two rungs: V(h/q) + (V(h/q) − V(h)) / (q^p − 1), i.e.
    2·V(η/2) − V(η) for GD (p = 1, q = 2)."""
    if len(values) < 1:
        raise ValueError("extrapolate needs at least one rung")
    row = [_np(v) for v in values]
    p = order
    while len(row) > 1:
        f = ratio ** p
        row = [row[i + 1] + (row[i + 1] - row[i]) / (f - 1.0) for i in range(len(row) - 1)]
        p += 1
    return row[0]


def raw_errors(values: Sequence, reference, relative: bool = True) -> np.ndarray:
    """‖V(h_i) − ref‖ per rung and draw, shape (rungs, draws); relative to
    ‖ref‖ unless ``relative`` is False."""
    ref = _np(reference)
    scale = np.maximum(_norms(ref), 1e-300) if relative else 1.0
    return np.stack([_norms(_np(v) - ref) / scale for v in values])


def error_ratios(values: Sequence, reference, relative: bool = True) -> np.ndarray:
    """e_i / e_{i+1} between consecutive rungs (≈ q^p when the O(h^p) model
    holds and the reference is the continuous limit), shape (rungs − 1, draws)."""
    e = raw_errors(values, reference, relative)
    with np.errstate(divide="ignore", invalid="ignore"):
        return e[:-1] / e[1:]


def difference_ratios(values: Sequence) -> np.ndarray:
    """‖V_i − V_{i+1}‖ / ‖V_{i+1} − V_{i+2}‖ (needs ≥ 3 rungs): the reference-free
    estimate of q^p, shape (rungs − 2, draws)."""
    if len(values) < 3:
        raise ValueError("difference ratios need at least three rungs")
    v = [_np(x) for x in values]
    d = np.stack([_norms(v[i] - v[i + 1]) for i in range(len(v) - 1)])
    with np.errstate(divide="ignore", invalid="ignore"):
        return d[:-1] / d[1:]


def observed_order(ratios, ratio: float = 2.0) -> np.ndarray:
    """log_q of an error ratio: the order the rungs actually show."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(_np(ratios)) / np.log(ratio)


def ratio_ok(coarse_err, fine_err, expected: float, rtol: float, floor: float) -> np.ndarray:
    """Per draw: True when e_coarse / e_fine is within ``rtol`` of ``expected``
    (the O(h^p) model holds), or when both errors are at or below ``floor``
    (the scheme already agrees with the reference to the precision the
    numerics allow, so there is no ratio to measure); False otherwise."""
    c, f = _np(coarse_err), _np(fine_err)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = c / f
    in_band = np.abs(r - expected) <= rtol * expected
    at_floor = (c <= floor) & (f <= floor)
    return in_band | at_floor


@dataclass
class Ladder:
    """A scheme run on a ladder of steps, and its extrapolation."""

    steps: np.ndarray            # h_0 > h_1 > ... (per rung; a scalar step or a per-draw factor)
    values: list                 # V(h_i), each (draws, ...)
    order: int = 1
    ratio: float = 2.0
    extrapolated: np.ndarray = field(default=None)

    def __post_init__(self):
        if self.extrapolated is None:
            self.extrapolated = extrapolate(self.values, self.order, self.ratio)

    @property
    def expected_ratio(self) -> float:
        return self.ratio ** self.order

    def raw_errors(self, reference, relative: bool = True) -> np.ndarray:
        return raw_errors(self.values, reference, relative)

    def error_ratios(self, reference, relative: bool = True) -> np.ndarray:
        return error_ratios(self.values, reference, relative)

    def extrapolated_error(self, reference, relative: bool = True) -> np.ndarray:
        return raw_errors([self.extrapolated], reference, relative)[0]

    def difference_ratios(self) -> np.ndarray:
        return difference_ratios(self.values)


def ladder(run: Callable[[float], object], h0: float, rungs: int = 2, order: int = 1,
           ratio: float = 2.0) -> Ladder:
    """Run ``run(h)`` at h0, h0/q, …, (``rungs`` steps) and extrapolate.  ``run``
    returns the scheme's value for step h (batched over draws: shape (draws, ...))."""
    if rungs < 2:
        raise ValueError("a ladder needs at least two rungs")
    steps = np.array([h0 / ratio**i for i in range(rungs)])
    values = [_np(run(float(h))) for h in steps]
    return Ladder(steps, values, order, ratio)


__all__ = ["extrapolate", "raw_errors", "error_ratios", "difference_ratios", "observed_order", "ratio_ok",
           "Ladder", "ladder"]
