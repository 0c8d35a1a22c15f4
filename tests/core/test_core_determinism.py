"""A claim's record depends only on (claim, profile, seed, device, dtype): not
on --jobs, on which other claims run, on the example store, on whether the
claim is named by its file or its folder, or on the executor (issue 11)."""
import json
from pathlib import Path

from theorycheck.cli import main

ROOT = Path(__file__).resolve().parents[2]
# two shipped claims, one with a batched simulation, kept small
REAL = ["claims/dynamics/gd_min_norm.py", "claims/stability/probabilistic.py"]
SMALL = ["--sweep", "8", "--search", "3", "--device", "cpu"]


def _records(out: Path) -> dict:
    data = json.loads((out / "results.json").read_text())
    return {c["id"]: _strip(c) for c in data["claims"]}


def _strip(x):
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in ("duration_s", "environment")}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def test_records_do_not_depend_on_jobs_company_store_or_naming(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    real = [str(ROOT / p) for p in REAL]
    runs = {
        "together, one job": ["run", *real, "--jobs", "1"],
        "together, two jobs, no store": ["run", *real, "--jobs", "2", "--no-db"],
        "alone, by file": ["run", real[0]],
        "by folder, filtered": ["run", str(ROOT / "claims" / "dynamics"), "--only", "dynamics.gd_min_norm"],
        "alone, in this process": ["run", real[1], "--executor", "inline"],
    }
    got = {}
    for name, argv in runs.items():
        out = tmp_path / name.replace(" ", "_").replace(",", "")
        main([*argv, *SMALL, "--out", str(out)])
        got[name] = _records(out)
    base = got["together, one job"]
    assert set(base) == {"dynamics.gd_min_norm", "stability.probabilistic"}
    for name, records in got.items():
        for cid, rec in records.items():
            assert rec == base[cid], f"{cid} differs when run {name}"
