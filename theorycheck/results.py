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

SCHEMA_VERSION = 2

REQUIRED_TOP = ("schema_version", "theorycheck_version", "profile", "seed", "device", "environment", "claims")
REQUIRED_CLAIM = ("id", "title", "source", "verdict", "examples", "counterexample", "checks", "mutants",
                  "breaks", "duration_s")
VERDICTS = ("confirmed", "refuted", "inconclusive", "error")
MAX_BYTES = 512 * 2**20


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, text: str) -> Path:
    """Write a file whole or not at all (temp file + rename), with the
    permissions the user's umask gives a new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 whatever the umask
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_atomic(path: str | Path, data: dict) -> Path:
    return write_atomic(path, json.dumps(to_jsonable(data), indent=1, sort_keys=False, allow_nan=False) + "\n")


_CONSTANTS = {"NaN": None, "Infinity": "inf", "-Infinity": "-inf"}


def load(path: str | Path) -> dict:
    """A results file, checked; every way it can be malformed is one
    :class:`ResultsError` with a one-line message."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ResultsError(f"{path} is a directory, not a results file (try {path / 'results.json'})")
        if path.stat().st_size > MAX_BYTES:
            raise ResultsError(f"{path} is larger than {MAX_BYTES >> 20} MiB: not a results file")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ResultsError(f"no results file at {path}") from None
    except OSError as exc:
        raise ResultsError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ResultsError(f"{path} is not a results file (not UTF-8 text)") from None
    try:
        data = json.loads(text, parse_constant=lambda c: _CONSTANTS[c])
    except json.JSONDecodeError as exc:
        what = "is empty" if not text.strip() else f"is not valid JSON ({exc.msg} at line {exc.lineno}, " \
                                                   f"column {exc.colno}; truncated?)"
        raise ResultsError(f"{path} {what}") from None
    except RecursionError:
        raise ResultsError(f"{path} is not a results file (nested too deeply)") from None
    validate(data, str(path))
    return data


def _expect(cond: bool, where: str, message: str) -> None:
    if not cond:
        raise ResultsError(f"{where}: {message}")


def _number_or_null(v) -> bool:
    return v is None or v in ("inf", "-inf") or (isinstance(v, (int, float)) and not isinstance(v, bool))


def validate(data, where: str = "results") -> dict:
    """Check the documented schema: the fields every reader relies on, and their types."""
    _expect(isinstance(data, dict), where, "top level must be a JSON object (is this a results file?)")
    missing = [k for k in REQUIRED_TOP if k not in data]
    _expect(not missing, where, f"missing top-level fields {missing} (is this a results file?)")
    _expect(data["schema_version"] == SCHEMA_VERSION, where,
            f"schema_version {data['schema_version']!r} (this theorycheck reads {SCHEMA_VERSION}; "
            "re-run the claims to write a current file)")
    _expect(isinstance(data["claims"], list), where, "'claims' must be a list")
    _expect(isinstance(data.get("environment"), dict), where, "'environment' must be an object")
    _expect(_number_or_null(data.get("duration_s")), where, "'duration_s' must be a number")
    _expect(isinstance(data.get("load_errors", []), list), where, "'load_errors' must be a list")
    for i, c in enumerate(data["claims"]):
        at = f"{where}: claims[{i}]"
        _expect(isinstance(c, dict), at, "must be an object")
        missing = [k for k in REQUIRED_CLAIM if k not in c]
        _expect(not missing, at, f"({c.get('id', '?')}) missing fields {missing}")
        _expect(isinstance(c["id"], str), at, "'id' must be a string")
        _expect(c["verdict"] in VERDICTS, at, f"verdict {c['verdict']!r} is not one of {', '.join(VERDICTS)}")
        _expect(_number_or_null(c["duration_s"]), at, "'duration_s' must be a number")
        _expect(isinstance(c["examples"], int), at, "'examples' must be an integer")
        for field in ("checks", "mutants", "breaks"):
            _expect(isinstance(c[field], list) and all(isinstance(e, dict) for e in c[field]), at,
                    f"'{field}' must be a list of objects")
        for field in ("mutants", "breaks"):
            _expect(all({"name", "verdict"} <= set(e) for e in c[field]), at,
                    f"'{field}' entries need name and verdict")
        _expect(c["counterexample"] is None or isinstance(c["counterexample"], dict), at,
                "'counterexample' must be an object or null")
        _expect(isinstance(c["source"], dict), at, "'source' must be an object")
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
          complete: bool, executor: str = "local", jobs: int = 1) -> dict:
    """The whole results document of a run (``complete`` is False while claims are still running)."""
    from . import __version__
    return {"schema_version": SCHEMA_VERSION, "theorycheck_version": __version__, "profile": profile,
            "seed": seed, "device": device, "dtype": dtype, "paths": paths, "executor": executor, "jobs": jobs,
            "environment": environment(device, device_label), "complete": complete,
            "duration_s": round(duration_s, 3), "load_errors": load_errors,
            "claims": sorted(records, key=lambda c: c["id"])}


def as_expected(claim: dict) -> bool:
    """Confirmed (every mutant refuted, every break detected: the verdict says
    so), or refuted with a counterexample when the claim expects the published
    statement to fail as stated."""
    if claim.get("expected", "confirmed") == "refuted":
        return claim["verdict"] == "refuted" and bool(claim.get("counterexample"))
    return claim["verdict"] == "confirmed"


def all_good(data: dict) -> bool:
    """The run completed, no module failed to load, and every claim came out as expected."""
    return (data.get("complete", True) and not data.get("load_errors") and bool(data["claims"])
            and all(as_expected(c) for c in data["claims"]))
