import math

import numpy as np
import pytest
import torch

from theorycheck import checks as C
from theorycheck.sim.context import SimContext

CTX = SimContext()


def run(check, pred, obs, params=None):
    return check(pred, obs, params or {}, CTX)


def test_close_passes_fails_and_refuses_nan():
    c = C.close("c", "v", "v", rtol=1e-3, atol=0)
    assert run(c, {"v": 1.0}, {"v": 1.0005}).passed is True
    ev = run(c, {"v": 1.0}, {"v": 1.01})
    assert ev.passed is False and ev.margin < 0
    assert run(c, {"v": 1.0}, {"v": float("nan")}).passed is None
    assert run(c, {"v": [1.0, 2.0]}, {"v": torch.tensor([1.0, 2.0])}).passed is True


def test_close_tolerance_depends_on_dtype():
    c = C.close("c", "v", "v", rtol={"float64": 1e-12, "float32": 1e-5}, atol=0)
    assert c({"v": 1.0}, {"v": 1.0 + 1e-7}, {}, SimContext(dtype=torch.float64)).passed is False
    assert c({"v": 1.0}, {"v": 1.0 + 1e-7}, {}, SimContext(dtype=torch.float32)).passed is True


def test_bounds_with_margin():
    assert run(C.at_most("m", "x", "b"), {"b": 1.0}, {"x": 0.9}).passed is True
    assert run(C.at_most("m", "x", "b"), {"b": 1.0}, {"x": 1.1}).passed is False
    assert run(C.at_most("m", "x", "b", margin=0.2), {"b": 1.0}, {"x": 1.1}).passed is True
    assert run(C.at_least("m", "x", "b"), {"b": 1.0}, {"x": 0.9}).passed is False
    # the one non-finite rule: an overflow in a compared value is undecidable, never a pass
    assert run(C.at_most("m", "x", "b"), {"b": 1.0}, {"x": math.inf}).passed is None
    assert run(C.at_least("m", "x", "b"), {"b": 1.0}, {"x": math.nan}).passed is None


def test_conserved_compares_slope_with_order():
    h = np.array([0.1, 0.05, 0.025, 0.0125])
    c = C.conserved("q", "h", "drift", "order", slope_tol=0.3)
    assert run(c, {"order": 1}, {"h": h, "drift": 3 * h}).passed is True
    assert run(c, {"order": 4}, {"h": h, "drift": 3 * h**4}).passed is True
    assert run(c, {"order": 4}, {"h": h, "drift": 3 * h}).passed is False
    # a quantity that is not conserved: its drift does not shrink with the step
    assert run(c, {"order": 1}, {"h": h, "drift": np.full(4, 0.7)}).passed is False
    assert run(c, {"order": 1}, {"h": h, "drift": np.full(4, 1e-15)}).passed is True
    assert run(c, {"order": 1}, {"h": h, "drift": np.array([1.0, np.nan, 1, 1])}).passed is None
    # faster than the order: fails the two-sided check, passes the one-sided one
    assert run(c, {"order": 1}, {"h": h, "drift": 3 * h**2}).passed is False
    assert run(C.conserved_at_least("q", "h", "drift", "order"), {"order": 1}, {"h": h, "drift": 3 * h**2}).passed
    assert run(C.conserved_at_least("q", "h", "drift", "order"), {"order": 1},
               {"h": h, "drift": np.full(4, .7)}).passed is False
    # too few drifts above the floor: round-off if tiny, else undecidable
    assert run(c, {"order": 1}, {"h": h, "drift": np.array([1e-11, 0, 0, 0])}).passed is True
    assert run(c, {"order": 1}, {"h": h, "drift": np.array([1e-3, 0, 0, 0])}).passed is None


def test_descriptions_name_callable_getters():
    def rebuilt_objective(pred, obs, params):
        return 1.0
    assert "rebuilt_objective" in C.close("c", "v", rebuilt_objective).description


def test_converges_and_diverges():
    decay = 0.5 ** np.arange(60)
    grow = 2.0 ** np.arange(60)
    assert run(C.converges("c", "t"), {}, {"t": decay}).passed is True
    assert run(C.converges("c", "t"), {}, {"t": grow}).passed is False
    assert run(C.diverges("d", "t"), {}, {"t": grow}).passed is True
    assert run(C.diverges("d", "t"), {}, {"t": decay}).passed is False
    assert run(C.diverges("d", "t"), {}, {"t": [1.0, math.inf]}).passed is True
    assert run(C.converges("c", "t"), {}, {"t": [1.0, math.inf]}).passed is False
    assert run(C.converges("c", "t"), {}, {"t": [1.0, math.nan]}).passed is None


def test_diverges_reads_an_overflow_before_a_nan():
    assert run(C.diverges("d", "t"), {}, {"t": [1.0, 1e3, math.inf, math.nan]}).passed is True
    assert run(C.diverges("d", "t"), {}, {"t": [1.0, 2.0, math.nan]}).passed is None


def test_within_se_handles_zero_variance_exactly():
    c = C.within_se("z", "m", "se", "t", z=3)
    assert run(c, {"t": 1.0}, {"m": 1.02, "se": 0.01}).passed is True
    assert run(c, {"t": 1.0}, {"m": 1.05, "se": 0.01}).passed is False
    assert run(c, {"t": 1.0}, {"m": 1.0, "se": 0.0}).passed is True
    ev = run(c, {"t": 1.0}, {"m": 1.0 + 1e-6, "se": 0.0})
    assert ev.passed is False and math.isfinite(ev.margin)  # no division by a zero standard error
    assert run(c, {"t": 1.0}, {"m": math.nan, "se": 0.1}).passed is None


def test_used_is_the_share_of_the_tolerance():
    ev = run(C.close("c", "v", "v", rtol=0.1, atol=0), {"v": 1.0}, {"v": 1.05})
    assert ev.used == pytest.approx(0.5)
    assert run(C.at_most("m", "x", "b", rtol=0.1), {"b": 1.0}, {"x": 1.05}).used == pytest.approx(0.5)


def test_mean_within_uses_a_confidence_interval():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 0.5, size=400)
    assert run(C.mean_within("m", "x", "mu"), {"mu": 1.0}, {"x": x}).passed is True
    assert run(C.mean_within("m", "x", "mu"), {"mu": 1.3}, {"x": x}).passed is False
    assert run(C.mean_within("m", "x", "mu"), {"mu": 1.0}, {"x": x[:3]}).passed is None
    assert run(C.mean_within("m", "x", "mu"), {"mu": 1.0}, {"x": np.append(x, np.nan)}).passed is None
    assert run(C.mean_within("m", "x", "mu"), {"mu": 2.0}, {"x": np.full(20, 2.0)}).passed is True


def test_missing_key_is_an_error_not_a_pass():
    with pytest.raises(KeyError):
        run(C.close("c", "v", "w"), {"v": 1.0}, {"v": 1.0})


def test_bonferroni_level_grows_with_the_draws_of_the_run():
    from theorycheck.stats import bonferroni_z, family_z
    assert bonferroni_z(1, 0.05) == pytest.approx(1.95996, rel=1e-4)
    z = family_z(per_draw=2)
    quick, gpu = z(SimContext(draws=300)), z(SimContext(draws=16500))
    assert 4.0 < quick < gpu < 5.5
    c = C.within_se("z", "m", "se", "t", z=z)
    assert c({"t": 0.0}, {"m": 4.5, "se": 1.0}, {}, SimContext(draws=300)).passed is False
    assert c({"t": 0.0}, {"m": 4.5, "se": 1.0}, {}, SimContext(draws=16500)).passed is True
