"""The scalar problems against independent numerics, and the UFM trainer's certificate."""
import math

import numpy as np
import pytest
import sympy as sp
import torch
from scipy.optimize import minimize_scalar

from theorycheck import Inconclusive
from theorycheck.sim.collapse import class_means, gram
from theorycheck.sim.ufm import Trained, best_converged, fit_ce_ufm, fit_mse_ufm, labels_from_counts, scl_loss
from theorycheck.symbolic.collapse import (K_, ce_at_etf, ce_at_etf_symbolic, ce_etf_optimum, collapse_threshold_deep,
                                           collapse_threshold_two_factor, frame_optimum, minimise_phi, scl_etf_loss,
                                           scl_orthogonal_optimum, t_)


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
    assert abs(float(opt["t"]) - res.x) < 1e-5
    assert abs(float(opt["loss"]) - res.fun) < 1e-10
    assert abs(opt["norm_w"] * opt["norm_h"] - opt["t"]) < 1e-25  # exact arithmetic at 30 digits


def test_ce_collapses_above_its_threshold():
    K, n, lw = 3, 2, 0.05
    thr = float(ce_etf_optimum(K, n, lw, 0.01)["threshold_lam_h"])
    assert abs(thr - 1 / (K * K * n * lw)) < 1e-12
    assert float(ce_etf_optimum(K, n, lw, thr * 1.01)["t"]) == 0
    assert float(ce_etf_optimum(K, n, lw, thr * 0.99)["t"]) > 0


@pytest.mark.parametrize("K,n,lw,lh", [(3, 2, 0.01, 0.02), (4, 1, 0.1, 0.1), (2, 3, 0.2, 0.3)])
def test_two_factor_frame_matches_the_literature_oracle(K, n, lw, lh):
    opt = frame_optimum([n] * K, [lw], lh)
    oracle = max(0.0, 1 - K * math.sqrt(n * lw * lh))  # WH = (1 − K√(nλ_Wλ_H))₊ Y
    assert abs(float(opt["product_scale"][0]) - oracle) < 1e-12
    assert abs(float(collapse_threshold_two_factor(n, K * n, lw)) - 1 / (K * K * n * lw)) < 1e-12


def test_imbalanced_lengths_and_minority_collapse():
    counts, lw, lh = [9, 4, 1], 0.02, 0.3
    N = sum(counts)
    opt = frame_optimum(counts, [lw], lh)
    for n, s in zip(counts, opt["s"]):
        assert abs(float(s) - max(0.0, math.sqrt(n) - N * math.sqrt(lw * lh))) < 1e-12
    assert float(opt["s"][2]) == 0 and float(opt["s"][0]) > 0


@pytest.mark.parametrize("L", [3, 4])
def test_deep_scalar_problem_matches_a_grid_search(L):
    n, N, c = 2, 6, 0.03
    s = float(minimise_phi(n, N, L, sp.Float(c, 30)))
    grid = np.linspace(0, 3, 300001)
    phi = (grid - math.sqrt(n)) ** 2 / (2 * N) + L / 2 * c * grid ** (2 / L)
    assert abs(s - grid[np.argmin(phi)]) < 1e-4
    cstar = float(collapse_threshold_deep(n, N, L))
    assert float(minimise_phi(n, N, L, sp.Float(cstar * 1.01, 30))) == 0
    assert float(minimise_phi(n, N, L, sp.Float(cstar * 0.99, 30))) > 0


def test_scl_minimum_equals_the_loss_of_an_orthogonal_frame():
    counts, tau = [4, 2, 3], 0.5
    labels = labels_from_counts(counts)
    H = torch.eye(3, dtype=torch.float64)[:, labels][None]
    assert abs(float(scl_loss(H, labels, tau)) - float(scl_orthogonal_optimum(counts, tau)["loss"])) < 1e-12
    assert float(scl_etf_loss(counts, tau)) < float(scl_orthogonal_optimum(counts, tau)["loss"])


def test_best_converged_refuses_uncertified_runs():
    r = Trained([torch.zeros(2, 1)], torch.tensor([1.0, 0.5]), torch.tensor([1e-3, 1e-3]),
                torch.tensor([False, False]))
    with pytest.raises(Inconclusive):
        best_converged(r, 1e-9)
    r = Trained([torch.zeros(2, 1)], torch.tensor([1.0, 0.5]), torch.tensor([1e-12, 1e-3]),
                torch.tensor([True, False]))
    with pytest.raises(Inconclusive):  # the uncertified restart is lower
        best_converged(r, 1e-9)
    r = Trained([torch.zeros(2, 1)], torch.tensor([0.5, 1.0]), torch.tensor([1e-12, 1e-3]),
                torch.tensor([True, False]))
    assert best_converged(r, 1e-9) == 0


def test_ce_ufm_fit_reaches_the_derived_minimum():
    fit = fit_ce_ufm([2, 2, 2], 3, 0.01, 0.01, 0.01, restarts=2, generator=torch.Generator().manual_seed(0))
    assert fit.grad_norm <= 1e-8
    assert abs(fit.loss - float(ce_etf_optimum(3, 2, 0.01, 0.01)["loss"])) < 1e-9


def test_mse_ufm_fit_is_an_orthogonal_frame():
    fit = fit_mse_ufm([2, 2, 2], 3, [0.01], 0.02, restarts=2, generator=torch.Generator().manual_seed(0))
    M = class_means(fit.params[1], fit.labels, 3)
    G = gram(M)
    assert float((G - torch.diag(torch.diag(G))).abs().max()) < 1e-6
