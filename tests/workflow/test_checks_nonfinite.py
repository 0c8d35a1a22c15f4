"""One rule for NaN and ±inf in every check (theorycheck/checks.py's module
docstring): NaN or ±inf among the compared values makes the comparison
undecidable (passed is None: never a pass, never a failure), except for the
checks whose subject is growth: ``diverges`` passes when the trajectory
reaches ±inf before any NaN, ``converges`` fails when it ends at ±inf."""
import math

import numpy as np
import pytest

import theorycheck
from theorycheck import checks

NAN, INF = math.nan, math.inf


def run(check, prediction, observation):
    return check(prediction, observation, {}, None)


# (name, check, prediction, observation) with a non-finite value put in by ``bad``
def value_checks(bad):
    return [
        ("close: theory", checks.close("c", "v", "v"), {"v": bad}, {"v": 1.0}),
        ("close: observed", checks.close("c", "v", "v"), {"v": 1.0}, {"v": bad}),
        ("close: array", checks.close("c", "v", "v"), {"v": [1.0, 2.0]}, {"v": np.array([1.0, bad])}),
        ("at_most: observed", checks.at_most("c", "o", "b"), {"b": 1.0}, {"o": bad}),
        ("at_most: bound", checks.at_most("c", "o", "b"), {"b": bad}, {"o": 1.0}),
        ("at_least: observed", checks.at_least("c", "o", "b"), {"b": 1.0}, {"o": bad}),
        ("at_least: bound", checks.at_least("c", "o", "b"), {"b": bad}, {"o": 1.0}),
        ("within_se: estimate", checks.within_se("c", "e", "s", "t"), {"t": 1.0}, {"e": bad, "s": 0.1}),
        ("within_se: error", checks.within_se("c", "e", "s", "t"), {"t": 1.0}, {"e": 1.0, "s": bad}),
        ("within_se: theory", checks.within_se("c", "e", "s", "t"), {"t": bad}, {"e": 1.0, "s": 0.1}),
        ("mean_within: sample", checks.mean_within("c", "x", "t"), {"t": 0.5},
         {"x": np.r_[np.full(15, 0.5), bad]}),
        ("mean_within: theory", checks.mean_within("c", "x", "t"), {"t": bad}, {"x": np.full(16, 0.5)}),
        ("holds", checks.holds("c", "ok"), {}, {"ok": bad}),
        ("conserved: drift", checks.conserved("c", "h", "d", "p"), {"p": 1.0},
         {"h": [0.1, 0.05, 0.025], "d": [1e-2, bad, 2.5e-3]}),
        ("conserved: step", checks.conserved("c", "h", "d", "p"), {"p": 1.0},
         {"h": [0.1, bad, 0.025], "d": [1e-2, 5e-3, 2.5e-3]}),
        ("conserved: order", checks.conserved("c", "h", "d", "p"), {"p": bad},
         {"h": [0.1, 0.05, 0.025], "d": [1e-2, 5e-3, 2.5e-3]}),
        ("conserved_at_least: drift", checks.conserved_at_least("c", "h", "d", "p"), {"p": 1.0},
         {"h": [0.1, 0.05, 0.025], "d": [1e-2, bad, 2.5e-3]}),
    ]


@pytest.mark.parametrize("bad", [NAN, INF, -INF], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("index", range(len(value_checks(NAN))), ids=[c[0] for c in value_checks(NAN)])
def test_nonfinite_compared_value_is_undecidable(bad, index):
    name, check, prediction, observation = value_checks(bad)[index]
    ev = run(check, prediction, observation)
    assert ev.passed is None, f"{name} with {bad}: passed={ev.passed} ({ev.detail})"
    assert ev.detail  # says why


def test_the_same_checks_decide_finite_values():
    """The rows above are decidable once the value is finite (so None above comes from the value)."""
    for name, check, prediction, observation in value_checks(1.0):
        assert run(check, prediction, observation).passed is not None, name


@pytest.mark.parametrize("bad", [INF, -INF], ids=["inf", "-inf"])
def test_diverges_passes_on_overflow_and_converges_fails(bad):
    assert run(checks.diverges("c", "x"), {}, {"x": [1.0, 10.0, bad]}).passed is True
    assert run(checks.converges("c", "x"), {}, {"x": [1.0, 10.0, bad]}).passed is False


def test_nan_in_a_trajectory_is_undecidable():
    assert run(checks.converges("c", "x"), {}, {"x": [1.0, 0.5, NAN]}).passed is None
    assert run(checks.diverges("c", "x"), {}, {"x": [1.0, 10.0, NAN]}).passed is None  # NaN before the growth
    # an overflow reached before the NaN is divergence
    assert run(checks.diverges("c", "x"), {}, {"x": [1.0, INF, NAN]}).passed is True
    # a trajectory that starts non-finite decides nothing
    for start in (NAN, INF):
        assert run(checks.converges("c", "x"), {}, {"x": [start, 1.0]}).passed is None
        assert run(checks.diverges("c", "x"), {}, {"x": [start, 1.0]}).passed is None


def test_every_public_check_is_covered_and_documented():
    """The checks the shipped claims use are exported, and each documents the rule
    (its own docstring, or the module's, which every check refers to)."""
    public = {"close", "at_most", "at_least", "holds", "within_se", "conserved", "conserved_at_least",
              "converges", "diverges", "mean_within"}
    assert public <= set(theorycheck.__all__)
    covered = {name.split(":")[0] for name, *_ in value_checks(NAN)} | {"converges", "diverges"}
    assert public <= covered
    doc = checks.__doc__
    assert "NaN" in doc and "inf" in doc and "diverges" in doc and "converges" in doc
