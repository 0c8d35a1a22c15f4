"""Advani–Saxe: the test error along gradient descent on high-dimensional linear regression.

x ~ N(0, I_d), y = w*ᵀx + ε, ‖w*‖² = r² (uniform direction), Var ε = σ², n samples, γ = d/n;
GD from w = 0 with step η on (1/2n)‖Xw − y‖².  In the proportional limit
E_g(k) = σ² + r²[(1 − 1/γ)₊ + ∫ρ_γ(λ)(1 − ηλ)^{2k}dλ] + γσ²∫ρ_γ(λ)(1 − (1 − ηλ)^k)²/λ dλ,
ρ_γ the continuous part of the Marchenko–Pastur law of XᵀX/n; at k = ∞
σ² + γσ²/(1 − γ) for γ < 1 and σ² + r²(1 − 1/γ) + σ²/(γ − 1) for γ > 1.

Exact side: the MP integrals at the discrete-GD factors by Gauss–Chebyshev quadrature (the
variance integrand is a polynomial times the semicircle weight: exact; the bias integrand
converges spectrally; both agree with scipy quad in the tests), the k = ∞ closed forms, and
the leading finite-n correction n·(E_n − E) of the Bai–Silverstein CLT for linear spectral
statistics of real Gaussian data (exact quadrature of polynomials again).
Simulation: GD on sampled data.  For each (n, d) a pool of 16 Gaussian design matrices (seeded
by n, d and the index, shared by all draws of that shape: their SVDs are computed once); per
draw and matrix 16 draws of (w*, ε).  The GD iterate after k steps is computed exactly in the
eigenbasis of XᵀX/n (k = ∞: the minimum-norm least-squares solution), and the test error of
each trained w_k is exact: σ² + ‖w_k − w*‖².  n = 100 in quick, 400 with ctx.large.

Checks (statistical): at every k of the draw's time course,
|mean − E_g(k)| ≤ z·SE + 1.5·|c_n(k)|/n + 0.25·(E_g(k) + r²)/n, with c_n the derived finite-n
correction and SE the larger of the spread of the 16 per-matrix means and the pooled
within-matrix spread over all 256 runs (the (w*, ε) noise is χ²-like and skewed: with the
per-matrix spread alone, 15 degrees of freedom, a sweep draw reached z = 5.6; with the larger
of the two, 400 replicate sweeps of four configurations stayed within |z| ≤ 4.6).  The remainder
beyond the correction was calibrated on other draws (300 matrices per shape, 1400 comparisons,
n = 100): it stayed below 0.2·(|c_n|/n + 0.5·(E + r²)/n + 3 SE_MC), so the allowance has a
margin ≥ 2.5.  At k = ∞ (only |γ − 1| ≥ 0.5, where the inverse moments are tame) the exact
finite-n expectation (inverse-Wishart means) replaces the correction: allowance 1.5·|E_n − E_∞| + z·SE.
z: Bonferroni over the run's draws × 8 comparisons (≤ 7 steps + k = ∞) at a family-wise 1 %, at least
5 (the calibration above: 5 in quick and full, ≈ 5.4 in gpu).

Narrowed: the entry's fixed allowance 0.02·E at n = 400 ("must shrink when n doubles") is the
derived c_n/n, which does shrink like 1/n; near γ = 1 at large ηk the finite-n bias reaches
7/n relative (calibration), so a fixed relative allowance would either fail there or be loose
elsewhere.  The overtraining-gap statement (E_g(K) − min_{k≤K} E_g(k) peaks at γ = 1) is shown
in a plot (theory and simulation over the γ grid), not checked per draw: with σ² → 0 the gaps
vanish and the argmax is noise.  γ comes from a grid with γn an integer at n = 100 and 400."""
import math

import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Float, Int, Mutant, Plot, Series, Source)
from theorycheck.checks import Check
from theorycheck.stats import family_z
from theorycheck.verdict import Evidence

from ._advani import (draw_generators, finite_n_correction, simulate_one, test_error_limit,
                      test_error_limit_finite_n, test_error_theory)

GAMMAS = [0.25, 0.5, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25, 2.0, 4.0]
Z = family_z(per_draw=8, at_least=5.0)   # Bonferroni over the run's draws × 8; floor: the quick calibration
REM = 0.25          # remainder allowance, in units of (E + r²)/n
CORR_FACTOR = 1.5   # allowance on the derived finite-n correction
INF_FACTOR = 1.5    # allowance on the exact finite-n shift at k = ∞


def n_for(ctx) -> int:
    return 400 if ctx.large else 100


def steps(params) -> list[int]:
    L = params["log2_K"]
    return sorted({int(round(2 ** (j * L / 6))) for j in range(7)})


def eta_of(params) -> float:
    return params["eta_rel"] / (1 + math.sqrt(params["gamma"])) ** 2


def with_limit(params) -> bool:
    return abs(params["gamma"] - 1) >= 0.5


def derive(params, bias_power=2):
    g, r2, s2, eta = params["gamma"], params["r2"], params["sigma2"], eta_of(params)
    ks = steps(params)
    out = {"ks": np.array(ks), "eg": test_error_theory(ks, g, eta, r2, s2, bias_power),
           "corr_n": finite_n_correction(ks, g, eta, r2, s2)}
    if with_limit(params):
        out["eg_inf"] = test_error_limit(g, r2, s2)
    return out


def simulate_batch(params_list, ctx):
    n = n_for(ctx)
    gens = draw_generators(ctx, len(params_list))
    out = []
    for p, gen in zip(params_list, gens):
        ks = steps(p) + ([math.inf] if with_limit(p) else [])
        mean, se = simulate_one(n, int(round(p["gamma"] * n)), ks, eta_of(p), p["r2"], p["sigma2"], gen,
                                anisotropic=p.get("covariates") == "anisotropic", dtype=ctx.dtype)
        obs = {"n": n, "ks": np.array(steps(p)), "eg": mean[: len(steps(p))], "eg_se": se[: len(steps(p))]}
        if with_limit(p):
            obs["eg_inf"], obs["eg_inf_se"] = float(mean[-1]), float(se[-1])
        out.append(obs)
    return out


def simulate(params, ctx):
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


# ---- checks -------------------------------------------------------------------------------
def _time_course(name):
    def fn(pred, obs, params, ctx):
        t = np.asarray(pred["eg"], dtype=float)
        m, se = np.asarray(obs["eg"], dtype=float), np.asarray(obs["eg_se"], dtype=float)
        n = float(obs["n"])
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(m)) and np.all(np.isfinite(se))):
            return Evidence(name, None, math.nan, None, None, None, "non-finite value")
        allowed = Z(ctx) * se + CORR_FACTOR * np.abs(np.asarray(pred["corr_n"])) / n + REM * (t + params["r2"]) / n
        err = np.abs(m - t)
        used = float(np.max(err / allowed))
        i = int(np.argmax(err / allowed))
        return Evidence(name, bool(np.all(err <= allowed)), 1 - used, _short(t), _short(m), _short(allowed),
                        f"worst at k = {int(obs['ks'][i])}: |{m[i]:.4g} − {t[i]:.4g}| vs {allowed[i]:.3g} "
                        f"(SE {se[i]:.2g}, finite-n correction {pred['corr_n'][i] / n:+.2g})", used=used)

    return Check(name, fn, "mean test error within z ≥ 5 SE (Bonferroni) + the derived finite-n allowance of E_g(k), "
                           "every k")


def _limit(name):
    def fn(pred, obs, params, ctx):
        if "eg_inf" not in pred or "eg_inf" not in obs:
            return Evidence(name, True, 1.0, None, None, None, "no k = ∞ comparison at |γ − 1| < 0.5", used=0.0)
        t, m, se, n = float(pred["eg_inf"]), float(obs["eg_inf"]), float(obs["eg_inf_se"]), int(obs["n"])
        exact_n = test_error_limit_finite_n(n, int(round(params["gamma"] * n)), params["r2"], params["sigma2"])
        lim = test_error_limit(params["gamma"], params["r2"], params["sigma2"])   # the derived limit, unperturbed
        allowed = Z(ctx) * se + INF_FACTOR * abs(exact_n - lim) + 1e-12
        err = abs(m - t)
        return Evidence(name, bool(err <= allowed), 1 - err / allowed, t, m, allowed,
                        f"finite-n expectation {exact_n:.4g}", used=err / allowed)

    return Check(name, fn, "mean test error of the least-squares limit ≈ the k = ∞ closed form")


def _short(a):
    a = np.asarray(a)
    return a.tolist() if a.size <= 16 else f"array{a.shape}"


def _no_atom(params, pred):
    if params["gamma"] <= 1:
        return pred
    drop = params["r2"] * (1 - 1 / params["gamma"])
    out = {**pred, "eg": np.asarray(pred["eg"]) - drop}
    if "eg_inf" in pred:
        out["eg_inf"] = pred["eg_inf"] - drop
    return out


def _variance_without_gamma(params, pred):
    g, s2 = params["gamma"], params["sigma2"]
    if "eg_inf" not in pred or g >= 1:
        return pred
    return {**pred, "eg_inf": s2 + s2 / (1 - g)}


TIME_COURSE = "test error along GD = E_g(k) (Marchenko–Pastur, discrete-GD factors)"
lam_s, eta_s, k_s, gam_s = sp.symbols("lambda eta k gamma", positive=True)
claim = Claim(
    id="kernels.advani_saxe_curves",
    title="Advani–Saxe: the test error along gradient descent in high-dimensional linear regression",
    statement=("For x ~ N(0, I_d), y = w*ᵀx + ε (‖w*‖² = r², Var ε = σ²), n samples and γ = d/n, GD from 0 with "
               "step η on (1/2n)‖Xw − y‖² has, in the proportional limit, test error "
               "E_g(k) = σ² + r²[(1 − 1/γ)₊ + ∫ρ_γ(1 − ηλ)^{2k}] + γσ²∫ρ_γ(1 − (1 − ηλ)^k)²/λ after k steps "
               "(ρ_γ the Marchenko–Pastur density of XᵀX/n), with E_g(∞) = σ² + γσ²/(1 − γ) for γ < 1 and "
               "σ² + r²(1 − 1/γ) + σ²/(γ − 1) for γ > 1."),
    math=sp.Eq(sp.Symbol("E_g(k)"), sp.Symbol("sigma^2") + sp.Symbol("r^2") * sp.Integral(
        sp.Symbol("rho_gamma") * (1 - eta_s * lam_s) ** (2 * k_s), lam_s) + gam_s * sp.Symbol("sigma^2") * sp.Integral(
        sp.Symbol("rho_gamma") * (1 - (1 - eta_s * lam_s) ** k_s) ** 2 / lam_s, lam_s)),
    source=Source("High-dimensional dynamics of generalization error in neural networks",
                  "Madhu S. Advani, Andrew M. Saxe", 2017, "seed 003",
                  note=("Also in seed 004 (line 29); seed 003 line 109.  Finite-n allowance derived from the "
                        "Bai–Silverstein mean correction (plus a calibrated remainder) instead of 0.02·E; "
                        "design matrices from a shared pool of 16 per (n, d); n = 100 in quick; k = ∞ compared "
                        "only for |γ − 1| ≥ 0.5; the overtraining-gap peak at γ = 1 is plotted, not checked.  Standard "
                        "errors at the run's Bonferroni z (family-wise 1 %), at least 5.")),
    assumptions=AssumptionSpace([
        Choice("gamma", GAMMAS, description="γ = d/n"),
        Float("eta_rel", 0.1, 1.5, description="η·(1 + √γ)²: the step relative to the MP edge (stable below 2)"),
        Float("sigma2", 0.0, 1.0, description="noise variance σ²"),
        Float("r2", 0.25, 4.0, log=True, description="signal ‖w*‖²"),
        Int("log2_K", 1, 12, description="horizon K = 2^log2_K; the time course at 7 geometric steps up to K"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        _time_course(TIME_COURSE),
        _limit("k = ∞: least-squares test error = the closed form"),
    ],
    mutants=[
        Mutant("near-miss: bias factor (1 − ηλ)^k", lambda p, pred: {**pred, "eg": derive(p, bias_power=1)["eg"]},
               "the exponent of the bias factor off by a factor 2"),
        Mutant("γ > 1 without the r²(1 − 1/γ) term", _no_atom, "the null-space part of w* forgotten"),
        Mutant("k = ∞ variance σ²/(1 − γ) for γ < 1", _variance_without_gamma,
               "the factor γ of the variance term forgotten: σ² + σ²/(1 − γ)"),
    ],
    breaks=[
        Break("anisotropic covariates (spectrum 0.1 … 10, same trace)", lambda p: {**p, "covariates": "anisotropic"},
              "the MP law of the isotropic case no longer describes XᵀX/n: the time course moves (the k = ∞ value "
              "for γ < 1 does not: it depends on the spectrum only through d and n)", expect=[TIME_COURSE]),
    ],
    regimes={
        "γ < 1 (≤ 0.8)": "gamma <= 0.8",
        "γ > 1 (≥ 1.25)": "gamma >= 1.25",
        "γ within 10 % of 1": "gamma >= 0.9 and gamma <= 1.1",
        "noiseless or nearly (σ² < 0.1)": "sigma2 < 0.1",
        "noisy (σ² > 0.5)": "sigma2 > 0.5",
        "short horizon (K ≤ 8)": "log2_K <= 3",
        "to convergence (K ≥ 1024)": "log2_K >= 10",
        "k = ∞ compared": "gamma <= 0.5 or gamma >= 2",
    },
    resolution={"eg": 0.03, "eg_inf": 0.03,
                "ks": "the steps of the time course, not a prediction",
                "corr_n": "the derived finite-n correction: sets the allowance, not compared"},
    plots=[
        Plot("test error along GD", [
            Series("E_g(k) (Marchenko–Pastur)", "prediction.ks", "prediction.eg", role="theory"),
            Series("GD on sampled data (mean)", "observation.ks", "observation.eg", style="points"),
        ], xlabel="step k", ylabel="test error", xlog=True),
        Plot("overtraining gap E_g(K) − min_k E_g(k) against γ", [
            Series("theory", "params.gamma", lambda pred, obs, p: float(pred["eg"][-1] - np.min(pred["eg"])),
                   role="theory", style="points"),
            Series("simulation", "params.gamma", lambda pred, obs, p: float(obs["eg"][-1] - np.min(obs["eg"])),
                   style="points"),
        ], xlabel="γ", ylabel="gap", over="examples"),
    ],
)
