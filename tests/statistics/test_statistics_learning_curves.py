"""statistics.learning_curve_powerlaw: derivation, exact E_n, the Zipf sampler,
the unseen-mass computation, and batched vs per-draw simulations."""
import sys
from pathlib import Path

import numpy as np
import sympy as sp
from scipy.special import zeta

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = Path(__file__).resolve().parents[2] / "claims" / "statistics" / "learning_curve_powerlaw.py"


def _load():
    claim = load_claim(CLAIM)
    return claim, next(m for k, m in sys.modules.items() if k.endswith("._learning_curves"))


def test_derivation_and_exact_sum():
    _, h = _load()
    d = h.derivation()
    al = d["alpha"]
    assert sp.simplify(d["beta"] - al / (1 + al)) == 0
    for a in (0.3, 1.0, 2.5):
        assert abs(float(d["C_fn"](a)) / h.C_alpha(a) - 1) < 1e-12
        # the head + incomplete-gamma tail against a longer exact sum
        k = np.arange(1, 2_000_001, dtype=float)
        p = k ** -(1 + a) / zeta(1 + a)
        brute = np.sum(p * (1 - p) ** 500) + (1 - p.sum())  # mass beyond 2e6 is essentially unseen at n = 500
        assert abs(h.E_exact(500, a)[0] / brute - 1) < 1e-6


def test_zipf_sampler_matches_the_distribution():
    _, h = _load()
    rng = np.random.default_rng(0)
    s = 1.4
    x = h.zipf_sample(rng, s, 400_000)
    for lo, hi in ((1, 2), (2, 11), (11, 1000), (1000, h.K_TABLE + 1), (h.K_TABLE + 1, 10**7)):
        want = (zeta(s, lo) - zeta(s, hi)) / zeta(s)
        got = np.mean((x >= lo) & (x < hi))
        assert abs(got - want) < 5 * np.sqrt(want * (1 - want) / x.size) + 1e-6


def test_unseen_mass_on_a_hand_example():
    _, h = _load()
    vals = np.array([[1.0, 2.0, 1.0, 3.0, 2.0, 4.0]])
    mass = lambda v: {1.0: 0.4, 2.0: 0.3, 3.0: 0.2, 4.0: 0.1}.__getitem__  # noqa: E731
    U = h.unseen_mass_curves(vals, np.vectorize(lambda v: mass(v)(v)), [1, 2, 4, 6])
    np.testing.assert_allclose(U[0], [0.6, 0.3, 0.1, 0.0], atol=1e-15)


def test_batched_equals_single_draws():
    claim, _ = _load()
    draws = claim.assumptions.sample(3, seed=1) + [{"alpha": 3.0, "dist": "geometric", "q": 0.95}]
    batch = claim.simulate_batch(draws, SimContext(seed=0).with_seeds([4, 5, 6, 7]))
    for i, p in enumerate(draws):
        one = claim.simulate(p, SimContext(seed=4 + i))
        for k in ("U_mc", "U_se", "slope_mc", "slope_se"):
            np.testing.assert_allclose(one[k], batch[i][k], rtol=1e-12)
    pred = claim.derive(draws[0])
    assert all(c(pred, batch[0], draws[0]).passed for c in claim.checks)
    assert not claim.checks[2](claim.derive(draws[3]), batch[3], draws[3]).passed  # geometric: slope ≈ −1
