"""The hypothesis search that follows the sweep: the corners of the space,
then hypothesis draws steered towards the worst normalised margin.

Draws are spread over each range (see ``space.unit_strategy``), and the
search targets the share of the tolerance a check used, quantised and
floored at 1e-3, so it does not chase round-off.  The search is seeded from
(global seed, claim id); hypothesis's habit of mixing in constants collected
from whatever source modules happen to be loaded is switched off, so a
claim's draws do not depend on what else ran in the process.  Failures are
shrunk by ``phases.shrink`` (the same for every source), so hypothesis's own
shrinking is off.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable

from hypothesis import HealthCheck, Phase, Verbosity, given, settings, target
from hypothesis.errors import Unsatisfiable

from ..verdict import ERROR, FAIL


class _Failed(Exception):
    pass


@dataclass
class SearchResult:
    draws: list = field(default_factory=list)   # compact draw records
    parts: list = field(default_factory=list)   # resolution parts
    budget_spent: bool = False
    unsatisfiable: bool = False


@contextlib.contextmanager
def no_local_constants():
    """Hypothesis ≥ 6.131 draws constants found in 'local' loaded modules;
    which modules are loaded differs between a worker and a test session, so
    the draws would too.  Only its built-in constants are kept."""
    try:
        from hypothesis.internal.conjecture import providers
        original = providers._get_local_constants
        empty = providers.Constants()
    except (ImportError, AttributeError):  # another hypothesis: nothing to switch off
        yield
        return
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE.cache.clear()


def score(used: float) -> float:
    """What the search maximises: the share of a tolerance used, on a log
    scale, quantised, with everything below 1e-3 (round-off) flat."""
    if not used == used:
        return -3.0
    return round(math.log10(min(max(used, 1e-3), 1e6)), 1)


def search(evaluate: Callable[[dict], dict], space, *, examples: int, seed: int, deadline: float,
           edges: bool = True) -> SearchResult:
    """``evaluate(params)`` returns a compact batch of one draw.  Stops at the
    first failure or the first claim-code error."""
    result = SearchResult()

    def one(params) -> dict:
        batch = evaluate(params)
        d = batch["draws"][0]
        result.draws.append(d)
        result.parts.append(batch["resolution"])
        return d

    if edges:  # the corners of the space: where theorems tend to break
        for u in (0.0, 1.0 - 1e-9):
            p = space.from_unit([u] * max(1, len(space.params)))
            if p is None or time.monotonic() > deadline:
                continue
            d = one(p)
            if d["status"] in (FAIL, ERROR):
                return result
    if examples <= 0:
        return result

    def body(params):
        if time.monotonic() > deadline:
            result.budget_spent = True
            return
        d = one(params)
        if d["status"] in (FAIL, ERROR):
            raise _Failed()
        target(score(d["used"] if d["used"] is not None else math.nan), label="share of tolerance used")

    test = settings(max_examples=examples, deadline=None, database=None,
                    phases=[Phase.explicit, Phase.generate, Phase.target],
                    suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
                    report_multiple_bugs=False, print_blob=False, derandomize=False)(given(space.strategy())(body))
    test._hypothesis_internal_use_seed = seed
    with no_local_constants():
        try:
            test()
        except _Failed:
            pass
        except Unsatisfiable:
            result.unsatisfiable = True
    return result
