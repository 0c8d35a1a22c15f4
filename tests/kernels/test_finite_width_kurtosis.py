"""kernels.finite_width_kurtosis: exact moments, the forward statistics, the test, batching."""
import importlib
import itertools
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from theorycheck.discovery import _family_package, load_claim
from theorycheck.sim.context import SimContext

PATH = Path(__file__).resolve().parents[2] / "claims" / "kernels" / "finite_width_kurtosis.py"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def claim():
    return load_claim(PATH)


@pytest.fixture(scope="module")
def fw(claim):
    return importlib.import_module(_family_package(PATH.parent) + "._finite_width")


@pytest.mark.parametrize("a", [Fraction(0), Fraction(1, 2), Fraction(1)])
def test_ratio_moments_exact(fw, a):
    kappa = 6 * (1 + a**4) / (1 + a**2) ** 2 - 1
    for n in (1, 2, 7):
        m = fw.ratio_moments(n, a)
        assert m[1] == 1 and m[2] == 1 + kappa / n
    # n = 2 by direct expansion of E((s1 + s2)/2)^k
    s = fw.ratio_moments(1, a)
    m2 = fw.ratio_moments(2, a)
    for k in range(1, 5):
        assert m2[k] == sum(math.comb(k, j) * s[j] * s[k - j] for j in range(k + 1)) / 2**k


def test_forward_statistics_gaussian_and_rademacher(fw):
    g = torch.Generator().manual_seed(0)
    M2, M4 = fw.forward_statistics(8, 4, 0.0, 2, 1.5, 300, g)
    assert M2.shape == (3, 300)
    torch.testing.assert_close(M4, 3 * M2**2)
    # Rademacher: the conditional fourth moment of Σ w_k s_k by enumeration of the signs
    n, cw = 3, 2.0
    s = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64).clamp(min=0)  # a ReLU layer
    vals = [(cw / n) ** 2 * float(sum(e * x for e, x in zip(signs, s))) ** 4
            for signs in itertools.product([-1, 1], repeat=n)]
    A = cw / n * float((s * s).sum())
    assert np.mean(vals) == pytest.approx(3 * A * A - 2 * (cw / n) ** 2 * float((s**4).sum()), rel=1e-12)


def test_theory_matches_a_large_sample_at_depth_two(claim, fw):
    p = {"n": 8, "L": 2, "a": 0.0, "n0": 1, "x_norm": 1.0}
    pred = claim.derive(p)
    M2, M4 = fw.forward_statistics(8, 2, 0.0, 1, 1.0, 50_000, torch.Generator().manual_seed(3))
    ratio, se, mean_q, _ = fw.ratio_estimates(M2, M4)
    assert pred["ratio"][0] == pytest.approx(3 * (1 + 5 / 8))
    assert abs(float(ratio[0]) - pred["ratio"][0]) < 4.5 * pred["ratio_null_sd"][0] / math.sqrt(50_000)
    assert abs(float(mean_q[0]) - 2.0) < 0.01


def test_two_sided_test_uses_the_right_standard_error(fw):
    check = fw.two_sided_test("t", "ratio", "est", "se", "sd")
    pred = {"ratio": np.array([5.0]), "sd": np.array([10.0]), "tail": np.array([2.0])}
    # below: theory SE 10/√100 = 1 → z = 4 passes, z = 5 fails, whatever the sample SE
    assert check(pred, {"est": np.array([1.0]), "se": np.array([1e-3]), "N": 100}, {}).passed
    assert not check(pred, {"est": np.array([0.0]), "se": np.array([1e3]), "N": 100}, {}).passed
    # above: max(sample SE, theory SE); not decided when N < 10·tail
    assert check(pred, {"est": np.array([20.0]), "se": np.array([4.0]), "N": 100}, {}).passed
    assert not check(pred, {"est": np.array([20.0]), "se": np.array([1.0]), "N": 100}, {}).passed
    assert check(pred, {"est": np.array([20.0]), "se": np.array([1.0]), "N": 10}, {}).passed


def test_batched_equals_per_draw(claim):
    draws = [{"n": 8, "L": 3, "a": 0.0, "n0": 2, "x_norm": 1.0}, {"n": 12, "L": 2, "a": 0.5, "n0": 1, "x_norm": 2.0},
             {"n": 9, "L": 4, "a": 1.0, "n0": 3, "x_norm": 0.5, "weights": "rademacher"}]
    ctx = SimContext(seed=0)
    batch = claim.simulate_batch(draws, ctx.with_seeds([5, 6, 7]))
    for p, s, b in zip(draws, [5, 6, 7], batch):
        one = claim.simulate(p, ctx.with_seed(s))
        np.testing.assert_array_equal(one["ratio_est"], b["ratio_est"])
        np.testing.assert_array_equal(one["mean_q_est"], b["mean_q_est"])
