import json
import math

import numpy as np
import pytest
import torch

from theorycheck import results as R


def minimal(claims=()):
    return {"schema_version": R.SCHEMA_VERSION, "theorycheck_version": "0", "profile": "quick", "seed": 0,
            "device": "cpu", "environment": {}, "claims": list(claims)}


def claim(cid, verdict="confirmed"):
    return {"id": cid, "title": "t", "source": {}, "verdict": verdict, "examples": 1, "counterexample": None,
            "checks": [], "mutants": [{"name": "m", "verdict": "refuted"}], "breaks": [], "duration_s": 0.1}


def test_to_jsonable_encodes_non_finite_and_arrays():
    out = R.to_jsonable({"a": math.nan, "b": math.inf, "c": np.arange(3), "d": torch.tensor([1.5]),
                         "e": np.float32(2.0)})
    assert out == {"a": None, "b": "inf", "c": [0, 1, 2], "d": [1.5], "e": 2.0}
    json.dumps(out, allow_nan=False)


def test_atomic_save_and_load_roundtrip(tmp_path):
    p = R.save_atomic(tmp_path / "r" / "results.json", minimal([claim("a.b")]))
    assert R.load(p)["claims"][0]["id"] == "a.b"
    assert [f.name for f in p.parent.iterdir()] == ["results.json"]  # no temp file left


def test_validate_rejects_missing_fields_and_versions(tmp_path):
    bad = minimal([claim("a.b")])
    del bad["claims"][0]["verdict"]
    with pytest.raises(R.ResultsError, match="verdict"):
        R.validate(bad)
    with pytest.raises(R.ResultsError, match="schema_version"):
        R.validate({**minimal(), "schema_version": 99})
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(R.ResultsError, match="not valid JSON"):
        R.load(tmp_path / "x.json")


def test_merge_replaces_claims_by_id():
    merged = R.merge(minimal([claim("a.x"), claim("a.y")]), minimal([claim("a.y", "refuted")]))
    assert [(c["id"], c["verdict"]) for c in merged["claims"]] == [("a.x", "confirmed"), ("a.y", "refuted")]


def test_all_good_needs_confirmed_claims_and_refuted_mutants():
    assert R.all_good(minimal([claim("a.x")]))
    assert not R.all_good(minimal([claim("a.x", "inconclusive")]))
    assert not R.all_good(minimal([]))
