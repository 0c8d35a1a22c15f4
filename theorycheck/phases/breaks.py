"""Assumption breaks: the theorem's own prediction (derived from the draw
inside the assumptions) against a simulation of the broken setting.  A break
is detected only when one of the checks it names (``expect``) fails; without
``expect``, any failing check detects it."""
from __future__ import annotations

import time

from ..evaluate import Draw, guarded, ClaimCodeError
from ..verdict import BREAK_DETECTED, BREAK_UNDETECTED, ERROR, FAIL, INCONCLUSIVE, PASS

GROUP = 8           # broken draws evaluated together; the phase stops at the first detection
MIN_DECIDED = 3     # fewer decided broken draws than this: the break is inconclusive


def broken_draws(brk, draws: list[dict], n: int) -> tuple[list[Draw], str]:
    """The first ``n`` draws the break applies to, or an error message from its ``apply``."""
    out = []
    for p in draws:
        try:
            with guarded(f"break {brk.name!r}"):
                q = brk.apply(dict(p))
        except ClaimCodeError as exc:
            return out, exc.message
        if q is None:
            continue
        if not isinstance(q, dict):
            return out, f"break {brk.name!r}: apply returned {type(q).__name__}, not a dict"
        out.append(Draw(dict(p), f"break:{brk.name}", sim_params=dict(q), deep=False))
        if len(out) >= n:
            break
    return out, ""


def detecting(brk, draw: dict) -> list[str]:
    """The expected checks (or any check, without ``expect``) that failed on a broken draw."""
    failed = [c["name"] for c in draw["checks"] if c["passed"] is False]
    return [c for c in failed if not brk.expect or c in brk.expect]


def run(evaluator, brk, draws: list[dict], n: int, batched: bool, deadline: float) -> dict:
    """The draws evaluated for one break (compact records), stopping at the first detection."""
    todo, problem = broken_draws(brk, draws, n)
    evaluated: list[dict] = []
    for start in range(0, len(todo), GROUP):
        if time.monotonic() > deadline:
            break
        batch = evaluator.run(todo[start:start + GROUP], batched=batched, mutants=False, resolution=False,
                              plots=False)
        evaluated += batch.compact()["draws"]
        if any(detecting(brk, d) for d in evaluated if d["status"] == FAIL):
            break
    return {"draws": evaluated, "problem": problem, "applicable": len(todo)}


def verdict(brk, found: dict) -> dict:
    """detected / undetected / inconclusive / error, with the draw that shows it."""
    draws = found["draws"]
    hit = next((d for d in draws if d["status"] == FAIL and detecting(brk, d)), None)
    other = next((d for d in draws if d["status"] == FAIL), None)
    errors = [d for d in draws if d["status"] == ERROR]
    decided = sum(d["status"] in (PASS, FAIL) for d in draws)
    expect = list(brk.expect)
    if hit is not None:
        v, reason, example = BREAK_DETECTED, f"detected by {', '.join(detecting(brk, hit))}", hit
    elif found["problem"]:
        v, reason, example = ERROR, found["problem"], None
    elif errors:
        v, reason, example = ERROR, errors[0]["reason"], errors[0]
    elif not found["applicable"]:
        v, reason, example = INCONCLUSIVE, "the break applies to no draw", None
    elif decided < MIN_DECIDED:
        bad = [d["category"] or d["reason"] for d in draws if d["status"] == INCONCLUSIVE]
        v, reason, example = INCONCLUSIVE, (f"only {decided} broken draw(s) decided"
                                            + (f" ({bad[0]})" if bad else "")), (draws[0] if draws else None)
    else:
        v = BREAK_UNDETECTED
        if other is not None:
            failed = [c["name"] for c in other["checks"] if c["passed"] is False]
            reason = (f"the expected check(s) {expect} passed on {decided} broken draws; only "
                      f"{', '.join(failed)} failed — the break is not detected for the reason it names")
            example = other
        else:
            reason, example = f"every check passed on {decided} broken draws", draws[-1]
    return {"name": brk.name, "description": brk.description, "expect": expect,
            "expect_any": not expect, "verdict": v, "examples": len(draws), "decided": decided,
            "example": example, "reason": reason,
            "detected_by": detecting(brk, hit) if hit is not None else []}
