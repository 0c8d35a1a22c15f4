"""Claim code cannot hurt the run (issue 11): every fault of
tests/fixtures/claim_modules/faults becomes that claim's verdict, every other
claim keeps its own, and the user sees one line, never a traceback."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from theorycheck.cli import main

FAULTS_ARGS = ["--sweep", "8", "--search", "0", "--budget", "2", "--timeout", "6", "--jobs", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory, request):
    """One run over every fault fixture (exit, crash, hang, leaks, hostile writes, probes)."""
    from _pytest.capture import CaptureFixture  # noqa: F401  (capsys is function-scoped: capture by hand)
    folder = Path(request.config.rootpath) / "tests" / "fixtures" / "claim_modules" / "faults"
    out = tmp_path_factory.mktemp("faults")
    cwd = os.getcwd()
    proc = subprocess.run([sys.executable, "-m", "theorycheck.cli", "run", str(folder), "--out", str(out),
                           *FAULTS_ARGS], capture_output=True, text=True, cwd=cwd, timeout=600)
    data = json.loads((out / "results.json").read_text())
    return proc, data, {c["id"]: c for c in data["claims"]}


def test_the_run_finishes_non_zero_without_a_traceback(fault_run):
    proc, data, _ = fault_run
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert data["complete"] is True


@pytest.mark.parametrize("claim_id, verdict, words", [
    ("fault.exit_in_simulate", "error", "sys.exit(0)"),
    ("fault.exit3_in_simulate", "error", "sys.exit(3)"),
    ("fault.os_exit_in_simulate", "error", "exited with code 0"),
    ("fault.segfault", "error", "SIGSEGV"),
    ("fault.keyboard_interrupt", "error", "KeyboardInterrupt"),
    ("fault.hang", "inconclusive", "hard timeout"),
    ("fault.busy_loop", "inconclusive", "hard timeout"),
])
def test_each_fault_is_that_claims_verdict_naming_the_cause(fault_run, claim_id, verdict, words):
    _, _, claims = fault_run
    assert claims[claim_id]["verdict"] == verdict and words in claims[claim_id]["reason"]


def test_exit_at_import_is_a_load_error_naming_the_file(fault_run):
    proc, data, claims = fault_run
    (err,) = data["load_errors"]
    assert err["path"].endswith("exit_at_import.py") and "sys.exit(0)" in err["error"]
    assert "exit_at_import.py" in proc.stderr


def test_other_claims_keep_their_verdicts(fault_run):
    _, _, claims = fault_run
    assert claims["fault.probe_state"]["verdict"] == "confirmed", claims["fault.probe_state"]["reason"]
    assert claims["fault.leaks_state"]["verdict"] == "confirmed"  # its own patches reach only its worker
    assert claims["fault.probe_false"]["verdict"] == "refuted"


def test_a_simulation_writing_into_the_prediction_cannot_confirm_a_false_theorem(fault_run):
    _, _, claims = fault_run
    c = claims["fault.writes_prediction"]
    assert c["verdict"] == "refuted" and c["counterexample"]["checks"][0]["theory"] == pytest.approx(0.3)


def test_leaks_are_undone_even_without_isolation(fixture_claims):
    """The inline executor (no worker) still puts back what claim code changes."""
    import torch
    from theorycheck.api import run
    from theorycheck.runner import RunOptions
    before = (torch.get_default_dtype(), torch.is_grad_enabled(), os.getcwd())
    records, _ = run([fixture_claims / "faults" / "leaks_state.py", fixture_claims / "faults" / "probe_state.py"],
                     RunOptions(sweep=8, search=0, failures_path=None), executor="inline")
    assert {r["id"]: r["verdict"] for r in records} == {"fault.leaks_state": "confirmed",
                                                         "fault.probe_state": "confirmed"}
    assert (torch.get_default_dtype(), torch.is_grad_enabled(), os.getcwd()) == before


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _alive(pids) -> set[int]:
    out = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(p)
    return out


FIRST = """
from theorycheck import AssumptionSpace, Claim, Float, Source, close
claim = Claim(id="aaa.first", title="runs first", statement="v = x", source=Source("p", "a", 2026, "seed 000"),
              assumptions=AssumptionSpace([Float("x", 0.0, 1.0)]), derive=lambda p: {"v": p["x"]},
              simulate=lambda params, ctx: {"v": params["x"]}, checks=[close("v", "v", "v")])
"""


def _start_hanging_run(tmp_path, fixture_claims):
    """A run whose first claim finishes (results.json is written) and whose second hangs."""
    (tmp_path / "first.py").write_text(FIRST)
    proc = subprocess.Popen([sys.executable, "-m", "theorycheck.cli", "run", str(tmp_path / "first.py"),
                             str(fixture_claims / "faults" / "hang.py"),
                             "--out", str(tmp_path / "out"), "--sweep", "8", "--search", "0", "--jobs", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            # a terminal's Ctrl-C reaches a foreground run; an ignored SIGINT inherited from
                            # this test process (a library imported earlier may set it) would not
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until the hanging claim's worker runs
        if (tmp_path / "out" / "results.json").exists():
            time.sleep(2)
            return proc, _descendants(proc.pid)
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    proc.kill()
    pytest.fail("the run never reached its second claim: " + proc.communicate()[1][-2000:])


@pytest.mark.skipif(not Path("/proc").exists(), reason="needs /proc")
def test_ctrl_c_stops_cleanly_keeps_results_and_leaves_no_workers(tmp_path, fixture_claims):
    proc, kids = _start_hanging_run(tmp_path, fixture_claims)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the whole group
    try:  # generous: a loaded 2-core CI machine importing from a fresh venv is slow to wind down
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        left = {p: Path(f"/proc/{p}/cmdline").read_bytes()[:200] for p in _alive(kids | {proc.pid})
                if Path(f"/proc/{p}/cmdline").exists()}
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"the interrupted run did not exit in 180 s; still alive: {left}")
    assert proc.returncode == 130
    assert "Traceback" not in err + out and "interrupted" in err
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["complete"] is False and [c["id"] for c in data["claims"]] == ["aaa.first"]
    time.sleep(2)
    assert not _alive(kids)


@pytest.mark.skipif(not Path("/proc").exists(), reason="needs /proc")
def test_killing_the_run_leaves_no_orphaned_workers(tmp_path, fixture_claims):
    proc, kids = _start_hanging_run(tmp_path, fixture_claims)
    assert kids
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while _alive(kids) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _alive(kids)


def _results(tmp_path, claims):
    from theorycheck import results as R
    data = {"schema_version": R.SCHEMA_VERSION, "theorycheck_version": "0", "profile": "quick", "seed": 0,
            "device": "cpu", "environment": {}, "duration_s": 1.0, "claims": claims}
    return data


@pytest.mark.parametrize("content, words", [
    (b'{"schema_version": 2, "claims": [', "not valid JSON"),
    (bytes(range(256)) * 4, "not UTF-8"),
    (b'{"schema_version": 2, "theorycheck_version": "0", "profile": "quick", "seed": 0, "device": "cpu", '
     b'"environment": {}, "claims": "many"}', "'claims' must be a list"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    (b"", "is empty"),
    (b'{"schema_version": 1, "theorycheck_version": "0", "profile": "quick", "seed": 0, "device": "cpu", '
     b'"environment": {}, "claims": []}', "schema_version 1"),
])
def test_malformed_results_files_get_one_line(tmp_path, capsys, content, words):
    path = tmp_path / "results.json"
    path.write_bytes(content)
    for argv in (["report", str(path)], ["show", "fixture.odd_sum", str(tmp_path), "--results", str(path)]):
        code = main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert code in (1, 2) and len(err) == 1 and "Traceback" not in err[0], (argv, err)
        if argv[0] == "report":
            assert words in err[0]


def test_extreme_values_render_and_nan_duration_loads(tmp_path):
    from theorycheck import results as R
    claim = {"id": "x.y", "title": "t", "source": {}, "verdict": "confirmed", "examples": 1,
             "counterexample": None, "checks": [], "mutants": [], "breaks": [], "duration_s": None,
             "plots": [{"title": "p", "xlog": True, "ylog": True, "over": "example", "series": [
                 {"label": "s", "role": "simulation", "style": "line", "x": [1.0, 1.2e308, "inf"],
                  "y": [1e-308, "-inf", None]}]}]}
    path = tmp_path / "results.json"
    text = json.dumps(_results(tmp_path, [claim])).replace('"duration_s": 1.0', '"duration_s": NaN')
    path.write_text(text)
    assert main(["report", str(path)]) == 0
    assert "x.y" in (tmp_path / "index.html").read_text()
    assert R.load(path)["duration_s"] is None


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_files_follow_the_umask(tmp_path, fixture_claims, mask, mode, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = os.umask(mask)
    try:
        main(["run", str(fixture_claims / "good"), "--out", "o", "--sweep", "8", "--search", "0", "--no-db"])
    finally:
        os.umask(old)
    assert (tmp_path / "o" / "results.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "o" / "index.html").stat().st_mode & 0o777 == mode


def test_out_that_cannot_be_written_is_refused_before_any_claim_runs(tmp_path, fixture_claims, capsys):
    (tmp_path / "file").write_text("")
    for out in (tmp_path / "file", Path("/proc/no/such/folder")):
        assert main(["run", str(fixture_claims / "good"), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "--out" in err and "Traceback" not in err


def test_inline_puts_back_replaced_framework_functions(fixture_claims):
    """leaks_state replaces theorycheck.checks.close at import; after an inline
    run the framework (and every later test in this process) has the original."""
    from theorycheck import checks
    from theorycheck.api import run
    from theorycheck.runner import RunOptions
    original = checks.close
    run([fixture_claims / "faults" / "leaks_state.py"], RunOptions(sweep=8, search=0, failures_path=None),
        executor="inline")
    assert checks.close is original
    assert checks.close("c", "v", "v")({"v": float("nan")}, {"v": 1.0}, {}, None).passed is None


WARNS = """
import warnings
import numpy as np
from theorycheck import AssumptionSpace, Claim, Float, Source, close

def simulate(params, ctx):
    np.float64(1e308) * 10  # overflow: a RuntimeWarning on every draw
    warnings.warn("solver note")
    return {"v": params["x"]}

claim = Claim(id="aaa.warns", title="warns", statement="v = x", source=Source("p", "a", 2026, "seed 000"),
              assumptions=AssumptionSpace([Float("x", 0.0, 1.0)]), derive=lambda p: {"v": p["x"]},
              simulate=simulate, checks=[close("v", "v", "v")])
"""


def test_claim_warnings_are_counted_into_the_record_not_printed(tmp_path, capfd):
    from theorycheck.api import run
    from theorycheck.runner import RunOptions
    (tmp_path / "warns.py").write_text(WARNS)
    records, _ = run([tmp_path / "warns.py"], RunOptions(sweep=8, search=0, failures_path=None))
    (r,) = records
    assert r["verdict"] == "confirmed"
    texts = {w["warning"].split(": ", 1)[1]: w["count"] for w in r["warnings"]}
    assert texts["RuntimeWarning: overflow encountered in scalar multiply"] >= 1
    assert texts["UserWarning: solver note"] >= 1
    assert "overflow" not in capfd.readouterr().err
