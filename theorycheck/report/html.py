"""Render a results dict to one self-contained HTML page.

The results file is the only input.  Jinja2 autoescapes every value; the only
markup inserted unescaped is what this package builds itself: SVG plots
(:mod:`.svg`, which escapes its text) and MathML re-built from an allow-list
(:mod:`.mathml`).  CSS and the small sorting script are inlined, so the page
needs no network.
"""
from __future__ import annotations

import math
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from . import mathml, svg

VERDICTS = ("confirmed", "refuted", "inconclusive", "error")
# within a family, what needs a reader's attention first
ATTENTION = {"refuted": 0, "error": 1, "inconclusive": 2, "confirmed": 3}


# ---- formatting filters -------------------------------------------------------------

def num(v: Any, digits: int = 4) -> str:
    """A number as the report shows it; NaN (null) and ±inf as their symbols."""
    if v is None:
        return "NaN"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        return f"{v:.{digits}g}"
    if isinstance(v, str):
        return {"inf": "∞", "-inf": "−∞"}.get(v, v)
    return value(v)


def value(v: Any, limit: int = 400) -> str:
    """Any JSON value, compact (numbers to 6 digits, long arrays elided) and
    capped in length; escaping is Jinja's job."""
    text = _compact(v, 6)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def _compact(v: Any, digits: int) -> str:
    if isinstance(v, list):
        items = [_compact(x, digits) for x in v[:8]]
        more = f", … {len(v)} values" if len(v) > 8 else ""
        return "[" + ", ".join(items) + more + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_compact(x, digits)}" for k, x in list(v.items())[:20]) + (
            ", …" if len(v) > 20 else "") + "}"
    if isinstance(v, (int, float)) or v is None:
        return num(v, digits)
    return str(v)


def duration(s: Any) -> str:
    if not isinstance(s, (int, float)) or isinstance(s, bool):
        return "—"
    if s < 60:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {s % 60:.0f} s"


def margin(v: Any) -> str:
    return "—" if v is None else num(v, 3)


# ---- view helpers -------------------------------------------------------------------

def _list(v) -> list:
    return v if isinstance(v, list) else []


def _dict(v) -> dict:
    return v if isinstance(v, dict) else {}


def is_weak(claim: dict) -> bool:
    """A claim whose checks let a wrong variant of the theorem through (a
    mutant that *survived*; one left inconclusive by a spent budget is not
    evidence of weakness, and the table shows it as not refuted)."""
    return any(_dict(m).get("verdict") == "survived" for m in _list(claim.get("mutants")))


def _text(v) -> str:
    return v if isinstance(v, str) else "" if v is None else str(v)


def search_text(c: dict) -> str:
    """What the search box matches a claim on (lower case): id, family, title,
    statement, notion, verdict and source."""
    src = _dict(c.get("source"))
    parts = [c.get("id"), c.get("family"), c.get("title"), c.get("statement"), c.get("notion"), c.get("verdict"),
             src.get("paper"), src.get("authors"), src.get("year"), src.get("abstracts") or src.get("seed")]
    return " ".join(_text(p) for p in parts if p not in (None, "")).lower()


def _pct(v) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "> 10 %" if v is None else _text(v)
    return f"{v * 100:.2g} %"


def resolution_rows(c: dict) -> list[dict]:
    rows = []
    for key, r in _dict(c.get("resolution")).items():
        if not isinstance(r, dict):
            continue
        kind = r.get("kind")
        def side(v):
            if kind == "count":
                return "±1" if v is not None else "not ±1"
            if kind == "flip":
                return "a flip" if v is not None else "not a flip"
            return _pct(v)
        promised = r.get("promised")
        if isinstance(promised, dict):
            promised = ", ".join(f"{'−' if k == 'minus' else '+'} {_pct(v)}" for k, v in promised.items())
        elif isinstance(promised, (int, float)) and not isinstance(promised, bool):
            promised = _pct(promised)
        sides = r.get("sides") if isinstance(r.get("sides"), list) else []
        rows.append({"key": key, "kind": _text(kind), "minus": side(r.get("minus")),
                     "plus": "—" if kind == "flip" else side(r.get("plus")), "sides": ", ".join(map(_text, sides)),
                     "promised": _text(promised), "met": r.get("met"), "reason": _text(r.get("reason"))})
    return rows


def regime_rows(c: dict) -> list[dict]:
    return [{"name": name, "condition": _text(r.get("condition")), "drawn": r.get("drawn"),
             "decided": r.get("decided"), "quota": r.get("quota"), "covered": r.get("covered")}
            for name, r in _dict(c.get("regimes")).items() if isinstance(r, dict)]


def source_rows(c: dict) -> list[dict]:
    rows = []
    for src, v in _dict(c.get("draws_by_source")).items():
        if isinstance(v, dict):
            rows.append({"source": src, **{k: v.get(k, 0) for k in ("passed", "failed", "inconclusive", "error")}})
    return rows


def region_view(c: dict) -> dict | None:
    from ..region import describe
    r = c.get("failure_region")
    if not isinstance(r, dict):
        return None
    try:
        text = describe(r)
    except Exception:  # a tampered record: show what is there
        text = ""
    return {**r, "text": text}


def claim_view(c: dict) -> dict:
    """What the template needs per claim, computed once (plots, MathML, tallies)."""
    mutants, breaks = _list(c.get("mutants")), _list(c.get("breaks"))
    plots = []
    for p in _list(c.get("plots")):
        r = svg.render(p)
        plots.append({"title": _dict(p).get("title", ""), "svg": Markup(r.svg) if r.svg else None,
                      "notes": r.notes, "over": _dict(p).get("over")})
    math_rec = _dict(c.get("math"))
    mm = mathml.wrap(math_rec.get("mathml"))
    verdict = c.get("verdict") if c.get("verdict") in VERDICTS else "error"
    return {
        "c": c, "verdict": verdict, "weak": verdict != "error" and is_weak(c),
        "anchor": "claim-" + str(c.get("id", "")),
        "mathml": Markup(mm) if mm else None, "math": math_rec,
        "mutants_refuted": sum(_dict(m).get("verdict") == "refuted" for m in mutants),
        # neither refuted nor survived: never decided (budget spent, inconclusive, error)
        "mutants_undecided": sum(_dict(m).get("verdict") not in ("refuted", "survived") for m in mutants),
        "breaks_detected": sum(_dict(b).get("verdict") == "detected" for b in breaks),
        "mutants": mutants, "breaks": breaks, "plots": plots,
        "worst_margin": _worst(c),
        "family": _text(c.get("family")), "search": search_text(c),
        "repro": _text(_dict(c.get("counterexample")).get("repro")),
        "region": region_view(c), "resolution": resolution_rows(c), "regimes": regime_rows(c),
        "sources": source_rows(c),
        "reasons": [(k, n) for k, n in _dict(c.get("inconclusive_reasons")).items()],
        "warnings": [(_text(w.get("warning")), w.get("count")) for w in _list(c.get("warnings"))
                     if isinstance(w, dict)],
        "published": c.get("expected") == "refuted",
        "change": "", "changes": [],
    }


def _worst(c: dict) -> float | None:
    ms = [ch.get("worst_margin") for ch in _list(c.get("checks")) if isinstance(ch, dict)]
    ms = [m for m in ms if isinstance(m, (int, float)) and not isinstance(m, bool)]
    return min(ms) if ms else None


def summary(results: dict, views: list[dict]) -> dict:
    counts = Counter(v["verdict"] for v in views)
    families: dict[str, list[dict]] = {}
    for v in views:
        families.setdefault(str(v["c"].get("family", "")), []).append(v)
    width = lambda key: max([len(v[key]) for v in views] or [0])  # noqa: E731
    return {
        "published": [v for v in views if v["published"]],
        "mutant_columns": width("mutants"), "break_columns": width("breaks"),
        "matrix": [v for v in views if v["mutants"] or v["breaks"]],
        "counts": [(k, counts.get(k, 0)) for k in VERDICTS],
        "weak": sum(v["weak"] for v in views),
        "mutants_refuted": sum(v["mutants_refuted"] for v in views),
        "mutants_total": sum(len(v["mutants"]) for v in views),
        "breaks_detected": sum(v["breaks_detected"] for v in views),
        "breaks_total": sum(len(v["breaks"]) for v in views),
        "families": families,
    }


# ---- rendering ----------------------------------------------------------------------

def _static(name: str) -> str:
    return resources.files("theorycheck.report").joinpath("static", name).read_text(encoding="utf-8")


def _env() -> Environment:
    env = Environment(loader=PackageLoader("theorycheck.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=num, value=value, duration=duration, margin=margin)
    return env


def _with_baseline(views: list[dict], results: dict, baseline: dict | None, baseline_path: str,
                   results_path: str):
    if baseline is None:
        return None
    from ..diff import compare
    d = compare(baseline, results, baseline_path, results_path)
    for v in views:
        cid = str(v["c"].get("id", ""))
        v["change"] = d.status_of(cid)
        v["changes"] = d.for_claim(cid)
    return d


def render_html(results: dict, baseline: dict | None = None, baseline_path: str = "",
                results_path: str = "") -> str:
    """The report page for one results document (with ``baseline``, an older
    results document: what changed since, as ``theorycheck diff`` says)."""
    claims = [c for c in _list(results.get("claims")) if isinstance(c, dict)]
    views = [claim_view(c) for c in claims]
    views.sort(key=lambda v: (str(v["c"].get("family", "")), ATTENTION[v["verdict"]], not v["weak"],
                              str(v["c"].get("id", ""))))
    diff = _with_baseline(views, results, baseline, baseline_path, results_path)
    # the stylesheet and script are this package's own files, inlined verbatim
    return _env().get_template("index.html.j2").render(
        r=results, env=_dict(results.get("environment")), claims=views, s=summary(results, views), diff=diff,
        css=Markup(_static("report.css")), js=Markup(_static("report.js")))


def write_html(results: dict, path: str | Path, baseline: dict | None = None, baseline_path: str = "",
               results_path: str = "") -> Path:
    """Render first, then write whole (a page that fails to render replaces nothing)."""
    from ..results import write_atomic
    return write_atomic(path, render_html(results, baseline, baseline_path, results_path))
