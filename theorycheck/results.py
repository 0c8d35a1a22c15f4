"""The results file: the one source of truth for every number a report shows.

Versioned JSON, written atomically (temp file + rename) after every claim so
an interrupted run loses nothing that finished.  The schema is documented in
the README ("Results file").
"""
from __future__ import annotations

import json
import math
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 1

REQUIRED_TOP = ("schema_version", "theorycheck_version", "profile", "seed", "device", "environment", "claims")
REQUIRED_CLAIM = ("id", "title", "source", "verdict", "examples", "counterexample", "checks", "mutants",
                  "breaks", "duration_s")


class ResultsError(ValueError):
    pass


def to_jsonable(x: Any) -> Any:
    """numpy / torch / sympy values -> plain JSON; NaN -> null, ±inf -> "inf" / "-inf"."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        if math.isnan(f):
            return None
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if hasattr(x, "is_number") and getattr(x, "is_number", False):  # sympy number
        try:
            return to_jsonable(float(x))
        except (TypeError, ValueError):
            return str(x)
    return str(x)


def environment(device: str, device_label: str) -> dict:
    import hypothesis
    import sympy
    import torch

    from . import __version__
    try:
        import cvxpy
        cvxpy_version = cvxpy.__version__
    except Exception:  # cvxpy is a dependency, but a broken install must not lose the run
        cvxpy_version = None
    return {"python": platform.python_version(), "platform": platform.platform(),
            "torch": torch.__version__, "sympy": sympy.__version__, "cvxpy": cvxpy_version,
            "hypothesis": hypothesis.__version__, "numpy": np.__version__,
            "theorycheck": __version__, "device": device, "device_name": device_label}


def save_atomic(path: str | Path, data: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(to_jsonable(data), fh, indent=1, sort_keys=False, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load(path: str | Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"no results file at {path}") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path} is not valid JSON: {exc}") from None
    validate(data, str(path))
    return data


def validate(data: dict, where: str = "results") -> dict:
    """Check the documented schema (top-level and per-claim fields)."""
    if not isinstance(data, dict):
        raise ResultsError(f"{where}: top level must be an object")
    missing = [k for k in REQUIRED_TOP if k not in data]
    if missing:
        raise ResultsError(f"{where}: missing top-level fields {missing}")
    if data["schema_version"] != SCHEMA_VERSION:
        raise ResultsError(f"{where}: schema_version {data['schema_version']} "
                           f"(this theorycheck reads {SCHEMA_VERSION})")
    for i, c in enumerate(data["claims"]):
        missing = [k for k in REQUIRED_CLAIM if k not in c]
        if missing:
            raise ResultsError(f"{where}: claims[{i}] ({c.get('id', '?')}) missing fields {missing}")
        for m in c["mutants"]:
            if set(m) < {"name", "verdict"}:
                raise ResultsError(f"{where}: claims[{i}].mutants entries need name and verdict")
        for b in c["breaks"]:
            if set(b) < {"name", "verdict"}:
                raise ResultsError(f"{where}: claims[{i}].breaks entries need name and verdict")
    return data


def merge(base: dict, update: dict) -> dict:
    """Claims of ``update`` replace those of ``base`` with the same id (a
    partial re-run merged into a full one); other claims are kept."""
    merged = dict(base)
    by_id = {c["id"]: c for c in base["claims"]}
    for c in update["claims"]:
        by_id[c["id"]] = c
    merged["claims"] = sorted(by_id.values(), key=lambda c: c["id"])
    return merged


def build(records: list[dict], *, profile: str, seed: int, device: str, device_label: str,
          dtype: str, paths: list[str], load_errors: list[dict], duration_s: float,
          complete: bool) -> dict:
    """The whole results document of a run (``complete`` is False while claims are still running)."""
    from . import __version__
    return {"schema_version": SCHEMA_VERSION, "theorycheck_version": __version__, "profile": profile,
            "seed": seed, "device": device, "dtype": dtype, "paths": paths,
            "environment": environment(device, device_label), "complete": complete,
            "duration_s": round(duration_s, 3), "load_errors": load_errors,
            "claims": sorted(records, key=lambda c: c["id"])}


def all_good(data: dict) -> bool:
    """Every claim confirmed, every mutant refuted, and no module failed to load."""
    return not data.get("load_errors") and all(
        c["verdict"] == "confirmed" and all(m["verdict"] == "refuted" for m in c["mutants"])
        for c in data["claims"]) and bool(data["claims"])
