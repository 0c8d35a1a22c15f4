"""losses.comp_sum_bounds: the constants, the exact conditional risks, the
gradients, and batched vs per-draw simulations."""
import sys
from pathlib import Path

import numpy as np
import sympy as sp
import torch

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = Path(__file__).resolve().parents[2] / "claims" / "losses" / "comp_sum_bounds.py"


def _load():
    claim = load_claim(CLAIM)
    return claim, next(m for k, m in sys.modules.items() if k.endswith("._comp_sum"))


def test_constants():
    _, h = _load()
    d = h.derivation()
    t, K = d["t"], d["K"]
    assert d["ce_const"] == 2
    assert sp.simplify(d["mae_const"] - K) == 0
    assert sp.expand(d["T_series"] - (t**2 / 2 + t**4 / 12 + t**6 / 30 + t**8 / 56)) == 0


def test_risks_match_direct_formulas_and_bounds_hold():
    _, h = _load()
    g = torch.Generator().manual_seed(1)
    s = 2 * torch.randn(500, 7, generator=g, dtype=torch.float64)
    sc = 2 * torch.randn(500, 7, generator=g, dtype=torch.float64)
    kmask = torch.ones(1, 7, dtype=torch.float64)
    kmask[0, 6] = 0
    delta, kl, mae, ce, ent = h.risks(s, sc, kmask)
    p = torch.softmax(s[:, :6], -1).numpy()
    q = torch.softmax(sc[:, :6], -1).numpy()
    yhat = sc[:, :6].argmax(-1).numpy()
    np.testing.assert_allclose(kl.numpy(), (p * np.log(p / q)).sum(1), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(delta.numpy(), p.max(1) - p[np.arange(500), yhat], atol=1e-15)
    np.testing.assert_allclose(mae.numpy(), p.max(1) - (p * q).sum(1), atol=1e-14)
    np.testing.assert_allclose((ce - ent).numpy(), kl.numpy(), atol=1e-12)
    ce_r, mae_r = h.ratios(delta, kl, mae)
    assert float(ce_r.max()) <= 2 and float(mae_r.max()) <= 6


def test_gradients_match_autograd():
    _, h = _load()
    g = torch.Generator().manual_seed(2)
    sc = torch.randn(4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.softmax(torch.randn(4, 5, generator=g, dtype=torch.float64), -1)
    kmask = torch.ones(1, 5, dtype=torch.float64)
    q = torch.softmax(sc, -1)
    for mae, loss in ((False, -(target * torch.log(q)).sum()), (True, (1 - (target * q).sum(-1)).sum())):
        (auto,) = torch.autograd.grad(loss, sc, retain_graph=True)
        mine = h.grad_scores(sc.detach(), target, kmask, torch.tensor(mae))
        np.testing.assert_allclose(mine.numpy(), auto.numpy(), atol=1e-13)


def test_batched_equals_single_draws():
    claim, _ = _load()
    draws = claim.assumptions.sample(6, seed=4)
    draws[0].update(setting="tie", loss="mae")
    draws[1].update(setting="gaussian", loss="ce")
    draws[2].update(gap_break=True)
    batch = claim.simulate_batch(draws, SimContext(seed=0).with_seeds(list(range(10, 16))))
    for i, p in enumerate(draws):
        one = claim.simulate(p, SimContext(seed=10 + i))
        for k in ("ce_point_ratio", "mae_point_ratio", "ce_int_ratio", "mae_int_ratio", "excess01_path"):
            np.testing.assert_allclose(one[k], batch[i][k], rtol=1e-9, atol=1e-14)
    pred = claim.derive(draws[0])
    assert all(c(pred, batch[0], draws[0]).passed for c in claim.checks)
    assert not all(c({**pred, "mae_const": 0.99 * pred["mae_const"]}, batch[0], draws[0]).passed
                   for c in claim.checks)
    assert not claim.checks[1](claim.derive(draws[2]), batch[2], draws[2]).passed  # the gap break
