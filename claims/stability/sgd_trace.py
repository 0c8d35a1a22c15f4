"""Mean-square linear stability of SGD (batch size 1) forces η·tr(H) ≤ 2.

Stability notion: MEAN-SQUARE (second-moment) linear stability — the minimum
is stable when E[δ_t δ_tᵀ] stays bounded for the linearised SGD
δ ← (I − η H_i) δ, i uniform.  Sampled trajectories measure something else
(almost-sure behaviour: a few hundred runs just above η_c still decay, the
blow-up being carried by rare runs); they are reported, not checked.

Exact side (numpy): the lifted second-moment operator T_η (an r²×r² matrix
on the span of the data), its spectral radius, η_c by bisection; η_c for
B = 1, 2, 4 drawn with replacement; the closed form η_c = 2/tr(H) when all
samples have equal norm (sympy, exact rational).  Simulation side (torch):
the second moment propagated exactly (repeated squaring of the one-step map
read off from the update itself) on both sides of η_c, and the threshold
located from that propagation alone."""
import math

import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Int, Mutant, Plot, Seed, Series, Source,
                         at_most, close, converges, diverges, holds)
from theorycheck.sim.sgd import second_moment_at_powers, sgd_log_norms, simulated_threshold
from theorycheck.symbolic.moments import mean_square_threshold

EPS = 0.05
CHAINS = 300
STEPS_AS = 300  # steps of the sampled (almost-sure) trajectories
eta, trH = sp.symbols("eta tr_H", positive=True)


def gradients(params) -> np.ndarray:
    """Per-sample gradients g_i ∈ Z^p (H_i = g_i g_iᵀ).  'equal': signed
    permutations of one integer vector, so every ‖g_i‖² is the same."""
    rng = np.random.default_rng(params["data_seed"])
    n, p, e = params["n"], params["p"], params["entry"]
    while True:
        if params["norms"] == "equal":
            base = rng.integers(-e, e + 1, size=p)
            G = np.stack([rng.permutation(base) * rng.choice([-1, 1], size=p) for _ in range(n)])
        else:
            G = rng.integers(-e, e + 1, size=(n, p))
        if np.all(np.abs(G).sum(1) > 0):
            return G


def per_sample_hessians(params) -> np.ndarray:
    G = gradients(params).astype(np.float64)
    return np.einsum("na,nb->nab", G, G)


def derive(params):
    G = gradients(params)
    H = sp.Matrix(G.T @ G) / params["n"]
    tr = H.trace()  # exact rational
    lam = max(np.linalg.eigvalsh(np.array(H.tolist(), dtype=float)))
    Hs = per_sample_hessians(params)
    eta_c = mean_square_threshold(Hs, batch=1)
    out = {"eta_c": eta_c, "trace": float(tr), "trace_bound": float(2 / tr), "gd_bound": 2.0 / lam,
           "ratio_bound": 1.0,
           "eta_c_by_batch": [eta_c, mean_square_threshold(Hs, 2), mean_square_threshold(Hs, 4)]}
    if params["norms"] == "equal":
        c = sp.Integer(int((G[0] ** 2).sum()))
        out["eta_c_closed_form"] = float(2 / c)  # stable ⇔ η·c < 2, and tr(H) = c
    return out


def range_gradients(params, ctx) -> torch.Tensor:
    """The g_i in an orthonormal basis of the data span (torch, independent of the derivation)."""
    G = ctx.tensor(gradients(params))
    w, V = torch.linalg.eigh(G.T @ G)
    return G @ V[:, w > 1e-10 * w.max()]


def exp_capped(logs):
    """exp, with overflow written as inf on purpose (the checks read inf as growth)."""
    a = np.asarray(logs, dtype=float)
    return np.where(a > 700, np.inf, np.exp(np.minimum(a, 700)))


def simulate(params, ctx, prediction):
    B = params.get("batch", 1)
    G = range_gradients(params, ctx)
    Hs = torch.einsum("na,nb->nab", G, G)
    r = Hs.shape[1]
    M0 = torch.eye(r, dtype=ctx.dtype, device=ctx.device) / r
    e = float(prediction["eta_c"])
    ts, below = second_moment_at_powers(Hs, M0, (1 - EPS) * e, B)
    _, above = second_moment_at_powers(Hs, M0, (1 + EPS) * e, B)
    H = Hs.mean(0)
    eta_sim = simulated_threshold(Hs, M0, hi=2.0 / float(torch.linalg.eigvalsh(H).max()) * 1.001, batch=B)
    if not math.isfinite(eta_sim):
        raise ArithmeticError("propagated second moment never grew up to 2/λ_max")
    # almost-sure behaviour, measured by sampled trajectories (not a mean-square test)
    d0 = torch.ones(r, dtype=ctx.dtype, device=ctx.device)
    g = ctx.generator()
    lg_above = sgd_log_norms(G, d0, (1 + EPS) * e, STEPS_AS, CHAINS, B, g)
    return {"iterations": np.array(ts, dtype=float),
            "m2_below": exp_capped(below), "m2_above": exp_capped(above),
            "log_m2_below": np.array(below), "log_m2_above": np.array(above),
            "eta_c_sim": eta_sim, "trace_ratio": eta_sim * float(torch.trace(H)) / 2,
            "batch": B,
            "as_fraction_decayed_above": float((lg_above < 0).double().mean()),
            "as_lyapunov_above": float(lg_above.mean() / STEPS_AS)}


def equal_norm_closed_form(pred, obs, params):
    """Equal norms: the lifted operator's η_c is the closed form 2/c; the
    check says nothing on draws with random norms."""
    if "eta_c_closed_form" not in pred:
        return True
    return abs(pred["eta_c_closed_form"] - pred["eta_c"]) <= 1e-9 * pred["eta_c"]


def after_start(key):
    """An observation series without t = 0 (the plot's x axis is logarithmic)."""
    return lambda pred, obs, params: obs[key][1:]


claim = Claim(
    id="stability.sgd_trace",
    title="Mean-square stability of SGD (batch size 1) implies η·tr(H) ≤ 2",
    statement=("At an interpolating minimum of over-parameterised least squares (H_i = g_i g_iᵀ, "
               "H = mean H_i), if the minimum is linearly stable for SGD with batch size 1 in the "
               "mean-square sense, then η·tr(H) ≤ 2.  The mean-square threshold η_c is the step where the "
               "spectral radius of T(M) = E[(I − ηH_i) M (I − ηH_i)] reaches 1; for samples of equal norm "
               "η_c = 2/tr(H) exactly.  Almost-sure stability is a different notion (sampled trajectories)."),
    notion="mean-square (second-moment) linear stability; batch size 1, samples drawn uniformly",
    math=sp.Le(eta * trH, 2),
    source=Source("The Implicit Regularization of Dynamical Stability in Stochastic Gradient Descent",
                  "Lei Wu, Weijie J. Su", 2023, "seed 004",
                  note=("Mean-square notion.  For B ≥ 2 drawn with replacement the bound is not the "
                        "right one: the exact threshold is read off the lifted operator with "
                        "E[H_B M H_B] = mean H_i M H_i / B + (1 − 1/B) H M H (scalar case: "
                        "2/η_c = h + v/(hB)).")),
    assumptions=AssumptionSpace([
        Int("n", 1, 4, description="number of samples"),
        Int("p", "n + 1", 6, description="parameters (over-parameterised: p > n)"),
        Int("entry", 1, 3, description="integer gradients with |g_ij| ≤ entry"),
        Choice("norms", ["random", "equal"], description="equal: all ‖g_i‖ the same (closed form)"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    checks=[
        converges("second moment decays at (1 − ε)·η_c", "m2_below", rel_tol=1e-6),
        diverges("second moment grows at (1 + ε)·η_c", "m2_above", growth=1e6),
        close("η_c located by propagating the moment = lifted-operator η_c", "eta_c", "eta_c_sim",
              rtol=1e-6, atol=0),
        at_most("η_c·tr(H)/2 ≤ 1", "trace_ratio", "ratio_bound", rtol=1e-7),  # bisection accuracy 1e-8
        holds("equal norms: η_c = 2/tr(H) exactly", equal_norm_closed_form),
    ],
    mutants=[
        Mutant("η·tr(H) ≤ 1", lambda p, pred: {**pred, "ratio_bound": 0.5},
               "a wrong constant in the trace bound"),
        Mutant("λ_max(H) ≤ 2/η suffices for SGD",
               lambda p, pred: {**pred, "eta_c": pred["gd_bound"]},
               "the GD threshold 2/λ_max taken as SGD's mean-square threshold"),
    ],
    breaks=[
        Break("batch size B = 2 (with replacement)", lambda p: {**p, "batch": 2},
              "the plain trace bound fails; η_c(B) from the lifted operator is reported"),
        Break("batch size B = 4 (with replacement)", lambda p: {**p, "batch": 4},
              "the plain trace bound fails by more"),
    ],
    plots=[
        Plot("second moment on both sides of η_c", [
            Series("η = (1 − ε)·η_c", after_start("iterations"), after_start("log_m2_below")),
            Series("η = (1 + ε)·η_c", after_start("iterations"), after_start("log_m2_above")),
        ], xlabel="iteration t (powers of 2)", ylabel="log tr E[δ_t δ_tᵀ]", xlog=True),
        Plot("η_c against 2/tr(H) and 2/λ_max across draws", [
            Series("2/tr(H)", "prediction.eta_c", "prediction.trace_bound", role="theory", style="points"),
            Series("2/λ_max(H)", "prediction.eta_c", "prediction.gd_bound", role="theory", style="points"),
            Series("η_c (propagated moment)", "prediction.eta_c", "observation.eta_c_sim", style="points"),
        ], xlabel="η_c (lifted operator)", ylabel="step size", xlog=True, ylog=True, over="examples"),
    ],
)
