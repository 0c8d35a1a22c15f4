"""The CBO consensus point of a Gaussian cloud is an implicit gradient step:
v_α − m = −τ·E_w[∇f] (τ = αs²), and v_α = prox_{τf}(m) for quadratic f.

ρ = N(m, s²I), weights e^{−αf}, v_α = E_ρ[Xe^{−αf(X)}]/E_ρ[e^{−αf(X)}].
Stein's identity with φ = e^{−αf} gives v_α − m = −τ E_w[∇f(X)] for every C¹
f of moderate growth (E_w the weighted mean); for f = ½(x − c)ᵀA(x − c) the
weighted law is Gaussian and v_α = (I + τA)⁻¹(m + τAc) = prox_{τf}(m).

Exact side: sympy in 1-D with symbolic (m, s, a, c, α): the weighted law's
exponent is a concave quadratic whose maximiser (its mean) equals the prox;
Stein's lemma by integration by parts.  Per draw: τ = αs² and the prox by a
linear solve.

Simulation: N particles from ρ (N = 2¹⁴ in quick, 4·10⁵ in full/gpu), weights
by log-sum-exp, ∇f by autograd; self-normalised estimates of E_w[X] and
E_w[∇f] with their delta-method covariance.  Checks are Wald tests: the
statistic TᵀV⁻¹T of the estimated identity residual T against the χ²_d
quantile at 1 − p, p the Bonferroni level of the run's draws × 2 checks at a
family-wise 1 %, at most 1e-6 (the quick calibration, kept: self-normalised
weights): p = 1e-6 in quick and full, ≈ 2.8e-7 in gpu.  An effective sample
size below 1000 makes the draw undecidable.

Narrowed: the α → ∞ Laplace limit is not part of the claim (with s² = τ/α
the ESS of samples from ρ collapses); the objectives are scaled with the
draw (λ_max(A) = 1, nonlinearity in units of the cloud's spread) so that the
weights stay informative.
"""
import dataclasses
import math

import numpy as np
import sympy as sp
import torch
from scipy.stats import chi2

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Float, Int, Mutant, Plot, Seed, Series, Source,
                         holds)

from theorycheck.stats import at_most_in_run, family_p

from ._consensus import objective, problem, symbolic_identities, weighted_moments
from ._random import randn

P_VALUE = 1e-6   # per-comparison level in quick; the run's Bonferroni level (2 tests a draw) when smaller
LEVEL = family_p(per_draw=2, at_most=P_VALUE)
ESS_MIN = 1000.0


def derive(params):
    P = problem(params)
    d = params["d"]
    out = {"tau": P["tau"], "symbolic": symbolic_identities()}
    if params["f"] == "quadratic":
        out["prox"] = np.linalg.solve(np.eye(d) + P["tau"] * P["A"], P["m"] + P["tau"] * P["A"] @ P["c"])
    return out


def _particles(ctx):
    return 400_000 if ctx.large else 2**14


def simulate(params, ctx):
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


def simulate_batch(params_list, ctx):
    """Draws grouped by objective and dimension, one tensor program per group."""
    # float64 whatever the run's dtype: log-sum-exp weights and Wald statistics on small displacements
    ctx = dataclasses.replace(ctx, dtype=torch.float64)
    N = _particles(ctx)
    gens = ctx.generators()
    out = [None] * len(params_list)
    groups = {}
    for i, p in enumerate(params_list):
        groups.setdefault((p["f"], p["d"]), []).append(i)
    for (kind, _), idx in groups.items():
        B = len(idx)
        D = max(params_list[i]["d"] for i in idx)
        T = {k: torch.zeros(B, *shape, dtype=ctx.dtype, device=ctx.device)
             for k, shape in (("c", (1, D)), ("A", (D, D)), ("Q", (D, D)), ("eig", (1, D)), ("B", (D, D)),
                              ("q", (1,)), ("width", (1,)))}
        m = torch.zeros(B, D, dtype=ctx.dtype, device=ctx.device)
        X = torch.zeros(B, N, D, dtype=ctx.dtype, device=ctx.device)
        alpha = ctx.tensor([params_list[i]["alpha"] for i in idx])
        for b, i in enumerate(idx):
            p = params_list[i]
            P = problem(p)
            d = p["d"]
            T["c"][b, 0, :d] = ctx.tensor(P["c"])
            T["A"][b, :d, :d] = ctx.tensor(P["A"])
            T["Q"][b] = torch.eye(D, dtype=ctx.dtype, device=ctx.device)
            T["Q"][b, :d, :d] = ctx.tensor(P["Q"])
            T["eig"][b, 0, :d] = ctx.tensor(P["eig"])
            T["B"][b, :d, :d] = ctx.tensor(P["B"])
            T["q"][b] = P["q"]
            T["width"][b] = P["width"]
            m[b, :d] = ctx.tensor(P["m"])
            xi = randn(N, d, generator=gens[i], dtype=ctx.dtype, device=ctx.device)
            if p.get("rho") == "uniform":  # the break: same mean and covariance, not Gaussian
                xi = math.sqrt(3.0) * (2 * torch.rand(N, d, generator=gens[i], dtype=ctx.dtype,
                                                      device=ctx.device) - 1)
            X[b, :, :d] = m[b, :d] + P["s"] * xi
        with torch.enable_grad():
            Xg = X.detach().requires_grad_(True)
            f = objective(kind, Xg, T)
            (g,) = torch.autograd.grad(f.sum(), Xg)
        vx, vg, Vxx, Vxg, Vgg, ess = weighted_moments(X, g, f.detach(), alpha, m)
        for b, i in enumerate(idx):
            d = params_list[i]["d"]
            ok = float(ess[b]) >= ESS_MIN
            cut = lambda t: t[b, :d, :d].cpu().numpy() if ok else np.full((d, d), np.nan)  # noqa: E731
            out[i] = {"v_minus_m": vx[b, :d].cpu().numpy() if ok else np.full(d, np.nan),
                      "v": (vx[b, :d] + m[b, :d]).cpu().numpy() if ok else np.full(d, np.nan),
                      "Ew_grad": vg[b, :d].cpu().numpy() if ok else np.full(d, np.nan),
                      "Vxx": cut(Vxx), "Vxg": cut(Vxg), "Vgg": cut(Vgg), "ess": float(ess[b]), "particles": N}
    return out


def _wald(T, V):
    T = np.asarray(T, dtype=float)
    V = np.asarray(V, dtype=float)
    if not (np.all(np.isfinite(T)) and np.all(np.isfinite(V))):
        return math.nan
    return float(T @ np.linalg.solve(V, T))


def stein_statistic(pred, obs, params):
    """Wald statistic of T = (v − m) + τE_w[∇f] (theory: 0), covariance
    V_xx + τ(V_xg + V_xgᵀ) + τ²V_gg."""
    tau = float(pred["tau"])
    T = np.asarray(obs["v_minus_m"]) + tau * np.asarray(obs["Ew_grad"])
    Vxg = np.asarray(obs["Vxg"])
    V = np.asarray(obs["Vxx"]) + tau * (Vxg + Vxg.T) + tau**2 * np.asarray(obs["Vgg"])
    return _wald(T, V)


def prox_statistic(pred, obs, params):
    """Wald statistic of v − prox_{τf}(m) for quadratic f; 0 (not applicable)
    for the other objectives."""
    if params["f"] != "quadratic":
        return 0.0
    return _wald(np.asarray(obs["v"]) - np.asarray(pred["prox"]), obs["Vxx"])


def critical(pred, obs, params, ctx=None):
    return float(chi2.isf(LEVEL(ctx), params["d"]))


def _retau(params, pred, factor=None, tau=None):
    P = problem(params)
    t = tau if tau is not None else factor * P["tau"]
    out = {**pred, "tau": t}
    if params["f"] == "quadratic":
        d = params["d"]
        out["prox"] = np.linalg.solve(np.eye(d) + t * P["A"], P["m"] + t * P["A"] @ P["c"])
    return out


def _explicit(params, pred):
    if params["f"] != "quadratic":
        return pred
    P = problem(params)
    return {**pred, "prox": P["m"] - P["tau"] * P["A"] @ (P["m"] - P["c"])}


CHECK_STEIN = "Stein identity: v − m + τE_w[∇f] = 0 (Wald, Bonferroni p ≤ 1e-6)"

claim = Claim(
    id="sampling.cbo_consensus",
    title="CBO's consensus point is an implicit gradient step: v_α − m = −αs²·E_w[∇f], = prox for quadratics",
    statement=("For ρ = N(m, s²I), α > 0, τ = αs² and weights e^{−αf}, the consensus point "
               "v_α = E_ρ[Xe^{−αf(X)}]/E_ρ[e^{−αf(X)}] satisfies v_α − m = −τ·E_w[∇f(X)] (E_w the weighted "
               "mean) for every C¹ f of moderate growth; for f = ½(x − c)ᵀA(x − c) it equals "
               "prox_{τf}(m) = (I + τA)⁻¹(m + τAc)."),
    math=sp.Eq(sp.Symbol("v_alpha") - sp.Symbol("m"),
               -sp.Symbol("alpha") * sp.Symbol("s") ** 2 * sp.Symbol("E_w[grad f(X)]")),
    source=Source("Gradient is All You Need?", "Konstantin Riedl, Timo Klock, Carina Geldhauser, Massimo Fornasier",
                  2023, "seed 000",
                  note=("Also in seeds 001 and 003.  The consensus point for a Gaussian particle law (the paper's "
                        "link between CBO and an implicit gradient / proximal step).  Narrowed: the α → ∞ "
                        "Laplace limit is not checked (ESS of samples from ρ collapses); objectives are scaled "
                        "with the draw so that the weights stay informative (ESS ≥ 10 % of the particles).  Wald "
                        "tests at the run's Bonferroni level (2 a draw, family-wise 1 %), at most p = 1e-6.")),
    assumptions=AssumptionSpace([
        Int("d", 1, 6, description="dimension"),
        Choice("f", ["quadratic", "quartic", "logcosh", "coupled"], description="objective"),
        Float("alpha", 0.1, 10.0, log=True, description="inverse temperature α"),
        Float("tau_lam", 0.01, 3.0, log=True, description="τ·λ_max(A), τ = αs² (λ_max(A) = 1)"),
        Float("r_off", 0.0, 1.5, description="‖m − c‖ in units of s"),
        Float("cond", 1.0, 10.0, log=True, description="eigenvalue spread of A"),
        Float("nl", 0.01, 1.0, log=True, description="strength of the non-quadratic part (cloud units)"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        at_most_in_run(CHECK_STEIN, stein_statistic, critical),
        at_most_in_run("quadratic f: v = prox_{τf}(m) (Wald, Bonferroni p ≤ 1e-6)", prox_statistic, critical),
        holds("sympy: Gaussian mean = prox, Stein by parts (1-D)", lambda pred, obs, p: pred["symbolic"]),
    ],
    mutants=[
        Mutant("near-miss: τ = 1.1·αs²", lambda p, pred: _retau(p, pred, factor=1.1), "a 10 % larger step"),
        Mutant("wrong exponent: τ = α·s", lambda p, pred: _retau(p, pred, tau=p["alpha"] * problem(p)["s"]),
               "the cloud's standard deviation where its variance belongs"),
        Mutant("explicit step: m − τ∇f(m)", _explicit,
               "a forward gradient step in place of the proximal (implicit) one (quadratic f)"),
    ],
    breaks=[
        Break("uniform ρ with the same mean and covariance", lambda p: {**p, "rho": "uniform"},
              "Stein's identity characterises the Gaussian: for a uniform cloud the identity fails",
              expect=[CHECK_STEIN]),
    ],
    regimes={"d = 1": "d == 1", "d ≥ 4": "d >= 4", "quadratic": "f == 'quadratic'", "quartic": "f == 'quartic'",
             "log-cosh": "f == 'logcosh'", "coupled": "f == 'coupled'", "τλ_max > 1": "tau_lam > 1",
             "α > 3": "alpha > 3", "α < 0.3": "alpha < 0.3"},
    # τ enters only through the displacement v − m = O(r·s) against Monte-Carlo noise O(s/√ESS): with
    # 2¹⁴ particles (quick) a 10 % change of τ is the finest refuted on other seeds' draws (3 % is not);
    # with 4·10⁵ particles (full) about 2 %.  The prox vector is resolved finely (its size ≫ s on most draws).
    resolution={"tau": 0.1, "prox": 0.01,
                "symbolic": "an exact symbolic proof on the derive side; nothing to compare it with"},
    plots=[
        Plot("consensus displacement vs the implicit gradient step", [
            Series("‖v − m‖ (Monte Carlo)",
                   lambda pred, obs, p: float(np.linalg.norm(pred["tau"] * np.asarray(obs["Ew_grad"]))),
                   lambda pred, obs, p: float(np.linalg.norm(obs["v_minus_m"])), style="points"),
            Series("identity", lambda pred, obs, p: float(np.linalg.norm(pred["tau"] * np.asarray(obs["Ew_grad"]))),
                   lambda pred, obs, p: float(np.linalg.norm(pred["tau"] * np.asarray(obs["Ew_grad"]))),
                   role="theory", style="line"),
        ], xlabel="‖τE_w[∇f]‖", ylabel="‖v − m‖", xlog=True, ylog=True, over="examples"),
    ],
)
