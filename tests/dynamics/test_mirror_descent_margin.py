"""dynamics.mirror_descent_margin: the certified max-margin solver, the certified ball,
mirror descent batched and single."""
import importlib
import warnings
from pathlib import Path

import numpy as np
import pytest

from theorycheck.discovery import _family_package, load_claim
from theorycheck.sim.context import SimContext

PATH = Path(__file__).resolve().parents[2] / "claims" / "dynamics" / "mirror_descent_margin.py"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def claim():
    return load_claim(PATH)


@pytest.fixture(scope="module")
def mirror(claim):
    return importlib.import_module(_family_package(PATH.parent) + "._mirror")


@pytest.mark.parametrize("p", [1.25, 1.5, 3.0, 4.0])
def test_max_margin_is_certified_and_matches_cvxpy(mirror, p):
    import cvxpy as cp

    key = (6, 11, 2, 17)
    w, gamma, gap = mirror.max_margin(*key, p)
    Z = mirror.data(*key)
    assert gap <= mirror.GAP_TOL and (Z @ w).min() == pytest.approx(1.0, abs=1e-12)
    assert gamma == pytest.approx(1 / np.linalg.norm(w, p))
    v = cp.Variable(Z.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cp.Problem(cp.Minimize(cp.pnorm(v, p, approx=False)), [Z @ v >= 1]).solve(solver="CLARABEL")
    assert np.linalg.norm(v.value, p) == pytest.approx(np.linalg.norm(w, p), rel=1e-6)
    assert mirror.cosine_gap(np.asarray(v.value), w) < 1e-8
    assert (Z[6:] @ w).min() >= 1.5 - 1e-9   # the redundant points are not support vectors


@pytest.mark.parametrize("p", [1.5, 2.0, 3.0, 4.4])
def test_certified_ball_holds_for_feasible_points(mirror, p):
    assert mirror.uniform_convexity(p) >= (p - 1 if p <= 2 else 1 / (2 ** (p - 1) - 1)) * 0.999
    key = (5, 9, 1, 3)
    w, _, _ = mirror.max_margin(*key, p)
    Z = mirror.data(*key)
    rng = np.random.default_rng(0)
    for scale in (1e-3, 1e-1, 1.0):
        for _ in range(50):
            y = w + scale * rng.normal(size=w.shape) * np.abs(w).max()
            m = (Z @ y).min()
            if m <= 0:
                continue
            y = y / m
            r = mirror.ball_radius(np.linalg.norm(y, p), np.linalg.norm(w, p), p)
            assert np.linalg.norm(y - w, p) <= r * (1 + 1e-9) + 1e-12


def test_mirror_descent_approaches_the_max_margin(mirror):
    key, p = (5, 10, 1, 8), 1.5
    w, gamma, _ = mirror.max_margin(*key, p)
    z = mirror.data(*key)
    W, Wb, G = mirror.mirror_descent_single(z, p, 0, 2000, [250, 2000])
    assert G[-1, 0] <= gamma * (1 + 1e-9) and G[-1, 0] > G[0, 0]
    assert mirror.cosine_gap(Wb[-1, 0], w) < 1e-4


def test_batched_and_single_agree(claim):
    draws = [{"n": 5, "d": 9, "p": 1.5, "redundant": 1, "data_seed": 4},
             {"n": 7, "d": 12, "p": 3.0, "redundant": 0, "data_seed": 5}]
    ctx = SimContext(seed=0)
    batch = claim.simulate_batch(draws, ctx.with_seeds([1, 2]))
    again = claim.simulate_batch(draws, ctx.with_seeds([1, 2]))
    for p, b, a in zip(draws, batch, again):
        np.testing.assert_array_equal(b["w_md"], a["w_md"])          # deterministic
        one = claim.simulate(p, ctx.with_seed(1))
        # MD is sensitive to round-off (padding changes summation order): conclusions agree
        assert one["margin_T"] == pytest.approx(b["margin_T"], rel=1e-2)
        pred = claim.derive(p)
        assert [c(pred, one, p).passed for c in claim.checks] == [c(pred, b, p).passed for c in claim.checks]
