"""The failure region: share of failing sweep draws and a readable rule."""
import re

import numpy as np
import pytest

from theorycheck import region
from theorycheck.region import describe, failure_region, nice_between


def space(*params):
    return {"parameters": [{"name": n, "kind": k} for n, k in params]}


def draws(points, fails, source="sweep"):
    return [{"params": p, "source": source, "status": "fail" if fails(p) else "pass"} for p in points]


def conjunction(rule: str) -> bool:
    """'fails when c < t and r ≥ u' with t near 0.3 and u near 1 (the thresholds follow the draws)."""
    m = re.fullmatch(r"fails when c < ([0-9.]+) and r ≥ ([0-9.]+)", rule)
    return bool(m) and 0.25 <= float(m[1]) <= 0.31 and 0.95 <= float(m[2]) <= 1.05


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_threshold_on_one_parameter(rng):
    pts = [{"x": float(x), "y": float(y)} for x, y in rng.random((256, 2))]
    r = failure_region(draws(pts, lambda p: p["y"] > 0.5), space(("x", "float"), ("y", "float")))
    assert r["rule"] == "fails when y ≥ 0.5" and r["holds"] == "holds when y < 0.5"
    assert r["accuracy"] == 1.0 and r["failing"] == sum(p["y"] > 0.5 for p in pts) and r["draws"] == 256
    assert r["share"] == round(r["failing"] / 256, 4) and r["method"] == "one threshold"


def test_comparison_of_two_integers(rng):
    pts = [{"n": int(n), "d": int(d), "s": int(s)} for n, d, s in
           zip(rng.integers(1, 20, 200), rng.integers(1, 20, 200), rng.integers(0, 99, 200))]
    r = failure_region(draws(pts, lambda p: p["n"] < p["d"]), space(("n", "int"), ("d", "int"), ("s", "seed")))
    assert r["rule"] == "fails when n < d" and r["holds"] == "holds when n ≥ d" and r["accuracy"] == 1.0
    assert not re.search(r"\bs\b", r["rule"] + r["holds"])  # seeds are not assumptions


def test_product_and_conjunction(rng):
    pts = [{"eta": float(e), "a": float(a)} for e, a in rng.random((300, 2)) * [1.0, 5.0] + [0.01, 0.1]]
    r = failure_region(draws(pts, lambda p: p["eta"] * p["a"] >= 2), space(("eta", "float"), ("a", "float")))
    assert r["rule"].startswith("fails when eta·a ≥ ") and r["accuracy"] == 1.0
    pts = [{"c": float(c), "r": float(x)} for c, x in rng.random((256, 2)) * [1.0, 2.0]]
    r = failure_region(draws(pts, lambda p: p["c"] < 0.3 and p["r"] > 1), space(("c", "float"), ("r", "float")))
    assert conjunction(r["rule"]) and r["accuracy"] >= 0.98
    assert "scikit-learn" in r["method"]


def test_choice_parameter(rng):
    pts = [{"x": float(x), "loss": ["mse", "logistic"][i % 2]} for i, x in enumerate(rng.random(100))]
    r = failure_region(draws(pts, lambda p: p["loss"] == "logistic"), space(("x", "float"), ("loss", "choice")))
    assert r["rule"] in ("fails when loss = logistic", "fails when loss ≠ mse") and r["accuracy"] == 1.0


def test_without_scikit_learn_a_greedy_tree(rng, monkeypatch):
    monkeypatch.setattr(region, "_grow_sklearn", lambda *a, **k: None)
    pts = [{"c": float(c), "r": float(x)} for c, x in rng.random((256, 2)) * [1.0, 2.0]]
    r = failure_region(draws(pts, lambda p: p["c"] < 0.3 and p["r"] > 1), space(("c", "float"), ("r", "float")))
    assert r["accuracy"] >= 0.98 and "greedy" in r["method"]
    assert conjunction(r["rule"])


def test_no_failing_sweep_draw_all_failing_and_no_sweep():
    pts = [{"x": i / 10} for i in range(10)]
    ok = failure_region(draws(pts, lambda p: False) + draws([{"x": 0.05}], lambda p: True, "search"),
                        space(("x", "float")))
    assert ok["failing"] == 0 and ok["rule"] is None and "smaller than about 1/10" in ok["note"]
    every = failure_region(draws(pts, lambda p: True), space(("x", "float")))
    assert every["rule"] == "fails everywhere" and every["share"] == 1.0
    assert failure_region(draws(pts, lambda p: True, "search"), space(("x", "float"))) is None
    # inconclusive and error draws are not evidence either way
    assert failure_region([{"params": {"x": 1}, "source": "sweep", "status": "inconclusive"}], {}) is None


def test_scattered_failures_say_so(rng):
    pts = [{"x": float(x)} for x in rng.random(200)]
    flip = rng.random(200) < 0.2
    r = failure_region([{"params": p, "source": "sweep", "status": "fail" if f else "pass"}
                        for p, f in zip(pts, flip)], space(("x", "float")))
    assert r["failing"] == int(flip.sum())
    assert r["rule"] is None or r["accuracy"] - r["baseline"] < 0.1  # no real rule: no better than the majority
    assert describe(r).startswith(f"{r['failing']} of 200 sweep draws fail")


def test_nice_threshold():
    assert nice_between(0.4812, 0.5213) == 0.5
    assert nice_between(1.9, 2.05) == 2.0
    assert nice_between(-0.1, 0.2) == 0.0
    assert 0.123 < nice_between(0.123, 0.1231) <= 0.1231


def test_describe():
    r = {"source": "sweep", "draws": 32, "failing": 8, "share": 0.25, "rule": "fails when n < d",
         "holds": "holds when n ≥ d", "accuracy": 1.0, "baseline": 0.75, "method": "one threshold", "note": ""}
    assert describe(r) == ("8 of 32 sweep draws fail (25%); fails when n < d — accuracy 100% on those draws "
                           "(majority guess: 75%); holds when n ≥ d")
    assert describe(None) == ""
