"""Claims and chunks of draws on a Ray cluster (``--executor ray``).

Work units: a claim is one Ray task; inside it, the claim's sweep (and its
regime draws) go out again as Ray tasks, one per chunk of draws.  Only the
claim's module path, the run options and the draws' parameters travel; what
comes back is plain data (the same compact records the local executor
passes between processes), so a Ray run writes the same records as a local
one.

Isolation is kept on every node: a claim task or a chunk task does not run
claim code in the (shared, long-lived) Ray worker process, but forks a fresh
worker from a server on that node, exactly as the local executor does.  The
claim's worker asks its Ray task for chunk results over a pipe; the Ray task
submits the chunk tasks and hands the results back in order.

Faults: a Ray worker or node that dies makes the task retry once
(``max_retries=1``), then the claim is an error naming the cause; a claim
that crashes its own forked worker is an error at once (a crash of claim
code is deterministic, retrying would not help).  Past the hard timeout a
claim task is cancelled and the claim is inconclusive.  Ctrl-C cancels the
outstanding tasks, keeps the finished records, and shuts down a Ray this
executor started.
"""
from __future__ import annotations

import os
import time
from dataclasses import replace

from ..record import error_record
from ..verdict import INCONCLUSIVE

INSTALL = 'the ray executor needs Ray: pip install -e ".[ray]"'


def check_available() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise RuntimeError(INSTALL) from None


# ---- inside a Ray task: an isolated worker forked on this node -----------------------------

def _bridged_claim_worker(path, options, replay, conn, main_pid):
    """The claim's own worker: chunk evaluations are requested from the Ray task above it."""
    from . import local, work
    local._worker_setup(main_pid, options.seed)

    def chunk_runner(chunks, batched):
        conn.send(("chunks", chunks, batched))
        for _ in chunks:
            kind, payload = conn.recv()
            yield payload

    def say(text):
        conn.send(("progress", text))
    conn.send(work.run_one(path, options, replay, say, chunk_runner=chunk_runner))
    conn.close()


def _chunk_worker(path, options, chunk, batched, conn, main_pid):
    from ..discovery import load_claim
    from ..evaluate import Evaluator
    from ..runner import context_of
    from . import local
    local._worker_setup(main_pid, options.seed)
    try:
        claim = load_claim(path)
        batch = Evaluator(claim, context_of(options, claim), options.seed).run(chunk, batched=batched).compact()
        conn.send(("chunk", batch))
    except Exception as exc:  # the claim loaded for its own task; failing now is a fault of the node
        conn.send(("crash", f"{type(exc).__name__}: {exc}"))
    conn.close()


def _forked(target, args):
    """Run ``target(*args, conn, pid)`` in a worker forked on this node; yield its messages."""
    from . import local
    ctx = local.context()
    parent, child = ctx.Pipe(duplex=True)
    proc = ctx.Process(target=target, args=(*args, child, os.getpid()), daemon=True)
    local.start(proc)
    child.close()
    return proc, parent


def _claim_task(path, options, replay):
    """Ray task: one claim, isolated in a forked worker, its chunks sent out as Ray tasks."""
    import ray

    from . import local
    proc, conn = _forked(_bridged_claim_worker, (path, options, replay))
    chunk_remote = ray.remote(max_retries=1)(_chunk_task)
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                proc.join(timeout=2)
                return ("died", local.exit_cause(proc.exitcode))
            kind = msg[0]
            if kind == "progress":
                continue
            if kind == "chunks":
                _, chunks, batched = msg
                resources = _resources(options)
                refs = [chunk_remote.options(**resources).remote(path, options, c, batched) for c in chunks]
                for ref in refs:  # in order: the claim's record does not depend on which chunk ends first
                    try:
                        got, payload = ray.get(ref)
                    except Exception as exc:  # lost twice (node or worker gone)
                        for r in refs:
                            ray.cancel(r, force=True)
                        return ("died", f"a chunk task failed after a retry: {_first_line(exc)}")
                    if got != "chunk":  # the claim code crashed the chunk's worker: no retry helps
                        return ("died", payload)
                    conn.send(("chunk", payload))
                continue
            return msg
    finally:
        local._stop(proc)


def _chunk_task(path, options, chunk, batched):
    """Ray task: ("chunk", compact batch) or ("crash", what stopped the chunk's worker)."""
    from . import local
    proc, conn = _forked(_chunk_worker, (path, options, chunk, batched))
    try:
        return conn.recv()
    except (EOFError, OSError):
        proc.join(timeout=2)
        return ("crash", f"{local.exit_cause(proc.exitcode)} (in a chunk of {len(chunk)} draws)")
    finally:
        local._stop(proc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _resources(options) -> dict:
    return {"num_gpus": 1} if str(options.device).startswith("cuda") else {}


# ---- the driver ------------------------------------------------------------------------------

class RayExecutor:
    name = "ray"

    def __init__(self, options, address: str | None = None, jobs: int | None = None):
        check_available()
        import ray
        self.options = options
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.started = False
        if not ray.is_initialized():
            kw = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
            if self.address:
                ray.init(address=self.address, **kw)
            else:  # a local Ray sized to this machine, shut down at the end
                ray.init(num_cpus=jobs or options.jobs or os.cpu_count(), **kw)
                self.started = True
        self._claim = ray.remote(max_retries=1)(_claim_task)
        if options.device == "auto":  # decided from the cluster: no CUDA call in this process
            gpus = ray.cluster_resources().get("GPU", 0)
            self.options = replace(options, device="cuda" if gpus else "cpu")

    @property
    def device_label(self) -> str:
        import ray
        gpus = int(ray.cluster_resources().get("GPU", 0))
        cpus = int(ray.cluster_resources().get("CPU", 0))
        return f"{self.options.device} on Ray ({cpus} CPUs, {gpus} GPUs)"

    def run(self, tasks, assemble, on_progress=None, on_record=None) -> list[dict]:
        import ray
        progress = on_progress or (lambda cid, text: None)
        done = on_record or (lambda r: None)
        hard = self.options.hard_timeout_s
        resources = _resources(self.options)
        pending = {}
        for task in tasks:
            ref = self._claim.options(**resources).remote(task["path"], self.options, task.get("replay", ()))
            pending[ref] = (task, time.monotonic())
            progress(task["id"], "sent to Ray")
        records = []
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    task, t0 = pending.pop(ref)
                    record = self._record(ref, task, time.monotonic() - t0, assemble)
                    records.append(record)
                    done(record)
                for ref, (task, t0) in list(pending.items()):
                    if time.monotonic() - t0 > hard:
                        ray.cancel(ref, force=True, recursive=True)
                        pending.pop(ref)
                        record = error_record(task["id"], task["title"], task["path"],
                                              f"hard timeout after {hard:.0f} s (on Ray)", time.monotonic() - t0,
                                              verdict=INCONCLUSIVE, expected=task.get("expected", "confirmed"))
                        records.append(record)
                        done(record)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True, recursive=True)
            raise
        return records

    def _record(self, ref, task, elapsed, assemble) -> dict:
        import ray
        expected = task.get("expected", "confirmed")
        try:
            kind, payload = ray.get(ref)
        except Exception as exc:  # the task failed twice (worker or node lost), or Ray itself failed
            return error_record(task["id"], task["title"], task["path"],
                                f"Ray task failed after a retry: {_first_line(exc)}", elapsed, expected=expected)
        if kind == "done":
            return assemble(payload)
        if kind == "load_error":
            return error_record(task["id"], task["title"], task["path"], f"load error: {payload}", elapsed,
                                expected=expected)
        if kind == "died":
            return error_record(task["id"], task["title"], task["path"], payload, elapsed, expected=expected)
        return error_record(task["id"], task["title"], task["path"], str(payload).splitlines()[-1], elapsed,
                            trace=str(payload), expected=expected)

    def close(self) -> None:
        if self.started:
            import ray
            ray.shutdown()
            self.started = False
