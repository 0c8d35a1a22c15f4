"""Running claims from Python (tests, benchmarks, the pytest plugin): the
same path as ``theorycheck run``, without the terminal."""
from __future__ import annotations

from pathlib import Path

from .discovery import LoadFailure, discover_isolated
from .executors import get_executor
from .runner import RunOptions, assemble


def tasks_of(metas: list[dict], replay: dict | None = None) -> list[dict]:
    return [{"path": m["path"], "id": m["id"], "title": m["title"], "expected": m["expected"],
             "replay": (replay or {}).get(m["id"], [])} for m in metas]


def run(paths: list[str | Path], options: RunOptions | None = None, *, executor: str = "local",
        only: str | None = None, on_record=None, on_progress=None, **executor_kw) -> tuple[list[dict],
                                                                                          list[LoadFailure]]:
    """(records in claim-id order, load failures) for the claims under ``paths``."""
    options = options or RunOptions()
    metas, failures = discover_isolated([str(p) for p in paths], only)
    ex = get_executor(executor, options, **executor_kw)
    try:
        records = ex.run(tasks_of(metas), lambda data: assemble(data, options), on_progress, on_record)
    finally:
        close = getattr(ex, "close", None)
        if close:
            close()
    return sorted(records, key=lambda r: r["id"]), failures


def run_file(path: str | Path, options: RunOptions | None = None, executor: str = "local") -> dict:
    """The record of the one claim in ``path`` (a load error is an error record)."""
    records, failures = run([path], options, executor=executor)
    if records:
        return records[0]
    from .record import error_record
    message = failures[0].error if failures else f"no claim in {path}"
    return error_record(Path(path).stem, Path(path).stem, str(path), f"load error: {message}")
