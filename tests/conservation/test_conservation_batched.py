"""Batched flows: the step-size ladder, batched vs per-draw agreement, the
size-free derivations, and the drift getters."""
import numpy as np
import pytest
import sympy as sp
import torch

from theorycheck.discovery import load_claim
from theorycheck.sim.conservation_nets import (linear_flow_batch, median_replica, mlp_flow_batch, replicas,
                                               richardson)
from theorycheck.sim.context import SimContext
from theorycheck.sim.flows import integrate, integrate_ladder
from theorycheck.symbolic.conservation import euler_defect_vanishes, linear_balance_rate, neuron_balance_rate


@pytest.mark.parametrize("method", ["gd", "rk4"])
def test_ladder_equals_one_run_per_step(method):
    A = torch.tensor([[0.0, 1.0], [-2.0, -0.3]], dtype=torch.float64)
    field = lambda s: (s[0] @ A.T,)  # noqa: E731
    x0 = torch.tensor([[1.0, 0.5], [0.2, -1.0]], dtype=torch.float64)
    steps = [1 / 4, 1 / 8, 1 / 16]
    final, ns, path = integrate_ladder(field, (x0,), 1.0, steps, method, record=lambda s: s[0].sum((-1, -2)))
    assert ns == [4, 8, 16] and path.shape == (17, 1)
    for i, h in enumerate(steps):
        assert torch.allclose(final[0][i], integrate(field, (x0,), 1.0, h, method)[0], atol=1e-14)


def _linear_params(i, **kw):
    rng = np.random.default_rng(i)
    return {"d": int(rng.integers(1, 5)), "r": int(rng.integers(1, 5)), "k": int(rng.integers(2, 4)),
            "n": int(rng.integers(2, 9)), "loss": ["mse", "logistic", "cross_entropy"][i % 3],
            "init_scale": 0.8, "data_seed": i, **kw}


def test_linear_batch_agrees_with_each_draw_alone():
    ps = [_linear_params(i) for i in range(6)] + [_linear_params(7, weight_decay=0.3), _linear_params(8, momentum=1.0)]
    steps = {"gd": [1 / 4, 1 / 8], "rk4": [1 / 4, 1 / 8]}
    seeds = list(range(100, 100 + len(ps)))
    batch = linear_flow_batch(ps, SimContext(seed=0).with_seeds(seeds), steps, T=0.5)
    for p, s, ob in zip(ps, seeds, batch):
        alone = linear_flow_batch([p], SimContext(seed=s).with_seeds([s]), steps, T=0.5)[0]
        assert ob["replicas"] == replicas(p["r"] * (p["r"] + 1) // 2)
        for key in alone:
            if key.startswith("Q"):
                np.testing.assert_allclose(ob[key], alone[key], rtol=1e-12, atol=1e-13)


def test_claim_simulate_is_the_batch_of_one():
    claim = load_claim("claims/conservation/linear_balance.py")
    ps = [_linear_params(i) for i in range(3)]
    ctx = SimContext(seed=0).with_seeds([5, 6, 7])
    batch = claim.simulate_batch(ps, ctx)
    for p, s, ob in zip(ps, [5, 6, 7], batch):
        alone = claim.simulate(p, SimContext(seed=s))
        np.testing.assert_allclose(ob["QT_rk4_balance"], alone["QT_rk4_balance"], rtol=1e-12, atol=1e-13)


def _mlp_params(i, **kw):
    rng = np.random.default_rng(i)
    d, w, k = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 3))
    arch = ["two_layer", "deep"][i % 2]
    return {"arch": arch, "d": d, "width": w, "k": k, "n": int(rng.integers(2, 9)),
            "activation": ["relu", "leaky_relu"][(i // 2) % 2], "leak": 0.2, "loss": ["mse", "logistic"][i % 2],
            "init_scale": 0.9, "data_seed": i, "sizes": [d, w, k] if arch == "two_layer" else [d, w, w, k], **kw}


def test_mlp_batch_agrees_with_each_draw_alone():
    ps = [_mlp_params(i) for i in range(6)] + [_mlp_params(6, activation="tanh"), _mlp_params(7, momentum=1.0)]
    seeds = list(range(200, 200 + len(ps)))
    batch = mlp_flow_batch(ps, SimContext(seed=0).with_seeds(seeds), [1 / 8, 1 / 16], T=0.5)
    for p, s, ob in zip(ps, seeds, batch):
        alone = mlp_flow_batch([p], SimContext(seed=s).with_seeds([s]), [1 / 8, 1 / 16], T=0.5)[0]
        assert ob["Q0_balance"].shape[1] == sum(p["sizes"][1:-1])
        for key in alone:
            if key.startswith("Q"):
                np.testing.assert_allclose(ob[key], alone[key], rtol=1e-12, atol=1e-13)


def test_mlp_backward_matches_autograd():
    from theorycheck.sim.conservation_nets import loss_of_outputs, mlp_outputs
    p = _mlp_params(1, loss="mse")  # deep, ReLU
    ob = mlp_flow_batch([p], SimContext(seed=3).with_seeds([3]), [1 / 8], T=1 / 8)[0]  # one Euler step
    g = SimContext(seed=3).generator()
    from theorycheck.sim.conservation_nets import _mlp_draw, neuron_quantities
    X, y, st = _mlp_draw(p, p["sizes"], g, torch.float64, "cpu")
    st = [t.clone().requires_grad_(True) for t in st]
    out = mlp_outputs(tuple(t[None] for t in st), X[None], "leaky_relu" if p["activation"] != "relu" else "relu")
    assert p["activation"] == "relu"
    loss = loss_of_outputs(out, y[None], "mse").sum()
    grads = torch.autograd.grad(loss, st)
    new = tuple((t - g_ / 8).detach() for t, g_ in zip(st, grads))
    np.testing.assert_allclose(ob["QT_gd_balance"][0, 0], neuron_quantities(new)["balance"].numpy(), rtol=1e-12)


def test_size_free_rates():
    assert linear_balance_rate(False, "balance")[0] == 0
    rho, lam = linear_balance_rate(True, "balance")
    assert sp.simplify(rho - 2 * lam) == 0
    assert linear_balance_rate(False, "sum")[0] is None
    assert neuron_balance_rate(2, 1)[0] == 0
    rho, lam = neuron_balance_rate(1, 1, decay=True)
    assert sp.simplify(rho - 2 * lam) == 0


def test_euler_defect():
    assert euler_defect_vanishes("relu") and euler_defect_vanishes("leaky_relu")
    assert not euler_defect_vanishes("tanh")


def test_richardson_removes_the_leading_terms():
    hs = [1 / 4, 1 / 8, 1 / 16]
    vals = [2.0 + 3 * h**4 - 5 * h**5 for h in hs]
    assert abs(richardson(vals, 4) - 2.0) < 1e-14


def test_median_replica_ignores_one_cancelled_network():
    h = np.array([1 / 8, 1 / 16, 1 / 32, 1 / 64])
    good = 0.1 * h
    cancelled = np.abs(0.01 * h - 0.2 * h**2)  # changes sign inside the ladder
    per = np.stack([cancelled, good, 1.3 * good], axis=1)
    assert np.allclose(median_replica(h, per), good)
