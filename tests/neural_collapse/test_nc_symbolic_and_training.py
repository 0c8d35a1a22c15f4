"""The scalar problems against independent numerics; the batched UFM losses
against autograd and a reference implementation; L-BFGS, SPG, the escape
move and the certificate rules of theorycheck.sim.ufm."""
import math

import numpy as np
import pytest
import sympy as sp
import torch
from scipy.optimize import minimize_scalar

from theorycheck import Inconclusive
from theorycheck.sim.ufm import (BestCertified, CEProblems, MSEProblems, SCLProblems, Trained, labels_from_counts,
                                 layout, lbfgs, scl_loss, spg)
from theorycheck.symbolic.collapse import (K_, beta_star, ce_at_etf, ce_at_etf_symbolic, ce_etf_optimum,
                                           collapse_constant, collapse_threshold_two_factor, frame_optimum,
                                           minimise_phi, mse_scale_law, scl_etf_loss, scl_orthogonal_optimum, t_)

F64 = torch.float64


# ---- exact side -------------------------------------------------------------------------

@pytest.mark.parametrize("K", [2, 3, 5])
def test_ce_at_etf_symbolic_matches_the_gram_row(K):
    diff = ce_at_etf(K, t_) - ce_at_etf_symbolic(t_).subs(K_, K)
    for t in (0.0, 0.7, 3.0):
        assert abs(float(diff.subs(t_, t))) < 1e-12


@pytest.mark.parametrize("K,n,lw,lh", [(3, 2, 0.004, 0.01), (5, 1, 0.02, 0.001), (2, 4, 0.01, 0.03)])
def test_ce_scale_matches_a_numeric_minimisation(K, n, lw, lh):
    opt = ce_etf_optimum(K, n, lw, lh)
    sig = math.sqrt(n * lw * lh)

    def g(t):
        return math.log(math.exp(t) + (K - 1) * math.exp(-t / (K - 1))) - t + K * sig * t

    res = minimize_scalar(g, bounds=(0, 50), method="bounded", options={"xatol": 1e-12})
    assert abs(opt["t"] - res.x) < 1e-5
    assert abs(opt["loss"] - res.fun) < 1e-10
    assert abs(opt["norm_w"] * opt["norm_h"] - opt["t"]) < 1e-12


def test_ce_collapses_above_its_threshold():
    K, n, lw = 3, 2, 0.05
    thr = ce_etf_optimum(K, n, lw, 0.01)["threshold_lam_h"]
    assert abs(thr - 1 / (K * K * n * lw)) < 1e-12
    assert ce_etf_optimum(K, n, lw, thr * 1.01)["t"] == 0
    assert ce_etf_optimum(K, n, lw, thr * 0.99)["t"] > 0


@pytest.mark.parametrize("K,n,lw,lh", [(3, 2, 0.01, 0.02), (4, 1, 0.1, 0.1), (2, 3, 0.2, 0.3)])
def test_two_factor_frame_matches_the_literature_oracle(K, n, lw, lh):
    opt = frame_optimum([n] * K, [lw], lh)
    oracle = max(0.0, 1 - K * math.sqrt(n * lw * lh))  # WH = (1 − K√(nλ_Wλ_H))₊ Y
    assert abs(opt["product_scale"][0] - oracle) < 1e-12
    assert abs(collapse_threshold_two_factor(n, K * n, lw) - 1 / (K * K * n * lw)) < 1e-12


def test_imbalanced_lengths_and_minority_collapse():
    counts, lw, lh = [9, 4, 1], 0.02, 0.3
    N = sum(counts)
    opt = frame_optimum(counts, [lw], lh)
    for n, s in zip(counts, opt["s"]):
        assert abs(s - max(0.0, math.sqrt(n) - N * math.sqrt(lw * lh))) < 1e-12
    assert opt["s"][2] == 0 and opt["s"][0] > 0


@pytest.mark.parametrize("L", [3, 4])
def test_deep_scalar_problem_matches_a_grid_search(L):
    n, N, c = 2, 6, 0.03
    s = minimise_phi(n, N, L, c)
    grid = np.linspace(0, 3, 300001)
    phi = (grid - math.sqrt(n)) ** 2 / (2 * N) + L / 2 * c * grid ** (2 / L)
    assert abs(s - grid[np.argmin(phi)]) < 1e-4
    cstar = collapse_constant(n, N, L)
    assert minimise_phi(n, N, L, cstar * 1.001) == 0
    assert minimise_phi(n, N, L, cstar * 0.999) > 0


@pytest.mark.parametrize("L,closed", [(3, 2 ** (2 / 3) / 4), (4, math.sqrt(6) / 9)])
def test_collapse_constant_is_a_first_order_jump(L, closed):
    """β*(L) against its closed form, and at c*: φ(s_jump) = φ(0) with s_jump = √n(L−2)/(L−1) stationary."""
    assert abs(beta_star(L) - closed) < 1e-14
    assert mse_scale_law(L)["u_jump"] == sp.Rational(L - 2, L - 1)
    n, N = 3, 12
    c = collapse_constant(n, N, L)
    s = math.sqrt(n) * (L - 2) / (L - 1)
    phi = mse_scale_law(L)["f_phi"]
    assert abs(phi(s, n, N, c) - phi(0.0, n, N, c)) < 1e-14
    h = 1e-6
    assert abs(phi(s + h, n, N, c) - phi(s - h, n, N, c)) / (2 * h) < 1e-8


def test_scl_minimum_equals_the_loss_of_an_orthogonal_frame():
    counts, tau = [4, 2, 3], 0.5
    labels = labels_from_counts(counts)
    H = torch.eye(3, dtype=F64)[:, labels][None]
    assert abs(float(scl_loss(H, labels, tau)[0]) - scl_orthogonal_optimum(counts, tau)["loss"]) < 1e-12
    assert scl_etf_loss(counts, tau) < scl_orthogonal_optimum(counts, tau)["loss"]  # without ReLU it is not optimal


# ---- batched losses: padding is exact, gradients are the true ones ---------------------------

def _autograd_check(problem, x):
    f, g = problem.value_and_grad(x)
    xa = x.clone().requires_grad_(True)
    with torch.enable_grad():
        fa, _ = problem.value_and_grad(xa)
        (ga,) = torch.autograd.grad(fa.sum(), xa)
    assert torch.allclose(f, fa.detach(), rtol=1e-13, atol=1e-13)
    assert torch.allclose(g, ga * problem_mask(problem), rtol=1e-10, atol=1e-12)


def problem_mask(problem):
    return problem.mask if problem.mask.dim() == 2 else problem.mask.flatten(1)


def _single(problem_cls, counts, d, **kw):
    return problem_cls(layout([counts], [d]), **{k: [v] for k, v in kw.items()})


def test_ce_gradient_and_padding():
    lay = layout([[2, 2, 2], [3, 1]], [3, 2])
    prob = CEProblems(lay, [0.01, 0.02], [0.03, 0.01], [0.1, 0.05])
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    x = prob.init(gens, 1, (1.0,))
    x = x + 0.1 * torch.randn(x.shape, generator=gens[0], dtype=F64) * prob.mask   # a non-zero bias too
    _autograd_check(prob, x)
    alone = _single(CEProblems, [3, 1], 2, lam_w=0.02, lam_h=0.01, lam_b=0.05)
    W, H, b = prob.pack.split(x[1:2])
    xs = alone.pack.join([W[:, :2, :2], H[:, :2, :4], b[:, :2]])
    f1, g1 = alone.value_and_grad(xs)
    f, g = prob.value_and_grad(x)
    assert torch.allclose(f[1], f1[0], rtol=1e-14)
    gW, gH, gb = prob.pack.split(g[1:2])
    assert torch.allclose(alone.pack.join([gW[:, :2, :2], gH[:, :2, :4], gb[:, :2]]), g1, rtol=1e-12, atol=1e-15)


def test_deep_mse_gradient_and_frozen_layers():
    """A 2-weight-layer problem padded into a 3-weight-layer batch (a frozen identity layer) is the same problem."""
    lay = layout([[2, 2], [1, 1, 1]], [3, 3])
    prob = MSEProblems(lay, [[0.02, 0.03], [0.01, 0.02, 0.04]], [0.05, 0.02], bias=[True, False])
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    x = prob.init(gens, 1, (1.0,))
    _autograd_check(prob, x)
    alone = _single(MSEProblems, [2, 2], 3, lams=[0.02, 0.03], lam_h=0.05, bias=True)
    parts = prob.pack.split(x[0:1])
    xs = alone.pack.join([parts[1][:, :3, :3], parts[2][:, :2, :3], parts[3][:, :3, :4], parts[4][:, :2]])
    f1, _ = alone.value_and_grad(xs)
    assert torch.allclose(prob.value_and_grad(x)[0][0], f1[0], rtol=1e-14)
    assert float(prob.pack.split(prob.value_and_grad(x)[1][0:1])[0].abs().max()) == 0   # the frozen layer


def test_scl_problems_match_the_reference_loss_and_gradient():
    lay = layout([[3, 2], [2, 2, 2]], [3, 4])
    prob = SCLProblems(lay, [0.5, 0.3], [True, True])
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    x = prob.init(gens, 1, (1.0,))
    _autograd_check(prob, x)
    f, _ = prob.value_and_grad(x)
    H = prob.features(x)
    for i, (counts, d, tau) in enumerate([([3, 2], 3, 0.5), ([2, 2, 2], 4, 0.3)]):
        labels = labels_from_counts(counts)
        ref = scl_loss(H[i:i + 1, :d, :labels.numel()], labels, tau)
        assert torch.allclose(f[i], ref[0], rtol=1e-13)


# ---- optimisers and certificates ------------------------------------------------------------

def _mse_batch(B=6):
    counts = [[2, 2, 2], [3, 1], [1, 1, 1, 1], [2, 3], [1, 2, 2], [2, 2]][:B]
    dims = [3, 2, 4, 3, 4, 2][:B]
    lay = layout(counts, dims)
    prob = MSEProblems(lay, [[0.02, 0.01], [0.03], [0.01, 0.01, 0.02], [0.05], [0.02, 0.02], [0.01]][:B],
                       [0.02, 0.03, 0.01, 0.05, 0.02, 0.04][:B])
    return prob, prob.init([torch.Generator().manual_seed(i) for i in range(B)], 1, (1.2,))


def test_lbfgs_certifies_and_compaction_does_not_change_a_problem():
    prob, x0 = _mse_batch()
    a = lbfgs(prob, x0, grad_tol=1e-10, max_iter=3000, compact=True)
    b = lbfgs(prob, x0, grad_tol=1e-10, max_iter=3000, compact=False)
    assert bool(a.converged.all())
    assert bool((a.grad_norm <= 1e-10).all())
    assert torch.equal(a.x, b.x) and torch.equal(a.loss, b.loss)
    one = lbfgs(prob.take(torch.tensor([2])), x0[2:3], grad_tol=1e-10, max_iter=3000)
    assert torch.allclose(one.x, a.x[2:3], rtol=1e-12, atol=1e-14)   # alone = in the batch


def test_lbfgs_leaves_an_unconverged_problem_uncertified():
    prob, x0 = _mse_batch(2)
    res = lbfgs(prob, x0, grad_tol=1e-10, max_iter=5)
    assert not bool(res.converged.any()) and bool((res.grad_norm > 1e-10).all())


def test_spg_reaches_the_orthogonal_frame_and_its_kkt_certificate():
    counts, tau = [4, 2, 3], 0.3
    prob = _single(SCLProblems, counts, 4, tau=tau, nonnegative=True)
    res = spg(prob, prob.init([torch.Generator().manual_seed(3)], 1, (1.0,)), grad_tol=1e-9, max_iter=2000)
    assert bool(res.converged[0])
    assert abs(float(res.loss[0]) - scl_orthogonal_optimum(counts, tau)["loss"]) < 1e-9
    assert float(prob.features(res.x).min()) >= 0
    # the certificate measures stationarity of the constrained problem: a random feasible point is far from it
    x = prob.init([torch.Generator().manual_seed(4)], 1, (1.0,))
    assert float(prob.certificate(x, prob.value_and_grad(x)[1])[0]) > 1e-2


def _trained(loss, cert, tol=1e-10):
    loss, cert = torch.tensor(loss, dtype=F64), torch.tensor(cert, dtype=F64)
    return Trained(torch.arange(loss.numel(), dtype=F64)[:, None], loss, cert, cert <= tol, 0)


def test_best_certified_rules():
    best = BestCertified(4)
    # two candidates per draw: none certified | certified 1.0, uncertified 0.5 | certified 0.5 | certified 2.0, 3.0
    best.offer(torch.arange(4), _trained([1.0, 0.5, 1.0, 0.5, 0.5, 1.0, 2.0, 3.0],
                                         [1e-3, 1e-3, 1e-12, 1e-3, 1e-12, 1e-3, 1e-12, 1e-12]), "restart")
    choice = best.choice()
    assert isinstance(choice[0], Inconclusive) and "no convergence certificate" in str(choice[0])
    assert isinstance(choice[1], Inconclusive) and "below the best certified" in str(choice[1])
    assert choice[2] is True and float(best.loss[2]) == 0.5 and float(best.x[2, 0]) == 4.0
    assert choice[3] is True and float(best.loss[3]) == 2.0
    best.offer(torch.tensor([0, 3]), _trained([0.4, 1.5], [1e-12, 1e-12]), "escape")   # later candidates count
    choice = best.choice()
    assert choice[0] is True and float(best.loss[0]) == 0.4   # now below every uncertified candidate
    assert float(best.loss[3]) == 1.5 and best.source[3] == "escape"


def test_escape_revives_a_class_stuck_at_zero():
    """L = 3, K = d = 2: a certified point with class 2 at 0 (a local minimum: the rank-one
    factors are invariant) is below neither escape candidate's trained loss; the escape move
    finds the derived global minimum, and at that minimum there is nothing to escape to."""
    lams, lam_h, n = [0.05, 0.08], 0.06, 2
    prob = _single(MSEProblems, [n, n], 2, lams=lams, lam_h=lam_h)
    e1 = torch.zeros(1, 2, 2, dtype=F64)
    e1[0, 0, 0] = 1.0
    H = torch.zeros(1, 2, 2 * n, dtype=F64)
    H[0, 0, :n] = 1.0
    stuck = lbfgs(prob, prob.pack.join([e1, e1, H, torch.zeros(1, 2, dtype=F64)]), grad_tol=1e-10, max_iter=2000)
    assert bool(stuck.converged[0])
    opt = frame_optimum([n, n], lams, lam_h)
    assert float(stuck.loss[0]) > opt["loss"] + 1e-3
    assert bool(prob.residual_direction_unused(stuck.x)[0])
    cand = prob.escape(stuck.x, (0.5, 0.75, 1.0))
    res = lbfgs(prob.take(torch.zeros(3, dtype=torch.long)), cand, grad_tol=1e-10, max_iter=2000)
    assert bool(res.converged.any())
    assert abs(float(res.loss[res.converged].min()) - opt["loss"]) < 1e-9
    top = res.x[int(torch.where(res.converged, res.loss, torch.inf).argmin())][None]
    assert not bool(prob.residual_direction_unused(top)[0])
