"""Counterexamples kept between runs (``.theorycheck/failures.json``):
``run`` adds every minimal counterexample it finds, ``fuzz`` tries the
stored ones of each claim first.  ``run`` never reads the store, so its
records do not depend on it."""
from __future__ import annotations

import json
from pathlib import Path

from .results import write_atomic

KEEP = 20  # per claim, newest last


def load(path: str | None) -> dict:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a missing or damaged store only means nothing to replay
    return {k: [p for p in v if isinstance(p, dict)] for k, v in data.items() if isinstance(v, list)} \
        if isinstance(data, dict) else {}


def add(path: str, claim_id: str, params: dict) -> None:
    data = load(path)
    kept = [p for p in data.get(claim_id, []) if p != params] + [params]
    data[claim_id] = kept[-KEEP:]
    try:
        write_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass  # the store is a convenience; the run's results do not depend on it
