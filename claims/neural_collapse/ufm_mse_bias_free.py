"""MSE UFM without bias, balanced classes, d ≥ K (Dang et al. 2023, the
two-factor case): class means and classifiers form an orthogonal frame at a
closed-form scale, collapsing to zero at a closed-form regularisation
threshold.

Exact side (theorycheck.symbolic.collapse, solved once with n, N, c
symbolic): the product's singular values minimise the convex
φ(s) = (s − √n)²/(2N) + c·s, c = √(λ_Wλ_H), over s ≥ 0; sympy's root of φ'
is s = √n − Nc, clipped at 0, so W M = (s/√n)·I = (1 − K√(nλ_Wλ_H))₊·I; the
AM–GM balance gives ‖w_k‖² = s√(λ_H/λ_W), ‖m_k‖² = s√(λ_W/λ_H)/n; the
minimum loss is K·φ(s); the threshold is where the clipped root reaches 0
(critical strength K√n·c* = 1).  Independently, the convex problem the
factorised one is equivalent to, min_Z (1/2N)‖Z − Y‖² + c‖Z‖_*, is solved
exactly by singular-value soft-thresholding, and the two minima must agree
(a check between two derivations).

Simulation: the UFM (W, H) trained by batched L-BFGS from 2 random inits per
draw (Haar-orthogonal W, random unit feature columns), all draws padded into
one tensor program (converged problems leave the tensors as L-BFGS goes);
the origin W = H = 0 is a third candidate (its gradient is evaluated: 0).
The lowest-loss candidate with gradient norm ≤ 1e-10 is measured; a draw
with none, or with an uncertified candidate below it, is undecidable.  The two-factor landscape is benign (every
local minimum is global: it is the nuclear-norm problem in factored form), so
the loss is checked two-sided, plus the robust one-sided direction.

Draws are parametrised by the strength K√(nλ_Wλ_H) ∈ [0.04, 1.3] (uniform:
every 1 % band around the threshold 1 holds a sweep draw) and λ_H/λ_W.
"""
import math

import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Claim, Float, Int, Mutant, Plot, Series, Source, at_least, close,
                         holds)
from theorycheck.symbolic.collapse import etf_gram_np, frame_optimum

from ._common import certificate, fit_mse, mse_measurements, nuclear_norm_optimum, uncertified

RESTARTS = 2
COLLAPSED = 1e-6
KEYS = ("loss", "product_scale", "lengths", "frame_grams", "zeros")


def lams(p):
    c = p["strength"] / (p["K"] * math.sqrt(p["n"]))
    r = math.sqrt(p["lam_ratio"])
    return c / r, c * r


def derive(params):
    K, n = params["K"], params["n"]
    lw, lh = lams(params)
    opt = frame_optimum([n] * K, [lw], lh)
    scale, a, h = float(opt["product_scale"][0]), float(opt["norm_w"][0]), float(opt["norm_h"][0])
    eye = np.eye(K)
    return {"loss": opt["loss"], "loss_convex": nuclear_norm_optimum([n] * K, math.sqrt(lw * lh)),
            "product_scale": scale, "lengths": np.array([a, h]),
            "frame_grams": np.stack([h * h * eye, a * a * eye, scale * eye]),
            "critical_strength": K * math.sqrt(n) * float(opt["collapse_c"][0]),
            "zeros": np.zeros(2)}


def _spec(p):
    lw, lh = lams(p)
    return {"counts": [p["n"]] * p["K"], "d": p["d"], "lams": [lw], "lam_h": lh, "bias": p.get("bias", False)}


def simulate_batch(params_list, ctx):
    fit = fit_mse([_spec(p) for p in params_list], ctx, restarts=RESTARTS, scales=(1.0,))
    out = []
    for i, p in enumerate(params_list):
        if isinstance(fit[i], Exception):
            out.append(uncertified(str(fit[i]), KEYS))
            continue
        m = mse_measurements(fit[i], [p["n"]] * p["K"], p["d"], 1)
        W_norm = float(np.sqrt(np.diag(m["gram_w"])).mean())
        H_norm = float(np.sqrt(np.diag(m["layer_grams"][0])).mean())
        out.append({**m, "lengths": np.array([W_norm, H_norm]),
                    "frame_grams": np.stack([m["layer_grams"][0], m["gram_w"], m["product"]]),
                    "collapsed": bool(np.abs(m["product_scale"]).max() < COLLAPSED)})
    return out


def simulate(params, ctx):
    """One draw through the same tensor program."""
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


def collapse_agrees(pred, obs, p):
    if obs.get("uncertified"):
        return None
    return obs["collapsed"] == (p["strength"] >= pred["critical_strength"])


def two_derivations_agree(pred, obs, p):
    return abs(pred["loss"] - pred["loss_convex"]) <= 1e-10 * (1 + abs(pred["loss"]))


def _frame(params, pred, scale, geometry=None):
    """A prediction with product scale ``scale`` (lengths balanced as the theorem says; loss K·φ)."""
    K, n = params["K"], params["n"]
    lw, lh = lams(params)
    G = np.eye(K) if geometry is None else geometry
    s = scale * math.sqrt(n)
    a2, h2 = abs(s) * math.sqrt(lh / lw), abs(s) * math.sqrt(lw / lh) / n
    N = K * n
    loss = K * ((s - math.sqrt(n)) ** 2 / (2 * N) + math.sqrt(lw * lh) * abs(s))
    return {**pred, "product_scale": scale, "lengths": np.array([math.sqrt(a2), math.sqrt(h2)]), "loss": loss,
            "frame_grams": np.stack([h2 * G, a2 * G, scale * G])}


K_s, n_s, lw_s, lh_s = sp.symbols("K n lambda_W lambda_H", positive=True)
LOSS = "minimum loss (two-sided, certified restarts)"
BELOW = "no trained UFM beats the derived minimum"
FRAME = "orthogonal frame: MᵀM, WWᵀ, WM = (‖m‖², ‖w‖², s/√n)·I"

claim = Claim(
    id="neural_collapse.ufm_mse_bias_free",
    title="MSE UFM without bias: orthogonal frame, closed-form scale and collapse threshold",
    statement=("In the bias-free unconstrained features model with loss (1/2N)‖WH − Y‖² + λ_W/2‖W‖² + "
               "λ_H/2‖H‖², n samples per class and d ≥ K, every global minimiser has features at their class "
               "means, class means and classifiers forming orthogonal frames with W M = (1 − K√(nλ_Wλ_H))₊·I, "
               "‖w_k‖² = s√(λ_H/λ_W), ‖m_k‖² = s√(λ_W/λ_H)/n (s = √n(1 − K√(nλ_Wλ_H))₊), and W = H = 0 once "
               "K√(nλ_Wλ_H) ≥ 1."),
    math=sp.Eq(sp.Symbol("W M"), sp.Max(0, 1 - K_s * sp.sqrt(n_s * lw_s * lh_s)) * sp.Symbol("I")),
    source=Source("Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data",
                  "Hien Dang, Tho Tran, Stanley Osher, Hung Tran-The, Nhat Ho, Tan Nguyen", 2023, "seed 001",
                  note=("ICML 2023; the balanced two-factor case of their bias-free MSE theorem (also in seeds 000, "
                        "003).  The closed form is what the scalar problem gives; the nuclear-norm problem is the "
                        "convex equivalent of the factorised one.")),
    assumptions=AssumptionSpace([
        Int("K", 2, 5, description="number of classes"),
        Int("d", "K", "K + 2", description="feature dimension, d ≥ K"),
        Int("n", 1, 4, description="samples per class (balanced)"),
        Float("strength", 0.04, 1.3, description="K√(nλ_Wλ_H); the collapse threshold is at 1"),
        Float("lam_ratio", 0.1, 10.0, log=True, description="λ_H/λ_W"),
    ], constraints=["d >= K"]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        holds("training certified (gradient norm ≤ 1e-10; best of 2 random restarts and the origin)", certificate),
        holds("scalar problem = nuclear-norm optimum (two derivations)", two_derivations_agree),
        at_least(BELOW, "loss", "loss", margin=1e-10, rtol=1e-10),
        close(LOSS, "loss", "loss", rtol=1e-8, atol=1e-12),
        close("W M = (s/√n)·I: the product scale", "product_scale", "product_scale", rtol=1e-5, atol=1e-7),
        close("lengths ‖w_k‖, ‖m_k‖ (AM–GM balance)", "lengths", "lengths", rtol=1e-5, atol=1e-6),
        close(FRAME, "frame_grams", "frame_grams", rtol=1e-5, atol=1e-7),
        close("NC1 (RMS distance to class means) and the bias vanish", "zeros", "zeros", rtol=0, atol=1e-7),
        holds("collapsed to W = H = 0 iff K√(nλ_Wλ_H) ≥ the critical strength", collapse_agrees),
    ],
    resolution={"loss": 1e-3, "product_scale": 1e-3, "lengths": 1e-3, "frame_grams": 1e-3, "zeros": 1e-3,
                "critical_strength": 0.01},
    regimes={"weak regularisation (K√(nλ_Wλ_H) < 0.2)": "strength < 0.2",
             "near the collapse threshold (within 5 %)": "strength > 0.95 and strength < 1.05",
             "collapsed (K√(nλ_Wλ_H) ≥ 1)": "strength >= 1",
             "d = K (the tightest dimension)": "d == K",
             "unequal decays (λ_H/λ_W ≥ 5 or ≤ 1/5)": "lam_ratio >= 5 or lam_ratio <= 0.2"},
    mutants=[
        Mutant("threshold without K", lambda p, pred: {
            **_frame(p, pred, max(0.0, 1 - p["strength"] / p["K"])), "critical_strength": float(p["K"])},
               "W M = (1 − √(nλ_Wλ_H))₊·I: the factor K dropped (structural)"),
        Mutant("no positive part", lambda p, pred: _frame(p, pred, 1 - p["strength"]),
               "(1 − K√(nλ_Wλ_H))·I without clipping: no collapse, a negative product beyond it (structural)"),
        Mutant("simplex ETF geometry", lambda p, pred: _frame(p, pred, pred["product_scale"], etf_gram_np(p["K"])),
               "the cross-entropy geometry in place of the orthogonal frame (structural)"),
        Mutant("scale ×1.05", lambda p, pred: _frame(p, pred, 1.05 * pred["product_scale"]),
               "the product scale 5 % too large, lengths and loss consistent with it"),
    ],
    breaks=[
        Break("unregularised bias", lambda p: {**p, "bias": True} if p["strength"] < 0.9 else None,
              "with a free bias the fit absorbs the mean of Y: the loss drops below the bias-free minimum "
              "and the means are no longer an orthogonal frame", expect=[BELOW, FRAME]),
        Break("d = K − 1 < K", lambda p: {**p, "d": p["K"] - 1} if p["strength"] < 0.9 else None,
              "an orthogonal frame of K non-zero vectors needs d ≥ K: the minimum loss rises", expect=[LOSS, FRAME]),
    ],
    plots=[
        Plot("W M scale against K√(nλ_Wλ_H): closed form vs trained", [
            Series("sympy (1 − K√(nλ_Wλ_H))₊", "params.strength", "prediction.product_scale", role="theory",
                   style="points"),
            Series("trained", "params.strength", lambda pr, ob, p: float(np.mean(ob["product_scale"])),
                   style="points"),
            Series("critical strength", "prediction.critical_strength", None, role="theory", style="vline"),
        ], xlabel="K√(nλ_Wλ_H)", ylabel="w_k·m_k", over="examples"),
        Plot("Gram of class means: learned vs ‖m‖²·I", [
            Series("y = x", lambda pr, ob, p: np.ravel(pr["frame_grams"][0]),
                   lambda pr, ob, p: np.ravel(pr["frame_grams"][0]), role="theory", style="line"),
            Series("learned entries", lambda pr, ob, p: np.ravel(pr["frame_grams"][0]),
                   lambda pr, ob, p: np.ravel(ob["frame_grams"][0]), style="points"),
        ], xlabel="predicted entry", ylabel="learned entry"),
        Plot("loss along L-BFGS (best restart)", [
            Series("trained", "observation.iterations", "observation.loss_along"),
            Series("derived minimum", None, "prediction.loss", role="theory", style="hline"),
        ], xlabel="iteration", ylabel="regularised loss"),
    ],
)
