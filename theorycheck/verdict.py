"""Verdicts, per-check evidence and counterexamples.

Verdict rules (DESIGN.md): confirmed | refuted | inconclusive | error.  A NaN,
a solver that is not optimal or a spent budget is *inconclusive*, never a
pass; claim code that raises is an *error*.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

CONFIRMED = "confirmed"
REFUTED = "refuted"
INCONCLUSIVE = "inconclusive"
ERROR = "error"
VERDICTS = (CONFIRMED, REFUTED, INCONCLUSIVE, ERROR)

# Outcome of a single example (one parameter draw).
PASS, FAIL = "pass", "fail"

# Mutant / break outcomes, as the results file spells them.
MUTANT_REFUTED, MUTANT_SURVIVED = "refuted", "survived"
BREAK_DETECTED, BREAK_UNDETECTED = "detected", "undetected"


class Inconclusive(Exception):
    """Raised by claim code when the numerics cannot decide an example
    (solver status not optimal, no convergence within budget, ESS too low)."""


@dataclass
class Evidence:
    """One named comparison between theory and simulation on one example.

    ``passed`` is True / False, or None when the comparison could not be made
    (a NaN on either side).  ``margin`` is signed: >= 0 means passed with that
    much room, < 0 failed by that much (in the check's own units)."""

    name: str
    passed: bool | None
    margin: float
    theory: Any = None
    observed: Any = None
    tolerance: Any = None
    detail: str = ""
    used: float = math.nan  # share of the tolerance used: 0 exact, 1 at the edge, > 1 failed
    reads_observation: bool = True  # False when the check compared prediction values only

    @property
    def inconclusive(self) -> bool:
        return self.passed is None


@dataclass
class ExampleOutcome:
    """Everything learned from one parameter draw."""

    params: dict
    status: str  # PASS | FAIL | INCONCLUSIVE | ERROR
    evidence: list[Evidence] = field(default_factory=list)
    prediction: dict | None = None
    observation: dict | None = None
    reason: str = ""
    seed: int | None = None
    source: str = "sweep"          # sweep | search | regime:<name> | shrink | replay | break:<name> | showcase
    sim_params: dict | None = None  # a break's broken draw (the prediction comes from ``params``)
    traceback: str = ""
    mutants: dict = field(default_factory=dict)   # mutant name -> {status, reason}
    checked: dict | None = None                   # prediction key -> {kind, sides}
    points: dict = field(default_factory=dict)    # per-draw plot points
    reads: list = field(default_factory=list)     # prediction keys each check read (not recorded)

    @property
    def worst_margin(self) -> float:
        margins = [e.margin for e in self.evidence if e.passed is not None and _finite(e.margin)]
        return min(margins) if margins else math.nan

    @property
    def worst_used(self) -> float:
        used = [e.used for e in self.evidence if e.passed is not None and e.used == e.used]
        return max(used) if used else math.nan


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def outcome_from_evidence(evidence: list[Evidence]) -> tuple[str, str]:
    """Status of an example from its checks: any failure refutes it, else any
    undecidable comparison makes it inconclusive."""
    failed = [e.name for e in evidence if e.passed is False]
    if failed:
        return FAIL, "failed: " + ", ".join(failed)
    undecided = [e.name for e in evidence if e.passed is None]
    if undecided:
        return INCONCLUSIVE, "could not decide: " + ", ".join(
            f"{e.name} ({e.detail})" if e.detail else e.name for e in evidence if e.passed is None
        )
    return PASS, ""


def tally(passed: int, failed: int, inconclusive: int, errors: int, reasons) -> str:
    """'251 passed, 5 inconclusive: NaN in a compared value (check) (5)'."""
    parts = [f"{passed} passed"]
    if failed:
        parts.append(f"{failed} failed")
    if inconclusive:
        top = ", ".join(f"{r} ({n})" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
        parts.append(f"{inconclusive} inconclusive" + (f": {top}" if top else ""))
    if errors:
        parts.append(f"{errors} error")
    return ", ".join(parts)


def decide(*, passed: int, failed: int, inconclusive: int, errors: int, error_reason: str = "",
           reasons=None, unsatisfiable: bool = False, budget_spent: bool = False, planned: int = 0,
           swept: int = 0, inconclusive_fraction: float = 0.2, uncovered=(), mutants=None, breaks=None,
           resolution_misses=(), counterexample=None) -> tuple[str, str]:
    """The claim verdict (DESIGN.md "Verdict rules"), in this order: a failure
    inside the assumptions refutes; claim code that raised is an error; then
    anything that leaves the search short is inconclusive (no satisfiable
    draw, budget spent before the planned draws, too many undecidable draws,
    a regime not covered); then a *weak* claim is inconclusive (a mutant
    survived, a break went undetected, the resolution is coarser than
    promised, a mutant or break could not be decided); else confirmed."""
    counts = tally(passed, failed, inconclusive, errors, reasons or {})
    if failed:
        where = f" (found by {counterexample.get('found_by', 'the search')})" if counterexample else ""
        return REFUTED, f"{failed} draw(s) inside the assumptions failed a check{where}; {counts}"
    if errors:
        return ERROR, error_reason or "claim code raised"
    mutant_errors = [f"mutant {n}: {r}" for n, (v, r) in (mutants or {}).items() if v == ERROR]
    break_errors = [f"break {n}: {r}" for n, (v, r) in (breaks or {}).items() if v == ERROR]
    if mutant_errors or break_errors:
        return ERROR, (mutant_errors + break_errors)[0]
    if unsatisfiable:
        return INCONCLUSIVE, "no draw satisfied the assumptions"
    if budget_spent:
        return INCONCLUSIVE, f"time budget spent after {swept} of {planned} planned draws; {counts}"
    total = passed + inconclusive
    if not passed:
        return INCONCLUSIVE, f"no draw decided; {counts}"
    if total and inconclusive / total > inconclusive_fraction:
        return INCONCLUSIVE, (f"{inconclusive} of {total} draws undecidable (allowed "
                              f"{inconclusive_fraction:.0%}); {counts}")
    if uncovered:
        return INCONCLUSIVE, f"regime(s) not covered: {', '.join(uncovered)}; {counts}"
    weak = [f"mutant '{n}' survived ({r})" for n, (v, r) in (mutants or {}).items() if v == MUTANT_SURVIVED]
    weak += [f"break '{n}' undetected ({r})" for n, (v, r) in (breaks or {}).items() if v == BREAK_UNDETECTED]
    weak += [f"resolution: {m}" for m in resolution_misses]
    if weak:
        return INCONCLUSIVE, "weak: " + "; ".join(weak) + f"; {counts}"
    undecided = [f"mutant '{n}' ({r})" for n, (v, r) in (mutants or {}).items() if v != MUTANT_REFUTED]
    undecided += [f"break '{n}' ({r})" for n, (v, r) in (breaks or {}).items() if v != BREAK_DETECTED]
    if undecided:
        return INCONCLUSIVE, "not decided: " + "; ".join(undecided) + f"; {counts}"
    return CONFIRMED, f"all checks passed: {counts}"
