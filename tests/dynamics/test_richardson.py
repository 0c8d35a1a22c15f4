"""theorycheck.sim.richardson: the table eliminates h^p terms, ratios read the order, the
ratio test accepts floors and rejects stalled errors."""
import numpy as np
import pytest

from theorycheck.sim.richardson import (Ladder, difference_ratios, error_ratios, extrapolate, ladder, observed_order,
                                        raw_errors, ratio_ok)


def test_two_rungs_is_2v_half_minus_v_for_gd():
    v_h, v_h2 = np.array([1.3, 2.0]), np.array([1.15, 1.5])
    assert np.allclose(extrapolate([v_h, v_h2], order=1), 2 * v_h2 - v_h)


def test_order_p_terms_are_removed_one_per_rung():
    c0 = np.array([[1.0, -2.0], [0.5, 3.0]])  # two draws

    def V(h):  # V(0) + a h^2 + b h^3 + c h^4
        return c0 + 0.7 * h**2 - 0.3 * h**3 + 0.2 * h**4

    vals = [V(0.4 / 2**i) for i in range(3)]
    e2 = np.abs(extrapolate(vals[:2], order=2) - c0).max()
    e3 = np.abs(extrapolate(vals, order=2) - c0).max()
    assert e2 < 0.3 * 0.4**3 / 2 and e3 < 1e-4 and e3 < e2


def test_error_and_difference_ratios_read_the_order():
    truth = np.array([[1.0, 2.0, 3.0]])
    vals = [truth + 0.1 * h**4 * np.array([[1.0, -1.0, 0.5]]) for h in (1.0, 0.5, 0.25)]
    r = error_ratios(vals, truth)
    assert np.allclose(r, 16.0)
    assert np.allclose(difference_ratios(vals), 16.0)
    assert np.allclose(observed_order(r), 4.0)
    # a wrong reference makes the errors stall once they are below its offset: ratio ≈ 1
    wrong = truth * 1.01
    assert np.all(np.abs(error_ratios(vals, wrong)[-1] - 1) < 0.1)


def test_raw_errors_are_relative_per_draw():
    ref = np.array([[3.0, 4.0], [0.0, 1.0]])
    e = raw_errors([ref + np.array([[0.5, 0.0], [0.0, 0.1]])], ref)
    assert np.allclose(e[0], [0.1, 0.1])


def test_ratio_ok_band_and_floor():
    assert ratio_ok(2e-3, 1e-3, 2.0, 0.1, 1e-9)
    assert not ratio_ok(1e-3, 1e-3, 2.0, 0.1, 1e-9)       # stalled: a wrong reference
    assert ratio_ok(1e-12, 1e-12, 2.0, 0.1, 1e-9)         # both at the floor: nothing to measure
    assert not ratio_ok(1e-6, 1e-12, 2.0, 0.1, 1e-9)


def test_ladder_runs_gd_towards_the_flow():
    # GD on x' = -x from 1 for time T = 1 (n = T/h steps): V(h) = (1 - h)^(1/h) -> e^{-1}, O(h)
    def run(h):
        return np.array([[(1 - h) ** round(1 / h)]])

    lad = ladder(run, 0.02, rungs=3, order=1)
    assert isinstance(lad, Ladder) and lad.expected_ratio == 2.0
    assert np.allclose(lad.error_ratios(np.exp(-1.0)), 2.0, rtol=0.05)
    raw = lad.raw_errors(np.exp(-1.0))[-1, 0]
    assert lad.extrapolated_error(np.exp(-1.0))[0] < 1e-3 * raw
    with pytest.raises(ValueError):
        ladder(run, 0.1, rungs=1)
