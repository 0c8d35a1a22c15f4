"""A claim's record in the results file (schema 2, documented in the README):
its identity (``meta_of``, built in the worker from the claim definition),
the showcase prediction and plots, and — in the parent, from the worker's
plain data — the verdict, the evidence per source and per check, mutants,
breaks, resolution and regime coverage."""
from __future__ import annotations

import os
from collections import Counter
from typing import Any

from .claim import Claim, Plot
from .results import to_jsonable
from .verdict import ERROR, FAIL, INCONCLUSIVE, PASS, ExampleOutcome

MAX_DRAWS_KEPT = 256


def math_of(claim: Claim) -> dict | None:
    """The statement's sympy expression as text, LaTeX and presentation MathML."""
    try:
        expr = claim.math_expr()
    except Exception as exc:  # claim code: a broken expression must not cost the run
        return {"text": f"(math could not be built: {type(exc).__name__})", "latex": "", "mathml": None}
    if expr is None:
        return None
    import sympy
    try:
        mathml = sympy.mathml(expr, printer="presentation")
    except Exception:
        mathml = None
    try:
        return {"text": sympy.sstr(expr), "latex": sympy.latex(expr), "mathml": mathml}
    except Exception:
        return {"text": str(expr), "latex": "", "mathml": mathml}


def relative_module(path: str) -> str:
    """A module path relative to the working directory when it lies inside it."""
    if not path:
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def meta_of(claim: Claim) -> dict:
    """What the record says about the claim definition (plain data)."""
    return to_jsonable({
        "id": claim.id, "family": claim.family, "title": claim.title, "statement": claim.statement,
        "math": math_of(claim), "source": claim.source.as_dict(), "notion": claim.notion, "notes": claim.notes,
        "module": relative_module(claim.module_path), "assumptions": claim.assumptions.describe(),
        "kind": claim.kind, "expected": claim.expected, "rescue": claim.rescue,
        "regimes": dict(claim.regimes), "resolution_declared": claim.resolution,
        "draws_declared": claim.draws, "draws_note": claim.draws_note,
        "inconclusive_fraction": claim.inconclusive_fraction,
        "checks": [{"name": c.name, "description": c.description} for c in claim.checks],
        "mutants": [{"name": m.name, "description": m.description} for m in claim.mutants],
        "breaks": [{"name": b.name, "description": b.description, "expect": list(b.expect)} for b in claim.breaks],
        "plots": plots_decl(claim),
    })


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


def _plot_head(plot: Plot) -> dict:
    return {"title": plot.title, "xlabel": plot.xlabel, "ylabel": plot.ylabel, "xlog": plot.xlog,
            "ylog": plot.ylog, "over": plot.over, "series": []}


def plot_record(plot: Plot, example: ExampleOutcome | None) -> dict:
    """A plot drawn from one showcase example (arrays of that draw)."""
    out = _plot_head(plot)
    try:
        if example is None or example.observation is None:
            raise ValueError("no example with an observation to draw")
        for s in plot.series:
            x, y = _resolve(s.x, example), _resolve(s.y, example)
            out["series"].append({"label": s.label, "role": s.role, "style": s.style,
                                  "x": to_jsonable(x), "y": to_jsonable(y)})
    except Exception as exc:  # claim code or a missing value: a plot never costs the verdict
        out["error"] = f"{type(exc).__name__}: {exc}"
    return to_jsonable(out)


def examples_plot_record(plot: Plot | dict, index: int, draws: list[dict]) -> dict:
    """A plot with one point per decided draw (``over="examples"``), from the
    points each draw recorded in its worker."""
    head = plot if isinstance(plot, dict) else _plot_head(plot)
    out = {**head, "series": []}
    pts = [d for d in draws if d["status"] in (PASS, FAIL) and d.get("points")]
    for si, s in enumerate(head["series_decl"]):
        key = f"{index}.{si}"
        xs = [d["points"].get(key, [None, None])[0] for d in pts]
        ys = [d["points"].get(key, [None, None])[1] for d in pts]
        out["series"].append({"label": s["label"], "role": s["role"], "style": s["style"],
                              "x": None if all(x is None for x in xs) else xs,
                              "y": None if all(y is None for y in ys) else ys})
    out.pop("series_decl", None)
    return to_jsonable(out)


def plots_decl(claim: Claim) -> list[dict]:
    return [{**_plot_head(p), "series_decl": [{"label": s.label, "role": s.role, "style": s.style}
                                               for s in p.series]} for p in claim.plots]


def check_summaries(meta: dict, draws: list[dict]) -> list[dict]:
    rows = []
    for check in meta["checks"]:
        ev = [c for d in draws for c in d["checks"] if c["name"] == check["name"]]
        decided = [c for c in ev if c["passed"] is not None]
        margins = [c["margin"] for c in decided if isinstance(c["margin"], (int, float))]
        rows.append({"name": check["name"], "description": check["description"],
                     "passed": bool(decided) and all(c["passed"] for c in decided),
                     "worst_margin": min(margins) if margins else None,
                     "examples": len(ev), "failures": sum(c["passed"] is False for c in ev),
                     "inconclusive": sum(c["passed"] is None for c in ev)})
    return to_jsonable(rows)


def counterexample_record(ce: dict | None) -> dict | None:
    if not ce:
        return None
    return to_jsonable({"params": ce["params"], "seed": ce["seed"], "source": ce.get("found_by", ce["source"]),
                        "status": ce["status"], "reason": ce["reason"], "checks": ce["checks"]})


def draws_record(draws: list[dict]) -> list[dict]:
    """A compact per-draw log (params, source, status, share of tolerance used), capped in size."""
    return to_jsonable([{"params": d["params"], "source": d["source"], "status": d["status"],
                         "used": d["used"], "reason": (d["category"] or d["reason"])[:200]}
                        for d in draws[:MAX_DRAWS_KEPT]])


def with_repro(meta: dict, data: dict, options, counterexample: dict | None, mutants: list,
               breaks: list) -> None:
    """The ``repro`` command (repro.command) of the counterexample, of every
    mutant's example (for a surviving mutant: a draw it survived on) and of
    every break's example; ``options`` is the run's RunOptions (None: the defaults)."""
    from . import repro
    run = repro.options_of(options)
    batched = bool(data.get("flags", {}).get("batched"))

    def cmd(params, batched_path, **kw):
        return repro.command(meta["id"], params, module=meta.get("module", ""), **run,
                             batched=batched and batched_path, **kw)
    if counterexample:
        counterexample["repro"] = cmd(counterexample["params"], repro.batched_source(counterexample.get("source")))
    for m in mutants:
        if m.get("example") is None and m.get("verdict") == "survived":
            d = next((d for d in data["draws"] if (d.get("mutants") or {}).get(m["name"], {}).get("status") == PASS),
                     None)
            if d is not None:
                m["example"] = {"params": d["params"], "seed": d["seed"], "source": d["source"], "checks": []}
        if isinstance(m.get("example"), dict):
            m["example"]["repro"] = cmd(m["example"]["params"], repro.batched_source(m["example"].get("source")),
                                        mutant=m["name"])
    for b in breaks:
        if isinstance(b.get("example"), dict):
            b["example"]["repro"] = cmd(b["example"]["params"], True, brk=b["name"])  # breaks run batched


def claim_record(meta: dict, data: dict, *, verdict: str, reason: str, counts: Counter, by_source: dict,
                 reasons: Counter, mutants: list, breaks: list, resolution: dict, coverage: dict,
                 planned: int, options=None) -> dict:
    from .region import failure_region
    draws = data["draws"]
    counterexample = counterexample_record(data["counterexample"])
    with_repro(meta, data, options, counterexample, mutants, breaks)
    errors = [d for d in draws if d["status"] == ERROR]
    show = data.get("showcase") or {}
    plots_out, example_plots = [], iter(show.get("plots", []))
    for i, p in enumerate(meta.get("plots", [])):
        plots_out.append(next(example_plots, None) if p["over"] == "example" else examples_plot_record(p, i, draws))
    return to_jsonable({
        "id": meta["id"], "family": meta["family"], "title": meta["title"], "statement": meta["statement"],
        "math": meta["math"], "source": meta["source"], "notion": meta["notion"], "notes": meta["notes"],
        "module": meta["module"], "assumptions": meta["assumptions"], "kind": meta["kind"],
        "expected": meta["expected"], "rescue": meta["rescue"],
        "verdict": verdict, "reason": reason, "as_expected": verdict == meta["expected"],
        "examples": len(draws), "decided": counts[PASS] + counts[FAIL],
        "inconclusive_examples": counts[INCONCLUSIVE], "budget_spent": data["flags"]["budget_spent"],
        "draws_planned": planned, "draws_note": meta["draws_note"],
        "draws_by_source": {src: {"passed": c[PASS], "failed": c[FAIL], "inconclusive": c[INCONCLUSIVE],
                                  "error": c[ERROR]} for src, c in sorted(by_source.items())},
        "inconclusive_reasons": dict(reasons.most_common()),
        "warnings": data.get("warnings", []),
        "counterexample": counterexample,
        "failure_region": failure_region(draws, meta["assumptions"]) if verdict == "refuted" else None,
        "checks": check_summaries(meta, draws),
        "mutants": mutants, "breaks": breaks,
        "resolution": resolution, "resolution_promised": meta["resolution_declared"],
        "regimes": coverage,
        "prediction": show.get("prediction"),
        "plots": [p for p in plots_out if p is not None],
        "draws": draws_record(draws),
        "error_trace": errors[0]["traceback"] if errors else "",
        "duration_s": data["duration_s"],
    })


def error_record(claim_id: str, title: str, module: str, message: str, duration: float = 0.0,
                 verdict: str = ERROR, trace: str = "", expected: str = "confirmed") -> dict:
    """The record of a claim whose run could not finish (crash, signal, hard timeout)."""
    return {"id": claim_id, "family": claim_id.split(".")[0], "title": title, "statement": "",
            "math": None, "source": {}, "notion": "", "notes": "", "module": relative_module(module),
            "assumptions": {}, "kind": "verification", "expected": expected, "rescue": "",
            "verdict": verdict, "reason": message, "as_expected": verdict == expected,
            "examples": 0, "decided": 0, "inconclusive_examples": 0, "budget_spent": verdict == INCONCLUSIVE,
            "draws_planned": 0, "draws_note": "", "draws_by_source": {}, "inconclusive_reasons": {},
            "warnings": [], "counterexample": None, "failure_region": None, "checks": [], "mutants": [], "breaks": [],
            "resolution": {},
            "resolution_promised": None, "regimes": {}, "prediction": None, "plots": [], "draws": [],
            "error_trace": trace, "duration_s": round(duration, 3)}
