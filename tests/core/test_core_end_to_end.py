"""End to end: fixture claims through the CLI, the API and the pytest plugin."""
import json

import pytest

from theorycheck.api import run as run_claims
from theorycheck.cli import main
from theorycheck.claim import ClaimDefinitionError
from theorycheck.discovery import discover, load_claim
from theorycheck.runner import RunOptions

SMALL = RunOptions(sweep=32, search=4, failures_path=None)


def test_true_claim_confirmed_with_mutant_refuted_and_break_detected(fixture_claims):
    (record,), _ = run_claims([fixture_claims / "good" / "odd_sum.py"], SMALL)
    assert record["verdict"] == "confirmed", record["reason"]
    assert [m["verdict"] for m in record["mutants"]] == ["refuted"]
    assert [b["verdict"] for b in record["breaks"]] == ["detected"]
    assert record["math"]["mathml"].startswith("<m")
    assert not record["module"].startswith("/")  # relative to the working directory


def test_false_claim_refuted_with_shrunk_counterexample(fixture_claims):
    (record,), _ = run_claims([fixture_claims / "false" / "odd_sum_wrong.py"], SMALL)
    assert record["verdict"] == "refuted"
    ce = record["counterexample"]
    assert ce["params"] == {"n": 8}  # shrunk to the first wrong n
    (chk,) = ce["checks"]
    assert chk["passed"] is False and chk["theory"] == 65.0 and chk["observed"] == 64.0


def test_nan_simulation_is_inconclusive_never_a_pass(fixture_claims):
    (record,), _ = run_claims([fixture_claims / "nan" / "nan_sim.py"], SMALL)
    assert record["verdict"] == "inconclusive"
    assert record["checks"][0]["inconclusive"] > 0 and record["checks"][0]["failures"] == 0


def test_raising_claim_is_an_error_naming_the_cause_and_the_others_still_run(fixture_claims):
    records, failures = run_claims([fixture_claims / "raising", fixture_claims / "good"],
                                   RunOptions(sweep=32, search=4, failures_path=None, jobs=2))
    assert not failures
    verdicts = {r["id"]: r["verdict"] for r in records}
    assert verdicts == {"fixture.raises": "error", "fixture.odd_sum": "confirmed"}
    err = next(r for r in records if r["id"] == "fixture.raises")
    assert err["reason"] == "simulate: RuntimeError: simulation exploded on purpose"
    assert "Traceback" in err["error_trace"]


@pytest.mark.parametrize("module, field", [("bad_constraint.py", "assumptions"), ("no_checks.py", "checks")])
def test_malformed_claim_gives_a_clear_load_error(fixture_claims, module, field):
    path = fixture_claims / "malformed" / module
    with pytest.raises(ClaimDefinitionError) as info:
        load_claim(path)
    assert str(path) in str(info.value) and f"field '{field}'" in str(info.value)
    _, failures = discover([fixture_claims / "malformed"])
    assert len(failures) == 2


def test_cli_exit_status_and_bad_arguments(fixture_claims, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = str(fixture_claims / "good")
    assert main(["run", good, "--out", "ok", "--device", "cpu", "--sweep", "32", "--search", "4"]) == 0
    (tmp_path / "afile").write_text("x")
    for argv in (["run", "no/such/path"], ["run", good, "--profile", "huge"], ["list", "nowhere"],
                 ["show", "fixture.none", good], ["run", good, "--frobnicate"], ["run", good, "--jobs", "0"],
                 ["run", good, "--out", "afile"], ["report", "ok/results.json", "-o", "ok"]):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) <= 3 and "error" in err[-1] and "Traceback" not in "\n".join(err)  # argparse: usage + error
    assert main(["report", "missing.json"]) == 1


def test_device_cuda_without_cuda_is_a_usage_error(fixture_claims, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["run", str(fixture_claims / "good"), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_list_show_and_report(fixture_claims, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = str(fixture_claims / "good")
    assert main(["list", good]) == 0
    assert "fixture.odd_sum" in capsys.readouterr().out
    assert main(["list", str(fixture_claims / "malformed")]) == 1
    assert main(["run", good, "--out", "o", "--device", "cpu", "--sweep", "32", "--search", "4"]) == 0
    out = capsys.readouterr().out
    assert "fixture.odd_sum" in out and "38/38" in out  # draws decided / evaluated (sweep, corners, search)
    assert main(["show", "fixture.odd_sum", good, "--results", "o/results.json"]) == 0
    shown = capsys.readouterr().out
    assert "latest result" in shown and "confirmed" in shown and "resolution sum" in shown
    assert main(["report", "o/results.json", "-o", "again.html"]) == 0
    assert (tmp_path / "again.html").read_text().count("fixture.odd_sum") >= 1


def test_expected_refutation_counts_as_success(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pub").mkdir()
    (tmp_path / "pub" / "stated.py").write_text('''
from theorycheck import AssumptionSpace, Claim, Float, Source, close
claim = Claim(id="published.stated", title="t", statement="value = x (as published)",
              source=Source("p", "a", 2026, "seed 000"), expected="refuted", rescue="fixed.value",
              assumptions=AssumptionSpace([Float("x", 0.0, 1.0)]), derive=lambda p: {"v": p["x"]},
              simulate=lambda params, ctx: {"v": params["x"] ** 2}, checks=[close("v", "v", "v")])
''')
    assert main(["run", "pub", "--out", "o", "--sweep", "16", "--search", "2"]) == 0
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    (c,) = data["claims"]
    assert (c["verdict"] == "refuted" and c["expected"] == "refuted" and c["as_expected"]
            and c["rescue"] == "fixed.value")
    (tmp_path / "pub" / "stated.py").write_text((tmp_path / "pub" / "stated.py").read_text()
                                                .replace('params["x"] ** 2', 'params["x"]'))
    assert main(["run", "pub", "--out", "o2", "--sweep", "16", "--search", "2"]) == 1  # confirmed: a failure


def test_pytest_plugin_collects_claims_mutants_and_breaks(pytester, fixture_claims):
    import shutil
    dest = pytester.path / "claims" / "fixture"
    dest.mkdir(parents=True)
    shutil.copy(fixture_claims / "good" / "odd_sum.py", dest)
    shutil.copy(fixture_claims / "false" / "odd_sum_wrong.py", dest)
    result = pytester.runpytest_subprocess("claims", "--tc-device", "cpu", "--tc-sweep", "32", "--tc-search", "4")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*minimal counterexample: {\"n\": 8}*"])


def test_batched_sweep_agrees_with_single_draws(fixture_claims):
    from theorycheck.evaluate import Draw, Evaluator
    from theorycheck.sim.context import SimContext
    from theorycheck.verdict import INCONCLUSIVE, PASS, Inconclusive

    claim = load_claim(fixture_claims / "good" / "odd_sum.py")
    draws = claim.assumptions.design(40, seed=1)
    batch = Evaluator(claim, SimContext(), 0).run([Draw(p) for p in draws], batched=True).outcomes
    single = Evaluator(claim, SimContext(), 0).run([Draw(p) for p in draws], batched=False).outcomes
    assert [o.status for o in batch] == [o.status for o in single] == [PASS] * 40
    assert [o.observation for o in batch] == [o.observation for o in single]

    def picky(params):  # one undecidable derivation must not sink the batch
        if params["n"] == draws[0]["n"]:
            raise Inconclusive("solver not optimal")
        return {"sum": params["n"] ** 2}

    claim.derive = picky
    statuses = [o.status for o in Evaluator(claim, SimContext(), 0).run([Draw(p) for p in draws]).outcomes]
    assert statuses[0] == INCONCLUSIVE and statuses.count(PASS) == sum(p["n"] != draws[0]["n"] for p in draws)


def test_global_seed_changes_the_draws(fixture_claims):
    from theorycheck.runner import assemble, run_claim
    claim = load_claim(fixture_claims / "good" / "odd_sum.py")
    runs = []
    for s in (0, 0, 1):
        o = RunOptions(seed=s, sweep=16, search=2, failures_path=None)
        runs.append(assemble(run_claim(claim, o), o))
    params = [[d["params"] for d in r["draws"]] for r in runs]
    assert params[0] == params[1] and params[0] != params[2]
