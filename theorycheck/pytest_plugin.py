"""pytest plugin: claim modules become test items.

``pytest claims/`` collects every claim module (a ``.py`` file under a folder
named ``claims`` that defines a Claim) as one item for the claim, one per
mutant and one per assumption break.  Claim modules are imported and run
only in isolated worker processes (as ``theorycheck run`` does), so a claim
that exits, crashes or changes global state cannot break the test session.
A claim is run once per session, however many of its items are selected —
also under pytest-xdist, where its items may land on several workers: the
first worker to need the claim runs it under a file lock and leaves the
record in the session's temporary folder, the others read it there.
Options: ``--tc-profile``, ``--tc-device``, ``--tc-seed``, ``--tc-sweep``,
``--tc-search``.  Disable with ``-p no:theorycheck``.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import pytest

_RECORDS = pytest.StashKey[dict]()
SHARED_FOLDER = "theorycheck-claims"  # beside the xdist workers' own temporary folders


def pytest_addoption(parser):
    group = parser.getgroup("theorycheck", "theorycheck claims")
    group.addoption("--tc-profile", default="quick", help="theorycheck profile: quick | full | gpu")
    group.addoption("--tc-device", default="auto", help="auto | cpu | cuda")
    group.addoption("--tc-seed", type=int, default=0, help="global seed of the claim runs")
    group.addoption("--tc-sweep", type=int, default=None, help="override the profile's sweep draws")
    group.addoption("--tc-search", type=int, default=None, help="override the profile's hypothesis draws")


def pytest_configure(config):
    config.stash[_RECORDS] = {}
    config.addinivalue_line("markers", "claim(id): a theorycheck claim item")


def _is_claim_module(path: Path) -> bool:
    if path.suffix != ".py" or path.name.startswith(("_", "test_", "conftest")):
        return False
    if "claims" not in path.parts[:-1]:
        return False
    try:
        return "Claim(" in path.read_text(encoding="utf-8")
    except OSError:
        return False


def pytest_collect_file(file_path: Path, parent):
    if _is_claim_module(file_path):
        return ClaimModule.from_parent(parent, path=file_path)
    return None


class ClaimModule(pytest.File):
    def collect(self):
        from .executors.local import discover_files
        [(_, (kind, payload))] = discover_files([str(self.path)])
        if kind != "claim":
            yield LoadErrorItem.from_parent(self, name="load", message=payload)
            return
        meta = payload
        yield ClaimItem.from_parent(self, name=meta["id"], meta=meta, part=("claim", None))
        for kind, entries in (("mutant", meta["mutants"]), ("break", meta["breaks"])):
            for e in entries:
                yield ClaimItem.from_parent(self, name=f"{meta['id']}[{kind}: {e['name']}]", meta=meta,
                                            part=(kind, e["name"]))


class LoadErrorItem(pytest.Item):
    def __init__(self, *, message: str, **kw):
        super().__init__(**kw)
        self.message = message

    def runtest(self):
        raise ClaimItemFailure(self.message)

    def repr_failure(self, excinfo, style=None):
        return f"claim definition error: {self.message}"

    def reportinfo(self):
        return self.path, None, f"load {self.path.name}"


class ClaimItemFailure(Exception):
    pass


class ClaimItem(pytest.Item):
    def __init__(self, *, meta, part, **kw):
        super().__init__(**kw)
        self.meta, self.part = meta, part
        self.add_marker(pytest.mark.claim(meta["id"]))

    def _options(self, jobs: int = 1):
        from .runner import RunOptions
        from .sim.context import resolve_device
        opt = self.config.getoption
        return RunOptions(profile=opt("--tc-profile"), seed=opt("--tc-seed"),
                          device=resolve_device(opt("--tc-device")), sweep=opt("--tc-sweep"),
                          search=opt("--tc-search"), failures_path=None, jobs=jobs)

    def _record(self) -> dict:
        records = self.config.stash[_RECORDS]
        cid = self.meta["id"]
        if cid not in records:
            shared = shared_folder(self.config)
            if shared is None:
                # the first claim item runs every selected claim at once, as many at a time as there
                # are CPUs (each in its own worker); the other items read their records
                todo = {it.meta["id"]: it.meta for it in self.session.items
                        if isinstance(it, ClaimItem) and it.meta["id"] not in records}
                for r in run_claim_items(list(todo.values()), self._options(jobs=_cpus())):
                    records[r["id"]] = r
            else:
                records[cid] = once_per_session(shared, self.meta, self._options())
        return records[cid]

    def runtest(self):
        from .results import as_expected
        record = self._record()
        kind, name = self.part
        if kind == "claim":
            if not as_expected(record):
                raise ClaimItemFailure(_explain_claim(record))
            return
        entries = record["mutants"] if kind == "mutant" else record["breaks"]
        wanted = "refuted" if kind == "mutant" else "detected"
        entry = next((e for e in entries if e["name"] == name), None)
        if entry is None:
            raise ClaimItemFailure(f"{kind} {name!r} of {record['id']}: not run ({record['verdict']}: "
                                   f"{record['reason'].splitlines()[0] if record['reason'] else ''})")
        if entry["verdict"] != wanted and record.get("expected", "confirmed") == "confirmed":
            raise ClaimItemFailure(_explain_part(kind, name, record, entry, wanted))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ClaimItemFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, self.name


def _explain_claim(record: dict) -> str:
    from .region import describe
    expected = record.get("expected", "confirmed")
    lines = [f"{record['id']}: {record['verdict']} (expected {expected}) — {record['reason']}"]
    ce = record.get("counterexample")
    if ce:
        lines.append(f"minimal counterexample: {json.dumps(ce['params'], ensure_ascii=False)} (seed {ce['seed']}, "
                     f"found by {ce.get('source')})")
        for chk in ce["checks"]:
            mark = "FAIL" if chk["passed"] is False else "ok  "
            lines.append(f"  {mark} {chk['name']}: theory {chk['theory']} | observed {chk['observed']} | "
                         f"margin {chk['margin']} {chk.get('detail') or ''}")
        if ce.get("repro"):
            lines.append(f"reproduce: {ce['repro']}")
    if record.get("failure_region"):
        lines.append(f"where it fails: {describe(record['failure_region'])}")
    for kind, entries, bad in (("mutant", record.get("mutants") or [], "survived"),
                               ("break", record.get("breaks") or [], "undetected")):
        for e in entries:
            example = e.get("example") if isinstance(e.get("example"), dict) else {}
            if e.get("verdict") == bad and example.get("repro"):
                lines.append(f"{kind} {e['name']!r} {bad}; reproduce: {example['repro']}")
    return "\n".join(lines)


def _explain_part(kind: str, name: str, record: dict, entry: dict, wanted: str) -> str:
    example = entry.get("example") if isinstance(entry.get("example"), dict) else {}
    lines = [f"{kind} {name!r} of {record['id']}: {entry['verdict']} (wanted {wanted})",
             f"  {entry.get('description', '')}", f"  {entry.get('reason', '')}"]
    if example.get("repro"):
        lines.append(f"reproduce: {example['repro']}")
    return "\n".join(lines)


# ---- running a claim once per session ---------------------------------------------------

def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_claim_items(metas: list[dict], options) -> list[dict]:
    """The claims' records, each run in an isolated worker like ``theorycheck run``
    (no second discovery: the items already know their claims)."""
    from .api import tasks_of
    from .executors import get_executor
    from .runner import assemble
    return get_executor("local", options).run(tasks_of(metas), lambda data: assemble(data, options))


def run_claim_item(meta: dict, options) -> dict:
    return run_claim_items([meta], options)[0]


def shared_folder(config) -> Path | None:
    """Under pytest-xdist, a folder all workers of the session share (beside
    their own basetemp folders); None without xdist."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return None
    basetemp = getattr(config.option, "basetemp", None)
    if basetemp:
        folder = Path(basetemp).parent / SHARED_FOLDER
    else:  # xdist always sets basetemp; be safe anyway
        import tempfile
        folder = Path(tempfile.gettempdir()) / f"{SHARED_FOLDER}-{workerinput.get('testrunuid', 'session')}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cache_key(meta: dict, options) -> str:
    what = {"path": str(Path(meta["path"]).resolve()), "id": meta["id"], "profile": options.profile,
            "seed": options.seed, "device": options.device, "dtype": options.dtype, "sweep": options.sweep,
            "search": options.search}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:24]


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a+") as fh:
        try:
            import fcntl
        except ImportError:  # no POSIX locks: each worker runs the claim itself
            yield
            return
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def once_per_session(folder: Path, meta: dict, options) -> dict:
    """The claim's record: run by the first worker that asks (under a lock), read
    from the JSON cache by the others."""
    from .results import save_atomic
    key = cache_key(meta, options)
    cache = folder / f"{key}.json"
    with _locked(folder / f"{key}.lock"):
        if cache.exists():
            try:
                return json.loads(cache.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                pass  # a damaged cache: run the claim again
        record = run_claim_item(meta, options)
        save_atomic(cache, record)
        with open(folder / "runs.log", "a", encoding="utf-8") as log:
            log.write(f"{meta['id']} {os.environ.get('PYTEST_XDIST_WORKER', '?')}\n")
        return json.loads(json.dumps(record))  # the same JSON form the other workers read
