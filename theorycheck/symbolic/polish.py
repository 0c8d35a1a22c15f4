"""KKT polishing after a conic solve.

Interior-point solvers stop at a relative gap of ~1e-8 and may leave residuals
of the optimality conditions far larger (up to 1e-3 was seen on exponential
cone duals).  A prediction that other numbers are compared with at 1e-6 needs
better: starting from the solver's point, Newton steps on the optimality
conditions F(x) = 0 (stationarity, and feasibility where there are equality
constraints) drive the KKT residual down to a stated tolerance, and the
residual reached is returned with the point, so that a derivation can raise
Inconclusive when it was not reached.

* :func:`newton_polish` — Newton on a square system F(x) = 0 with the
  Jacobian J(x), backtracking on ‖F‖ (a merit function) so that a poor
  starting point does not throw it off.
* :func:`polish_minimum` — the same for a smooth strictly convex objective
  (F = ∇f, J = ∇²f), with backtracking on f itself (Armijo), which makes it
  globally convergent.

Both work in float64 numpy; the residual is ‖F(x)‖_∞ (optionally relative to
a stated scale), the norm a KKT tolerance is usually stated in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class Polished:
    x: np.ndarray
    residual: float             # ‖F(x)‖_∞ / scale at the returned point
    iterations: int
    converged: bool             # residual <= tol
    start_residual: float
    history: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"residual": self.residual, "iterations": self.iterations, "converged": self.converged,
                "start_residual": self.start_residual}


def _solve(J: np.ndarray, F: np.ndarray) -> np.ndarray:
    try:
        step = np.linalg.solve(J, F)
        if np.all(np.isfinite(step)):
            return step
    except np.linalg.LinAlgError:
        pass
    return np.linalg.lstsq(J, F, rcond=None)[0]


def newton_polish(F: Callable[[np.ndarray], np.ndarray], J: Callable[[np.ndarray], np.ndarray], x0,
                  tol: float = 1e-12, max_iter: int = 50, scale: float = 1.0,
                  min_step: float = 1e-10) -> Polished:
    """Newton steps on F(x) = 0 from x0 until ‖F(x)‖_∞ / scale ≤ tol.  Each
    step is halved until ‖F‖ decreases (it is kept anyway when the halving
    reaches ``min_step``: near a solution round-off makes ‖F‖ flat)."""
    x = np.array(x0, dtype=np.float64)
    r = np.asarray(F(x), dtype=np.float64)
    res = float(np.max(np.abs(r))) / scale if r.size else 0.0
    start, hist = res, [res]
    it = 0
    while res > tol and it < max_iter and np.isfinite(res):
        it += 1
        step = _solve(np.asarray(J(x), dtype=np.float64), r)
        t, accepted = 1.0, False
        while t >= min_step:
            xn = x - t * step
            rn = np.asarray(F(xn), dtype=np.float64)
            resn = float(np.max(np.abs(rn))) / scale
            if np.isfinite(resn) and resn < res:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            break  # no decrease along the Newton direction: the floor of the arithmetic
        x, r, res = xn, rn, resn
        hist.append(res)
    return Polished(x, res, it, bool(res <= tol), start, hist)


def polish_minimum(f: Callable[[np.ndarray], float], grad: Callable[[np.ndarray], np.ndarray],
                   hess: Callable[[np.ndarray], np.ndarray], x0, tol: float = 1e-12, max_iter: int = 100,
                   scale: float = 1.0) -> Polished:
    """Damped Newton for a smooth strictly convex f: the step −H⁻¹g, halved until
    Armijo's condition holds on f, or, where f no longer changes beyond round-off
    (the quadratic-convergence region, where f is useless as a merit function),
    until ‖∇f‖ decreases.  Stops when ‖∇f‖_∞ / scale ≤ tol."""
    x = np.array(x0, dtype=np.float64)
    g = np.asarray(grad(x), dtype=np.float64)
    res = float(np.max(np.abs(g))) / scale if g.size else 0.0
    start, hist = res, [res]
    fx = float(f(x))
    it = 0
    while res > tol and it < max_iter and np.isfinite(res):
        it += 1
        step = _solve(np.asarray(hess(x), dtype=np.float64), g)
        slope = float(g @ step)
        t, accepted = 1.0, False
        while t >= 1e-12:
            xn = x - t * step
            fn = float(f(xn))
            if not np.isfinite(fn):
                t *= 0.5
                continue
            if fn <= fx - 1e-4 * t * slope and fn < fx:
                accepted = True
            elif abs(fn - fx) <= 1e-12 * (1.0 + abs(fx)):  # f flat to round-off: judge by the gradient
                gn = np.asarray(grad(xn), dtype=np.float64)
                accepted = float(np.max(np.abs(gn))) / scale < res
            if accepted:
                break
            t *= 0.5
        if not accepted:
            break  # no progress along the Newton direction: the floor of the arithmetic
        x, fx = xn, fn
        g = np.asarray(grad(x), dtype=np.float64)
        res = float(np.max(np.abs(g))) / scale
        hist.append(res)
    return Polished(x, res, it, bool(res <= tol), start, hist)


__all__ = ["Polished", "newton_polish", "polish_minimum"]
