"""Surrogate-majorisation helpers: the symbolic constant, the adversary's
hand-written ascent direction against autograd, its certificate, MM with
padding, and batched vs per-draw simulations."""
import importlib
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch

from theorycheck.discovery import _family_package, load_claim
from theorycheck.sim.context import SimContext

ROOT = Path(__file__).resolve().parents[2]
CLAIM = ROOT / "claims/second_order/surrogate_majorization.py"


@pytest.fixture(scope="module")
def mod():
    claim = load_claim(CLAIM)
    return claim, importlib.import_module(f"{_family_package(CLAIM.parent)}._surrogate")


def test_symbolic_constant(mod):
    _, S = mod
    c = S.smoothness_constant()
    assert c["L"] == sp.Rational(1, 2) and c["eta_crit"] == 2 and c["gershgorin"] == sp.Rational(1, 2)


def test_ascent_direction_matches_autograd(mod):
    """One step of the adversary with lr → its hand gradient equals autograd's."""
    _, S = mod
    torch.manual_seed(0)
    K, r = 5, 1e-2
    z = torch.randn(3, K, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, K, dtype=torch.float64, requires_grad=True)
    mask = torch.ones(3, K, dtype=torch.bool)
    d = r * w / w.norm(dim=1, keepdim=True)
    R = 2 * S.bregman(z, d, mask) / r**2
    gz, gw = torch.autograd.grad(R.sum(), [z, w])
    with torch.no_grad():
        p, q = torch.softmax(z, 1), torch.softmax(z + d, 1)
        uhat = w / w.norm(dim=1, keepdim=True)
        hz = (2 / r**2) * (q - p - p * d + p * (p * d).sum(1, keepdim=True))
        qp = q - p
        hw = (2 / r**2) * (r / w.norm(dim=1, keepdim=True)) * (qp - uhat * (uhat * qp).sum(1, keepdim=True))
    torch.testing.assert_close(hz, gz, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(hw, gw, rtol=1e-8, atol=1e-10)


def test_adversary_certificate_is_sharp_and_never_beats_the_bound(mod):
    _, S = mod
    gens = [torch.Generator().manual_seed(s) for s in range(4)]
    best, *_ = S.adversary([2, 3, 7, 20], gens, restarts=4, steps=150)
    assert torch.all(best <= 0.5 * (1 + 1e-12))
    assert torch.all(best >= 0.5 * (1 - 1e-3))


def test_gap_positive_only_above_threshold(mod):
    _, S = mod
    gens = [torch.Generator().manual_seed(s) for s in range(2)]
    best, zt, unit, mask = S.adversary([3, 3], gens, restarts=4, steps=150)
    gap = S.max_gap(zt, unit, mask, torch.tensor([1.9, 2.1], dtype=torch.float64),
                    [torch.Generator().manual_seed(9) for _ in range(2)])
    assert gap[0] <= 1e-12 and gap[1] > 1e-8


def test_mm_padding_and_batch_agree(mod):
    claim, S = mod
    draws = [{"K": 3, "eta": 2.0, "N": 40, "D": 2, "data_seed": 1},
             {"K": 9, "eta": 0.5, "N": 7, "D": 4, "data_seed": 2}]
    fb, sb, pb = S.mm_train(draws, 10)
    for i, p in enumerate(draws):
        f1, s1, p1 = S.mm_train([p], 10)
        np.testing.assert_allclose(fb[i].numpy(), f1[0].numpy(), rtol=1e-12)
        np.testing.assert_allclose(sb[i].numpy(), s1[0].numpy(), rtol=1e-12)
    assert np.all(np.diff(fb.numpy(), axis=1) <= 1e-9 * fb[:, :1].numpy())
    ctx = SimContext(seed=0).with_seeds([11, 12])
    batch = claim.simulate_batch(draws, ctx)
    for p, b, s in zip(draws, batch, (11, 12)):
        one = claim.simulate(p, SimContext(seed=s))
        assert one["eta_emp"] == pytest.approx(b["eta_emp"], rel=1e-9)
        np.testing.assert_allclose(one["loss"], b["loss"], rtol=1e-12)
