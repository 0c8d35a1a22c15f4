"""End to end: fixture claims through the runner and the CLI."""
import json

import pytest

from theorycheck.cli import main
from theorycheck.claim import ClaimDefinitionError
from theorycheck.discovery import discover, load_claim
from theorycheck.runner import run_claim, run_claims


def test_true_claim_confirmed_with_mutant_refuted_and_break_detected(fixture_claims, quick_options):
    record = run_claim(load_claim(fixture_claims / "good" / "odd_sum.py"), quick_options)
    assert record["verdict"] == "confirmed", record["reason"]
    assert [m["verdict"] for m in record["mutants"]] == ["refuted"]
    assert [b["verdict"] for b in record["breaks"]] == ["detected"]
    assert record["math"]["mathml"].startswith("<m")


def test_false_claim_refuted_with_shrunk_counterexample(fixture_claims, quick_options):
    record = run_claim(load_claim(fixture_claims / "false" / "odd_sum_wrong.py"), quick_options)
    assert record["verdict"] == "refuted"
    ce = record["counterexample"]
    assert ce["params"] == {"n": 8}  # hypothesis shrank to the first wrong n
    (chk,) = ce["checks"]
    assert chk["passed"] is False and chk["theory"] == 65.0 and chk["observed"] == 64.0


def test_nan_simulation_is_inconclusive_never_a_pass(fixture_claims, quick_options):
    record = run_claim(load_claim(fixture_claims / "nan" / "nan_sim.py"), quick_options)
    assert record["verdict"] == "inconclusive"
    assert record["checks"][0]["passed"] is False and record["checks"][0]["inconclusive"] > 0


def test_raising_claim_is_an_error_and_the_others_still_run(fixture_claims, quick_options):
    claims, failures = discover([fixture_claims / "raising", fixture_claims / "good"])
    assert not failures
    records = run_claims(claims, quick_options)
    verdicts = {r["id"]: r["verdict"] for r in records}
    assert verdicts == {"fixture.raises": "error", "fixture.odd_sum": "confirmed"}
    err = next(r for r in records if r["id"] == "fixture.raises")
    assert "simulation exploded on purpose" in err["reason"]


@pytest.mark.parametrize("module, field", [("bad_constraint.py", "assumptions"), ("no_checks.py", "checks")])
def test_malformed_claim_gives_a_clear_load_error(fixture_claims, module, field):
    path = fixture_claims / "malformed" / module
    with pytest.raises(ClaimDefinitionError) as info:
        load_claim(path)
    assert str(path) in str(info.value) and f"field '{field}'" in str(info.value)
    _, failures = discover([fixture_claims / "malformed"])
    assert len(failures) == 2


def _strip_timings(x):
    if isinstance(x, dict):
        return {k: _strip_timings(v) for k, v in x.items() if k != "duration_s"}
    if isinstance(x, list):
        return [_strip_timings(v) for v in x]
    return x


def test_same_seed_gives_identical_results_files(fixture_claims, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = [str(fixture_claims / "good"), str(fixture_claims / "false")]
    outs = []
    for i in range(2):
        code = main(["run", *paths, "--seed", "7", "--device", "cpu", "--out", f"run{i}"])
        assert code == 1  # the false claim is refuted
        outs.append(json.loads((tmp_path / f"run{i}" / "results.json").read_text()))
    # identical up to wall-clock durations, also though run 1 found run 0's failure in the database
    assert _strip_timings(outs[0]) == _strip_timings(outs[1])
    assert (tmp_path / "run0" / "index.html").exists()
    assert (tmp_path / ".theorycheck" / "hypothesis").is_dir()


def test_cli_exit_status_and_bad_arguments(fixture_claims, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = str(fixture_claims / "good")
    assert main(["run", good, "--out", "ok", "--device", "cpu"]) == 0
    for argv in (["run", "no/such/path"], ["run", good, "--profile", "huge"], ["list", "nowhere"],
                 ["show", "fixture.none", good], ["report", "missing.json"], ["run", good, "--frobnicate"]):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) <= 2 and "error" in err[-1]


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
    assert main(["run", good, "--out", "o", "--device", "cpu"]) == 0
    assert main(["show", "fixture.odd_sum", good, "--results", "o/results.json"]) == 0
    shown = capsys.readouterr().out
    assert "latest result" in shown and "confirmed" in shown
    assert main(["report", "o/results.json", "-o", "again.html"]) == 0
    assert (tmp_path / "again.html").read_text().count("fixture.odd_sum") >= 1


def test_parallel_workers_give_the_same_verdicts(fixture_claims, quick_options):
    from dataclasses import replace
    claims, _ = discover([fixture_claims / "good", fixture_claims / "raising"])
    records = run_claims(claims, replace(quick_options, jobs=2))
    assert {r["id"]: r["verdict"] for r in records} == {"fixture.odd_sum": "confirmed", "fixture.raises": "error"}


def test_pytest_plugin_collects_claims_mutants_and_breaks(pytester, fixture_claims):
    import shutil
    dest = pytester.path / "claims" / "fixture"
    dest.mkdir(parents=True)
    shutil.copy(fixture_claims / "good" / "odd_sum.py", dest)
    shutil.copy(fixture_claims / "false" / "odd_sum_wrong.py", dest)
    result = pytester.runpytest_subprocess("claims", "--tc-device", "cpu")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*minimal counterexample: {\"n\": 8}*"])


def test_batched_sweep_agrees_with_single_draws(fixture_claims):
    from theorycheck.evaluate import Evaluator
    from theorycheck.sim.context import SimContext
    from theorycheck.verdict import INCONCLUSIVE, Inconclusive, PASS

    claim = load_claim(fixture_claims / "good" / "odd_sum.py")
    draws = claim.assumptions.sample(40, seed=1)
    batch = Evaluator(claim, SimContext(), 0).evaluate_batch(draws)
    single = [Evaluator(claim, SimContext(), 0).evaluate(p) for p in draws]
    assert [o.status for o in batch] == [o.status for o in single] == [PASS] * 40
    assert [o.observation for o in batch] == [o.observation for o in single]

    def picky(params):  # one undecidable derivation must not sink the batch
        if params["n"] == draws[0]["n"]:
            raise Inconclusive("solver not optimal")
        return {"sum": params["n"] ** 2}

    claim.derive = picky
    statuses = [o.status for o in Evaluator(claim, SimContext(), 0).evaluate_batch(draws)]
    assert statuses[0] == INCONCLUSIVE and statuses.count(PASS) == sum(p["n"] != draws[0]["n"] for p in draws)


def test_global_seed_changes_the_draws(fixture_claims, tmp_path):
    from theorycheck.runner import RunOptions
    claim = load_claim(fixture_claims / "good" / "odd_sum.py")
    runs = [run_claim(claim, RunOptions(seed=s, device="cpu", database_dir=None)) for s in (0, 0, 1)]
    params = [[d["params"] for d in r["draws"]] for r in runs]
    assert params[0] == params[1] and params[0] != params[2]
