"""losses.convex_calibration: the random losses, exact minimiser sets, the kink
example, torch evaluation of φ, and batched vs per-draw simulations."""
import sys
from fractions import Fraction as Fr
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = Path(__file__).resolve().parents[2] / "claims" / "losses" / "convex_calibration.py"


def _load():
    claim = load_claim(CLAIM)
    return claim, next(m for k, m in sys.modules.items() if k.endswith("._convex"))


@pytest.mark.parametrize("at0", ["negative", "zero", "positive", "kink_negative", "kink_sign"])
def test_random_loss_is_convex_with_the_requested_behaviour_at_0(at0):
    _, h = _load()
    for seed in range(20):
        p = {"knots": 3 + seed % 8, "at0": at0, "slope0": 0.5, "kink_ratio": 2.0, "data_seed": seed}
        knots, slopes = h.random_loss(p)
        assert all(a < b for a, b in zip(knots, knots[1:]))
        assert all(a <= b for a, b in zip(slopes, slopes[1:])) and slopes[0] < 0 <= slopes[-1]
        left, right = h.one_sided_derivatives_at_0(knots, slopes)
        want = {"negative": (-0.5, -0.5), "zero": (0, 0), "positive": (0.5, 0.5), "kink_negative": (-1, -0.5),
                "kink_sign": (-0.5, 1)}[at0]
        assert (float(left), float(right)) == want
        assert all(k == 0 or abs(k) >= Fr(1, 10) for k in knots)


def test_minimiser_set_against_a_grid_and_the_kink_example():
    _, h = _load()
    # the entry's kink (slopes −2, −½ at 0), made coercive by knots at ±1
    knots, slopes = [Fr(-1), Fr(0), Fr(1)], [Fr(-3), Fr(-2), Fr(-1, 2), Fr(1)]
    for eta in (Fr(1, 10), Fr(1, 4), Fr(1, 2), Fr(3, 4), Fr(9, 10)):
        lo, hi = h.minimiser_set(knots, slopes, eta)
        claim_in = Fr(1, 5) <= eta <= Fr(4, 5)
        assert (lo <= 0 <= hi) == claim_in
    ex = h.kink_example()
    assert ex["interval"] == (sp.Rational(1, 5), sp.Rational(4, 5))
    # against a fine grid of the torch evaluation
    p = {"knots": 6, "at0": "negative", "slope0": 0.7, "kink_ratio": 2.0, "data_seed": 3}
    knots, slopes = h.random_loss(p)
    K, S, V = h.pad_losses([(knots, slopes)], SimContext())
    x = torch.linspace(-5, 5, 200001, dtype=torch.float64)[None]
    for eta in h.ETAS:
        vp, _ = h.phi_eval(K, S, V, x)
        vm, _ = h.phi_eval(K, S, V, -x)
        c = float(eta) * vp + (1 - float(eta)) * vm
        arg = float(x[0, int(c.argmin())])
        lo, hi = h.minimiser_set(knots, slopes, eta)
        assert float(lo) - 1e-4 <= arg <= float(hi) + 1e-4


def test_phi_values_are_continuous_and_match_slopes():
    _, h = _load()
    p = {"knots": 7, "at0": "kink_sign", "slope0": 0.3, "kink_ratio": 3.0, "data_seed": 8}
    knots, slopes = h.random_loss(p)
    K, S, V = h.pad_losses([(knots, slopes)], SimContext())
    x = torch.linspace(-4, 4, 80001, dtype=torch.float64)[None]
    v, g = h.phi_eval(K, S, V, x)
    fd = (v[0, 2:] - v[0, :-2]) / (x[0, 2:] - x[0, :-2])
    assert float((fd - g[0, 1:-1]).abs().max()) < 0.6 * float(S.abs().max())  # only at knots
    assert float((v[0, 1:] - v[0, :-1]).abs().max()) < 1e-3 * float(S.abs().max())  # continuous
    assert abs(float(h.phi_eval(K, S, V, torch.zeros(1, 1, dtype=torch.float64))[0]) - 1.0) < 1e-15


def test_batched_equals_single_and_the_break():
    claim, _ = _load()
    draws = claim.assumptions.sample(5, seed=2)
    draws[0]["at0"] = "negative"
    draws[4] = {**draws[0], "loss_family": "nonconvex"}
    batch = claim.simulate_batch(draws, SimContext(seed=0).with_seeds([5, 6, 7, 8, 9]))
    for i, p in enumerate(draws):
        one = claim.simulate(p, SimContext(seed=5 + i))
        np.testing.assert_allclose(one["learned"], batch[i]["learned"], rtol=1e-12)
        assert one["calibrated_observed"] == batch[i]["calibrated_observed"]
    pred = claim.derive(draws[0])
    assert pred["calibrated"] and all(c(pred, batch[0], draws[0]).passed for c in claim.checks)
    assert not batch[4]["calibrated_observed"]  # the restarts find the wrong-signed global minimiser
