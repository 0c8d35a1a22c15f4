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

    @property
    def worst_margin(self) -> float:
        margins = [e.margin for e in self.evidence if e.passed is not None and _finite(e.margin)]
        return min(margins) if margins else math.nan


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


def decide(*, passed: int, failed: int, inconclusive: int, errors: int, unsatisfiable: bool = False,
           budget_spent: bool = False, min_examples: int = 1, inconclusive_fraction: float = 0.2,
           mutants: dict[str, str] | None = None) -> tuple[str, str]:
    """The claim verdict from its examples and its mutants (DESIGN.md rules).

    A failure inside the assumptions refutes; claim code that raised is an
    error; too few decided examples, too many undecidable ones, or a mutant
    the checks could not refute (a *weak* claim) is inconclusive."""
    if failed:
        return REFUTED, f"{failed} example(s) failed a check inside the assumptions"
    if errors:
        return ERROR, "claim code raised"
    if unsatisfiable:
        return INCONCLUSIVE, "no draw satisfied the assumptions"
    total = passed + inconclusive
    if passed < min_examples:
        why = "time budget spent" if budget_spent else "too few decidable examples"
        return INCONCLUSIVE, f"{why}: {passed} decided, {inconclusive} inconclusive (need {min_examples})"
    if total and inconclusive / total > inconclusive_fraction:
        return INCONCLUSIVE, (f"{inconclusive} of {total} examples inconclusive "
                              f"(allowed {inconclusive_fraction:.0%})")
    survived = [name for name, v in (mutants or {}).items() if v == MUTANT_SURVIVED]
    if survived:
        return INCONCLUSIVE, ("weak: checks did not refute mutant(s) " + ", ".join(survived)
                              + " — they cannot tell this theorem from a wrong one")
    undecided = [name for name, v in (mutants or {}).items() if v != MUTANT_REFUTED]
    if undecided:  # budget spent, NaN or an error before the mutant could be decided
        return INCONCLUSIVE, "mutant(s) not decided: " + ", ".join(undecided)
    return CONFIRMED, f"all checks passed on {passed} example(s)"
