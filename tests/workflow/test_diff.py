"""theorycheck diff: what changed between two results files, and the exit status for CI."""
import copy
import json

from theorycheck import results
from theorycheck.cli import main
from theorycheck.diff import compare, render_text


def rec(cid, verdict="confirmed", **kw):
    r = {"id": cid, "family": cid.split(".")[0], "title": cid, "verdict": verdict, "reason": f"{verdict} because",
         "expected": "confirmed", "examples": 10, "decided": 10, "counterexample": None, "checks": [],
         "mutants": [], "breaks": [], "resolution": {}, "regimes": {}, "failure_region": None, "source": {},
         "duration_s": 1.0}
    r.update(kw)
    return r


def doc(*claims, **kw):
    return {"schema_version": results.SCHEMA_VERSION, "theorycheck_version": "0", "profile": "quick", "seed": 0,
            "device": "cpu", "dtype": "float64", "environment": {}, "complete": True, "duration_s": 1.0,
            "load_errors": [], "claims": list(claims), **kw}


CE = {"params": {"n": 3}, "seed": 1, "source": "sweep", "status": "fail", "reason": "", "checks": []}


def test_identical_runs_have_no_changes():
    d = compare(doc(rec("a.x")), doc(rec("a.x")))
    assert not d.changes and not d.worse and d.unchanged == 1
    assert render_text(d).endswith("0 worse, 0 better, 0 changed; 1 claim(s) unchanged")


def test_a_claim_that_got_refuted_is_worse():
    old = doc(rec("a.x"), rec("a.y", "refuted", counterexample=CE))
    new = doc(rec("a.x", "refuted", counterexample=CE), rec("a.y"))
    d = compare(old, new)
    kinds = {(c.claim, c.what): c.kind for c in d.changes}
    assert kinds == {("a.x", "verdict"): "worse", ("a.x", "counterexample"): "worse",
                     ("a.y", "verdict"): "better", ("a.y", "counterexample"): "better"}
    assert d.worse
    text = render_text(d)
    assert "a.x: verdict confirmed → refuted" in text and 'a.x: new counterexample {"n": 3}' in text
    assert 'a.y: counterexample {"n": 3} vanished' in text


def test_expected_refutations_count_the_other_way():
    pub = dict(expected="refuted")
    d = compare(doc(rec("p.s", "refuted", counterexample=CE, **pub)), doc(rec("p.s", "confirmed", **pub)))
    assert [c.kind for c in d.changes] == ["worse", "worse"]  # the published statement no longer fails


def test_mutants_breaks_resolution_regimes():
    old = doc(rec("a.x", mutants=[{"name": "m", "verdict": "refuted"}], breaks=[{"name": "b", "verdict": "detected"}],
                  resolution={"v": {"kind": "relative", "minus": 0.001, "plus": 0.001, "met": True}},
                  regimes={"r": {"decided": 9, "covered": True, "quota": 8}}))
    new = copy.deepcopy(old)
    c = new["claims"][0]
    c["mutants"][0]["verdict"] = "survived"
    c["breaks"][0]["verdict"] = "undetected"
    c["resolution"]["v"].update(minus=0.1, met=False)
    c["regimes"]["r"].update(decided=3, covered=False)
    d = compare(old, new)
    assert [(ch.what, ch.kind) for ch in d.changes] == [("mutant", "worse"), ("break", "worse"),
                                                        ("resolution", "worse"), ("regime", "worse")]
    text = render_text(d)
    assert "mutant 'm': refuted → survived" in text and "resolution of 'v': − 0.1 % → 10 %" in text
    assert "regime 'r': 9 → 3 decided draws (not covered, quota 8)" in text
    back = compare(new, old)
    assert {ch.kind for ch in back.changes} == {"better"} and not back.worse


def test_claims_added_removed_load_errors_and_options():
    old = doc(rec("a.x"), rec("a.gone"))
    new = doc(rec("a.x"), rec("a.new"), load_errors=[{"path": "c.py", "error": "boom"}], seed=1)
    d = compare(old, new, "old.json", "new.json")
    assert d.added == ["a.new"] and d.removed == ["a.gone"] and d.worse
    text = render_text(d)
    assert "a.gone: claim removed (was confirmed)" in text and "load error: boom" in text
    assert "the runs differ in seed: 0 → 1" in text and text.startswith("old: old.json")
    assert "claims added: a.new" in text


def test_cli_diff_exit_status_and_json(tmp_path, capsys):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    results.save_atomic(good, doc(rec("a.x")))
    results.save_atomic(bad, doc(rec("a.x", "refuted", counterexample=CE)))
    assert main(["diff", str(good), str(good)]) == 0
    assert main(["diff", str(bad), str(good)]) == 0  # better: fine for CI
    capsys.readouterr()
    assert main(["diff", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "worse (2):" in out and "something got worse" in out
    assert main(["diff", str(good), str(bad), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["worse"] is True and {c["what"] for c in data["changes"]} == {"verdict", "counterexample"}
    assert main(["diff", str(good), str(tmp_path / "missing.json")]) == 1
    assert "no results file" in capsys.readouterr().err
    assert main(["diff", str(good)]) == 2  # argparse: a missing argument
