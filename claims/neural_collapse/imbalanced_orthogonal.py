"""MSE UFM without bias, imbalanced classes (Dang et al. 2023): features and
classifiers form orthogonal frames whose per-class lengths follow a closed
form in n_k, with minority classes collapsing to zero first.

Exact side (theorycheck.symbolic.collapse.frame_optimum, two factors, solved
once with n_k, N, c symbolic): per class, s_k minimises the convex
φ_k(s) = (s − √n_k)²/(2N) + c·s, c = √(λ_Wλ_H), over s ≥ 0, so
s_k = (√n_k − Nc)₊, W m_k = (s_k/√n_k)e_k, ‖w_k‖² = s_k√(λ_H/λ_W),
‖m_k‖² = s_k√(λ_W/λ_H)/n_k; class k collapses to zero exactly from
c*_k = √n_k/N on (the root of φ_k'(0⁺) = 0, sympy).  The minimum loss
Σ_k φ_k(s_k) is cross-checked against the convex nuclear-norm problem,
solved exactly by singular-value soft-thresholding.

Simulation: the UFM (W, H) trained by batched L-BFGS from 2 random inits per
draw (Haar-orthogonal W, random unit feature columns; padded, one tensor
program, converged problems leave the tensors as L-BFGS goes), plus the
origin W = H = 0 as a candidate (its gradient is evaluated: 0); the
lowest-loss candidate with gradient norm ≤ 1e-10 is measured.  The
two-factor landscape is benign (it is the nuclear-norm problem in factored
form), so the loss is checked two-sided, plus the robust one-sided
direction.

Class counts: n_k = round(n_max·ratio^{−k/(K−1)}) (≥ 1).  Regularisation:
c = strength·√n_min/N, so the minority class collapses at strength 1 and the
majority at √(n_max/n_min); strength is uniform on [0.1, 1.35] (every 1 %
band around the minority threshold holds a sweep draw).
"""
import math

import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Claim, Float, Int, Mutant, Plot, Series, Source, at_least, close,
                         holds)
from theorycheck.symbolic.collapse import frame_optimum

from ._common import certificate, fit_mse, mse_measurements, nuclear_norm_optimum, uncertified

RESTARTS = 2
COLLAPSED = 1e-6
KEYS = ("loss", "product_scale", "lengths", "frame_grams", "zeros")
N_MIN = "max(1, floor(n_max / ratio + 0.5))"


def counts_of(p):
    K, top, ratio = p["K"], p["n_max"], p["ratio"]
    return [max(1, int(math.floor(top * ratio ** (-k / max(K - 1, 1)) + 0.5))) for k in range(K)]


def reg_of(p):
    counts = counts_of(p)
    return p["strength"] * math.sqrt(min(counts)) / sum(counts)


def lams(p):
    c, r = reg_of(p), math.sqrt(p["lam_ratio"])
    return c / r, c * r


def derive(params):
    counts = counts_of(params)
    lw, lh = lams(params)
    opt = frame_optimum(counts, [lw], lh)
    a, h, sc = opt["norm_w"], opt["norm_h"], opt["product_scale"]
    return {"loss": opt["loss"], "loss_convex": nuclear_norm_optimum(counts, math.sqrt(lw * lh)),
            "counts": np.array(counts, dtype=float), "product_scale": sc, "lengths": np.stack([a, h]),
            "frame_grams": np.stack([np.diag(h * h), np.diag(a * a), np.diag(sc)]),
            "collapse_c": opt["collapse_c"], "zeros": np.zeros(2)}


def _spec(p):
    lw, lh = lams(p)
    return {"counts": counts_of(p), "d": p["d"], "lams": [lw], "lam_h": lh, "bias": p.get("bias", False)}


def simulate_batch(params_list, ctx):
    fit = fit_mse([_spec(p) for p in params_list], ctx, restarts=RESTARTS, scales=(1.0,))
    out = []
    for i, p in enumerate(params_list):
        if isinstance(fit[i], Exception):
            out.append(uncertified(str(fit[i]), KEYS))
            continue
        counts = counts_of(p)
        m = mse_measurements(fit[i], counts, p["d"], 1)
        lengths = np.stack([np.sqrt(np.diag(m["gram_w"])), np.sqrt(np.diag(m["layer_grams"][0]))])
        out.append({**m, "lengths": lengths,
                    "frame_grams": np.stack([m["layer_grams"][0], m["gram_w"], m["product"]]),
                    "collapsed": np.abs(m["product_scale"]) < COLLAPSED})
    return out


def simulate(params, ctx):
    """One draw through the same tensor program."""
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


def collapse_agrees(pred, obs, p):
    if obs.get("uncertified"):
        return None
    return bool(np.all(obs["collapsed"] == (reg_of(p) >= np.asarray(pred["collapse_c"]))))


def two_derivations_agree(pred, obs, p):
    return abs(pred["loss"] - pred["loss_convex"]) <= 1e-10 * (1 + abs(pred["loss"]))


def with_scales(params, pred, scale):
    """A prediction with per-class product scales ``scale`` (lengths balanced, loss Σφ_k)."""
    counts = np.array(counts_of(params), dtype=float)
    lw, lh = lams(params)
    c, N = math.sqrt(lw * lh), counts.sum()
    scale = np.asarray(scale, dtype=float)
    s = scale * np.sqrt(counts)
    a2, h2 = np.abs(s) * math.sqrt(lh / lw), np.abs(s) * math.sqrt(lw / lh) / counts
    loss = float(np.sum((s - np.sqrt(counts)) ** 2 / (2 * N) + c * np.abs(s)))
    return {**pred, "product_scale": scale, "lengths": np.stack([np.sqrt(a2), np.sqrt(h2)]), "loss": loss,
            "frame_grams": np.stack([np.diag(h2), np.diag(a2), np.diag(scale)])}


def lengths_ignore_imbalance(params, pred):
    """The balanced closed form with the average count: every class shrinks alike."""
    counts = np.array(counts_of(params), dtype=float)
    lw, lh = lams(params)
    nbar = counts.mean()
    scale = max(0.0, 1 - len(counts) * math.sqrt(nbar * lw * lh))
    out = with_scales(params, pred, np.full(len(counts), scale))
    out["collapse_c"] = np.full(len(counts), math.sqrt(nbar) / counts.sum())
    return out


def no_minority_collapse(params, pred):
    """|√n_k − N√(λ_Wλ_H)| in place of the positive part: no class ever vanishes."""
    counts = np.array(counts_of(params), dtype=float)
    c = reg_of(params)
    s = np.abs(np.sqrt(counts) - counts.sum() * c)
    out = with_scales(params, pred, s / np.sqrt(counts))
    out["collapse_c"] = np.full(len(counts), np.inf)
    return out


def lengths_reversed(params, pred):
    """Minority classes get the majority's lengths (the order of n_k reversed)."""
    out = with_scales(params, pred, np.asarray(pred["product_scale"])[::-1])
    out["collapse_c"] = np.asarray(pred["collapse_c"])[::-1]
    return out


def all_nonzero(p):
    """Draws where the optimum keeps every class (the rank and bias breaks show there)."""
    return p["strength"] < 0.85


N_k, N_s, lw_s, lh_s = sp.symbols("n_k N lambda_W lambda_H", positive=True)
LOSS = "minimum loss (two-sided, certified restarts)"
BELOW = "no trained UFM beats the derived minimum"
FRAME = "orthogonal frame: MᵀM, WWᵀ, WM = diag(‖m_k‖²), diag(‖w_k‖²), diag(s_k/√n_k)"

claim = Claim(
    id="neural_collapse.imbalanced_orthogonal",
    title="Imbalanced MSE UFM: orthogonal frame with closed-form per-class lengths and minority collapse",
    statement=("In the bias-free MSE unconstrained features model (1/2N)‖WH − Y‖² + λ_W/2‖W‖² + λ_H/2‖H‖² with "
               "class counts n_k (N = Σ n_k) and d ≥ K, global minimisers have features at their class means and "
               "class means / classifiers forming orthogonal frames; class k has W m_k = (s_k/√n_k)e_k with "
               "s_k = (√n_k − N√(λ_Wλ_H))₊, ‖w_k‖² = s_k√(λ_H/λ_W), ‖m_k‖² = s_k√(λ_W/λ_H)/n_k, so class k "
               "collapses to zero exactly when √(λ_Wλ_H) ≥ √n_k/N (minority classes first)."),
    math=sp.Eq(sp.Symbol("s_k"), sp.Max(0, sp.sqrt(N_k) - N_s * sp.sqrt(lw_s * lh_s))),
    source=Source("Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data",
                  "Hien Dang, Tho Tran, Stanley Osher, Hung Tran-The, Nhat Ho, Tan Nguyen", 2023, "seed 003",
                  note="ICML 2023, the imbalanced bias-free MSE theorem, two factors (W, H); the deep balanced case "
                       "is neural_collapse.deep_linear."),
    assumptions=AssumptionSpace([
        Int("K", 2, 5, description="number of classes"),
        Int("d", "K", "K + 2", description="feature dimension, d ≥ K"),
        Int("n_max", 2, 8, description="samples in the largest class"),
        Float("ratio", 1.0, 8.0, log=True, description="imbalance n_max/n_min (geometric over classes)"),
        Float("strength", 0.1, 1.35, description="N√(λ_Wλ_H)/√n_min: the minority collapses at 1, the majority at "
                                                 "√(n_max/n_min)"),
        Float("lam_ratio", 0.1, 10.0, log=True, description="λ_H/λ_W"),
    ], constraints=["d >= K"]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        holds("training certified (gradient norm ≤ 1e-10; best of 2 random restarts and the origin)", certificate),
        holds("scalar problems = nuclear-norm optimum (two derivations)", two_derivations_agree),
        at_least(BELOW, "loss", "loss", margin=1e-10, rtol=1e-10),
        close(LOSS, "loss", "loss", rtol=1e-8, atol=1e-12),
        close("W m_k = (s_k/√n_k)e_k: per-class product scales", "product_scale", "product_scale", rtol=1e-5,
              atol=1e-7),
        close("per-class lengths ‖w_k‖, ‖m_k‖", "lengths", "lengths", rtol=1e-5, atol=1e-6),
        close(FRAME, "frame_grams", "frame_grams", rtol=1e-5, atol=1e-7),
        close("NC1 (RMS distance to class means) and the bias vanish", "zeros", "zeros", rtol=0, atol=1e-7),
        holds("class k collapsed iff √(λ_Wλ_H) ≥ c*_k", collapse_agrees),
    ],
    resolution={"loss": 1e-3, "product_scale": 1e-3, "lengths": 1e-3, "frame_grams": 1e-3, "zeros": 1e-3,
                "collapse_c": 0.01},
    regimes={"no class collapsed": "strength < 1",
             "minority collapsed, majority alive": f"strength >= 1 and strength < sqrt(n_max / {N_MIN})",
             "every class collapsed": f"strength >= sqrt(n_max / {N_MIN})",
             "near the minority threshold (within 5 %)": "strength > 0.95 and strength < 1.05",
             "strong imbalance (n_max/n_min ≥ 4)": f"n_max >= 4 * {N_MIN}",
             "d = K (the tightest dimension)": "d == K"},
    mutants=[
        Mutant("lengths ignore imbalance", lengths_ignore_imbalance,
               "the balanced formula with the mean count (structural: n_k does not enter)"),
        Mutant("no minority collapse", no_minority_collapse,
               "|√n_k − N√(λ_Wλ_H)| instead of the positive part (structural: no class vanishes)"),
        Mutant("lengths reversed", lengths_reversed, "minority classes get the majority's lengths (wrong side)"),
        Mutant("scales ×1.05", lambda p, pred: with_scales(p, pred, 1.05 * np.asarray(pred["product_scale"])),
               "every product scale 5 % too large, lengths and loss consistent with it"),
    ],
    breaks=[
        Break("d = K − 1 < K", lambda p: {**p, "d": p["K"] - 1} if all_nonzero(p) else None,
              "K non-zero orthogonal class means need d ≥ K: the minimum loss rises", expect=[LOSS, FRAME]),
        Break("unregularised bias", lambda p: {**p, "bias": True} if all_nonzero(p) else None,
              "a free bias absorbs part of Y: the loss drops below the bias-free minimum", expect=[BELOW, FRAME]),
    ],
    plots=[
        Plot("per-class lengths: closed form vs trained", [
            Series("‖m_k‖ (sympy)", "prediction.counts", lambda pr, ob, p: pr["lengths"][1], role="theory",
                   style="points"),
            Series("‖m_k‖ trained", "prediction.counts", lambda pr, ob, p: ob["lengths"][1], style="points"),
            Series("‖w_k‖ (sympy)", "prediction.counts", lambda pr, ob, p: pr["lengths"][0], role="theory",
                   style="points"),
            Series("‖w_k‖ trained", "prediction.counts", lambda pr, ob, p: ob["lengths"][0], style="points"),
        ], xlabel="n_k (samples in class k)", ylabel="length"),
        Plot("Gram of class means: learned vs diag(‖m_k‖²)", [
            Series("y = x", lambda pr, ob, p: np.ravel(pr["frame_grams"][0]),
                   lambda pr, ob, p: np.ravel(pr["frame_grams"][0]), role="theory", style="line"),
            Series("learned entries", lambda pr, ob, p: np.ravel(pr["frame_grams"][0]),
                   lambda pr, ob, p: np.ravel(ob["frame_grams"][0]), style="points"),
        ], xlabel="predicted entry", ylabel="learned entry"),
    ],
)
