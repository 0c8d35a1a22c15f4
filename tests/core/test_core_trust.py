"""The trust standard (issue 10): a confirmation must mean the search could
have found a failure.  Fixture claims in tests/fixtures/claim_modules/trust."""
import pytest

from theorycheck.discovery import load_claim
from theorycheck.runner import RunOptions, assemble, run_claim

SEEDS = range(20)


@pytest.fixture
def trust(fixture_claims):
    def run(name, seed=0, **kw):
        claim = load_claim(fixture_claims / "trust" / f"{name}.py")
        options = RunOptions(seed=seed, failures_path=None, **kw)
        return assemble(run_claim(claim, options), options)
    return run


def test_needle_of_two_percent_is_refuted_on_nineteen_of_twenty_seeds(trust):
    verdicts = [trust("needle", seed)["verdict"] for seed in SEEDS]
    assert verdicts.count("refuted") >= 19, verdicts


def test_needle_counterexample_is_shrunk_and_says_who_found_it(trust):
    ce = trust("needle")["counterexample"]
    assert ce["params"]["n"] == 7 and 0.4 < ce["params"]["x"] < 0.6
    assert len(repr(ce["params"]["x"])) <= 5 and ce["params"]["y"] == 1e-3  # round values, lower bound
    assert ce["source"] in ("sweep", "search")
    (chk,) = ce["checks"]
    assert chk["passed"] is False and abs(chk["observed"] - chk["theory"] - 0.1) < 1e-9


def test_nan_on_forty_percent_is_never_confirmed(trust):
    records = [trust("nan_share", seed) for seed in SEEDS]
    assert all(r["verdict"] == "inconclusive" for r in records)
    r = records[0]
    assert "NaN in a compared value (value)" in r["reason"] and r["inconclusive_reasons"]
    assert r["draws_by_source"]["sweep"]["inconclusive"] > 80


def test_theorem_false_on_half_its_space_is_refuted(trust):
    assert all(trust("half_false", seed)["verdict"] == "refuted" for seed in range(5))


def test_decides_on_hundreds_of_draws_from_every_source(trust):
    r = trust("tight_constant")
    assert r["verdict"] == "confirmed", r["reason"]
    assert r["draws_by_source"]["sweep"]["passed"] == 256 and r["draws_by_source"]["search"]["passed"] >= 2
    assert r["decided"] >= 256 and "256 passed" not in r["reason"]  # the search adds to the sweep


def test_resolution_is_measured_on_both_sides_and_meets_the_promise(trust):
    r = trust("tight_constant")
    res = r["resolution"]["value"]
    assert res["minus"] == res["plus"] == 0.003 and res["promised"] == 0.01 and res["met"] is True
    assert r["resolution_promised"] == 0.01


def test_a_constant_three_percent_off_is_caught_by_the_resolution_promise(trust):
    r = trust("loose_constant")
    assert r["verdict"] == "inconclusive" and "weak" in r["reason"] and "resolution" in r["reason"]
    assert r["resolution"]["value"]["met"] is False


def test_break_detected_only_by_the_check_it_names(trust):
    r = trust("wrong_reason_break")
    (b,) = r["breaks"]
    assert b["verdict"] == "undetected" and b["expect"] == ["value"] and "size" in b["reason"]
    assert r["verdict"] == "inconclusive" and "break 'shifted' undetected" in r["reason"]


def test_break_keeps_the_theorem_prediction(tmp_path):
    (tmp_path / "brk.py").write_text('''
from theorycheck import AssumptionSpace, Break, Claim, Float, Source, close

def derive(params):
    assert "decay" not in params, "derive saw the broken draw"
    return {"value": params["x"]}

claim = Claim(id="fixture.brk", title="t", statement="s", source=Source("p", "a", 2026, "seed 000"),
              assumptions=AssumptionSpace([Float("x", 0.1, 1.0)]), derive=derive,
              simulate=lambda params, ctx: {"value": params["x"] * (1 - params.get("decay", 0.0))},
              checks=[close("value", "value", "value", rtol=1e-9)],
              breaks=[Break("decay", lambda p: {**p, "decay": 0.5}, expect=["value"])])
''')
    claim = load_claim(tmp_path / "brk.py")
    options = RunOptions(sweep=16, search=2, failures_path=None)
    r = assemble(run_claim(claim, options), options)
    assert r["verdict"] == "confirmed", r["reason"]
    assert r["breaks"][0]["verdict"] == "detected" and r["breaks"][0]["detected_by"] == ["value"]


def test_regime_no_draw_reaches_leaves_the_claim_inconclusive(trust):
    r = trust("unreachable_regime")
    assert r["verdict"] == "inconclusive" and "never" in r["reason"]
    assert r["regimes"]["small"]["covered"] and r["regimes"]["small"]["decided"] >= 8
    assert not r["regimes"]["never"]["covered"] and r["regimes"]["never"]["drawn"] == 0


def test_regime_short_in_the_sweep_gets_targeted_draws(tmp_path):
    (tmp_path / "rare.py").write_text('''
from theorycheck import AssumptionSpace, Claim, Float, Source, close
claim = Claim(id="fixture.rare", title="t", statement="s", source=Source("p", "a", 2026, "seed 000"),
              assumptions=AssumptionSpace([Float("x", 0.0, 1.0)]), derive=lambda p: {"v": p["x"]},
              simulate=lambda params, ctx: {"v": params["x"]}, checks=[close("v", "v", "v")],
              regimes={"corner": "x > 0.999"})
''')
    claim = load_claim(tmp_path / "rare.py")
    options = RunOptions(sweep=64, search=0, failures_path=None)
    r = assemble(run_claim(claim, options), options)
    assert r["regimes"]["corner"]["covered"], r["regimes"]
    assert r["draws_by_source"]["regime"]["passed"] >= 8 and r["verdict"] == "confirmed"


def test_mutant_refuted_only_without_the_simulation_survives(trust):
    r = trust("pred_only_mutant")
    (m,) = r["mutants"]
    assert m["verdict"] == "survived" and "do not read the simulation" in m["reason"]
