"""Claims run in this process, one after the other: no isolation, no hard
timeout.  For debugging a claim (a debugger, a profiler) and for measuring
what isolation costs; never the default."""
from __future__ import annotations

import time
import traceback

from ..claim import ClaimDefinitionError
from ..discovery import load_claim
from ..record import error_record


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
