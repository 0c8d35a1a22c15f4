"""LSA helpers: the symbolic Isserlis derivation, Γ* against a Monte Carlo of
its defining moments, the antithetic statistics against materialised mirror
tasks, ALS reaching the certified optimum, batched vs per-draw simulations."""
import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

from theorycheck.discovery import _family_package, load_claim
from theorycheck.sim.context import SimContext

ROOT = Path(__file__).resolve().parents[2]
CLAIM = ROOT / "claims/in_context/lsa_one_step_gd.py"


@pytest.fixture(scope="module")
def mod():
    claim = load_claim(CLAIM)
    return claim, importlib.import_module(f"{_family_package(CLAIM.parent)}._lsa")


def test_symbolic(mod):
    assert mod[1].symbolic_checks()


def test_isotropic_closed_form(mod):
    _, L = mod
    G = L.gamma_star(np.ones(3), np.ones(3), 10, 0.25)
    np.testing.assert_allclose(np.diag(G), 10 / (10 + 3 + 1 + 0.25))
    eta = 10 / 14.25
    assert L.risk_of(G, np.ones(3), np.ones(3), 10, 0.25) == pytest.approx(3 + 0.25 - 3 * eta, rel=1e-12)


def test_mirror_statistics(mod):
    _, L = mod
    p = {"d": 2, "n": 5, "sigma": 0.5, "cov": "anisotropic", "kappa": 3.0, "data_seed": 1}
    Mf, w, h = L.sample_tasks(p, torch.Generator().manual_seed(0), 64)
    sig = torch.as_tensor(L.model(p)[0])
    S1, S2, ww = L.statistics(Mf, w, sig)
    F = L.flip_signs(2)
    both = torch.cat([Mf, Mf * F]), torch.cat([w, -w])
    torch.testing.assert_close(S1, both[0].T @ both[0] / 128)
    torch.testing.assert_close(S2, both[1].T @ both[0] / 128)


def test_training_is_certified_and_close_to_gamma_star(mod):
    claim, _ = mod
    draws = [{"d": 2, "n": 12, "sigma": 0.5, "cov": "isotropic", "kappa": 2.0, "data_seed": 3},
             {"d": 3, "n": 20, "sigma": 0.2, "cov": "anisotropic", "kappa": 4.0, "data_seed": 4}]
    batch = claim.simulate_batch(draws, SimContext(seed=0).with_seeds([1, 2]))
    for p, o, s in zip(draws, batch, (1, 2)):
        assert o["certificate_gap"] < 1e-9 and o["other_rel"] < 1e-4
        pred = claim.derive(p)
        assert all(c(pred, o, p).passed for c in claim.checks)
        one = claim.simulate(p, SimContext(seed=s))
        np.testing.assert_allclose(one["gamma"], o["gamma"], rtol=1e-8, atol=1e-10)


def test_anisotropic_break_is_detected(mod):
    claim, _ = mod
    p = {"d": 3, "n": 20, "sigma": 0.2, "cov": "isotropic", "kappa": 5.0, "data_seed": 4}
    pred = claim.derive(p)
    o = claim.simulate({**p, "cov": "anisotropic"}, SimContext(seed=3))
    assert claim.checks[0](pred, o, p).passed is False
