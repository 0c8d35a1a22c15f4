"""The Ray executor writes the same records as the local one (issue 14)."""
import json
import sys

import pytest

from theorycheck.cli import main

SMALL = ["--sweep", "48", "--search", "4", "--device", "cpu", "--jobs", "2", "--no-db"]


def _claims(out):
    data = json.loads((out / "results.json").read_text())
    return data, {c["id"]: _strip(c) for c in data["claims"]}


def _strip(x):
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k != "duration_s"}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def test_missing_ray_is_one_line_saying_how_to_install(fixture_claims, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["run", str(fixture_claims / "good"), "--executor", "ray", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install -e ".[ray]"' in err[0]


def test_ray_and_local_executors_write_the_same_records(fixture_claims, tmp_path):
    pytest.importorskip("ray")
    paths = [str(fixture_claims / "good" / "odd_sum.py"), str(fixture_claims / "false" / "odd_sum_wrong.py"),
             str(fixture_claims / "trust" / "needle.py"), str(fixture_claims / "faults" / "segfault.py")]
    assert main(["run", *paths, *SMALL, "--out", str(tmp_path / "local")]) == 1
    assert main(["run", *paths, *SMALL, "--executor", "ray", "--out", str(tmp_path / "ray")]) == 1
    (_, local), (data, ray) = _claims(tmp_path / "local"), _claims(tmp_path / "ray")
    assert data["executor"] == "ray" and "on Ray" in data["environment"]["device_name"]
    assert ray.keys() == local.keys()
    segfault = ray.pop("fault.segfault")
    local.pop("fault.segfault")
    assert segfault["verdict"] == "error" and "SIGSEGV" in segfault["reason"]
    for cid in local:
        assert ray[cid] == local[cid], cid
