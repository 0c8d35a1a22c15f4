"""Cross-entropy UFM, balanced classes, d ≥ K − 1 (Zhu et al. 2021): global
minimisers are a simplex ETF (NC1–NC3) at a scale fixed by a scalar problem,
and collapse to W = H = 0 once K√(nλ_Wλ_H) ≥ 1.

Exact side (theorycheck.symbolic.collapse.ce_scale_law, solved once with
K, n, λ_W, λ_H symbolic): with classifiers and class means on a simplex ETF,
‖w_k‖ = a, ‖m_k‖ = h, the regulariser at fixed t = a·h is minimised by the
AM–GM balance a⁴ = nλ_H t²/λ_W, leaving the convex
g(t) = log(e^t + (K−1)e^{−t/(K−1)}) − t + Kσt, σ = √(nλ_Wλ_H); sympy solves
g' = 0 (linear in e^{−tK/(K−1)}) and certifies the root by substitution, so
t* = ((K−1)/K)·log((1 − (K−1)σ)/σ) while g'(0) = Kσ − 1 < 0, and t* = 0
(W = H = 0, loss log K) from the critical strength K·σ* = 1 on.  From t*
follow a, h, the minimum loss g(t*) and the Grams MᵀM = h²G, WWᵀ = a²G,
WM = t·G (G = (K/(K−1))(I − 11ᵀ/K)).

Simulation: the full UFM (W, H, b) trained by batched L-BFGS (one memory and
line search per problem) from 2 random inits per draw; all draws of a chunk
are padded into one tensor program (padded classes get −∞ logits, padded
samples no loss, padded dimensions zero gradient; converged problems leave
the tensors as L-BFGS goes).  The best restart whose
gradient norm is ≤ 1e-10 is measured; a draw with none (or with an
uncertified restart below it) is undecidable.  Zhu et al. prove the landscape
benign (every critical point is a global minimiser or a strict saddle), so a
certified restart above the derived minimum would be a counterexample: the
loss is checked two-sided (and one-sided, the robust direction: no trained
UFM below the derived minimum).

The draws are parametrised by the strength s = K√(nλ_Wλ_H) ∈ [0.04, 1.3]
(uniform: the critical strength is resolved to 1 % by the sweep's own
stratification, every 1 % band on either side of 1 holding a draw) and the
ratio λ_H/λ_W; λ_W = σ/√(n·ratio), λ_H = σ√(ratio/n), σ = s/K.
"""
import math

import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Claim, Float, Int, Mutant, Plot, Series, Source, at_least, close,
                         holds)
from theorycheck.symbolic.collapse import ce_etf_optimum, etf_gram_np

from ._common import certificate, class_means, crop, fit_ce, labels_of, mm, uncertified, within_class_rms

RESTARTS = 2
COLLAPSED_T = 1e-6     # observed w_k·m_k below this: collapsed to zero
KEYS = ("loss", "t", "lengths", "frame_grams", "zeros")


def lams(p):
    sigma = p["strength"] / p["K"]
    r = p["lam_ratio"]
    return sigma / math.sqrt(p["n"] * r), sigma * math.sqrt(r / p["n"])


def counts_of(p):
    """n per class; the imbalance break multiplies the first ⌈K/2⌉ classes."""
    K, n, f = p["K"], p["n"], p.get("majority_factor", 1)
    return [n * f if k < (K + 1) // 2 else n for k in range(K)]


def derive(params):
    K, n = params["K"], params["n"]
    lw, lh = lams(params)
    opt = ce_etf_optimum(K, n, lw, lh)
    G = etf_gram_np(K)
    a, h, t = opt["norm_w"], opt["norm_h"], opt["t"]
    return {"loss": opt["loss"], "t": t, "lengths": np.array([a, h]),
            "critical_strength": K * math.sqrt(n * lw * opt["threshold_lam_h"]),   # K√(nλ_Wλ_H*) from sympy's λ_H*
            "threshold_lam_h": opt["threshold_lam_h"], "collapsed": opt["collapsed"],
            "frame_grams": np.stack([h * h * G, a * a * G, t * G]), "zeros": np.zeros(2)}


def _spec(p):
    lw, lh = lams(p)
    return {"counts": counts_of(p), "d": p["d"], "lam_w": lw, "lam_h": lh, "lam_b": p["lam_b"]}


def simulate_batch(params_list, ctx):
    fit = fit_ce([_spec(p) for p in params_list], ctx, restarts=RESTARTS)
    out = []
    for i, p in enumerate(params_list):
        if isinstance(fit[i], Exception):
            out.append(uncertified(str(fit[i]), KEYS))
            continue
        pt = fit[i]
        counts = counts_of(p)
        K, d, N = len(counts), p["d"], sum(counts)
        Wp, Hp, bp = pt.prob.pack.split(pt.x[None])
        W, H, bias = crop(Wp[0], K, d), crop(Hp[0], d, N), bp[0, :K]
        labels = labels_of(counts, H.device)
        M = class_means(H, labels, K)
        WM = mm(W, M)
        t = float(torch.diagonal(WM).mean())
        frame = torch.stack([mm(M.T, M), mm(W, W.T), WM])
        out.append({"loss": pt.loss, "grad_norm": pt.grad_norm, "t": t,
                    "lengths": np.array([float(W.norm(dim=1).mean()), float(M.norm(dim=0).mean())]),
                    "frame_grams": frame.cpu().numpy(),
                    "zeros": np.array([float(within_class_rms(H, labels, K)), float(bias.norm())]),
                    "collapsed": bool(abs(t) < COLLAPSED_T), "iterations": pt.iterations,
                    "loss_along": pt.loss_along})
    return out


def simulate(params, ctx):
    """One draw through the same tensor program."""
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


def collapse_agrees(pred, obs, p):
    if obs.get("uncertified"):
        return None
    return obs["collapsed"] == (p["strength"] >= pred["critical_strength"])


# ---- mutants ---------------------------------------------------------------------------

def _at_scale(params, pred, t):
    """An ETF prediction at scale t (lengths balanced as the AM–GM step says), loss g(t)."""
    K, n = params["K"], params["n"]
    lw, lh = lams(params)
    sigma = math.sqrt(n * lw * lh)
    G = etf_gram_np(K)
    a2 = math.sqrt(n * lh / lw) * t
    h2 = t * t / a2 if t > 0 else 0.0
    loss = math.log(math.exp(t) + (K - 1) * math.exp(-t / (K - 1))) - t + K * sigma * t
    return {**pred, "t": t, "lengths": np.array([math.sqrt(a2), math.sqrt(h2)]), "loss": loss,
            "frame_grams": np.stack([h2 * G, a2 * G, t * G])}


def missing_factor(params, pred):
    """t* = log((1 − (K−1)σ)/σ) without the factor (K−1)/K."""
    K = params["K"]
    return _at_scale(params, pred, pred["t"] * K / (K - 1))


def _geometry(params, pred, G):
    a, h = pred["lengths"]
    return {**pred, "frame_grams": np.stack([h * h * G, a * a * G, pred["t"] * G])}


def cosine_minus_1_over_k(params, pred):
    K = params["K"]
    return _geometry(params, pred, (1 + 1 / K) * np.eye(K) - 1 / K)


def orthogonal_frame(params, pred):
    return _geometry(params, pred, np.eye(params["K"]))


def threshold_without_k(params, pred):
    """Collapse once √(nλ_Wλ_H) ≥ 1 (the factor K dropped): critical strength K."""
    return {**pred, "critical_strength": float(params["K"])}


K_s, n_s, s_s = sp.symbols("K n sigma", positive=True)
LOSS = "minimum loss (two-sided, certified restarts)"
FRAME = "NC2–NC3: MᵀM, WWᵀ, WM = (‖m‖², ‖w‖², t)·G_ETF"

claim = Claim(
    id="neural_collapse.ufm_ce_etf",
    title="Cross-entropy UFM: global minimisers form a simplex ETF at a closed-form scale",
    statement=("In the unconstrained features model with cross-entropy loss (1/N)Σ CE(W h_i + b, y_i) + λ_W/2‖W‖² "
               "+ λ_H/2‖H‖² + λ_b/2‖b‖², balanced classes (n per class) and d ≥ K − 1, every global minimiser has "
               "features equal to their class means (NC1), class means forming a simplex ETF MᵀM = ‖m‖²·(K/(K−1))"
               "(I − 11ᵀ/K) (NC2), classifiers W = (a/h)Mᵀ (NC3), zero bias, and the scale t = w_k·m_k = "
               "((K−1)/K)·log((1 − (K−1)σ)/σ), σ = √(nλ_Wλ_H), with ‖w‖⁴ = nλ_H t²/λ_W; once K√(nλ_Wλ_H) ≥ 1 "
               "the only minimiser is W = H = 0, b = 0."),
    math=sp.Eq(sp.Symbol("t^*"), (K_s - 1) / K_s * sp.log((1 - (K_s - 1) * s_s) / s_s)),
    source=Source("A Geometric Analysis of Neural Collapse with Unconstrained Features",
                  "Zhihui Zhu, Tianyu Ding, Jinxin Zhou, Xiao Li, Chong You, Jeremias Sulam, Qing Qu", 2021,
                  "seed 002",
                  note=("NeurIPS 2021, Theorems 3.1 (global minimisers) and 3.2 (benign landscape).  The closed "
                        "form of t*, the minimum loss and the collapse at K√(nλ_Wλ_H) = 1 are what the scalar "
                        "problem gives (derived here; Zhu et al. characterise the minimisers through the same "
                        "reduction).  The UFM literature of seeds 000 (Dang et al., Tirer et al.) and 002 (Tirer's "
                        "talk) builds on it.")),
    assumptions=AssumptionSpace([
        Int("K", 2, 5, description="number of classes"),
        Int("d", "K - 1", "K + 2", description="feature dimension, d ≥ K − 1"),
        Int("n", 1, 4, description="samples per class (balanced)"),
        Float("strength", 0.04, 1.3, description="K√(nλ_Wλ_H); the collapse threshold is at 1"),
        Float("lam_ratio", 0.1, 10.0, log=True, description="λ_H/λ_W"),
        Float("lam_b", 1e-3, 1e-1, log=True, description="weight decay on the bias"),
    ], constraints=["d >= K - 1"]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        holds("training certified (gradient norm ≤ 1e-10, best of 2 restarts)", certificate),
        at_least("no trained UFM beats the derived minimum", "loss", "loss", margin=1e-10, rtol=1e-10),
        close(LOSS, "loss", "loss", rtol=1e-8, atol=1e-12),
        close("scale t = w_k·m_k", "t", "t", rtol=1e-5, atol=1e-8),
        close("lengths ‖w_k‖, ‖m_k‖ (AM–GM balance)", "lengths", "lengths", rtol=1e-5, atol=1e-6),
        close(FRAME, "frame_grams", "frame_grams", rtol=1e-5, atol=1e-7),
        close("NC1 (RMS distance to class means) and the bias vanish", "zeros", "zeros", rtol=0, atol=1e-7),
        holds("collapsed to W = H = 0 iff K√(nλ_Wλ_H) ≥ the critical strength", collapse_agrees),
    ],
    resolution={"loss": 1e-3, "t": 1e-3, "lengths": 1e-3, "frame_grams": 1e-3, "zeros": 1e-3,
                "critical_strength": 0.01},
    regimes={"weak regularisation (K√(nλ_Wλ_H) < 0.2)": "strength < 0.2",
             "near the collapse threshold (within 5 %)": "strength > 0.95 and strength < 1.05",
             "collapsed (K√(nλ_Wλ_H) ≥ 1)": "strength >= 1",
             "d = K − 1 (the tightest dimension)": "d == K - 1",
             "K = 2 (the ETF is antipodal)": "K == 2",
             "unequal decays (λ_H/λ_W ≥ 5 or ≤ 1/5)": "lam_ratio >= 5 or lam_ratio <= 0.2"},
    mutants=[
        Mutant("cosine −1/K", cosine_minus_1_over_k,
               "class means with pairwise cosine −1/K instead of −1/(K−1) (structural: wrong frame)"),
        Mutant("orthogonal frame", orthogonal_frame, "class means orthogonal: the MSE bias-free geometry (structural)"),
        Mutant("t* without (K−1)/K", missing_factor, "the scale formula without its factor (K−1)/K (structural)"),
        Mutant("collapse at √(nλ_Wλ_H) = 1", threshold_without_k, "the threshold without its factor K"),
        Mutant("wrong scale ×1.05", lambda p, pred: _at_scale(p, pred, 1.05 * pred["t"]),
               "t* 5 % too large, lengths and loss consistent with it"),
    ],
    breaks=[
        Break("d = K − 2 < K − 1", lambda p: {**p, "d": p["K"] - 2} if p["K"] >= 3 and p["strength"] < 0.9 else None,
              "too few feature dimensions to hold a simplex ETF: the minimum loss rises",
              expect=[LOSS, FRAME]),
        Break("class imbalance ×4", lambda p: {**p, "majority_factor": 4} if p["strength"] < 0.9 else None,
              "the first ⌈K/2⌉ classes get 4n samples: minority collapse bends the ETF",
              expect=[FRAME, LOSS]),
    ],
    plots=[
        Plot("Gram of class means: learned vs ‖m‖²·G_ETF", [
            Series("y = x", lambda pr, ob, p: np.ravel(pr["frame_grams"][0]),
                   lambda pr, ob, p: np.ravel(pr["frame_grams"][0]), role="theory", style="line"),
            Series("learned entries", lambda pr, ob, p: np.ravel(pr["frame_grams"][0]),
                   lambda pr, ob, p: np.ravel(ob["frame_grams"][0]), style="points"),
        ], xlabel="predicted entry", ylabel="learned entry"),
        Plot("loss along L-BFGS (best restart)", [
            Series("trained", "observation.iterations", "observation.loss_along"),
            Series("derived minimum", None, "prediction.loss", role="theory", style="hline"),
        ], xlabel="iteration", ylabel="regularised loss"),
        Plot("scale t against the strength K√(nλ_Wλ_H)", [
            Series("sympy t*", "params.strength", "prediction.t", role="theory", style="points"),
            Series("trained", "params.strength", "observation.t", style="points"),
            Series("critical strength", "prediction.critical_strength", None, role="theory", style="vline"),
        ], xlabel="K√(nλ_Wλ_H)", ylabel="w_k·m_k", over="examples"),
    ],
)
