"""dynamics.exp_lr_equivalence: the sympy induction, the closed-form gradient of the
weight-normalised net against autograd, batched = per-draw, and truth / mutants / break on a draw."""
import sys
from pathlib import Path

import numpy as np
import sympy as sp
import torch

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = load_claim(Path(__file__).parents[2] / "claims" / "dynamics" / "exp_lr_equivalence.py")
MOD = sys.modules[CLAIM.derive.__module__]
DRAW = {"eta": 0.1, "eta_lam": 0.005, "neurons": 3, "batches": 2, "data_seed": 3}


def test_induction():
    d = MOD.induction()
    eta, lam, t = sp.symbols("eta lambda t", positive=True)
    assert sp.simplify(d["schedule"] - eta * (1 - eta * lam) ** (-2 * t - 1)) == 0
    assert CLAIM.derive(dict(DRAW)) == {"q": 0.995, "lr_slope": -2, "lr_offset": -1}


def test_gradient_is_autograd_and_scale_invariant():
    X, y, a = MOD._data(DRAW)
    V = torch.randn(3, MOD.DIM, dtype=torch.float64, requires_grad=True)

    def loss(V):
        U = V / V.norm(dim=1, keepdim=True)
        f = torch.relu(torch.as_tensor(X) @ U.T) @ torch.as_tensor(a)
        return torch.nn.functional.softplus(-torch.as_tensor(y) * f).mean()

    g = torch.autograd.grad(loss(V), V)[0]
    Vn = V.detach().numpy()
    nv = np.linalg.norm(Vn, axis=1, keepdims=True)
    U = Vn / nv
    z = X @ U.T
    f = np.maximum(z, 0) @ a
    s = -y * MOD._sigmoid(-y * f) / len(y)
    Gu = ((z > 0) * (s[:, None] * a[None, :])).T @ X
    gV = (Gu - (Gu * U).sum(1, keepdims=True) * U) / nv
    assert np.allclose(gV, g.numpy(), atol=1e-14)
    with torch.no_grad():
        assert abs(float(loss(2.5 * V)) - float(loss(V))) < 1e-15


def test_batched_equals_per_draw():
    draws = [DRAW, {**DRAW, "neurons": 1, "batches": 1, "data_seed": 5}, {**DRAW, "neurons": 8, "eta_lam": 0.03}]
    preds = [CLAIM.derive(dict(p)) for p in draws]
    ctx = SimContext().with_seeds([4, 5, 6])
    batch = CLAIM.simulate_batch(draws, ctx, preds)
    for p, pr, s, b in zip(draws, preds, ctx.seeds, batch):
        one = CLAIM.simulate(p, SimContext(seed=s), pr)
        # the window ends where round-off is amplified chaotically: padding changes the summation
        # order of a few products, so its end may move by a step or two, nothing before it
        assert abs(one["window"] - b["window"]) <= 5
        n = min(one["window"], b["window"]) - 20
        assert np.abs(one["separation"][:n] - b["separation"][:n]).max() < 1e-14
        assert np.abs(one["deviation"][:n] - b["deviation"][:n]).max() < 1e-14


def test_truth_mutants_break():
    ctx = SimContext(seed=11)
    pred = CLAIM.derive(dict(DRAW))
    obs = CLAIM.simulate(dict(DRAW), ctx, pred)
    assert obs["window"] > 100 and CLAIM.checks[0](pred, obs, DRAW, ctx).passed
    for m in CLAIM.mutants:
        bad = m.derive(dict(DRAW), dict(pred))
        assert CLAIM.checks[0](bad, CLAIM.simulate(dict(DRAW), ctx, bad), DRAW, ctx).passed is False, m.name
    broken = CLAIM.breaks[0].apply(dict(DRAW))
    assert CLAIM.checks[0](pred, CLAIM.simulate(broken, ctx, pred), broken, ctx).passed is False
