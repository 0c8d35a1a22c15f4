"""Drive parameter draws with hypothesis: fuzz, target the worst margin,
shrink a failure to a minimal counterexample.

The search is seeded from (global seed, claim id, role), so the same command
draws the same examples.  ``theorycheck run`` does not replay the example
database (runs stay reproducible) but saves failures into it; ``theorycheck
fuzz`` replays it first.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hypothesis import HealthCheck, Phase, Verbosity, given, settings, target
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import Unsatisfiable

from .verdict import ERROR, FAIL, ExampleOutcome


class _Failed(Exception):
    def __init__(self, outcome: ExampleOutcome):
        super().__init__(outcome.reason)
        self.outcome = outcome


@dataclass
class SearchResult:
    outcomes: list[ExampleOutcome] = field(default_factory=list)
    failure: ExampleOutcome | None = None  # minimal failing example (shrunk when asked)
    budget_spent: bool = False
    unsatisfiable: bool = False

    @property
    def errors(self) -> list[ExampleOutcome]:
        return [o for o in self.outcomes if o.status == ERROR]

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)


def search(evaluate: Callable[[dict], ExampleOutcome], strategy: st.SearchStrategy, *,
           max_examples: int, seed: int, key: str, deadline: float, shrink: bool = True,
           database_dir: str | Path | None = None, replay: bool = False,
           stop_at_first_failure: bool = False) -> SearchResult:
    """Evaluate up to ``max_examples`` draws; on a failure let hypothesis
    shrink it (unless ``shrink`` is off) and return the minimal one.

    Claim code errors do not stop hypothesis with a traceback: they are
    recorded, and later draws are skipped.  Past ``deadline`` (time.monotonic)
    no new draw is evaluated."""
    result = SearchResult()
    stop = {"error": False}

    def body(params):
        if stop["error"]:
            return
        if time.monotonic() > deadline:
            result.budget_spent = True
            return
        outcome = evaluate(params)
        result.outcomes.append(outcome)
        if outcome.status == ERROR:
            stop["error"] = True
            return
        if outcome.status == FAIL:
            raise _Failed(outcome)
        m = outcome.worst_margin
        if m == m:  # finite margin: steer the search towards the worst case
            target(-m, label="worst margin (negated)")

    body._hypothesis_internal_add_digest = key.encode()  # one database key per claim and role
    phases = [Phase.explicit, Phase.generate, Phase.target]
    if replay:
        phases.insert(1, Phase.reuse)
    if shrink and not stop_at_first_failure:
        phases.append(Phase.shrink)
    db = DirectoryBasedExampleDatabase(str(database_dir)) if database_dir else None
    test = settings(max_examples=max_examples, deadline=None, database=db, phases=phases,
                    suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
                    report_multiple_bugs=False, print_blob=False, derandomize=False)(
        given(strategy)(body))
    # hypothesis.seed() would also switch the database off; we want both a
    # fixed seed (reproducible runs) and the database (failures kept for fuzz).
    test._hypothesis_internal_use_seed = seed
    try:
        test()
    except _Failed as exc:
        result.failure = exc.outcome
    except Unsatisfiable:
        result.unsatisfiable = True
    return result
