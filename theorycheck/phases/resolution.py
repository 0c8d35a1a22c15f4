"""Resolution: the finest relative error of each checked prediction value
that the checks refute on the claim's own draws, on each side.

The evaluator perturbs a value by (1 ± δ) for δ from 10 % down (±1 for
counts, a flip for booleans, ±δ for values that are 0) and records the
deltas some draw refuted through a check that reads the simulation.  The
measured resolution is the finest δ down to which every coarser δ was
refuted; a promise coarser than that is kept, a measured value coarser than
the promise (or not even 10 %) makes the claim weak.  One-sided bounds are
resolved on their tight side only."""
from __future__ import annotations

from ..evaluate import DELTAS

EPS = 1e-9


def merge(parts: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for part in parts:
        for key, info in (part or {}).items():
            entry = out.setdefault(key, {"kind": info["kind"], "sides": set(), "minus": set(), "plus": set()})
            entry["sides"].update(info.get("sides", ()))
            for side in ("minus", "plus"):
                if side in info:
                    entry[side].update(info[side]["refuted"])
    return out


def finest(kind: str, refuted: set) -> float | None:
    """The finest δ such that it and every coarser δ of the grid were refuted."""
    grid = (1.0,) if kind in ("count", "flip") else DELTAS
    best = None
    for d in grid:
        if d in refuted:
            best = d
        else:
            break
    return best


def _required_sides(kind, sides, promise) -> list[str]:
    if kind == "flip":
        return ["minus"]
    if isinstance(promise, dict):
        return [s for s in ("minus", "plus") if s in promise]
    return sorted(sides) or ["minus", "plus"]


def measure(parts: list[dict], promise_of) -> dict:
    """Per key: {kind, sides, minus, plus, promised, met, reason}."""
    out = {}
    for key, entry in sorted(merge(parts).items()):
        promise = promise_of(key)
        rec = {"kind": entry["kind"], "sides": _required_sides(entry["kind"], entry["sides"], promise),
               "minus": finest(entry["kind"], entry["minus"]),
               "plus": None if entry["kind"] == "flip" else finest(entry["kind"], entry["plus"]),
               "promised": promise}
        if isinstance(promise, str):
            rec["met"], rec["reason"] = None, promise  # stated reason: not resolved
        else:
            misses = []
            for side in rec["sides"]:
                want = promise[side] if isinstance(promise, dict) else promise
                got = rec[side]
                if entry["kind"] in ("count", "flip"):
                    ok = got is not None
                else:
                    ok = got is not None and got <= want * (1 + EPS)
                if not ok:
                    misses.append(side)
            rec["met"] = not misses
            rec["reason"] = "" if not misses else describe_miss(key, rec, misses)
        out[key] = rec
    return out


def fmt(delta: float | None, kind: str = "relative") -> str:
    if kind == "count":
        return "±1" if delta is not None else "not ±1"
    if kind == "flip":
        return "a flip" if delta is not None else "not a flip"
    if delta is None:
        return "> 10 %"
    return f"{delta * 100:.2g} %"


def describe_miss(key: str, rec: dict, sides: list[str]) -> str:
    promise = rec["promised"]
    parts = []
    for side in sides:
        want = promise[side] if isinstance(promise, dict) else promise
        sign = "−" if side == "minus" else "+"
        parts.append(f"{sign}: {fmt(rec[side], rec['kind'])} (promised {fmt(want, rec['kind'])})")
    return f"'{key}' resolved to " + ", ".join(parts)


def weak_keys(measured: dict) -> list[str]:
    return [r["reason"] for r in measured.values() if r["met"] is False]
