"""The default executor: every claim in its own worker process.

Workers are forked from a server that has already imported torch, sympy,
cvxpy and the framework (multiprocessing's ``forkserver`` with a preload),
so a worker starts in milliseconds with a clean state.  ``jobs`` only says
how many run at once.  A worker that exits, is killed by a signal or runs
past the hard timeout becomes that claim's error (or inconclusive, for a
timeout); the run goes on.  Workers ignore Ctrl-C (the parent stops them)
and die with the parent (PR_SET_PDEATHSIG and a watchdog), so a killed run
leaves no orphans.
"""
from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import threading
import time
from multiprocessing import spawn
from multiprocessing.connection import wait

from ..record import error_record
from ..verdict import ERROR, INCONCLUSIVE
from . import work

_CONTEXT = None


# Workers run numerical libraries on one thread: results must not depend on --jobs, and claims
# running side by side must not oversubscribe the cores (OpenBLAS alone cost 10× CPU here).
ONE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}


def context():
    """The forkserver context, preloading the heavy imports once (in a
    server started with one-thread numerical libraries)."""
    global _CONTEXT
    if _CONTEXT is None:
        from multiprocessing import forkserver
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["theorycheck._preload"])
        saved = {k: os.environ.get(k) for k in ONE_THREAD}
        os.environ.update(ONE_THREAD)  # read by the libraries when the server imports them
        try:
            forkserver.ensure_running()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        _CONTEXT = ctx
    return _CONTEXT


@contextlib.contextmanager
def _without_main():
    """Workers run framework functions only: they need not (and must not)
    import the user's ``__main__`` script again, as spawned processes do."""
    original = spawn.get_preparation_data

    def prepare(name):
        data = original(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data
    spawn.get_preparation_data = prepare
    try:
        yield
    finally:
        spawn.get_preparation_data = original


def start(proc) -> None:
    with _without_main():
        proc.start()


def _die_with(main_pid: int) -> None:
    try:  # Linux: SIGKILL when the parent (the fork server) goes away
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass

    def watch():
        while True:
            time.sleep(1.0)
            try:
                os.kill(main_pid, 0)
            except OSError:
                os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _worker_setup(main_pid: int, seed: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's; claim code raising it is an error
    _die_with(main_pid)
    work.prepare_process(seed)


def _claim_worker(path, options, replay_params, conn, main_pid):
    _worker_setup(main_pid, options.seed)

    def say(text):
        try:
            conn.send(("progress", text))
        except Exception:
            pass
    conn.send(work.run_one(path, options, replay_params, say))
    conn.close()


def _discovery_worker(paths, conn, main_pid):
    _worker_setup(main_pid, 0)
    for p in paths:
        conn.send(("loading", p))
        conn.send(work.describe_file(p))
    conn.send(("end", None))
    conn.close()


def exit_cause(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the worker was killed by {name}" + (" (the claim code crashed)" if name in
                                                        ("SIGSEGV", "SIGBUS", "SIGABRT", "SIGFPE", "SIGILL") else "")
    return f"the worker exited with code {code} before finishing (os._exit or a crash in claim code)"


def _stop(proc) -> None:
    if proc.is_alive():
        proc.kill()
    proc.join(timeout=5)


def discover_files(paths: list[str]) -> list[tuple[str, tuple]]:
    """(path, ("claim", meta) | ("load_error", message)) per file, each module
    imported in a worker; a module that kills the worker is that file's load error."""
    ctx = context()
    out: list[tuple[str, tuple]] = []
    todo = list(paths)
    while todo:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_discovery_worker, args=(todo, child, os.getpid()), daemon=True)
        start(proc)
        child.close()
        current = None
        try:
            while True:
                try:
                    kind, payload = parent.recv()
                except EOFError:
                    break
                if kind == "loading":
                    current = payload
                elif kind == "end":
                    current = None
                    break
                else:
                    out.append((current, (kind, payload)))
                    todo.remove(current)
                    current = None
        finally:
            _stop(proc)
        if current is not None:  # importing it killed the worker
            out.append((current, ("load_error", f"{current}: field 'module': importing it stopped the process "
                                  f"({exit_cause(proc.exitcode)})")))
            todo.remove(current)
        elif todo and proc.exitcode not in (0, None):
            for p in todo:
                out.append((p, ("load_error", f"{p}: field 'module': {exit_cause(proc.exitcode)}")))
            todo = []
        elif todo and current is None and not out:
            break
    return out


class LocalExecutor:
    name = "local"

    def __init__(self, options, jobs: int | None = None):
        self.options = options
        self.jobs = max(1, jobs or options.jobs)

    def run(self, tasks, assemble, on_progress=None, on_record=None) -> list[dict]:
        """Run claims (``tasks``: dicts with path, id, title, expected, replay);
        ``assemble(data)`` turns a worker's data into the record."""
        ctx = context()
        progress = on_progress or (lambda cid, text: None)
        done = on_record or (lambda r: None)
        hard = self.options.hard_timeout_s
        pending = list(tasks)
        running: dict = {}
        records = []

        def finish(task, record):
            records.append(record)
            done(record)

        try:
            while pending or running:
                while pending and len(running) < self.jobs:
                    task = pending.pop(0)
                    parent, child = ctx.Pipe(duplex=False)
                    proc = ctx.Process(target=_claim_worker, daemon=True,
                                       args=(task["path"], self.options, task.get("replay", ()), child, os.getpid()))
                    start(proc)
                    child.close()
                    running[task["id"]] = {"task": task, "proc": proc, "conn": parent, "t0": time.monotonic(),
                                           "stage": "starting"}
                    progress(task["id"], "started")
                ready = wait([r["conn"] for r in running.values()] + [r["proc"].sentinel for r in running.values()],
                             timeout=0.5)
                for cid, r in list(running.items()):
                    record = self._poll(r, ready, hard, progress)
                    if record is not None:
                        _stop(r["proc"])
                        r["conn"].close()
                        del running[cid]
                        finish(r["task"], record if isinstance(record, dict) and "verdict" in record
                               else assemble(record))
        except BaseException:
            for r in running.values():
                _stop(r["proc"])
            # a worker whose start an interrupt cut short is in no table: stop every child we started,
            # so that the interpreter's exit (which joins its children) cannot wait on one
            for proc in mp.active_children():
                _stop(proc)
            raise
        return records

    def _poll(self, r, ready, hard, progress):
        task, proc, conn = r["task"], r["proc"], r["conn"]
        elapsed = time.monotonic() - r["t0"]
        expected = task.get("expected", "confirmed")
        closed = False
        try:
            while conn.poll():
                kind, payload = conn.recv()
                if kind == "progress":
                    r["stage"] = payload
                    progress(task["id"], payload)
                elif kind == "done":
                    return payload
                elif kind == "load_error":
                    return error_record(task["id"], task["title"], task["path"], f"load error: {payload}",
                                        elapsed, expected=expected)
                else:  # a failure inside theorycheck itself
                    return error_record(task["id"], task["title"], task["path"], payload.splitlines()[-1],
                                        elapsed, trace=payload, expected=expected)
        except (EOFError, OSError):
            closed = True  # the worker is gone without a result
        if closed or not proc.is_alive():
            proc.join(timeout=2)
            return error_record(task["id"], task["title"], task["path"],
                                f"{exit_cause(proc.exitcode)} (during: {r['stage']})", elapsed, expected=expected)
        if elapsed > hard:
            return error_record(task["id"], task["title"], task["path"],
                                f"hard timeout after {hard:.0f} s (during: {r['stage']})", elapsed,
                                verdict=INCONCLUSIVE, expected=expected)
        return None


__all__ = ["LocalExecutor", "discover_files", "context", "exit_cause", "ERROR"]
