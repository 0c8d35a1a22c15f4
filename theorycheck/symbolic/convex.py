"""cvxpy problems as data, solved with their status always checked.

Anything short of ``optimal`` (``optimal_inaccurate``, ``infeasible``, a
solver error) raises :class:`Inconclusive`: a convex prediction counts only
when certified."""
from __future__ import annotations

from dataclasses import dataclass

from ..verdict import Inconclusive


@dataclass
class Solved:
    value: float
    status: str
    solver: str
    gap: float | None  # |primal - dual| where the solver reports a dual objective

    def as_dict(self) -> dict:
        return {"value": self.value, "status": self.status, "solver": self.solver, "gap": self.gap}


def solve(problem, solver: str | None = None, **kwargs) -> Solved:
    import cvxpy as cp

    if solver is None:
        installed = cp.installed_solvers()
        solver = next((s for s in ("CLARABEL", "ECOS", "SCS") if s in installed), None)
    try:
        problem.solve(solver=solver, **kwargs)
    except cp.error.SolverError as exc:
        raise Inconclusive(f"cvxpy solver {solver} failed: {exc}") from None
    status = problem.status
    if status != cp.OPTIMAL:
        raise Inconclusive(f"cvxpy status {status!r} (need 'optimal')")
    stats = problem.solver_stats
    gap = None
    extra = getattr(stats, "extra_stats", None)
    dual = getattr(extra, "dual_objective", None) if extra is not None else None
    if dual is None and isinstance(extra, dict):
        dual = extra.get("info", {}).get("dobj") if isinstance(extra.get("info"), dict) else None
    if dual is not None and problem.value is not None:
        gap = abs(float(problem.value) - float(dual))
    return Solved(float(problem.value), status, str(stats.solver_name), gap)
