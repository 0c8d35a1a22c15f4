"""A failure from any source shrunk to a minimal counterexample that still
fails: integers towards their lower bounds, floats towards the lower bound
and towards round values, choices towards the first option, seeds towards 0;
dependent ranges and constraints are kept.  Deterministic and bounded."""
from __future__ import annotations

import time
from typing import Callable

from ..verdict import FAIL


def _fit(space, values: dict, changed: str) -> dict | None:
    """Move the parameters after ``changed`` back inside their (dependent) ranges."""
    out = dict(values)
    after = False
    for p in space.params:
        if p.name == changed:
            after = True
            continue
        if not after or not hasattr(p, "bounds"):
            continue
        lo, hi = p.bounds(out)
        if lo > hi:
            return None
        out[p.name] = min(max(out[p.name], lo), hi)
    return out if space.satisfied(out) else None


def shrink(space, failing: dict, evaluate: Callable[[dict], dict], *, max_evals: int, deadline: float) -> dict:
    """The minimal failing draw record reached from ``failing`` (a draw record);
    ``evaluate(params)`` returns the record of a draw."""
    best = failing
    tried: set = set()
    evals = 0
    improved = True
    while improved and evals < max_evals and time.monotonic() < deadline:
        improved = False
        for p in space.params:
            current = best["params"]
            for cand in p.simpler(current[p.name], current):
                trial = _fit(space, {**current, p.name: cand}, p.name)
                if trial is None:
                    continue
                key = repr(sorted(trial.items()))
                if key in tried:
                    continue
                tried.add(key)
                if evals >= max_evals or time.monotonic() > deadline:
                    break
                evals += 1
                rec = evaluate(trial)
                if rec["status"] == FAIL:
                    best = rec
                    improved = True
                    break
    return best
