"""MSE UFM without bias, imbalanced classes (Dang et al.): features and
classifiers converge to orthogonal frames whose per-class lengths follow a
closed form in n_k, with minority classes collapsing to zero.

Exact side (theorycheck.symbolic.collapse.frame_optimum, two factors): per
class, s_k minimises φ_k(s) = (s − √n_k)²/(2N) + √(λ_Wλ_H)·s over s ≥ 0
(sympy solves φ_k' = 0, clips at 0), so W m_k = (s_k/√n_k) e_k,
‖w_k‖² = s_k√(λ_H/λ_W), ‖m_k‖² = s_k√(λ_W/λ_H)/n_k and class k collapses to
zero exactly when λ_H reaches the root of φ_k'(0⁺) = 0; the target Grams are
diagonal with those lengths.  The minimum loss is cross-checked against the
convex nuclear-norm problem in cvxpy.
Simulation: GD then L-BFGS and Newton steps from several random inits,
batched; only a certified restart is measured.
"""
import cvxpy as cp
import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Claim, Float, Int, Mutant, Plot, Seed, Series, Source, at_least,
                         close, holds)
from theorycheck.sim.collapse import class_means, gram, mm, within_class_rms
from theorycheck.sim.ufm import fit_mse_ufm
from theorycheck.symbolic.collapse import collapse_threshold_two_factor, frame_optimum, with_lams
from theorycheck.symbolic.convex import solve

RESTARTS = 3


def counts_of(params):
    """n_k decreasing geometrically from n_max by the ratio over the K classes (at least 1)."""
    K, top, ratio = params["K"], params["n_max"], params["ratio"]
    return [max(1, int(round(top * ratio ** (-k / max(K - 1, 1))))) for k in range(K)]


def nuclear_norm_optimum(counts, lam_w, lam_h):
    N = sum(counts)
    Y = np.zeros((len(counts), N))
    at = 0
    for k, n in enumerate(counts):
        Y[k, at:at + n] = 1.0
        at += n
    Z = cp.Variable(Y.shape)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(Z - Y) / (2 * N) + np.sqrt(lam_w * lam_h) * cp.normNuc(Z)))
    return solve(prob).value


def derive(params):
    params = with_lams(params)
    counts = counts_of(params)
    N = sum(counts)
    opt = frame_optimum(counts, [params["lam_W"]], params["lam_H"])
    nw = np.array([float(v) for v in opt["norm_w"]])
    nh = np.array([float(v) for v in opt["norm_h"]])
    sc = np.array([float(v) for v in opt["product_scale"]])
    thresholds = np.array([float(collapse_threshold_two_factor(n, N, params["lam_W"])) for n in counts])
    return {"loss": opt["loss"], "loss_convex": nuclear_norm_optimum(counts, params["lam_W"], params["lam_H"]),
            "counts": np.array(counts, dtype=float), "norm_w": nw, "norm_h": nh, "product_scale": sc,
            "collapse_threshold_lam_h": thresholds, "collapsed": (params["lam_H"] >= thresholds).astype(float),
            "gram_means": np.diag(nh ** 2), "gram_w": np.diag(nw ** 2), "w_times_m": np.diag(sc), "nc1": 0.0}


def simulate(params, ctx):
    params = with_lams(params)
    counts = counts_of(params)
    K = len(counts)
    fit = fit_mse_ufm(counts, params["d"], [params["lam_W"]], params["lam_H"], restarts=RESTARTS,
                      generator=ctx.generator(), bias=params.get("bias", False), dtype=ctx.dtype,
                      device=ctx.device, polish_iters=500 if ctx.large else 200)
    W, H = fit.params[0], fit.params[1]
    M = class_means(H, fit.labels, K)
    return {"loss": fit.loss, "grad_norm": fit.grad_norm, "gram_means": gram(M).numpy(),
            "gram_w": mm(W, W.T).numpy(), "w_times_m": mm(W, M).numpy(),
            "norm_w": W.norm(dim=1).numpy(), "norm_h": M.norm(dim=0).numpy(),
            "collapsed": (M.norm(dim=0) < 1e-6).double().numpy(),
            "nc1": float(within_class_rms(H, fit.labels, K))}


def with_lengths(params, pred, scale):
    """A prediction with per-class product scales ``scale`` (lengths balanced as the theorem says)."""
    params = with_lams(params)
    counts = np.array(counts_of(params), dtype=float)
    ratio = (params["lam_H"] / params["lam_W"]) ** 0.5
    s = np.asarray(scale) * np.sqrt(counts)
    a2, h2 = s * ratio, s / ratio / counts
    return {**pred, "product_scale": np.asarray(scale), "norm_w": np.sqrt(np.abs(a2)),
            "norm_h": np.sqrt(np.abs(h2)), "gram_means": np.diag(h2), "gram_w": np.diag(a2),
            "w_times_m": np.diag(scale), "collapsed": (np.asarray(scale) <= 0).astype(float)}


def lengths_ignore_imbalance(params, pred):
    """The balanced closed form with the average count: every class shrinks alike."""
    params = with_lams(params)
    counts = np.array(counts_of(params), dtype=float)
    nbar = counts.mean()
    r = len(counts) * np.sqrt(nbar * params["lam_W"] * params["lam_H"])
    return with_lengths(params, pred, np.full(len(counts), max(0.0, 1 - r)))


def no_minority_collapse(params, pred):
    """|√n_k − N√(λ_Wλ_H)| in place of the positive part: no class ever vanishes."""
    params = with_lams(params)
    counts = np.array(counts_of(params), dtype=float)
    s = np.abs(np.sqrt(counts) - counts.sum() * np.sqrt(params["lam_W"] * params["lam_H"]))
    return with_lengths(params, pred, s / np.sqrt(counts))


def lengths_reversed(params, pred):
    """Minority classes get the majority's lengths (the order of n_k reversed)."""
    return with_lengths(params, pred, np.asarray(pred["product_scale"])[::-1])


def all_nonzero(p):
    """Draws where the optimum keeps every class (the rank break can only show there)."""
    counts = counts_of(p)
    return min(counts) > sum(counts) ** 2 * p["reg"] ** 2 * 1.2


claim = Claim(
    id="neural_collapse.imbalanced_orthogonal",
    title="Imbalanced MSE UFM: orthogonal frame with closed-form per-class lengths and minority collapse",
    statement=("In the bias-free MSE unconstrained features model with class counts n_k (N = Σ n_k) and d ≥ K, "
               "global minimisers have features at their class means and class means / classifiers forming "
               "orthogonal frames; class k has W m_k = (s_k/√n_k)e_k with s_k = argmin_{s≥0} (s − √n_k)²/(2N) + "
               "√(λ_Wλ_H)·s, lengths ‖w_k‖² = s_k√(λ_H/λ_W), ‖m_k‖² = s_k√(λ_W/λ_H)/n_k, and collapses to zero "
               "(minority collapse) once λ_H reaches the root of that scalar problem's slope at 0."),
    math=sp.Eq(sp.Symbol("s_k"), sp.Max(0, sp.sqrt(sp.Symbol("n_k")) - sp.Symbol("N")
                                      * sp.sqrt(sp.Symbol("lambda_W") * sp.Symbol("lambda_H")))),
    source=Source("Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data",
                  "Hien Dang, Tho Tran, Stanley Osher, Hung Tran-The, Nhat Ho, Tan Nguyen", 2023, "seed 003",
                  note="Two factors (W, H); the deep case is neural_collapse.deep_linear."),
    assumptions=AssumptionSpace([
        Int("K", 2, 5, description="number of classes"),
        Int("d", "K", "K + 2", description="feature dimension, d ≥ K"),
        Int("n_max", 2, 8, description="samples in the largest class"),
        Float("ratio", 1.0, 8.0, log=True, description="imbalance n_max/n_min (geometric over classes)"),
        Float("reg", "0.1 / (K * sqrt(n_max))", "1.5 / (K * sqrt(n_max))",
              description="√(λ_Wλ_H), over a range where minority classes may or may not collapse"),
        Float("lam_ratio", 0.2, 5.0, log=True, description="λ_H/λ_W"),
        Seed("data_seed"),
    ], constraints=["d >= K"]),
    derive=derive,
    simulate=simulate,
    checks=[
        holds("sympy scalar problems = cvxpy nuclear-norm optimum",
              lambda pred, obs, p: abs(float(pred["loss"]) - pred["loss_convex"]) <= 1e-6 * (1 + float(pred["loss"]))),
        at_least("no trained UFM beats the derived minimum", "loss", "loss", margin=1e-9),
        close("minimum loss", "loss", "loss", rtol=1e-7, atol=1e-10),
        close("NC1: features at their class means (RMS distance)", "nc1", "nc1", rtol=0, atol=1e-5),
        close("W M = diag(s_k/√n_k)", "w_times_m", "w_times_m", rtol=1e-3, atol=1e-5),
        close("Gram of class means = diag(‖m_k‖²)", "gram_means", "gram_means", rtol=1e-3, atol=1e-5),
        close("Gram of classifiers = diag(‖w_k‖²)", "gram_w", "gram_w", rtol=1e-3, atol=1e-5),
    ],
    mutants=[
        Mutant("lengths ignore imbalance", lengths_ignore_imbalance, "the balanced formula with the mean count"),
        Mutant("no minority collapse", no_minority_collapse, "|√n_k − N√(λ_Wλ_H)| instead of the positive part"),
        Mutant("lengths reversed", lengths_reversed, "minority classes get the majority's lengths"),
    ],
    breaks=[
        Break("d = K − 1 < K", lambda p: {**p, "d": p["K"] - 1} if all_nonzero(p) else None,
              "K non-zero orthogonal class means need d ≥ K"),
        Break("unregularised bias", lambda p: {**p, "bias": True} if all_nonzero(p) else None,
              "with a bias the means are centred: no longer an orthogonal frame"),
    ],
    plots=[
        Plot("per-class lengths: closed form vs trained", [
            Series("‖m_k‖ (sympy)", "prediction.counts", "prediction.norm_h", role="theory", style="points"),
            Series("‖m_k‖ trained", "prediction.counts", "observation.norm_h", style="points"),
            Series("‖w_k‖ (sympy)", "prediction.counts", "prediction.norm_w", role="theory", style="points"),
            Series("‖w_k‖ trained", "prediction.counts", "observation.norm_w", style="points"),
        ], xlabel="n_k (samples in class k)", ylabel="length"),
        Plot("Gram of class means: learned vs diag(‖m_k‖²)", [
            Series("y = x", lambda pr, ob, p: np.ravel(pr["gram_means"]), lambda pr, ob, p: np.ravel(pr["gram_means"]),
                   role="theory", style="line"),
            Series("learned entries", lambda pr, ob, p: np.ravel(pr["gram_means"]),
                   lambda pr, ob, p: np.ravel(ob["gram_means"]), style="points"),
        ], xlabel="predicted entry", ylabel="learned entry"),
    ],
)
