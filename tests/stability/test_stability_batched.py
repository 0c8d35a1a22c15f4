"""The stability claims' batched simulations agree with their per-draw ones (a
draw's randomness comes from its own seed, whatever shares its batch), and
their toolkits do what they say."""
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from theorycheck.discovery import load_claim
from theorycheck.sim.chains import linear_chains, sample_picks
from theorycheck.sim.context import SimContext
from theorycheck.sim.descent import (batched_top_eigen, bracket_threshold, mlp_mse_batched, quadratic_grows,
                                     tanh_mlp_grad, tanh_net_grad)
from theorycheck.sim.sgd import averaged_moment_map, moment_grows, sampled_sq_norms, span_coordinates
from theorycheck.symbolic.moments import (fourth_moment_curve, lifted_operator, mean_square_threshold, moment_curve,
                                          restrict)

CLAIMS = Path(__file__).resolve().parents[2] / "claims" / "stability"


def _same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, str):
        assert a == b
    else:
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-9, atol=1e-12,
                                   equal_nan=True)


def _draws(claim, n, seed, where=lambda p: True):
    return [p for p in claim.assumptions.design(4 * n, seed) if where(p)][:n]


@pytest.mark.parametrize("name,n,where", [
    ("probabilistic", 3, lambda p: True),
    ("gd_threshold", 3, lambda p: True),
    ("sgd_trace", 3, lambda p: True),
    ("diag_net_trace_norm", 3, lambda p: True),
    ("edge_of_stability", 2, lambda p: p["width"] == 8),
])
def test_batched_equals_per_draw(name, n, where):
    torch.set_num_threads(1)
    claim = load_claim(CLAIMS / f"{name}.py")
    params = _draws(claim, n, 3, where)
    seeds = [11 + i for i in range(len(params))]
    batch = claim.simulate_batch(params, SimContext().with_seeds(seeds))
    # the first draw alone (and the last one, except for the slowest claim)
    for i in ([0] if name == "edge_of_stability" else [0, len(params) - 1]):
        ctx = SimContext(seed=seeds[i])
        try:
            alone = claim.simulate(params[i], ctx)
        except Exception as exc:  # a per-draw Inconclusive: the batch says so with NaNs and a status
            assert batch[i].get("status", "converged") != "converged", exc
            continue
        _same(alone, batch[i])


# ---- probabilistic --------------------------------------------------------------------------------

def test_scalar_chain_is_the_product_of_its_factors():
    g = [torch.Generator().manual_seed(5)]
    picks = sample_picks([0.3], 40, 3, g)
    A = torch.tensor([[[[0.5]], [[-1.7]]]], dtype=torch.float64)
    logs = linear_chains(A, torch.ones(1, 1, dtype=torch.float64), picks, [40])[0, 0]
    want = torch.where(picks[0], torch.tensor(math.log(0.5), dtype=torch.float64),
                       torch.tensor(math.log(1.7), dtype=torch.float64)).sum(0)
    assert torch.allclose(logs, want, rtol=1e-12)


def test_momentum_chain_matches_a_plain_loop():
    g = [torch.Generator().manual_seed(6)]
    picks = sample_picks([0.5], 30, 2, g)
    A = torch.tensor([[[[0.2]], [[1.4]]]], dtype=torch.float64)
    logs = linear_chains(A, torch.ones(1, 1, dtype=torch.float64), picks, [30], momentum=0.5)[0, 0]
    for c in range(2):
        w, prev = 1.0, 1.0
        for t in range(30):
            a = 0.2 if picks[0, t, c] else 1.4
            w, prev = a * w + 0.5 * (w - prev), w
        assert math.isclose(float(logs[c]), math.log(abs(w)), rel_tol=1e-10)


def test_probabilistic_zero_variance_is_exact_and_p1_rate_is_lambda():
    claim = load_claim(CLAIMS / "probabilistic.py")
    p = {"law": "zero-variance", "p": 1, "a": 1.6, "b": 0.0, "a2": 0.5, "b2": 0.5, "q": 0.3, "data_seed": 1}
    pred = claim.derive(p)
    obs = claim.simulate(p, SimContext(seed=2))
    assert pred["Lambda"] == pytest.approx(math.log(0.6), rel=1e-15)
    assert obs["rate_se"] < 1e-15 and abs(obs["rate_mean"] - pred["Lambda"]) < 1e-13
    ev = [c(pred, obs, p, SimContext()) for c in claim.checks]
    assert all(e.passed for e in ev), ev
    q = {**p, "law": "two-point", "b": -0.4}
    assert claim.derive(q)["rate_T"] == pytest.approx(claim.derive(q)["Lambda"], rel=1e-10)


# ---- gd_threshold ---------------------------------------------------------------------------------

def test_quadratic_threshold_bracket_contains_two_over_lambda():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(4, 3, 3, generator=g, dtype=torch.float64)
    H = A.transpose(1, 2) @ A + torch.eye(3, dtype=torch.float64)
    w0 = torch.randn(4, 3, generator=g, dtype=torch.float64)
    lo, hi = bracket_threshold(lambda e: quadratic_grows(H, w0, e, 30), 1e-3, 1e2, 4, 16, 11, interior=3)
    thr = 2 / torch.linalg.eigvalsh(H)[:, -1]
    assert torch.all(lo <= thr * (1 + 1e-12)) and torch.all(thr <= hi * (1 + 1e-12))
    assert torch.all(hi / lo - 1 < 1e-5)
    lo_m, _ = bracket_threshold(lambda e: quadratic_grows(H, w0, e, 30, momentum=0.5), 1e-3, 1e2, 4, 16, 11,
                                interior=3)
    assert torch.allclose(lo_m, 1.5 * thr, rtol=1e-4)  # heavy ball: 2(1 + β)/λ


def test_hand_written_gradients_match_autograd():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(2, 7, 3, generator=g, dtype=torch.float64)
    y = torch.randn(2, 7, 1, generator=g, dtype=torch.float64)
    for widths in ([4], [4, 5]):
        loss, P = mlp_mse_batched(X, y, widths)
        th = torch.randn(2, 3, P, generator=g, dtype=torch.float64)
        x = th.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(loss(x).sum(), x)
        L, got = tanh_mlp_grad(X, y, widths)(th)
        assert torch.allclose(got, want, atol=1e-13) and torch.allclose(L, loss(th), atol=1e-15)
        if len(widths) == 1:
            assert torch.allclose(tanh_net_grad(X, y, widths[0])(th), want, atol=1e-13)


def test_certified_lambda_max_is_exact():
    claim = load_claim(CLAIMS / "gd_threshold.py")
    p = {"model": "quadratic", "p": 4, "entry": 3, "shift": 2, "width": 2, "data_seed": 9}
    pred = claim.derive(p)
    H = np.random.default_rng(9).integers(-3, 4, size=(4, 4))
    H = H.T @ H + 2 * np.eye(4)
    assert pred["lambda_max"] == pytest.approx(np.linalg.eigvalsh(H).max(), rel=1e-13)


# ---- sgd_trace ------------------------------------------------------------------------------------

def test_averaged_update_map_equals_the_lifted_operator():
    rng = np.random.default_rng(3)
    G = rng.normal(size=(3, 5))
    for batch in (1, 2):
        Gr = span_coordinates(torch.as_tensor(G)[None])
        L = averaged_moment_map(Gr, [3], torch.tensor([[0.07]], dtype=torch.float64), batch)[0, 0].numpy()
        Hr = np.einsum("na,nb->nab", Gr[0].numpy(), Gr[0].numpy())
        np.testing.assert_allclose(L, lifted_operator(Hr, 0.07, batch), rtol=1e-11, atol=1e-12)


def test_moment_grows_brackets_the_mean_square_threshold():
    rng = np.random.default_rng(4)
    G = rng.normal(size=(3, 4))
    Hs = np.einsum("na,nb->nab", G, G)
    eta_c = mean_square_threshold(Hs)
    Gr = span_coordinates(torch.as_tensor(G)[None])
    m0 = (torch.eye(3, dtype=torch.float64) / 3).reshape(1, 1, 9)
    etas = torch.tensor([[eta_c * (1 - 1e-6), eta_c * (1 + 1e-6)]], dtype=torch.float64)
    grows = moment_grows(averaged_moment_map(Gr, [3], etas, 1), m0.expand(1, 2, 9), 36)[0]
    assert grows.tolist() == [False, True]


def test_moment_curves_equal_the_average_over_every_index_path():
    rng = np.random.default_rng(5)
    G = rng.normal(size=(3, 3))
    Hs = np.einsum("na,nb->nab", G, G)
    d0 = rng.normal(size=3)
    eta = 0.1
    m2 = moment_curve(Hs, np.outer(d0, d0), eta, 4)
    m4 = fourth_moment_curve(Hs, d0, eta, 4)
    for t in range(1, 5):
        vals = []
        for path in itertools.product(range(3), repeat=t):
            d = d0.copy()
            for i in path:
                d = d - eta * Hs[i] @ d
            vals.append(d @ d)
        vals = np.array(vals)
        assert vals.mean() == pytest.approx(m2[t], rel=1e-12)
        assert (vals**2).mean() == pytest.approx(m4[t], rel=1e-12)


def test_sampled_sgd_second_moment_is_unbiased():
    G = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 2.0, 0.0]]], dtype=torch.float64)
    d0 = torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64)
    etas = torch.tensor([[0.4]], dtype=torch.float64)
    sq = sampled_sq_norms(G, [2], d0, etas, 3, 20000, [torch.Generator().manual_seed(0)])[0, 0]
    Hs = np.einsum("na,nb->nab", G[0].numpy(), G[0].numpy())
    u = (d0 / d0.norm())[0].numpy()
    exact = moment_curve(Hs, np.outer(u, u), 0.4, 3)
    se = sq.std(-1) / math.sqrt(20000)
    assert torch.all((sq.mean(-1) - torch.as_tensor(exact)).abs() <= 5 * se + 1e-12)


def test_generalised_eigenvalue_threshold_agrees_with_a_scan():
    from theorycheck.symbolic.moments import _scan
    rng = np.random.default_rng(6)
    for _ in range(5):
        n, p = int(rng.integers(1, 5)), 6
        G = rng.integers(-3, 4, size=(n, p)).astype(float)
        if np.any(np.abs(G).sum(1) == 0):
            continue
        Hs = np.einsum("na,nb->nab", G, G)
        for batch in (1, 2):
            assert mean_square_threshold(Hs, batch) == pytest.approx(_scan(restrict(Hs), batch, 1e-12), rel=1e-9)


# ---- edge_of_stability ----------------------------------------------------------------------------

def test_batched_lanczos_finds_every_networks_top_eigenvalue():
    g = torch.Generator().manual_seed(7)
    A = torch.randn(5, 12, 12, generator=g, dtype=torch.float64)
    H = A @ A.transpose(1, 2)
    top, vec, res = batched_top_eigen(lambda V: (H @ V[..., None])[..., 0],
                                      torch.randn(5, 12, generator=g, dtype=torch.float64), 12)
    assert torch.allclose(top, torch.linalg.eigvalsh(H)[:, -1], rtol=1e-10)
