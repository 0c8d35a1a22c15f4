"""dynamics.modified_loss: c = 1/4 from sympy, closed-form gradients / HVPs against autograd, the
κ-interpolated flows against direct integration, padded SGD orderings, batched = per-draw, and the
checks on one draw (truth passes, mutants and the break fail)."""
import itertools
import sys
from pathlib import Path

import numpy as np
import torch

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext

CLAIM = load_claim(Path(__file__).parents[2] / "claims" / "dynamics" / "modified_loss.py")
MOD = sys.modules[CLAIM.derive.__module__]
D = sys.modules[MOD.problem.__module__]


def _draw(loss, process="gd", m=3, T=1.0, seed=1):
    return {"loss": loss, "process": process, "m": m, "T": T, "cond": 20.0, "data_seed": seed}


def test_sympy_coefficient_is_one_quarter():
    out = D.coefficient()
    assert out["c"] == __import__("sympy").Rational(1, 4) and all(v == out["gd"] for v in out["sgd"].values())


def _torch_losses(fam, pr, th):
    """Minibatch losses of one problem with torch autograd (independent of the closed forms)."""
    if fam == "quadratic":
        A, b = torch.as_tensor(pr["A"]), torch.as_tensor(pr["b"])
        return [0.5 * (th - b[k]) @ A[k] @ (th - b[k]) for k in range(len(A))]
    if fam == "poly2d":
        x, y = th
        return [x**4 / 4 + y**4 / 4 + sum(a * x**i * y**j for a, (i, j) in zip(pr["a"][k], D.MONOMIALS))
                for k in range(len(pr["a"]))]
    if fam == "mlp":
        H = D.MLP_HIDDEN
        W, c, v = th[: 2 * H].reshape(H, 2), th[2 * H: 3 * H], th[3 * H:]
        X, Y = torch.as_tensor(pr["X"]), torch.as_tensor(pr["Y"])
        return [0.5 * ((torch.tanh(X[k] @ W.T + c) @ v - Y[k]) ** 2).mean() for k in range(len(X))]
    X, Y = torch.as_tensor(pr["X"]), torch.as_tensor(pr["Y"])
    return [torch.nn.functional.softplus(-Y[k] * (X[k] @ th)).mean() + 0.5 * pr["rho"] * th @ th
            for k in range(len(X))]


def test_closed_forms_match_autograd():
    rng = np.random.default_rng(0)
    for fam in ("quadratic", "poly2d", "mlp", "logistic"):
        pr = D.problem(_draw(fam, m=3))
        F = D.family(fam, [pr], 1)
        th = pr["theta0"][None]
        V = rng.standard_normal((1, D.M_MAX, th.shape[1]))
        G, HV = F.grads(th)[0], F.hvps(th, V)[0]
        for k in range(D.M_MAX):
            t = torch.tensor(th[0], requires_grad=True)
            g = torch.autograd.grad(_torch_losses(fam, pr, t)[k], t, create_graph=True)[0]
            hv = torch.autograd.grad(g @ torch.as_tensor(V[0, k]), t)[0]
            assert np.allclose(G[k], g.detach().numpy(), atol=1e-12), fam
            assert np.allclose(HV[k], hv.numpy(), atol=1e-11), fam
        assert np.allclose(F.grads(th, np.array([2]))[0, 0], G[2])


def test_kappa_interpolation_and_flow_steps():
    p = _draw("mlp", "sgd", m=2, T=1.0)
    pr = D.problem(p)
    nodes = D.kappa_nodes()
    fam = D.family("mlp", [pr], len(nodes) + 1)
    kap = np.r_[nodes, 0.25 * 2.0 ** -6][:, None]
    F = D.flow_field(fam, np.repeat(pr["w"][None], len(kap), 0), kap, np.ones(len(kap), bool))
    th0 = np.repeat(pr["theta0"][None], len(kap), 0)
    fine = D.rk4_rows(F, th0, np.ones((len(kap), 1)), 256)
    coarse = D.rk4_rows(F, th0, np.ones((len(kap), 1)), D.FLOW_STEPS_PER_UNIT)
    assert np.abs(fine - coarse).max() < 3e-7
    assert np.abs(D.interpolate(nodes, fine[:-1], kap[-1, 0]) - fine[-1]).max() < 1e-10


def test_padded_orderings_average_the_real_ones():
    p = _draw("logistic", "sgd", m=2, T=0.125)
    pr = D.problem(p)
    h = 2.0 ** -4  # T = m·h: one epoch
    got = D.sgd_ladder(D.family("logistic", [pr], 24), np.array([2]), pr["theta0"][None], [h], np.array([0.125]))
    F1 = D.family("logistic", [pr], 1)
    ends = []
    for order in itertools.permutations(range(2)):
        th = pr["theta0"][None].copy()
        for k in order:
            th = th - h * F1.grads(th)[:, k]
        ends.append(th[0])
    assert np.allclose(got[0, 0], np.mean(ends, 0), atol=1e-14)


def test_batched_equals_per_draw():
    draws = [_draw("poly2d", "gd", T=0.5), _draw("mlp", "sgd", m=2, T=0.5, seed=3), _draw("logistic", "gd", T=0.5)]
    batch = CLAIM.simulate_batch(draws, SimContext().with_seeds([1, 2, 3]))
    for p, b in zip(draws, batch):
        one = CLAIM.simulate(p, SimContext(seed=9))
        assert np.allclose(one["theta_h"], b["theta_h"], atol=1e-13)
        assert np.allclose(one["theta_kappa"], b["theta_kappa"], atol=1e-13)


def test_checks_truth_mutants_break():
    p = _draw("quadratic", "gd", m=2, T=0.5, seed=4)
    pred, obs = CLAIM.derive(dict(p)), CLAIM.simulate(dict(p), SimContext())
    assert all(c(pred, obs, p, None).passed for c in CLAIM.checks)
    for m in CLAIM.mutants:
        bad = m.derive(dict(p), dict(pred))
        assert any(c(bad, obs, p, None).passed is False for c in CLAIM.checks), m.name
    broken = CLAIM.breaks[0].apply(dict(p))
    obs_b = CLAIM.simulate(broken, SimContext())
    failed = {c.name for c in CLAIM.checks if c(pred, obs_b, broken, None).passed is False}
    assert failed & set(CLAIM.breaks[0].expect)
