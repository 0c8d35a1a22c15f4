"""theorycheck repro: the command in the record re-runs exactly that draw."""
import json
import shlex
from pathlib import Path

import pytest

from theorycheck import AssumptionSpace, Choice, Float, Int, Seed
from theorycheck.cli import main
from theorycheck.repro import BadArguments, check_params, command

REPORT_FIXTURES = Path(__file__).resolve().parents[1] / "report" / "fixture_claims"


def test_command_quotes_and_round_trips():
    params = {"x": 0.1 + 0.2, "label": "<script>alert('x')</script> it's", "n": 3}
    cmd = command("fam.name", params, module="claims/fam/name.py", seed=7, device="cuda", batched=True,
                  mutant="wrong 'sign'")
    argv = shlex.split(cmd)
    assert argv[:4] == ["theorycheck", "repro", "fam.name", "claims/fam/name.py"]
    assert json.loads(argv[argv.index("--params") + 1]) == params  # floats exactly
    assert argv[argv.index("--seed") + 1] == "7" and "--batched" in argv and "--profile" not in argv
    assert argv[argv.index("--mutant") + 1] == "wrong 'sign'"
    assert "--seed" not in command("a.b", {"n": 1})  # defaults are left out


def test_check_params_names_the_parameter():
    space = AssumptionSpace([Int("K", 2, 6), Int("d", "K - 1", 8), Float("eta", 0.1, 1.0), Seed("s"),
                             Choice("loss", ["mse", "ce"])], constraints=["d >= K"])
    ok = check_params(space, {"K": 3, "d": 4.0, "eta": 1, "s": 5, "loss": "ce"})
    assert ok == {"K": 3, "d": 4, "eta": 1.0, "s": 5, "loss": "ce"}
    assert isinstance(ok["d"], int) and isinstance(ok["eta"], float)  # the types the runner draws (seeds match)
    cases = [({"K": 7, "d": 8, "eta": 0.5, "s": 0, "loss": "ce"}, "parameter 'K' = 7 is outside its range [2, 6]"),
             ({"K": 5, "d": 3, "eta": 0.5, "s": 0, "loss": "ce"},
              "parameter 'd' = 3 is outside its range [K - 1, 8] = [4, 8] for these parameters"),
             ({"K": 3, "d": 2, "eta": 0.5, "s": 0, "loss": "ce"}, "constraint 'd >= K' does not hold"),
             ({"K": 3, "d": 4, "eta": 0.5, "s": 0, "loss": "l1"}, "parameter 'loss' = 'l1' is not one of"),
             ({"K": 3, "d": 4, "eta": "x", "s": 0, "loss": "ce"}, "parameter 'eta' = 'x' is not a finite number"),
             ({"K": 3.5, "d": 4, "eta": 0.5, "s": 0, "loss": "ce"}, "parameter 'K' = 3.5 must be an integer"),
             ({"K": 3, "d": 4, "eta": 0.5, "loss": "ce"}, "missing parameter 's'"),
             ({"K": 3, "d": 4, "eta": 0.5, "s": 0, "loss": "ce", "z": 1}, "unknown parameter(s) ['z']"),
             ([1, 2], "must be a JSON object")]
    for params, message in cases:
        with pytest.raises(BadArguments) as info:
            check_params(space, params)
        assert message in str(info.value), (params, str(info.value))


@pytest.fixture(scope="module")
def geometric_record(tmp_path_factory):
    """One run of a confirmed fixture claim with a mutant, a break and a batched-free path."""
    out = tmp_path_factory.mktemp("repro")
    module = REPORT_FIXTURES / "geometric_confirmed.py"
    assert main(["run", str(module), "--out", str(out), "--sweep", "16", "--search", "2", "--no-db",
                 "--device", "cpu", "--seed", "5"]) == 0
    return json.loads((out / "results.json").read_text(encoding="utf-8"))["claims"][0]


def run_printed(cmd: str, capsys) -> tuple[int, str]:
    argv = shlex.split(cmd)
    assert argv[0] == "theorycheck" and "--seed" in argv  # the run's seed 5 is repeated
    code = main(argv[1:])
    return code, capsys.readouterr().out


def test_mutant_and_break_examples_reproduce(geometric_record, capsys):
    mutant = geometric_record["mutants"][0]
    code, out = run_printed(mutant["example"]["repro"], capsys)
    assert code == 1 and "the mutant fails a check here: it is refuted on this draw" in out
    assert f"mutant {mutant['name']}: FAIL" in out and "the claim: PASS" in out
    brk = geometric_record["breaks"][0]
    code, out = run_printed(brk["example"]["repro"], capsys)
    assert code == 1 and "the break is detected" in out and "broken draw the simulation sees" in out
    # the draw alone passes: exit status 0
    params = json.dumps(geometric_record["mutants"][0]["example"]["params"])
    assert main(["repro", "fixture.geometric", str(REPORT_FIXTURES / "geometric_confirmed.py"), "--params", params,
                 "--seed", "5"]) == 0
    assert "every check passes: the draw no longer fails" in capsys.readouterr().out


def test_bad_arguments_exit_2(capsys):
    module = str(REPORT_FIXTURES / "geometric_confirmed.py")
    for argv, message in [
            (["repro", "fixture.nope", module, "--params", "{}"], "no claim 'fixture.nope'"),
            (["repro", "fixture.geometric", module, "--params", '{"r": 3}'], "parameter 'r' = 3.0 is outside"),
            (["repro", "fixture.geometric", module, "--params", "{r: 1"], "--params is not valid JSON"),
            (["repro", "fixture.geometric", module, "--params", '{"r": 0.1}', "--mutant", "nope"],
             "has no mutant 'nope'"),
            (["repro", "fixture.geometric", module, "--params", '{"r": 0.1}', "--break", "nope"],
             "has no break 'nope'"),
            (["repro", "fixture.geometric", "no/such/path", "--params", "{}"], "no such claim path")]:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv
