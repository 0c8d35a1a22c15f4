"""Probabilistic (almost-sure) stability of linearised SGD.

w_{t+1} = (1 − η h_t) w_t with i.i.d. h_t: w_t → 0 almost surely iff
Λ = E log|1 − ηh| < 0.  This can hold while the mean-square criterion
E(1 − ηh)² < 1 fails, and even when E h < 0 (SGD attracted to a maximum).

Here ηh_t takes two values, a with probability q and b otherwise.  Exact
side: Λ in sympy; and since log|w_t/w_0| = K·log|1−a| + (t − K)·log|1−b| with
K ~ Binomial(t, q), the exact fraction of chains below their start at every
horizon t.  Simulation: thousands of torch chains.  The horizon is chosen so
that the exact fraction at the last horizon is ≥ 0.99 or ≤ 0.01; there the
chains' fate must follow the sign of Λ."""
import math

import numpy as np
import sympy as sp
from scipy.stats import binom

from theorycheck import (AssumptionSpace, Break, Claim, Float, Mutant, Plot, Seed, Series, Source, at_most,
                         close, holds)
from theorycheck.sim.chains import log_growth, two_point_steps

Z = 4.0        # horizon: Λ·T beyond Z standard deviations
T_MAX = 4000
# "below start" means log|w_t/w_0| < −DELTA on both sides: a chain that sits exactly
# at its start in exact arithmetic (|1 − b| = 1 − 1e-300) is not counted as converged
DELTA = 1e-9
Z_RATE = 5.0  # z-score allowed between the chains' mean log-growth rate and Λ
lam_sym, h, eta = sp.symbols("Lambda h eta", real=True)


def horizons(params) -> list[int]:
    la, lb = math.log(abs(1 - params["a"])), math.log(abs(1 - params["b"]))
    q = params["q"]
    lam = q * la + (1 - q) * lb
    sigma = math.sqrt(q * (1 - q)) * abs(la - lb)
    T = int(min(T_MAX, max(64, math.ceil((Z * sigma / abs(lam)) ** 2))))
    return [max(1, T // 8), max(1, T // 4), max(1, T // 2), T]


def exact_fraction_below_start(t: int, q: float, la: float, lb: float) -> float:
    """P(K·la + (t − K)·lb < −DELTA), K ~ Binomial(t, q)."""
    # K(la − lb) < −t·lb − DELTA
    if la == lb:
        return float(t * lb < -DELTA)
    k_star = (-t * lb - DELTA) / (la - lb)
    if la < lb:   # need K > k_star
        return float(binom.sf(math.floor(k_star), t, q))
    return float(binom.cdf(math.ceil(k_star) - 1, t, q))  # need K < k_star


def derive(params):
    a, b, q = (sp.Rational(params[k]) for k in ("a", "b", "q"))
    Lam = q * sp.log(sp.Abs(1 - a)) + (1 - q) * sp.log(sp.Abs(1 - b))
    m2 = q * (1 - a) ** 2 + (1 - q) * (1 - b) ** 2
    la, lb = float(sp.N(sp.log(sp.Abs(1 - a)), 30)), float(sp.N(sp.log(sp.Abs(1 - b)), 30))
    hs = horizons(params)
    fr = [exact_fraction_below_start(t, params["q"], la, lb) for t in hs]
    sigma = math.sqrt(params["q"] * (1 - params["q"])) * abs(la - lb)  # std of one log-factor
    return {"Lambda": float(sp.N(Lam, 30)), "sigma": sigma, "mean_square": float(m2),
            "mean_eta_h": float(q * a + (1 - q) * b),
            "horizons": hs, "fraction": fr, "fraction_final": fr[-1]}


def simulate(params, ctx):
    chains = 20000 if ctx.large else 2000
    hs = horizons(params)
    eh = two_point_steps(params["q"], params["a"], params["b"], (hs[-1], chains), ctx.generator(),
                         ctx.device, ctx.dtype, persist=params.get("persist", 0.0))
    lg = log_growth(eh, hs, momentum=params.get("momentum", 0.0))
    frac = (lg < -DELTA).double().mean(1).cpu().numpy()
    return {"horizons": np.array(hs), "fraction": frac, "fraction_final": float(frac[-1]), "chains": chains,
            "lyapunov_estimate": float(lg[-1].mean() / hs[-1])}


def lyapunov_z(pred, obs, params):
    """|mean log-growth rate of the chains − Λ| in standard errors σ/√(T·chains)."""
    se = pred["sigma"] / math.sqrt(obs["horizons"][-1] * obs["chains"])
    return abs(obs["lyapunov_estimate"] - pred["Lambda"]) / max(se, 1e-300)


def fate_follows_sign(pred, obs, params):
    """Where the exact law has made up its mind (fraction ≥ 0.99 or ≤ 0.01 at the
    last horizon), the chains are below their start iff Λ < 0."""
    f = pred["fraction_final"]
    if 0.01 < f < 0.99:
        return None  # horizon too short to see the limit
    converge = pred["Lambda"] < 0
    return obs["fraction_final"] > 0.9 if converge else obs["fraction_final"] < 0.1


claim = Claim(
    id="stability.probabilistic",
    title="Almost-sure stability of linearised SGD: w_t → 0 iff E log|1 − ηh| < 0",
    statement=("For w_{t+1} = (1 − η h_t) w_t with i.i.d. h_t, w_t → 0 almost surely iff "
               "Λ = E log|1 − ηh| < 0, which can hold while E(1 − ηh)² ≥ 1 (mean-square unstable) "
               "and even when E h < 0.  For two-point h the fraction of chains below their start "
               "at horizon t is an exact binomial tail."),
    notion="almost-sure (probabilistic) stability",
    math=sp.Eq(lam_sym, sp.Symbol("E") * sp.log(sp.Abs(1 - eta * h))),
    source=Source("Probabilistic stability of SGD (talk)", "Liu Ziyin et al.", 2023, "seed 002",
                  note="Two-point h; Λ exact in sympy, finite-horizon law exact (binomial)."),
    assumptions=AssumptionSpace([
        Float("a", 0.2, 3.5, description="η·h with probability q"),
        Float("b", -1.0, 1.5, description="η·h otherwise (negative: a direction of negative curvature)"),
        Float("q", 0.1, 0.9, description="probability of a"),
        Seed("data_seed"),
    ], constraints=[
        # keep Λ away from 0 relative to its noise, so a finite horizon decides
        "abs(q*log(abs(1-a)+1e-300) + (1-q)*log(abs(1-b)+1e-300)) >= "
        "0.05*abs(log(abs(1-a)+1e-300) - log(abs(1-b)+1e-300))",
        "abs(1-a) > 1e-6", "abs(1-b) > 1e-6",
    ]),
    derive=derive,
    simulate=simulate,
    checks=[
        close("fraction below start = exact binomial law", "fraction", "fraction", rtol=0, atol=0.05),
        holds("chains' fate follows the sign of Λ", fate_follows_sign),
        at_most("chains' log-growth rate = Λ (z-score)", lyapunov_z, lambda pred, obs, params: Z_RATE),
    ],
    mutants=[
        Mutant("mean-square criterion decides", lambda p, pred: {**pred, "Lambda": math.log(pred["mean_square"]) / 2},
               "w_t → 0 iff E(1 − ηh)² < 1"),
        Mutant("GD criterion on the mean", lambda p, pred: {**pred, "Lambda": math.log(abs(1 - pred["mean_eta_h"]))},
               "w_t → 0 iff |1 − ηE h| < 1"),
    ],
    breaks=[
        Break("heavy-ball momentum β = 0.5", lambda p: {**p, "momentum": 0.5},
              "momentum changes the multiplicative process; Λ of the plain chain no longer decides"),
        Break("h_t persistent (Markov, repeat w.p. 0.9)", lambda p: {**p, "persist": 0.9},
              ("not i.i.d.: same stationary law and Λ, but the finite-horizon law is no longer binomial "
               "and the horizon chosen for i.i.d. draws is too short for the fate to show")),
    ],
    plots=[
        Plot("fraction of chains below their start against Λ", [
            Series("exact law", "prediction.Lambda", "prediction.fraction_final", role="theory", style="points"),
            Series("simulated chains", "prediction.Lambda", "observation.fraction_final", style="points"),
            Series("Λ = 0", x=lambda pred, obs, params: 0.0, role="theory", style="vline"),
        ], xlabel="Λ = E log|1 − ηh|", ylabel="fraction converged at the last horizon", over="examples"),
        Plot("fraction below start vs horizon", [
            Series("exact binomial", "prediction.horizons", "prediction.fraction", role="theory"),
            Series("chains", "observation.horizons", "observation.fraction", style="points"),
        ], xlabel="t", ylabel="fraction |w_t| < |w_0|", xlog=True),
    ],
)
