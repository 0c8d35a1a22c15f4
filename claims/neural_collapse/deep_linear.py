"""Deep linear UFM with MSE, no bias, balanced classes (Dang et al. 2023):
the orthogonal-frame geometry holds in every layer, with lengths fixed by a
per-class scalar problem, and a first-order collapse transition.

Exact side (theorycheck.symbolic.collapse, L = layers + 1 factors, solved once
per L with n, N, c symbolic): the product's singular value s minimises
φ(s) = (s − √n)²/(2N) + (L/2)c s^{2/L}, c = (λ_H Πλ_j)^{1/L}.  φ is not
convex for L ≥ 3 (s = 0 is always a local minimum), so the positive
stationary points are the roots of the polynomial sympy derives from φ'
(s = x^L: x^{2L−2} − √n x^{L−2} + cN), found numerically and Newton-polished,
and the best of those and s = 0 is kept.  Every factor then carries
λ_j σ_j² = (s² λ_H Πλ_j)^{1/L}, which fixes the class-mean lengths after each
layer, the classifier length and the minimum loss K·φ(s).  The collapse
threshold: in u = s/√n, φ ∝ (u − 1)² + Lβu^{2/L} with β = cNn^{1/L−1}; sympy
solves "φ = φ(0) and φ' = 0" exactly: u = (L−2)/(L−1),
β*(L) = ((L−2)/(L−1))^{(L−2)/L}/(L−1) (2^{2/3}/4 for L = 3, √6/9 for L = 4),
so the classes drop from s = √n(L−2)/(L−1) to 0 at c* = β*(L)n^{1−1/L}/N
(a jump: a first-order transition).  The prediction is also checked on the
real objective: the predicted minimiser is built explicitly (orthogonal
frames with the derived lengths in every layer) and the UFM loss and its
gradient are evaluated there (loss = derived minimum, gradient = 0).

Simulation: the deep UFM (W_1 … W_M, H) trained by batched L-BFGS, all draws
of a chunk padded into one tensor program (shallower problems get frozen
identity layers; converged problems leave the tensors as L-BFGS goes).  Each
draw's candidates: two random starts (Haar-orthogonal factors at scales 1.2
and 1.8, features with random unit columns — no class structure), the
origin W = H = 0 (its gradient is evaluated: exactly 0, a local minimum for
L ≥ 3), and escape moves.  Why escape moves: for L ≥ 3 a direction of the
product that reaches 0 on the way is a local minimum (the data term is of
order a^L there, the weight decay of order a²), and random starts end at
such certified points — some classes alive and one at 0, or every class at
0 just below the transition — on about 16 % of the draws (169 of 1024 sweep
draws, seed 1; the refuting draw of the previous version, K = d = 4, n = 1,
L = 3, strength 0.47: 0.3208 = 3φ(s*) + φ(0) against the derived
0.2611 = 4φ(s*), so the derivation was right and training was stuck).  So
whenever the residual's top singular direction is not produced by the
network at all (‖Pᵀu‖ ≤ 1e-6·σ₁ at the best certified point), a balanced
rank-one path along it is added to every factor at three sizes (0.5, 0.75,
1 × σ₁) and trained again, up to three rounds while it helps
(theorycheck.sim.ufm.MSEProblems.escape).  The move reads only the residual
and the current features, nothing the derivation predicts, and a candidate
counts only when certified; it also runs from the origin in the collapsed
regime, so "W = H = 0 is the minimum" is tested against a revived class,
not assumed.  The lowest-loss certified candidate (gradient norm ≤ 1e-10)
is measured; a draw is undecidable when none is certified or an uncertified
one is lower.  On 5 × 1024 sweep draws every draw was decided and reached
the derived minimum.

Draws: the strength β/β*(L) ∈ [0.1, 1.35] (uniform: every 1 % band around the
transition holds a sweep draw; the map uses β*(L) written out by hand, not
the derivation), and λ_j = c·e^{r_j}, λ_H = c·e^{−Σr_j}.

Narrowed from CLAIMS.md: balanced classes only.  With imbalance at L ≥ 3
every class has its own scalar problem with its own local minimum at 0 (2^K
combinations of local minima), and the optimisation above — in particular
the escape move, which revives one direction at a time — has only been
validated on balanced draws; the two-factor imbalanced case is
neural_collapse.imbalanced_orthogonal.  Problem sizes stay small in every
profile (K ≤ 4, d ≤ K + 2, n ≤ 3).
"""
import math

import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Claim, Float, Int, Mutant, Plot, Series, Source, at_least, close,
                         holds)
from theorycheck.symbolic.collapse import collapse_constant, etf_gram_np, frame_lengths, frame_optimum

from ._common import certificate, fit_mse, mse_measurements, uncertified

SCALES = (1.2, 1.8)   # two random starts (Haar factors, random unit features)
ESCAPE_ROUNDS = 3
COLLAPSED = 1e-6
KEYS = ("loss", "product_scale", "lengths", "frame_grams", "zeros")


def beta_design(L):
    """β*(L) written out by hand: only to place the draws around the transition."""
    return ((L - 2) / (L - 1)) ** ((L - 2) / L) / (L - 1)


def reg_of(p):
    L, n, K = p["layers"] + 1, p["n"], p["K"]
    return p["strength"] * beta_design(L) * n ** (1 - 1 / L) / (K * n)


def lams_of(p):
    """(λ_1 … λ_M, λ_H) with (λ_H Πλ_j)^{1/L} = c."""
    c = reg_of(p)
    rs = [p[f"r{j + 1}"] for j in range(p["layers"])]
    return [c * math.exp(r) for r in rs], c * math.exp(-sum(rs))


def constructed_minimiser(params, lengths, a):
    """The predicted minimiser as explicit matrices, and the deep UFM's loss and
    gradient norm there, written out in numpy (a second implementation of the
    objective, not the training code): H = h_0·[e_k per sample],
    W_j = (h_j/h_{j−1})·P_K, classifier a·[I_K 0] (P_K projects on the first K
    coordinates)."""
    K, d, n, M = params["K"], params["d"], params["n"], params["layers"]
    lams, lam_h = lams_of(params)
    N = K * n
    P = np.zeros((d, d))
    P[:K, :K] = np.eye(K)
    Ws = [(lengths[j] / lengths[j - 1] if lengths[j - 1] > 0 else 0.0) * P for j in range(1, M)]
    Wc = np.zeros((K, d))
    Wc[:, :K] = a * np.eye(K)
    Ws.append(Wc)
    Y = np.repeat(np.eye(K), n, axis=1)
    H = np.zeros((d, N))
    H[:K] = lengths[0] * Y
    Zs = [H]
    for W in Ws:
        Zs.append(W @ Zs[-1])
    R = Zs[-1] - Y
    loss = ((R * R).sum() / (2 * N) + lam_h / 2 * (H * H).sum()
            + sum(lam / 2 * (W * W).sum() for lam, W in zip(lams, Ws)))
    delta, sq = R / N, 0.0
    for j in range(M - 1, -1, -1):
        sq += ((delta @ Zs[j].T + lams[j] * Ws[j]) ** 2).sum()
        delta = Ws[j].T @ delta
    sq += ((delta + lam_h * H) ** 2).sum()
    return float(loss), math.sqrt(sq)


def derive(params):
    K, n, L = params["K"], params["n"], params["layers"] + 1
    lams, lam_h = lams_of(params)
    opt = frame_optimum([n] * K, lams, lam_h)
    ln = [float(v) for v in opt["layer_norms"][0]]
    a, scale = float(opt["norm_w"][0]), float(opt["product_scale"][0])
    eye = np.eye(K)
    loss_c, grad_c = constructed_minimiser(params, ln, a)
    c_star = collapse_constant(n, K * n, L)
    return {"loss": opt["loss"], "product_scale": scale, "lengths": np.array(ln + [a]),
            "frame_grams": np.stack([v * v * eye for v in ln] + [a * a * eye, scale * eye]),
            "critical_strength": c_star / (beta_design(L) * n ** (1 - 1 / L) / (K * n)),
            "collapse_c": c_star, "reg_constant": opt["reg_constant"],
            "loss_constructed": loss_c, "grad_constructed": grad_c, "zeros": np.zeros(2)}


def _spec(p):
    lams, lam_h = lams_of(p)
    return {"counts": [p["n"]] * p["K"], "d": p["d"], "lams": lams, "lam_h": lam_h, "bias": p.get("bias", False)}


def simulate_batch(params_list, ctx):
    fit = fit_mse([_spec(p) for p in params_list], ctx, restarts=len(SCALES), scales=SCALES,
                  escape_rounds=ESCAPE_ROUNDS)
    out = []
    for i, p in enumerate(params_list):
        if isinstance(fit[i], Exception):
            out.append(uncertified(str(fit[i]), KEYS))
            continue
        m = mse_measurements(fit[i], [p["n"]] * p["K"], p["d"], p["layers"])
        lengths = [float(np.sqrt(np.diag(G).mean())) for G in m["layer_grams"]]
        lengths.append(float(np.sqrt(np.diag(m["gram_w"]).mean())))
        out.append({**m, "lengths": np.array(lengths),
                    "frame_grams": np.concatenate([m["layer_grams"], m["gram_w"][None], m["product"][None]]),
                    "collapsed": bool(np.abs(m["product_scale"]).max() < COLLAPSED)})
    return out


def simulate(params, ctx):
    """One draw through the same tensor program."""
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


def collapse_agrees(pred, obs, p):
    if obs.get("uncertified"):
        return None
    return obs["collapsed"] == (p["strength"] >= pred["critical_strength"])


def constructed_is_the_minimum(pred, obs, p):
    return (abs(pred["loss_constructed"] - pred["loss"]) <= 1e-12 * (1 + abs(pred["loss"]))
            and pred["grad_constructed"] <= 1e-10)


# ---- mutants ----------------------------------------------------------------------

def _with_s(params, pred, s):
    """The prediction for product singular value s (balanced lengths, loss K·φ(s))."""
    K, n, L = params["K"], params["n"], params["layers"] + 1
    lams, lam_h = lams_of(params)
    ln, a = frame_lengths(max(s, 0.0), n, lams, lam_h)
    c, N = reg_of(params), K * n
    loss = K * ((s - math.sqrt(n)) ** 2 / (2 * N) + L / 2 * c * abs(s) ** (2 / L))
    eye = np.eye(K)
    scale = s / math.sqrt(n)
    return {**pred, "loss": loss, "product_scale": scale, "lengths": np.array(list(ln) + [a]),
            "frame_grams": np.stack([v * v * eye for v in ln] + [a * a * eye, scale * eye])}


def two_factor_scale(params, pred):
    """The convex L = 2 formula s = (√n − Nc)₊ used for a deep network (structural)."""
    K, n = params["K"], params["n"]
    out = _with_s(params, pred, max(0.0, math.sqrt(n) - K * n * reg_of(params)))
    out["critical_strength"] = 1 / beta_design(params["layers"] + 1)   # collapse where the L = 2 law says
    return out


def equal_layer_lengths(params, pred):
    """Every layer keeps the class-mean length of H (no rebalancing across layers)."""
    ln = np.full(params["layers"], pred["lengths"][0])
    eye = np.eye(params["K"])
    grams = [v * v * eye for v in ln] + list(pred["frame_grams"][-2:])
    return {**pred, "lengths": np.array(list(ln) + [pred["lengths"][-1]]), "frame_grams": np.stack(grams)}


def etf_hidden_layers(params, pred):
    """Orthogonal H, but simplex-ETF class means in the hidden layers (structural)."""
    G = etf_gram_np(params["K"])
    ln = pred["lengths"][:-1]
    grams = [pred["frame_grams"][0]] + [v * v * G for v in ln[1:]] + list(pred["frame_grams"][-2:])
    return {**pred, "frame_grams": np.stack(grams)}


def continuous_transition(params, pred):
    """A continuous transition at the spinodal of the non-zero branch (where the
    s > 0 local minimum disappears) instead of the first-order jump: φ' and φ''
    of (u − 1)² + Lβu^{2/L} vanish together at u = (L−2)/(2L−2), where
    β = (1 − u)u^{1−2/L} (written out by hand: a mutant)."""
    L = params["layers"] + 1
    u = (L - 2) / (2 * L - 2)
    return {**pred, "critical_strength": (1 - u) * u ** (1 - 2 / L) / beta_design(L)}


n_s, N_s, c_s, s_s, L_s = sp.symbols("n N c s L", positive=True)
LOSS = "minimum loss (two-sided, best certified restart)"
BELOW = "no trained UFM beats the derived minimum"
FRAME = "every layer: MᵀM = diag(lengths²); WWᵀ = a²I; W⋯W M = (s/√n)·I"

claim = Claim(
    id="neural_collapse.deep_linear",
    title="Deep linear UFM with MSE: an orthogonal frame in every layer, lengths from a scalar problem",
    statement=("In the bias-free deep linear unconstrained features model (1/2N)‖W_M⋯W_1 H − Y‖² + Σ_j λ_j/2‖W_j‖² "
               "+ λ_H/2‖H‖² with balanced classes (n per class) and d ≥ K, global minimisers have features at "
               "their class means and, in every layer, class means forming an orthogonal frame; the product's "
               "singular value s minimises (s − √n)²/(2N) + (L/2)c s^{2/L} (L = M + 1, c = (λ_H Πλ_j)^{1/L}), "
               "every factor carries λ_j σ_j² = (s² λ_H Πλ_j)^{1/L}, which fixes all lengths and the minimum "
               "loss, and for L ≥ 3 the minimiser jumps to W = H = 0 at c = β*(L)n^{1−1/L}/N, "
               "β*(L) = ((L−2)/(L−1))^{(L−2)/L}/(L−1)."),
    math=sp.Eq(sp.Symbol("phi(s)"), (s_s - sp.sqrt(n_s)) ** 2 / (2 * N_s) + L_s / 2 * c_s * s_s ** (2 / L_s)),
    source=Source("Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data",
                  "Hien Dang, Tho Tran, Stanley Osher, Hung Tran-The, Nhat Ho, Tan Nguyen", 2023, "seed 000",
                  note=("ICML 2023, the deep bias-free MSE theorem, narrowed to balanced classes (the search "
                        "for the global minimum — two random starts, the origin and escape moves that revive a "
                        "direction stuck at 0 — is validated on balanced draws only; see the module docstring); "
                        "seeds 001 and 003 state the same result.  The closed-form transition constant β*(L) is "
                        "derived here from their scalar problem.")),
    assumptions=AssumptionSpace([
        Int("K", 2, 4, description="number of classes"),
        Int("d", "K", "K + 2", description="width of every layer, d ≥ K"),
        Int("n", 1, 3, description="samples per class"),
        Int("layers", 2, 3, description="weight matrices M (L = M + 1 factors with H)"),
        Float("strength", 0.1, 1.35, description="β/β*(L), β = cNn^{1/L−1}: the collapse transition is at 1"),
        Float("r1", -1.0, 1.0, description="log λ_1/c"),
        Float("r2", -1.0, 1.0, description="log λ_2/c"),
        Float("r3", -1.0, 1.0, description="log λ_3/c (used when layers = 3); λ_H = c·e^{−Σr_j}"),
    ], constraints=["d >= K"]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        holds("training certified (gradient norm ≤ 1e-10; 2 random starts, the origin, escape moves)",
              certificate),
        holds("the constructed predicted minimiser has the derived loss and zero gradient",
              constructed_is_the_minimum),
        at_least(BELOW, "loss", "loss", margin=1e-10, rtol=1e-10),
        close(LOSS, "loss", "loss", rtol=1e-8, atol=1e-12),
        close("W_M⋯W_1 m_k = (s/√n) e_k: the product scale", "product_scale", "product_scale", rtol=1e-5,
              atol=1e-7),
        close("lengths of the class means after each layer and of the classifier rows", "lengths", "lengths",
              rtol=1e-5, atol=1e-6),
        close(FRAME, "frame_grams", "frame_grams", rtol=1e-5, atol=1e-7),
        close("NC1 (RMS distance to class means) and the bias vanish", "zeros", "zeros", rtol=0, atol=1e-7),
        holds("collapsed to W = H = 0 iff the strength ≥ the critical strength β*(L)", collapse_agrees),
    ],
    resolution={"loss": 1e-3, "product_scale": 1e-3, "lengths": 1e-3, "frame_grams": 1e-3, "zeros": 1e-3,
                "critical_strength": 0.01},
    regimes={"non-zero branch (strength < 0.9)": "strength < 0.9",
             "near the first-order transition (within 5 %)": "strength > 0.95 and strength < 1.05",
             "collapsed (strength ≥ 1)": "strength >= 1",
             "L = 4 (three weight layers)": "layers == 3",
             "d = K (the tightest width)": "d == K",
             "unequal decays (some |r_j| > 0.8)": "abs(r1) > 0.8 or abs(r2) > 0.8"},
    mutants=[
        Mutant("two-factor scale", two_factor_scale,
               "the convex L = 2 formula s = (√n − Nc)₊ used for a deep network (structural)"),
        Mutant("equal lengths in every layer", equal_layer_lengths, "no rebalancing of lengths across layers"),
        Mutant("ETF in hidden layers", etf_hidden_layers, "the hidden layers' means on a simplex ETF (structural)"),
        Mutant("continuous transition at the spinodal", continuous_transition,
               "collapse where the non-zero local minimum disappears, not where it stops being global"),
        Mutant("s ×1.05", lambda p, pred: _with_s(p, pred, 1.05 * pred["product_scale"] * math.sqrt(p["n"])),
               "the product's singular value 5 % too large, lengths and loss consistent with it"),
    ],
    breaks=[
        Break("unregularised bias", lambda p: {**p, "bias": True} if p["strength"] < 0.9 else None,
              "a free bias absorbs part of Y: the loss drops below the bias-free minimum", expect=[BELOW, FRAME]),
        Break("width d = K − 1 < K", lambda p: {**p, "d": p["K"] - 1} if p["strength"] < 0.9 else None,
              "K non-zero orthogonal class means need d ≥ K: the minimum loss rises", expect=[LOSS, FRAME]),
    ],
    plots=[
        Plot("class-mean length per layer: closed form vs trained", [
            Series("sympy", lambda pr, ob, p: np.arange(len(pr["lengths"])), "prediction.lengths",
                   role="theory", style="line"),
            Series("trained", lambda pr, ob, p: np.arange(len(ob["lengths"])), "observation.lengths",
                   style="points"),
        ], xlabel="weight layers applied to H (last: classifier rows)", ylabel="length"),
        Plot("product scale against the strength β/β*(L)", [
            Series("sympy", "params.strength", "prediction.product_scale", role="theory", style="points"),
            Series("trained", "params.strength", lambda pr, ob, p: float(np.mean(ob["product_scale"])),
                   style="points"),
            Series("critical strength", "prediction.critical_strength", None, role="theory", style="vline"),
        ], xlabel="β/β*(L)", ylabel="w·(W⋯m_k)", over="examples"),
        Plot("loss along L-BFGS (best restart)", [
            Series("trained", "observation.iterations", "observation.loss_along"),
            Series("derived minimum", None, "prediction.loss", role="theory", style="hline"),
        ], xlabel="iteration", ylabel="regularised loss"),
    ],
)
