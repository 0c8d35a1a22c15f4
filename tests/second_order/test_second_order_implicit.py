"""Implicit-differentiation helpers: the homotopy against cvxpy, the written-out
forward-mode step against torch's forward-mode autodiff, the symbolic IFT,
batched vs per-draw simulations, and the kink break."""
import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

from theorycheck.discovery import _family_package, load_claim
from theorycheck.sim.context import SimContext

ROOT = Path(__file__).resolve().parents[2]
CLAIM = ROOT / "claims/second_order/implicit_diff.py"


@pytest.fixture(scope="module")
def mod():
    claim = load_claim(CLAIM)
    return claim, importlib.import_module(f"{_family_package(CLAIM.parent)}._implicit")


def test_homotopy_matches_cvxpy(mod):
    import cvxpy as cp

    _, I = mod
    for seed, (n, d, frac) in enumerate([(12, 6, 0.3), (5, 14, 0.5)]):
        p = {"problem": "lasso", "n": n, "d": d, "lam_frac": frac, "data_seed": seed}
        A, b = I.data(p)
        lam = I.lam_of(p, A, b)
        x, S, s, G, cert = I.lasso_certified(A, b, lam)
        assert cert["signs_ok"] and cert["dual_margin"] > 0 and cert["path_agrees"] < 1e-10
        z = cp.Variable(d)
        cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ z - b) + lam * cp.norm1(z))).solve()
        np.testing.assert_allclose(z.value, x, atol=1e-5 * max(1.0, np.abs(x).max()))


def test_written_out_tangent_is_forward_mode_autodiff(mod):
    _, I = mod
    ps = [{"problem": pb, "n": 6, "d": 9, "lam_frac": 0.3, "data_seed": k} for k, pb in enumerate(["lasso", "ridge"])]
    A = torch.stack([torch.as_tensor(I.data(p)[0]) for p in ps])
    b = torch.stack([torch.as_tensor(I.data(p)[1]) for p in ps])
    lam = torch.tensor([I.lam_of(p, *I.data(p)) for p in ps], dtype=torch.float64)
    step = torch.tensor([1.0 / (np.linalg.norm(I.data(p)[0], 2) ** 2 + 1.0) for p in ps], dtype=torch.float64)
    lasso = torch.tensor([True, False])
    x_ad, J_ad = I.ista_reference_autodiff(A, b, lam, step, lasso, 40)
    out = I.ista_batch(A, b, lam, step, lasso, max_iter=40, tol=0.0)
    torch.testing.assert_close(out["x"], x_ad, rtol=0, atol=1e-14)
    torch.testing.assert_close(out["J"], J_ad, rtol=0, atol=1e-14)


def test_symbolic_ift(mod):
    _, I = mod
    assert I.symbolic_ift()


def test_batched_and_single_agree_and_match_ift(mod):
    claim, _ = mod
    draws = [{"problem": "lasso", "n": 10, "d": 6, "lam_frac": 0.4, "data_seed": 3},
             {"problem": "ridge", "n": 4, "d": 8, "lam_frac": 0.3, "data_seed": 4}]
    batch = claim.simulate_batch(draws, SimContext(seed=0).with_seeds([1, 2]))
    for p, o in zip(draws, batch):
        one = claim.simulate(p, SimContext(seed=0))
        np.testing.assert_allclose(one["dx_fd"], o["dx_fd"], rtol=1e-9, atol=1e-12)
        pred = claim.derive(p)
        err = np.linalg.norm(o["dx_fd"] - pred["dx_dlam"]) / np.linalg.norm(pred["dx_dlam"])
        assert err < 1e-7
        assert np.linalg.norm(o["dx_unrolled"] - pred["dx_dlam"]) / np.linalg.norm(pred["dx_dlam"]) < 1e-8


def test_kink_break_straddles_a_kink(mod):
    claim, _ = mod
    p = {"problem": "lasso", "n": 10, "d": 6, "lam_frac": 0.4, "data_seed": 3}
    pred = claim.derive(p)
    o = claim.simulate({**p, "at_kink": True}, SimContext(seed=0))
    assert o["lr_gap"] > 1e-3
    assert np.linalg.norm(o["dx_fd"] - pred["dx_dlam"]) / np.linalg.norm(pred["dx_dlam"]) > 1e-3
