"""MSE UFM without bias, balanced classes, d ≥ K: class means and classifiers
form an orthogonal frame at a closed-form scale, collapsing to zero above a
closed-form regularisation threshold.

Exact side (theorycheck.symbolic.collapse): the product's singular values
minimise φ(s) = (s − √n)²/(2N) + √(λ_Wλ_H)·s over s ≥ 0 (convex; sympy solves
φ' = 0 and clips at 0), giving W M = (s/√n)·I, ‖w_k‖² = s√(λ_H/λ_W),
‖m_k‖² = s√(λ_W/λ_H)/n, the minimum loss Σ_k φ(s), and the threshold
λ_H* where φ'(0⁺) = 0.  Independently, cvxpy solves the convex nuclear-norm
problem min_Z (1/2N)‖Z − Y‖² + √(λ_Wλ_H)‖Z‖_* that the factorised problem
is equivalent to, and the two optima must agree.
Simulation: GD then L-BFGS from several random inits, batched; only a
certified (gradient norm) restart is measured.
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


def strength(params):
    """K√(nλ_Wλ_H): the theorem's threshold sits at 1 (kept out of the formula used by derive)."""
    return params["K"] * params["n"] ** 0.5 * params["reg"]


def nuclear_norm_optimum(K, n, lam_w, lam_h):
    """min_Z (1/2N)‖Z − Y‖² + √(λ_Wλ_H)‖Z‖_*, the convex twin of the factorised problem."""
    N = K * n
    Y = np.kron(np.eye(K), np.ones((1, n)))
    Z = cp.Variable((K, N))
    prob = cp.Problem(cp.Minimize(cp.sum_squares(Z - Y) / (2 * N) + np.sqrt(lam_w * lam_h) * cp.normNuc(Z)))
    return solve(prob).value


def derive(params):
    params = with_lams(params)
    K, n = params["K"], params["n"]
    opt = frame_optimum([n] * K, [params["lam_W"]], params["lam_H"])
    scale, a, h = float(opt["product_scale"][0]), float(opt["norm_w"][0]), float(opt["norm_h"][0])
    eye = np.eye(K)
    return {"product_scale": opt["product_scale"][0], "norm_w": opt["norm_w"][0], "norm_h": opt["norm_h"][0],
            "loss": opt["loss"], "loss_convex": nuclear_norm_optimum(K, n, params["lam_W"], params["lam_H"]),
            "threshold_lam_h": collapse_threshold_two_factor(n, K * n, params["lam_W"]),
            "gram_means": h ** 2 * eye, "gram_w": a ** 2 * eye, "w_times_m": scale * eye, "nc1": 0.0}


def simulate(params, ctx):
    params = with_lams(params)
    K = params["K"]
    fit = fit_mse_ufm([params["n"]] * K, params["d"], [params["lam_W"]], params["lam_H"], restarts=RESTARTS,
                      generator=ctx.generator(), bias=params.get("bias", False), dtype=ctx.dtype,
                      device=ctx.device, polish_iters=500 if ctx.large else 200)
    W, H = fit.params[0], fit.params[1]
    M = class_means(H, fit.labels, K)
    return {"loss": fit.loss, "grad_norm": fit.grad_norm, "gram_means": gram(M).numpy(),
            "gram_w": mm(W, W.T).numpy(), "w_times_m": mm(W, M).numpy(),
            "product_scale": float(np.mean(np.diag(mm(W, M).numpy()))),
            "nc1": float(within_class_rms(H, fit.labels, K)),
            "step": fit.history["step"].numpy(), "nc1_along": fit.history["nc1"].numpy(),
            "nc3_along": fit.history["nc3"].numpy()}


def _frame(params, pred, scale, geometry=None):
    """A prediction with product scale ``scale`` (lengths balanced as the theorem says)."""
    params = with_lams(params)
    K = params["K"]
    G = np.eye(K) if geometry is None else geometry
    ratio = (params["lam_H"] / params["lam_W"]) ** 0.5
    s = scale * params["n"] ** 0.5
    a2, h2 = s * ratio, s / ratio / params["n"]
    return {**pred, "product_scale": scale, "gram_means": h2 * G, "gram_w": a2 * G, "w_times_m": scale * G}


def below_threshold(p):
    return strength(p) < 0.9


claim = Claim(
    id="neural_collapse.ufm_mse_bias_free",
    title="MSE UFM without bias: orthogonal frame, closed-form scale and collapse threshold",
    statement=("In the bias-free unconstrained features model with loss (1/2N)‖WH − Y‖² + λ_W/2‖W‖² + "
               "λ_H/2‖H‖², n samples per class and d ≥ K, every global minimiser has features at their class "
               "means, class means and classifiers forming orthogonal frames with W M = (s*/√n)·I where s* "
               "minimises (s − √n)²/(2N) + √(λ_Wλ_H)·s over s ≥ 0, and collapses to zero (W = H = 0) once "
               "λ_H reaches the threshold where that scalar problem's slope at 0 vanishes."),
    math=sp.Eq(sp.Symbol("W M"), sp.Max(0, 1 - sp.Symbol("K") * sp.sqrt(sp.Symbol("n") * sp.Symbol("lambda_W")
                                                                      * sp.Symbol("lambda_H"))) * sp.Symbol("I")),
    source=Source("Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data",
                  "Hien Dang, Tho Tran, Stanley Osher, Hung Tran-The, Nhat Ho, Tan Nguyen", 2023, "seed 001",
                  note="The balanced two-factor case; the math line is the literature's closed form, which the "
                       "sympy scalar problem and the cvxpy nuclear-norm problem both reproduce."),
    assumptions=AssumptionSpace([
        Int("K", 2, 5, description="number of classes"),
        Int("d", "K", "K + 2", description="feature dimension, d ≥ K"),
        Int("n", 1, 4, description="samples per class (balanced)"),
        Float("reg", "0.1 / (K * sqrt(n))", "1.5 / (K * sqrt(n))",
              description="√(λ_Wλ_H); the range straddles the literature's threshold K√(nλ_Wλ_H) = 1 "
                          "(from 0.1 to 1.5, uniform) so that both regimes are drawn"),
        Float("lam_ratio", 0.2, 5.0, log=True, description="λ_H/λ_W"),
        Seed("data_seed"),
    ], constraints=["d >= K"]),
    derive=derive,
    simulate=simulate,
    checks=[
        holds("sympy scalar problem = cvxpy nuclear-norm optimum",
              lambda pred, obs, p: abs(float(pred["loss"]) - pred["loss_convex"]) <= 1e-6 * (1 + float(pred["loss"]))),
        at_least("no trained UFM beats the derived minimum", "loss", "loss", margin=1e-9),
        close("minimum loss", "loss", "loss", rtol=1e-7, atol=1e-10),
        close("NC1: features at their class means (RMS distance)", "nc1", "nc1", rtol=0, atol=1e-5),
        close("W M = (s*/√n)·I", "w_times_m", "w_times_m", rtol=1e-3, atol=1e-5),
        close("Gram of class means = ‖m‖²·I", "gram_means", "gram_means", rtol=1e-3, atol=1e-5),
        close("Gram of classifiers = ‖w‖²·I", "gram_w", "gram_w", rtol=1e-3, atol=1e-5),
        holds("collapsed to zero iff λ_H ≥ threshold",
              lambda pred, obs, p: (obs["product_scale"] < 1e-6)
              == (with_lams(p)["lam_H"] >= float(pred["threshold_lam_h"]))),
    ],
    mutants=[
        Mutant("threshold without K", lambda p, pred: {
            **_frame(p, pred, max(0.0, 1 - p["n"] ** 0.5 * p["reg"])),
            "threshold_lam_h": 1 / (p["n"] * with_lams(p)["lam_W"])},
               "s/√n = (1 − √(nλ_Wλ_H))₊: the factor K dropped"),
        Mutant("no positive part", lambda p, pred: _frame(p, pred, 1 - strength(p)),
               "(1 − K√(nλ_Wλ_H)) without clipping: no collapse to zero"),
        Mutant("simplex ETF geometry", lambda p, pred: _frame(
            p, pred, float(pred["product_scale"]), (p["K"] / (p["K"] - 1)) * (np.eye(p["K"]) - 1 / p["K"])),
               "the CE geometry in place of the orthogonal frame"),
    ],
    breaks=[
        Break("unregularised bias", lambda p: {**p, "bias": True} if below_threshold(p) else None,
              "with a bias the means are centred: the frame is no longer orthogonal"),
        Break("d = K − 1 < K", lambda p: {**p, "d": p["K"] - 1} if below_threshold(p) else None,
              "an orthogonal frame of K non-zero vectors needs d ≥ K"),
    ],
    plots=[
        Plot("W M scale against K√(nλ_Wλ_H): closed form vs trained", [
            Series("sympy (s*/√n)", lambda pr, ob, p: strength(p), "prediction.product_scale", role="theory",
                   style="points"),
            Series("trained", lambda pr, ob, p: strength(p), "observation.product_scale", style="points"),
            Series("threshold K√(nλ_Wλ_H) = 1", lambda pr, ob, p: 1.0, None, role="theory", style="vline"),
        ], xlabel="K√(nλ_Wλ_H)", ylabel="w_k·m_k", xlog=True, over="examples"),
        Plot("Gram of class means: learned vs ‖m‖²·I", [
            Series("y = x", lambda pr, ob, p: np.ravel(pr["gram_means"]), lambda pr, ob, p: np.ravel(pr["gram_means"]),
                   role="theory", style="line"),
            Series("learned entries", lambda pr, ob, p: np.ravel(pr["gram_means"]),
                   lambda pr, ob, p: np.ravel(ob["gram_means"]), style="points"),
        ], xlabel="predicted entry", ylabel="learned entry"),
        Plot("NC metrics along gradient descent", [
            Series("NC1", "observation.step", "observation.nc1_along"),
            Series("NC3", "observation.step", "observation.nc3_along"),
        ], xlabel="GD step (before the L-BFGS polish)", ylabel="metric", ylog=True),
    ],
)
