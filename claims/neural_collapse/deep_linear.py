"""Deep linear UFM with MSE, no bias, balanced classes (Dang et al.): the
orthogonal-frame geometry holds in every layer, with lengths fixed by a
per-class scalar problem.

Exact side (theorycheck.symbolic.collapse.frame_optimum with L = layers + 1
factors): the product's singular value s minimises
φ(s) = (s − √n)²/(2N) + (L/2)(λ_H Πλ_j)^{1/L} s^{2/L}.  φ is not convex for
L ≥ 3 (s = 0 is always a local minimum), so sympy finds every stationary
point as a root of x^{2L−2} − √n x^{L−2} + cN (s = x^L) and keeps the best
of those and 0.  Every factor then carries λ_j σ_j² = (s² λ_H Πλ)^{1/L}, which
fixes the class-mean lengths after each layer and the classifier lengths;
the target Gram in each layer is diagonal.  The first-order transition to
collapse (c where min_{s>0} φ = φ(0)) is solved with sympy's nsolve.
Simulation: GD, L-BFGS and Newton steps from random inits at several scales
plus the origin (a certified local minimum for L ≥ 3); the lowest certified
restart is measured.  A restart stuck at a worse local minimum is not a
counterexample (DESIGN.md): the shape checks count only where training
reached the derived minimum loss (else the example is inconclusive), and the
robust one-sided check — no trained loss below the derived minimum — always
counts.

No rank break (d < K) here: it raises the reachable loss, which non-convex
training cannot tell from a worse local minimum, so with the gate above it
could only come out inconclusive; the bias break lowers the loss below the
derived minimum and is decidable.

Narrowed from CLAIMS.md: balanced classes only (imbalanced classes have
per-class local minima for L ≥ 3, which restarts cannot cover exhaustively);
the two-factor imbalanced case is neural_collapse.imbalanced_orthogonal.
"""
import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Claim, Float, Int, Mutant, Plot, Seed, Series, Source, at_least,
                         close)
from theorycheck.sim.collapse import class_means, gram, mm, within_class_rms
from theorycheck.sim.ufm import fit_mse_ufm, only_at_global_minimum
from theorycheck.symbolic.collapse import collapse_threshold_deep, frame_lengths, frame_optimum, minimise_phi

INIT_SCALES = (0.0, 0.8, 1.0, 1.3)  # the origin and three random inits


def lams_of(params):
    return [params[f"lam_{j + 1}"] for j in range(params["layers"])]


def reg_constant_float(params):
    prod = params["lam_H"] * np.prod(lams_of(params))
    return float(prod ** (1 / (params["layers"] + 1)))


def lengths_prediction(params, s):
    """Grams predicted for product singular value s (same for every class)."""
    K, n = params["K"], params["n"]
    lengths, w = frame_lengths(s, n, lams_of(params), params["lam_H"])
    ln = np.array([float(v) for v in lengths])
    eye = np.eye(K)
    return {"layer_norms": ln, "norm_w": float(w), "product_scale": float(s) / n ** 0.5,
            "layer_grams": np.stack([v ** 2 * eye for v in ln]), "gram_w": float(w) ** 2 * eye,
            "product_times_m": float(s) / n ** 0.5 * eye}


def derive(params):
    K, n, L = params["K"], params["n"], params["layers"] + 1
    opt = frame_optimum([n] * K, lams_of(params), params["lam_H"])
    pred = lengths_prediction(params, opt["s"][0])
    try:  # informative only (the checks use s directly): nsolve may miss from its starting point
        threshold = collapse_threshold_deep(n, K * n, L)
    except (ValueError, ZeroDivisionError):
        threshold = None
    return {**pred, "s": opt["s"][0], "loss": opt["loss"], "reg_constant": opt["reg_constant"],
            "collapse_threshold_c": threshold, "nc1": 0.0}


def simulate(params, ctx):
    K, layers = params["K"], params["layers"]
    fit = fit_mse_ufm([params["n"]] * K, params["d"], lams_of(params), params["lam_H"],
                      restarts=len(INIT_SCALES), init_scales=INIT_SCALES, generator=ctx.generator(),
                      bias=params.get("bias", False), dtype=ctx.dtype, device=ctx.device,
                      polish_iters=500 if ctx.large else 200)
    factors, H = fit.params[:layers], fit.params[layers]
    feats, grams = H, []
    for Wj in factors[:-1]:
        grams.append(gram(class_means(feats, fit.labels, K)))
        feats = mm(Wj, feats)
    grams.append(gram(class_means(feats, fit.labels, K)))
    out = mm(factors[-1], class_means(feats, fit.labels, K))
    return {"loss": fit.loss, "grad_norm": fit.grad_norm, "restart_losses": fit.restart_losses,
            "layer_grams": np.stack([g.numpy() for g in grams]),
            "layer_norms": np.array([float(np.sqrt(np.mean(np.diag(g.numpy())))) for g in grams]),
            "gram_w": mm(factors[-1], factors[-1].T).numpy(), "product_times_m": out.numpy(),
            "nc1": float(within_class_rms(H, fit.labels, K))}


def two_factor_scale(params, pred):
    """The convex two-factor formula s = (√n − N c)₊ with the deep constant c."""
    K, n = params["K"], params["n"]
    s = max(0.0, n ** 0.5 - K * n * reg_constant_float(params))
    return {**pred, **lengths_prediction(params, s)}


def equal_layer_lengths(params, pred):
    """Every layer keeps the class-mean lengths of H (no rebalancing across layers)."""
    ln = np.full_like(pred["layer_norms"], pred["layer_norms"][0])
    eye = np.eye(params["K"])
    return {**pred, "layer_norms": ln, "layer_grams": np.stack([v ** 2 * eye for v in ln])}


def etf_hidden_layers(params, pred):
    """Orthogonal H, but simplex-ETF class means in the hidden layers."""
    K = params["K"]
    G = K / (K - 1) * (np.eye(K) - 1 / K)
    grams = [pred["layer_grams"][0]] + [v ** 2 * G for v in pred["layer_norms"][1:]]
    return {**pred, "layer_grams": np.stack(grams)}


def nonzero_optimum(p):
    """Draws whose optimum keeps the classes (the bias break can only show there)."""
    s = minimise_phi(p["n"], p["K"] * p["n"], p["layers"] + 1, sp.Float(reg_constant_float(p), 30))
    return float(s) > 0.05


claim = Claim(
    id="neural_collapse.deep_linear",
    title="Deep linear UFM with MSE: an orthogonal frame in every layer, lengths from a scalar problem",
    statement=("In the bias-free deep linear unconstrained features model (1/2N)‖W_M⋯W_1 H − Y‖² + Σ_j λ_j/2‖W_j‖² "
               "+ λ_H/2‖H‖² with balanced classes and d ≥ K, global minimisers have features at their class "
               "means and, in every layer, class means forming an orthogonal frame; the product's singular value "
               "s minimises (s − √n)²/(2N) + (L/2)(λ_H Πλ_j)^{1/L} s^{2/L} (L = M + 1) and every factor carries "
               "λ_j σ_j² = (s² λ_H Πλ_j)^{1/L}, which fixes all lengths and the minimum loss."),
    math=sp.Eq(sp.Symbol("phi(s)"), (sp.Symbol("s") - sp.sqrt(sp.Symbol("n"))) ** 2 / (2 * sp.Symbol("N"))
               + sp.Symbol("L") / 2 * sp.Symbol("c") * sp.Symbol("s") ** (2 / sp.Symbol("L"))),
    source=Source("Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data",
                  "Hien Dang, Tho Tran, Stanley Osher, Hung Tran-The, Nhat Ho, Tan Nguyen", 2023, "seed 000",
                  note="Balanced classes only (see the module docstring); seeds 001 and 003 state the same result."),
    assumptions=AssumptionSpace([
        Int("K", 2, 4, description="number of classes"),
        Int("d", "K", "K + 2", description="width of every layer, d ≥ K"),
        Int("n", 1, 3, description="samples per class"),
        Int("layers", 2, 3, description="weight matrices M (L = M + 1 factors with H)"),
        Float("lam_1", 1e-3, 0.2, log=True, description="weight decay, first layer"),
        Float("lam_2", 1e-3, 0.2, log=True, description="weight decay, second layer"),
        Float("lam_3", 1e-3, 0.2, log=True, description="weight decay, third layer (used when layers = 3)"),
        Float("lam_H", 1e-3, 0.2, log=True, description="weight decay on H"),
        Seed("data_seed"),
    ], constraints=["d >= K"]),
    derive=derive,
    simulate=simulate,
    checks=[
        at_least("no trained UFM beats the derived minimum", "loss", "loss", margin=1e-9),
        *[only_at_global_minimum(c) for c in (
            close("NC1: features at their class means (RMS distance)", "nc1", "nc1", rtol=0, atol=1e-5),
            close("every layer: Gram of class means = diag(lengths²)", "layer_grams", "layer_grams", rtol=1e-3,
                  atol=1e-5),
            close("Gram of classifiers = ‖w‖²·I", "gram_w", "gram_w", rtol=1e-3, atol=1e-5),
            close("W_M⋯W_1 M = (s/√n)·I", "product_times_m", "product_times_m", rtol=1e-3, atol=1e-5),
        )],
    ],
    mutants=[
        Mutant("two-factor scale", two_factor_scale, "the convex L = 2 formula (√n − Nc)₊ used for a deep net"),
        Mutant("equal lengths in every layer", equal_layer_lengths, "no rebalancing of lengths across layers"),
        Mutant("ETF in hidden layers", etf_hidden_layers, "the hidden layers' means on a simplex ETF"),
    ],
    breaks=[
        Break("unregularised bias", lambda p: {**p, "bias": True} if nonzero_optimum(p) else None,
              "with a bias the means are centred: no longer an orthogonal frame"),
    ],
    plots=[
        Plot("class-mean length per layer: closed form vs trained", [
            Series("sympy", lambda pr, ob, p: np.arange(len(pr["layer_norms"])), "prediction.layer_norms",
                   role="theory", style="line"),
            Series("trained", lambda pr, ob, p: np.arange(len(ob["layer_norms"])), "observation.layer_norms",
                   style="points"),
        ], xlabel="weight layers applied to H", ylabel="‖m_k‖"),
        Plot("Gram of class means, all layers: learned vs predicted", [
            Series("y = x", lambda pr, ob, p: np.ravel(pr["layer_grams"]),
                   lambda pr, ob, p: np.ravel(pr["layer_grams"]), role="theory", style="line"),
            Series("learned entries", lambda pr, ob, p: np.ravel(pr["layer_grams"]),
                   lambda pr, ob, p: np.ravel(ob["layer_grams"]), style="points"),
        ], xlabel="predicted entry", ylabel="learned entry"),
        Plot("product scale against the regularisation constant", [
            Series("sympy", lambda pr, ob, p: reg_constant_float(p), "prediction.product_scale", role="theory",
                   style="points"),
            Series("trained", lambda pr, ob, p: reg_constant_float(p),
                   lambda pr, ob, p: float(np.mean(np.diag(ob["product_times_m"]))), style="points"),
        ], xlabel="c = (λ_H Πλ_j)^{1/L}", ylabel="w_k·(W⋯m_k)", xlog=True, over="examples"),
    ],
)
