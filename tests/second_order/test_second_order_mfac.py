"""M-FAC helpers: both implementations of the recursion equal a dense solve,
padding in the batch changes nothing, batched and per-draw simulations agree,
the operation counts and the symbolic step."""
import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

from theorycheck.discovery import _family_package, load_claim
from theorycheck.sim.context import SimContext

ROOT = Path(__file__).resolve().parents[2]
CLAIM = ROOT / "claims/second_order/mfac_ihvp.py"


@pytest.fixture(scope="module")
def mod():
    claim = load_claim(CLAIM)
    return claim, importlib.import_module(f"{_family_package(CLAIM.parent)}._mfac")


@pytest.mark.parametrize("d,m,lam_rel", [(30, 5, 1e-2), (4, 12, 1e-3), (1, 3, 1e-1)])
def test_both_recursions_equal_dense_solve(mod, d, m, lam_rel):
    _, M = mod
    G, lam, x = M.problem({"d": d, "m": m, "lam_rel": lam_rel, "norm_spread": 1.0, "data_seed": 3})
    exact = np.linalg.solve(lam * np.eye(d) + G.T @ G / m, x)
    np.testing.assert_allclose(M.ihvp(G, lam, x), exact, rtol=1e-9, atol=1e-12 * np.abs(exact).max())
    lt, mt = torch.tensor([lam], dtype=torch.float64), torch.tensor([float(m)], dtype=torch.float64)
    V, den = M.mfac_vectors(torch.as_tensor(G)[None], lt, mt)
    got = M.mfac_apply(V, den, lt, torch.as_tensor(x)[None])[0].numpy()
    np.testing.assert_allclose(got, exact, rtol=1e-9, atol=1e-12 * np.abs(exact).max())


def test_padding_changes_no_draw(mod):
    _, M = mod
    G, lam, x = M.problem({"d": 5, "m": 3, "lam_rel": 1e-2, "norm_spread": 0.5, "data_seed": 1})
    Gp = torch.zeros(1, 7, 9, dtype=torch.float64)
    Gp[0, :3, :5] = torch.as_tensor(G)
    xp = torch.zeros(1, 9, dtype=torch.float64)
    xp[0, :5] = torch.as_tensor(x)
    lt, mt = torch.tensor([lam], dtype=torch.float64), torch.tensor([3.0], dtype=torch.float64)
    V, den = M.mfac_vectors(Gp, lt, mt)
    padded = M.mfac_apply(V, den, lt, xp)[0]
    assert torch.all(padded[5:] == 0)
    np.testing.assert_allclose(padded[:5].numpy(), M.ihvp(G, lam, x), rtol=1e-10)


def test_batched_and_single_simulations_agree(mod):
    claim, _ = mod
    draws = claim.assumptions.design(6, seed=4)
    ctx = SimContext(seed=0).with_seeds(range(6))
    batch = claim.simulate_batch(draws, ctx)
    for p, b in zip(draws, batch):
        one = claim.simulate(p, SimContext(seed=0))
        assert np.linalg.norm(one["solve"] - b["solve"]) <= 1e-10 * np.linalg.norm(one["solve"])
        assert max(one["sim_rel_err"], b["sim_rel_err"]) < 1e-8
        assert one["kappa"] == pytest.approx(b["kappa"], rel=1e-9)


def test_operation_counts_and_symbolic_step(mod):
    _, M = mod
    assert M.cost_exponents(17, 5) == {"query_exp_d": 1.0, "query_exp_m": 1.0, "pre_exp_d": 1.0}
    assert M.matmul_flops(M.mfac_apply, (1, 5, 17), (1, 5), (1,), (1, 17)) == 4 * 5 * 17
    assert M.symbolic_identity()


def test_near_miss_mutant_is_far_from_the_solve(mod):
    claim, M = mod
    p = {"d": 50, "m": 8, "lam_rel": 1e-2, "norm_spread": 0.0, "data_seed": 0}
    pred, obs = claim.derive(p), claim.simulate(p, SimContext(seed=0))
    near = claim.mutants[0].derive(p, pred)
    assert np.linalg.norm(near["ihvp"] - obs["solve"]) / np.linalg.norm(obs["solve"]) > 1e-4
