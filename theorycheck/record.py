"""Turn what a claim run learned into its record in the results file:
per-check summaries, the counterexample, the showcase prediction, plot data."""
from __future__ import annotations

from typing import Any

from .claim import Claim, Plot
from .results import to_jsonable
from .verdict import FAIL, PASS, ExampleOutcome

MAX_DRAWS_KEPT = 200


def math_of(claim: Claim) -> dict | None:
    """The statement's sympy expression as text, LaTeX and presentation MathML."""
    expr = claim.math_expr()
    if expr is None:
        return None
    import sympy
    try:
        mathml = sympy.mathml(expr, printer="presentation")
    except Exception:
        mathml = None
    return {"text": sympy.sstr(expr), "latex": sympy.latex(expr), "mathml": mathml}


def evidence_rows(outcome: ExampleOutcome) -> list[dict]:
    return [{"name": e.name, "passed": e.passed, "margin": e.margin, "theory": e.theory,
             "observed": e.observed, "tolerance": e.tolerance, "detail": e.detail}
            for e in outcome.evidence]


def example_record(outcome: ExampleOutcome | None) -> dict | None:
    if outcome is None:
        return None
    return to_jsonable({"params": outcome.params, "seed": outcome.seed, "status": outcome.status,
                        "reason": outcome.reason, "checks": evidence_rows(outcome)})


def check_summaries(claim: Claim, outcomes: list[ExampleOutcome]) -> list[dict]:
    rows = []
    for check in claim.checks:
        ev = [e for o in outcomes for e in o.evidence if e.name == check.name]
        decided = [e for e in ev if e.passed is not None]
        margins = [e.margin for e in decided]
        rows.append({"name": check.name, "description": check.description,
                     "passed": bool(decided) and all(e.passed for e in decided),
                     "worst_margin": min(margins) if margins else None,
                     "examples": len(ev), "failures": sum(e.passed is False for e in ev),
                     "inconclusive": sum(e.passed is None for e in ev)})
    return to_jsonable(rows)


def showcase(outcomes: list[ExampleOutcome], failure: ExampleOutcome | None) -> ExampleOutcome | None:
    """The example the report draws: the counterexample if any, else the
    passing example with the worst margin (the tightest agreement shown)."""
    if failure is not None and failure.observation is not None:
        return failure
    passing = [o for o in outcomes if o.status == PASS and o.observation is not None]
    if not passing:
        withobs = [o for o in outcomes if o.observation is not None]
        return withobs[0] if withobs else None
    return min(passing, key=lambda o: (o.worst_margin if o.worst_margin == o.worst_margin else 1e300))


def prediction_record(example: ExampleOutcome | None) -> dict | None:
    if example is None or example.prediction is None:
        return None
    values = {}
    for k, v in example.prediction.items():
        exact = None
        if hasattr(v, "free_symbols"):  # sympy: keep the exact form next to the float
            exact = str(v)
        values[k] = {"value": _compact(v), "exact": exact}
    return to_jsonable({"params": example.params, "values": values})


def _compact(v):
    j = to_jsonable(v)
    if isinstance(j, list) and len(str(j)) > 2000:
        return f"<array of {len(j)}>"
    return j


def _resolve(ref: Any, o: ExampleOutcome):
    if ref is None:
        return None
    if callable(ref):
        return ref(o.prediction, o.observation, o.params)
    where, key = ref.split(".", 1)
    source = {"prediction": o.prediction, "observation": o.observation, "params": o.params}[where]
    return source[key]


def plot_record(plot: Plot, example: ExampleOutcome | None, outcomes: list[ExampleOutcome]) -> dict:
    rec: dict[str, Any] = {"title": plot.title, "xlabel": plot.xlabel, "ylabel": plot.ylabel,
                           "xlog": plot.xlog, "ylog": plot.ylog, "over": plot.over, "series": []}
    try:
        for s in plot.series:
            if plot.over == "example":
                if example is None:
                    raise ValueError("no example with an observation to draw")
                x, y = _resolve(s.x, example), _resolve(s.y, example)
            else:
                pts = [o for o in outcomes if o.observation is not None and o.prediction is not None]
                x = None if s.x is None else [_resolve(s.x, o) for o in pts]
                y = None if s.y is None else [_resolve(s.y, o) for o in pts]
            rec["series"].append({"label": s.label, "role": s.role, "style": s.style,
                                  "x": to_jsonable(x), "y": to_jsonable(y)})
    except Exception as exc:  # a plot must never cost the verdict
        rec["error"] = f"{type(exc).__name__}: {exc}"
    return rec


def draws_record(outcomes: list[ExampleOutcome]) -> list[dict]:
    """A compact per-draw log (params, status, worst margin), capped in size."""
    return to_jsonable([{"params": o.params, "status": o.status, "worst_margin": o.worst_margin,
                         "reason": o.reason[:300]} for o in outcomes[:MAX_DRAWS_KEPT]])


def counterexample_record(failure: ExampleOutcome | None) -> dict | None:
    if failure is None or failure.status != FAIL:
        return None
    return example_record(failure)
