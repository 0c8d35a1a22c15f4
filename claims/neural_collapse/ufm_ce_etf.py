"""Cross-entropy UFM, balanced classes, d ≥ K − 1: global minimisers are a
simplex ETF (NC1–NC3) at a scale fixed by a scalar problem.

Exact side (theorycheck.symbolic.collapse.ce_etf_optimum): with classifiers
and class means on a simplex ETF, ‖w_k‖ = a, ‖m_k‖ = h, the regularised loss
depends on t = a·h after an AM–GM step (solved in sympy as a calculus
problem), and t* solves g'(t) = 0 for
g(t) = log(e^t + (K−1)e^{−t/(K−1)}) − t + K√(nλ_Wλ_H)·t;
from t* follow a, h, the minimum loss and the Gram matrices
M ᵀM = h²·G_ETF, W Wᵀ = a²·G_ETF, W M = t·G_ETF (G_ETF = (K/(K−1))(I − 11ᵀ/K)).
Simulation: GD then L-BFGS on the UFM from several random inits, batched;
the best restart with a certified gradient norm is measured, else the example
is inconclusive.
"""
import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Claim, Float, Int, Mutant, Plot, Seed, Series, Source, at_least,
                         close)
from theorycheck.sim.collapse import centred, class_means, cosine_gram, gram, mm, within_class_rms
from theorycheck.sim.ufm import fit_ce_ufm
from theorycheck.symbolic.collapse import ce_etf_optimum, etf_gram

RESTARTS = 3


def counts_of(params):
    """n per class; the imbalance break multiplies the first ⌈K/2⌉ classes."""
    K, n, f = params["K"], params["n"], params.get("majority_factor", 1)
    return [n * f if k < (K + 1) // 2 else n for k in range(K)]


def derive(params):
    K = params["K"]
    opt = ce_etf_optimum(K, params["n"], params["lam_W"], params["lam_H"])
    G = np.array(etf_gram(K).evalf(), dtype=float)
    a, h, t = (float(opt[k]) for k in ("norm_w", "norm_h", "t"))
    return {"t": opt["t"], "norm_w": opt["norm_w"], "norm_h": opt["norm_h"], "loss": opt["loss"],
            "threshold_lam_h": opt["threshold_lam_h"],
            "cosine_gram": G, "gram_means": h ** 2 * G, "gram_w": a ** 2 * G, "w_times_m": t * G,
            "bias_norm": 0.0, "nc1": 0.0}


def simulate(params, ctx):
    fit = fit_ce_ufm(counts_of(params), params["d"], params["lam_W"], params["lam_H"], params["lam_b"],
                     restarts=RESTARTS, generator=ctx.generator(), dtype=ctx.dtype, device=ctx.device,
                     polish_iters=500 if ctx.large else 200)
    W, H, b = fit.params
    K = params["K"]
    M = class_means(H, fit.labels, K)
    return {"loss": fit.loss, "grad_norm": fit.grad_norm, "restart_losses": fit.restart_losses,
            "gram_means": gram(M).numpy(), "cosine_gram": cosine_gram(centred(M)).numpy(),
            "gram_w": mm(W, W.T).numpy(), "w_times_m": mm(W, M).numpy(),
            "bias_norm": float(b.norm()), "nc1": float(within_class_rms(H, fit.labels, K)),
            "step": fit.history["step"].numpy(),
            **{f"{k}_along": fit.history[k].numpy() for k in ("nc1", "nc2", "nc3", "nc4")}}


def _scaled(pred, factor):
    """The ETF at a wrong scale: t, a, h and the Grams scaled consistently."""
    out = dict(pred)
    for k in ("t", "norm_w", "norm_h"):
        out[k] = pred[k] * factor
    for k in ("gram_means", "gram_w", "w_times_m"):
        out[k] = pred[k] * factor ** 2
    return out


def wrong_scale(params, pred):
    """Scale t by 1.25 (and a, h by √1.25): a stationary-looking ETF that is not the optimum."""
    K, n = params["K"], params["n"]
    f = 1.25 ** 0.5
    out = _scaled(pred, f)
    t = float(out["t"])
    sigma = (n * params["lam_W"] * params["lam_H"]) ** 0.5
    out["loss"] = float(np.log(np.exp(t) + (K - 1) * np.exp(-t / (K - 1))) - t + K * sigma * t)
    return out


def cosine_minus_1_over_k(params, pred):
    K = params["K"]
    G = (1 + 1 / K) * np.eye(K) - 1 / K
    return {**pred, "cosine_gram": G, "gram_means": float(pred["norm_h"]) ** 2 * G,
            "gram_w": float(pred["norm_w"]) ** 2 * G, "w_times_m": float(pred["t"]) * G}


def orthogonal_frame(params, pred):
    K = params["K"]
    G = np.eye(K)
    return {**pred, "cosine_gram": G, "gram_means": float(pred["norm_h"]) ** 2 * G,
            "gram_w": float(pred["norm_w"]) ** 2 * G, "w_times_m": float(pred["t"]) * G}


def _flat(key, src):
    return lambda pred, obs, params: np.ravel((pred if src == "prediction" else obs)[key])


K_s, n_s, lw_s, lh_s = sp.symbols("K n lambda_W lambda_H", positive=True)

claim = Claim(
    id="neural_collapse.ufm_ce_etf",
    title="Cross-entropy UFM: global minimisers form a simplex ETF at a closed-form scale",
    statement=("In the unconstrained features model with cross-entropy loss, weight decay on W, H and the "
               "bias, balanced classes (n per class) and d ≥ K − 1, every global minimiser has features equal "
               "to their class means (NC1), centred class means forming a simplex ETF with normalised Gram "
               "(K/(K−1))(I − 11ᵀ/K) (NC2), classifiers proportional to the means (NC3), zero bias, and the "
               "scale t = w_k·m_k solving the scalar problem min_t log(e^t + (K−1)e^{−t/(K−1)}) − t "
               "+ K√(nλ_Wλ_H)·t, which also gives the minimum loss."),
    math=sp.Eq(sp.Symbol("t^*"), (K_s - 1) / K_s * sp.log((1 - (K_s - 1) * sp.sqrt(n_s * lw_s * lh_s))
                                                        / sp.sqrt(n_s * lw_s * lh_s))),
    source=Source("Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data",
                  "Hien Dang, Tho Tran, Stanley Osher, Hung Tran-The, Nhat Ho, Tan Nguyen", 2023, "seed 000",
                  note=("UFM/CE result of Zhu et al. (2021) and Tirer et al. (seeds 000, 004); the closed form "
                        "above is what sympy returns for the stationarity equation (it is valid when "
                        "K√(nλ_Wλ_H) < 1, the assumption drawn here; above it the optimum collapses to 0).")),
    assumptions=AssumptionSpace([
        Int("K", 2, 5, description="number of classes"),
        Int("d", "K - 1", "K + 2", description="feature dimension, d ≥ K − 1"),
        Int("n", 1, 4, description="samples per class (balanced)"),
        Float("lam_W", 1e-3, 3e-2, log=True, description="weight decay on W"),
        Float("lam_H", 1e-3, 3e-2, log=True, description="weight decay on H"),
        Float("lam_b", 1e-3, 1e-1, log=True, description="weight decay on the bias"),
        Seed("data_seed"),
    ], constraints=["d >= K - 1", "K * sqrt(n * lam_W * lam_H) < 1"]),
    derive=derive,
    simulate=simulate,
    checks=[
        at_least("no trained UFM beats the derived minimum", "loss", "loss", margin=1e-9),
        close("minimum loss", "loss", "loss", rtol=1e-7, atol=1e-10),
        close("NC1: features at their class means (RMS distance)", "nc1", "nc1", rtol=0, atol=1e-5),
        close("NC2: cosine Gram of centred means = ETF", "cosine_gram", "cosine_gram", rtol=0, atol=1e-4),
        close("Gram of class means = ‖m‖²·G_ETF", "gram_means", "gram_means", rtol=1e-3, atol=1e-5),
        close("Gram of classifiers = ‖w‖²·G_ETF", "gram_w", "gram_w", rtol=1e-3, atol=1e-5),
        close("NC3: W M = t·G_ETF", "w_times_m", "w_times_m", rtol=1e-3, atol=1e-5),
        close("bias vanishes", "bias_norm", "bias_norm", rtol=0, atol=1e-5),
    ],
    mutants=[
        Mutant("cosine −1/K", cosine_minus_1_over_k, "class means with pairwise cosine −1/K instead of −1/(K−1)"),
        Mutant("orthogonal frame", orthogonal_frame, "class means orthogonal (the MSE bias-free geometry)"),
        Mutant("wrong scale ×1.25", wrong_scale, "t* scaled by 1.25, loss evaluated there"),
    ],
    breaks=[
        Break("d = K − 2 < K − 1", lambda p: {**p, "d": p["K"] - 2} if p["K"] >= 3 else None,
              "too few feature dimensions to hold a simplex ETF"),
        Break("class imbalance ×4", lambda p: {**p, "majority_factor": 4},
              "the first ⌈K/2⌉ classes get 4n samples (minority collapse bends the ETF)"),
    ],
    plots=[
        Plot("Gram of class means: learned vs ‖m‖²·G_ETF", [
            Series("y = x", _flat("gram_means", "prediction"), _flat("gram_means", "prediction"),
                   role="theory", style="line"),
            Series("learned entries", _flat("gram_means", "prediction"), _flat("gram_means", "observation"),
                   style="points"),
        ], xlabel="predicted entry", ylabel="learned entry"),
        Plot("NC metrics along gradient descent", [
            Series("NC1", "observation.step", "observation.nc1_along"),
            Series("NC2", "observation.step", "observation.nc2_along"),
            Series("NC3", "observation.step", "observation.nc3_along"),
        ], xlabel="GD step (before the L-BFGS polish)", ylabel="metric", ylog=True),
        Plot("minimum loss: sympy vs trained", [
            Series("y = x", "prediction.loss", "prediction.loss", role="theory", style="line"),
            Series("trained", "prediction.loss", "observation.loss", style="points"),
        ], xlabel="derived minimum", ylabel="trained loss", over="examples"),
    ],
)
