"""dynamics.depth_width_lognorm: sympy's cumulants of ln χ²_k are ψ(k/2) + ln 2 and ψ'(k/2), the exact
layer moments match a direct Monte Carlo of the reduced law, the Gaussian constants are first order,
batched = per-draw."""
import sys
from pathlib import Path

import numpy as np
import sympy as sp

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = load_claim(Path(__file__).parents[2] / "claims" / "dynamics" / "depth_width_lognorm.py")
MOD = sys.modules[CLAIM.derive.__module__]


def test_cumulants_of_log_chi2():
    k1, k2 = MOD.log_chi2_cumulants()
    k = MOD.k_sym
    assert sp.simplify(k1 - sp.polygamma(0, k / 2) - sp.log(2)) == 0
    assert sp.simplify(k2 - sp.polygamma(1, k / 2)) == 0


def test_layer_moments_against_sampling_the_reduced_law():
    rng = np.random.default_rng(0)
    n = 6
    K = rng.binomial(n, 0.5, 400_000)
    K = K[K > 0]
    T = np.log(2 / n) + np.log(rng.chisquare(K))
    mean, var = MOD.layer_moments(n)
    assert abs(T.mean() - mean) < 5 * T.std() / np.sqrt(T.size)
    assert abs(T.var() / var - 1) < 0.02


def test_gaussian_constants_are_first_order():
    for n in (64, 256):
        mean, var = MOD.layer_moments(n)
        assert abs(mean / (-2.5 / n) - 1) < 2.5 / n and abs(var / (5 / n) - 1) < 5 / n


def test_batched_equals_per_draw():
    ps = CLAIM.assumptions.design(4, 3)
    batch = CLAIM.simulate_batch(ps, SimContext().with_seeds(range(4)))
    for i, (p, ob) in enumerate(zip(ps, batch)):
        one = CLAIM.simulate(p, SimContext(seed=i))
        np.testing.assert_allclose(ob["Y_mean"], one["Y_mean"], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(ob["Y_var"], one["Y_var"], rtol=1e-4)
