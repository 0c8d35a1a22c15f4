"""Claims run in this process, one after the other: no isolation, no hard
timeout.  For debugging a claim (a debugger, a profiler) and for measuring
what isolation costs; never the default."""
from __future__ import annotations

import sys
import time
import traceback
from contextlib import contextmanager

from ..claim import ClaimDefinitionError
from ..discovery import load_claim
from ..record import error_record


@contextmanager
def framework_restored():
    """Claim code may replace framework functions (``theorycheck.checks.close =
    ...``) at import or at run time; in one process that would reach every
    later claim and the caller, so the framework's module attributes are put
    back after each claim."""
    saved = {name: dict(vars(mod)) for name, mod in list(sys.modules.items())
             if mod is not None and (name == "theorycheck" or name.startswith("theorycheck."))}
    try:
        yield
    finally:
        for name, attrs in saved.items():
            mod = sys.modules.get(name)
            if mod is None:
                continue
            current = vars(mod)  # new names (submodules imported meanwhile) are left
            for key, value in attrs.items():
                if current.get(key, attrs) is not value:
                    current[key] = value


class InlineExecutor:
    name = "inline"

    def __init__(self, options, jobs: int | None = None):
        self.options = options

    def run(self, tasks, assemble, on_progress=None, on_record=None) -> list[dict]:
        from ..runner import run_claim
        records = []
        for task in tasks:
            t0 = time.monotonic()
            try:
                with framework_restored():  # the verdict (assemble) is decided by the framework as shipped
                    claim = load_claim(task["path"])
                    data = run_claim(claim, self.options, say=lambda text, cid=task["id"]: on_progress and
                                     on_progress(cid, text), replay_params=task.get("replay", ()),
                                     interrupts_are_users=True)
                record = assemble(data)
            except ClaimDefinitionError as exc:
                record = error_record(task["id"], task["title"], task["path"], f"load error: {exc}",
                                      time.monotonic() - t0)
            except Exception:
                tb = traceback.format_exc(limit=8)
                record = error_record(task["id"], task["title"], task["path"], tb.splitlines()[-1],
                                      time.monotonic() - t0, trace=tb)
            records.append(record)
            if on_record:
                on_record(record)
        return records
