"""geometry.reparam_spectrum: planted critical points, closed-form Hessians, batched = per-draw."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
torch.set_num_threads(1)


_CACHE = {}


def _claim():
    if "claim" not in _CACHE:
        from theorycheck.discovery import load_claim
        _CACHE["claim"] = load_claim(str(ROOT / "claims/geometry/reparam_spectrum.py"))
    return _CACHE["claim"]


def _helpers():
    return sys.modules[_claim().derive.__module__.rsplit(".", 1)[0] + "._reparam"]


@pytest.mark.parametrize("point", ["minimum", "saddle"])
def test_planted_point_is_critical_with_the_right_index(point):
    R = _helpers()
    for seed in range(5):
        Xt, y, theta, s = R.planted(3, 3, point, seed)
        _, g, H, _ = R.loss_parts(theta, Xt, y, 3, 3)
        ev = np.linalg.eigvalsh(H)
        assert np.linalg.norm(g) < 1e-13
        assert (ev[0] > 0) if point == "minimum" else (ev[0] < 0)


def test_closed_form_hessian_matches_autograd():
    R = _helpers()
    Xt, y, theta, _ = R.planted(2, 3, "saddle", 3)
    X, Y = torch.tensor(Xt), torch.tensor(y)

    def loss(th):
        V = th[:9].reshape(3, 3)
        f = torch.tanh(X @ V.T) @ th[9:12] + th[12]
        return ((f - Y) ** 2).mean()

    H = torch.autograd.functional.hessian(loss, torch.tensor(theta)).numpy()
    assert np.allclose(H, R.loss_parts(theta, Xt, y, 2, 3)[2], atol=1e-12)


def test_phi_inverse_and_jacobian():
    R = _helpers()
    A, a, b = R.phi_spec("elementwise", 2, 2, 0)
    theta = np.linspace(-3, 3, R.n_params(2, 2))
    psi = R.phi_inverse(theta, A, a, b)
    assert np.allclose(psi + a * np.sin(psi) + b * psi**3, theta, atol=1e-14)
    A, a, b = R.phi_spec("linear", 2, 2, 0)
    assert np.linalg.cond(A) <= np.e**2 + 1e-9
    assert np.allclose(A @ R.phi_inverse(theta, A, a, b), theta)


def test_chain_rule_proof():
    m = sys.modules[_claim().derive.__module__]
    assert m.chain_rule_proof()


def test_batched_equals_per_draw_and_checks_pass():
    from theorycheck.sim.context import SimContext
    c = _claim()
    draws = c.assumptions.sample(6, 4)
    ctx = SimContext(seed=0).with_seeds(range(6))
    batch = c.simulate_batch(draws, ctx)
    for i, p in enumerate(draws):
        single = c.simulate(p, ctx.with_seed(i))
        assert np.allclose(single["metric_spectrum"], batch[i]["metric_spectrum"], rtol=1e-10, atol=1e-12)
        pred = c.derive(p)
        assert all(ch(pred, batch[i], p).passed for ch in c.checks)
        wrong = {**pred, "spectrum": 1.001 * np.asarray(pred["spectrum"])}
        assert not c.checks[0](wrong, batch[i], p).passed
