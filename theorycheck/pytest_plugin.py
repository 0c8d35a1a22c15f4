"""pytest plugin: claim modules become test items.

``pytest claims/`` collects every claim module (a ``.py`` file under a folder
named ``claims`` that defines a Claim) as one item for the claim, one per
mutant and one per assumption break.  Claim modules are imported and run
only in isolated worker processes (as ``theorycheck run`` does), so a claim
that exits, crashes or changes global state cannot break the test session.
A claim is run once per session, however many of its items are selected.
Options: ``--tc-profile``, ``--tc-device``, ``--tc-seed``, ``--tc-sweep``,
``--tc-search``.  Disable with ``-p no:theorycheck``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

_RECORDS = pytest.StashKey[dict]()


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

    def _record(self) -> dict:
        from .api import run_file
        from .runner import RunOptions
        from .sim.context import resolve_device

        records = self.config.stash[_RECORDS]
        cid = self.meta["id"]
        if cid not in records:
            opt = self.config.getoption
            options = RunOptions(profile=opt("--tc-profile"), seed=opt("--tc-seed"),
                                 device=resolve_device(opt("--tc-device")), sweep=opt("--tc-sweep"),
                                 search=opt("--tc-search"), failures_path=None)
            records[cid] = run_file(self.meta["path"], options)
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
            raise ClaimItemFailure(
                f"{kind} {name!r} of {record['id']}: {entry['verdict']} (wanted {wanted})\n"
                f"  {entry.get('description', '')}\n  {entry.get('reason', '')}")

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ClaimItemFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, self.name


def _explain_claim(record: dict) -> str:
    expected = record.get("expected", "confirmed")
    lines = [f"{record['id']}: {record['verdict']} (expected {expected}) — {record['reason']}"]
    ce = record.get("counterexample")
    if ce:
        lines.append(f"minimal counterexample: {json.dumps(ce['params'])} (seed {ce['seed']}, "
                     f"found by {ce.get('source')})")
        for chk in ce["checks"]:
            mark = "FAIL" if chk["passed"] is False else "ok  "
            lines.append(f"  {mark} {chk['name']}: theory {chk['theory']} | observed {chk['observed']} | "
                         f"margin {chk['margin']} {chk.get('detail') or ''}")
    return "\n".join(lines)
