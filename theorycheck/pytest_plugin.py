"""pytest plugin: claim modules become test items.

``pytest claims/`` collects every claim module (a ``.py`` file under a folder
named ``claims`` that defines a Claim) as one item for the claim, one per
mutant and one per assumption break.  A claim is run once per session,
however many of its items are selected.  Options: ``--tc-profile``,
``--tc-device``, ``--tc-seed``, ``--tc-examples``.  Disable with ``-p no:theorycheck``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from .claim import ClaimDefinitionError
from .discovery import load_claim

_RECORDS = pytest.StashKey[dict]()


def pytest_addoption(parser):
    group = parser.getgroup("theorycheck", "theorycheck claims")
    group.addoption("--tc-profile", default="quick", help="theorycheck profile: quick | full | gpu")
    group.addoption("--tc-device", default="auto", help="auto | cpu | cuda")
    group.addoption("--tc-seed", type=int, default=0, help="global seed of the claim runs")
    group.addoption("--tc-examples", type=int, default=None, help="override the profile's examples")


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
        try:
            claim = load_claim(self.path)
        except ClaimDefinitionError as exc:
            yield LoadErrorItem.from_parent(self, name="load", message=str(exc))
            return
        yield ClaimItem.from_parent(self, name=claim.id, claim=claim, part=("claim", None))
        for kind, entries in (("mutant", claim.mutants), ("break", claim.breaks)):
            for e in entries:
                yield ClaimItem.from_parent(self, name=f"{claim.id}[{kind}: {e.name}]", claim=claim,
                                            part=(kind, e.name))


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
    def __init__(self, *, claim, part, **kw):
        super().__init__(**kw)
        self.claim, self.part = claim, part
        self.add_marker(pytest.mark.claim(claim.id))

    def _record(self) -> dict:
        from .runner import RunOptions, safe_run_claim
        from .sim.context import resolve_device

        records = self.config.stash[_RECORDS]
        if self.claim.id not in records:
            opt = self.config.getoption
            options = RunOptions(profile=opt("--tc-profile"), seed=opt("--tc-seed"),
                                 device=resolve_device(opt("--tc-device")), examples=opt("--tc-examples"),
                                 database_dir=str(Path(self.config.rootpath) / ".theorycheck" / "hypothesis"))
            records[self.claim.id] = safe_run_claim(self.claim, options)
        return records[self.claim.id]

    def runtest(self):
        record = self._record()
        kind, name = self.part
        if kind == "claim":
            if record["verdict"] != "confirmed":
                raise ClaimItemFailure(_explain_claim(record))
            return
        entries = record["mutants"] if kind == "mutant" else record["breaks"]
        wanted = "refuted" if kind == "mutant" else "detected"
        entry = next(e for e in entries if e["name"] == name)
        if entry["verdict"] != wanted:
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
    lines = [f"{record['id']}: {record['verdict']} — {record['reason']}"]
    ce = record.get("counterexample")
    if ce:
        lines.append(f"minimal counterexample: {json.dumps(ce['params'])} (seed {ce['seed']})")
        for chk in ce["checks"]:
            mark = "FAIL" if chk["passed"] is False else "ok  "
            lines.append(f"  {mark} {chk['name']}: theory {chk['theory']} | observed {chk['observed']} | "
                         f"margin {chk['margin']} {chk.get('detail') or ''}")
    return "\n".join(lines)
