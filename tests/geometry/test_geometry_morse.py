"""geometry.no_critical_points: planted critical points, closed-form gradients, padding, batching."""
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
        _CACHE["claim"] = load_claim(str(ROOT / "claims/geometry/no_critical_points.py"))
    return _CACHE["claim"]


def _M():
    return sys.modules[_claim().derive.__module__.rsplit(".", 1)[0] + "._morse"]


@pytest.mark.parametrize("arch", ["1-2", "2-3", "2-6-3", "2-2-3", "4-3-5-2"])
@pytest.mark.parametrize("act", ["softplus_mix", "leaky_c1"])
def test_planted_network_has_a_critical_point_and_full_rank_weights(arch, act):
    M = _M()
    for seed in range(3):
        Ws, bs, w, x = M.network(arch, act, 0.2, "random", seed)
        assert np.linalg.norm(M.gradient_np(x, Ws, bs, w, act, 0.2)) < 1e-13
        assert all(np.linalg.matrix_rank(W) == min(W.shape) for W in Ws)


def test_aligned_network_attains_the_bound():
    M = _M()
    m = sys.modules[_claim().derive.__module__]
    for arch in ["3-2", "4-4-3-2", "5-3-3-1"]:
        Ws, bs, w, _ = M.network(arch, "leaky_c1", 0.3, "aligned", 1)
        x = np.zeros(M.widths(arch)[0])
        g = np.linalg.norm(M.gradient_np(x, Ws, bs, w, "leaky_c1", 0.3))
        assert g == pytest.approx(m._bound(Ws, w, 0.3, False), rel=1e-12)


def test_closed_form_gradient_and_hessian_match_autograd():
    M = _M()
    nets = [M.network("4-3-5-2", "softplus_mix", 0.3, "random", s) for s in range(2)]
    T = lambda v: torch.tensor(np.stack(v))
    Ws = [T([n[0][l] for n in nets]) for l in range(3)]
    bs = [T([n[1][l] for n in nets]) for l in range(3)]
    w = T([n[2] for n in nets])
    for kind in M.KINDS:
        code = torch.full((2, 1, 1), M.KINDS.index(kind))
        a = torch.full((2, 1, 1), 0.3, dtype=torch.float64)
        x = torch.randn(2, 3, 4, dtype=torch.float64)
        g, H = M.grad_and_hessian(x, Ws, bs, w, code, a)
        xr = x.clone().requires_grad_(True)
        h = xr
        for W, b in zip(Ws, bs):
            h = M.sigma_mixed(h @ W.transpose(1, 2) + b[:, None, :], code, a)
        ga = torch.autograd.grad((h * w[:, None, :]).sum(), xr, create_graph=True)[0]
        Ha = torch.stack([torch.autograd.grad(ga[..., i].sum(), xr, retain_graph=True)[0] for i in range(4)], -2)
        assert torch.allclose(g, ga, rtol=1e-10, atol=1e-12)
        assert torch.allclose(H, Ha, rtol=1e-8, atol=1e-9)


def test_padding_leaves_the_gradient_unchanged():
    M = _M()
    net = M.network("2-3", "softplus_mix", 0.2, "random", 4)
    Wp, bp, wp = M.pad_network(net, (4, 5))
    x = np.array([0.3, -0.7])
    g = M.gradient_np(x, net[0], net[1], net[2], "softplus_mix", 0.2)
    gp = M.gradient_np(np.r_[x, 1.0, -2.0], Wp, bp, wp, "softplus_mix", 0.2)
    assert np.allclose(gp, np.r_[g, 0, 0], atol=1e-15)


def test_tanh_example():
    m = sys.modules[_claim().derive.__module__]
    ex = m.tanh_example()
    assert ex["critical"] and ex["f2"] < 0


def test_batched_equals_per_draw_and_mutants_fail():
    from theorycheck.sim.context import SimContext
    c = _claim()
    draws = [{"arch": a, "activation": "softplus_mix", "a": 0.2, "weights": wt, "data_seed": 3}
             for a, wt in [("1-2", "random"), ("3-2", "aligned"), ("4-4-3-2", "random"), ("2-6-3", "random")]]
    ctx = SimContext(seed=0).with_seeds(range(len(draws)))
    batch = c.simulate_batch(draws, ctx)
    for i, p in enumerate(draws):
        single = c.simulate(p, ctx.with_seed(i))
        assert single["min_grad"] == pytest.approx(batch[i]["min_grad"], rel=1e-6, abs=1e-14)
        pred = c.derive(p)
        assert all(ch(pred, batch[i], p).passed for ch in c.checks)
    # "σ′ > 0 suffices": the widening 1-2 network's critical point refutes it
    wrong = c.mutants[0].derive(draws[0], c.derive(draws[0]))
    assert c.checks[0](wrong, batch[0], draws[0]).passed is False
