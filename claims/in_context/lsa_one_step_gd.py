"""The global minimiser of the pre-training risk of one linear self-attention
layer on linear-regression tasks is one step of (preconditioned) gradient
descent: ŷ = x_qᵀΓ*h, h = (1/n)Σ_i y_i x_i.

Tasks w ~ N(0, Σ_w), x_i, x_q ~ N(0, Σ), y_i = wᵀx_i + ε_i, Var ε = σ², n
context pairs; the layer predicts ŷ = uᵀMVx_q with M = (1/n)Σ z_i z_iᵀ,
z_i = (x_i, y_i) (the query's label slot is 0).  The minimiser over (u, V) is
Γ* = Σ_wΣ[((n+1)/n)ΣΣ_wΣ + ((tr(Σ_wΣ) + σ²)/n)Σ]⁻¹, with no other terms; for
Σ = Σ_w = I it is η*I with η* = n/(n + d + 1 + σ²) and risk d + σ² − dη*.

Exact side: sympy with Isserlis' theorem (symbolic d for the isotropic η* and
risk; symbolic d = 2 diagonal Σ, Σ_w for E[hhᵀ]); per draw Γ*, η* (= tr Γ*/d)
and the risk from the closed forms.

Simulation: N antithetic pairs of sampled tasks (1536 in quick, 32768 in
full), the query integrated out exactly; the empirical risk is trained over
(u, V) by exact block-coordinate minimisation (alternating least squares,
6 random starts) and certified as the global minimum by comparison with the
minimum over *all* predictors linear in the LSA's features (the LSA is a
rank-one subset of them); an uncertified run is undecidable, never a
refutation.  The learned Γ = u_yV_xᵀ + v_yu_xᵀ is read off the weights.
Checks are stated tests on the learned predictor with sandwich standard
errors of the empirical risk minimiser: Wald on Γ, a z-test on its mean
diagonal, and a z-test on the risk of the learned predictor averaged
exactly over w and ε given each sampled context (the raw per-task loss has
kurtosis ~200 at d = 1: no normal test at 5σ); the other terms vanish
exactly (by the w ↦ −w symmetry, exact in the antithetic sample).  Levels:
Bonferroni over the run's draws × 3 tests at a family-wise 1 %, never looser
than the quick calibration p = 1e-6 (Wald), z = 5 (z-tests): quick keeps them,
gpu (≈ 17 000 draws) tests at p ≈ 1.9e-7, z ≈ 5.2.

Narrowed: Σ and Σ_w diagonal in a common basis (Γ* diagonal); the entry's
Adam (3000 steps × 3 restarts, 1024 fresh tasks per step) is replaced by
exact minimisation of the empirical risk of N tasks with a global-optimality
certificate, and its fixed 3 % / 2 % bands by standard errors.
"""
import dataclasses
import functools
import math

import numpy as np
import sympy as sp
import torch
from scipy.stats import chi2

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Float, Int, Mutant, Plot, Seed, Series, Source,
                         at_most, holds)

from theorycheck.stats import at_most_in_run, family_p, family_z

from ._lsa import (als, best_linear_risk, effective_predictor, gamma_star, model, risk_of, sample_tasks,
                   statistics, symbolic_checks)

P_VALUE = 1e-6   # per-comparison level in quick; the run's Bonferroni level (3 tests a draw) when smaller
Z_MAX = 5.0      # z of the z-tests in quick (the risk is a mean of a heavy-tailed loss: kept as a floor)
LEVEL = family_p(per_draw=3, at_most=P_VALUE)
Z_RUN = family_z(per_draw=3, at_least=Z_MAX)
CERT_TOL = 1e-9     # relative gap between the trained LSA and the best linear predictor
OTHER_TOL = 1e-4    # other terms relative to ‖Γ‖ (exactly 0 at the optimum; ALS stops at a risk gap ≤ 1e-9)


def derive(params):
    sig, sw = model(params)
    n, s2 = params["n"], params["sigma"] ** 2
    G = gamma_star(sig, sw, n, s2)
    return {"gamma_star": G, "eta_star": float(np.trace(G) / params["d"]),
            "risk_star": risk_of(G, sig, sw, n, s2), "symbolic": symbolic_checks()}


def _pairs(ctx):
    return 32768 if ctx.large else 1536


def simulate(params, ctx):
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


def simulate_batch(params_list, ctx):
    """Tasks sampled per draw; training batched over the draws of each
    dimension (ALS, 6 starts each)."""
    # float64 whatever the run's dtype: the global-optimality certificate compares risks to 1e-9
    ctx = dataclasses.replace(ctx, dtype=torch.float64)
    N = _pairs(ctx)
    gens = ctx.generators()
    out = [None] * len(params_list)
    groups = {}
    for i, p in enumerate(params_list):
        groups.setdefault(p["d"], []).append(i)
    for d, idx in groups.items():
        pdim = d + 1
        S1s, S2s, wws, sigs, s2s, per = [], [], [], [], [], []
        for i in idx:
            p = params_list[i]
            sig, _ = model(p)
            sig_t = ctx.tensor(sig)
            Mf, w, h = sample_tasks(p, gens[i], N, ctx.dtype, ctx.device)
            S1, S2, ww = statistics(Mf, w, sig_t)
            S1s.append(S1.reshape(pdim, pdim, pdim, pdim))
            S2s.append(S2.reshape(d, pdim, pdim))
            wws.append(ww)
            sigs.append(sig_t)
            s2s.append(p["sigma"] ** 2)
            per.append((Mf, h, w))
        S1, S2 = torch.stack(S1s), torch.stack(S2s)
        sig_b, ww_b, s2_b = torch.stack(sigs), ctx.tensor(wws), ctx.tensor(s2s)
        u, V, risk = als(S1, S2, sig_b, ww_b, s2_b, [gens[i] for i in idx], restarts=6, iters=40)
        best = risk.argmin(1)
        ar = torch.arange(len(idx))
        u, V, risk = u[ar, best], V[ar, best], risk[ar, best]
        floor = best_linear_risk(S1.reshape(len(idx), pdim**2, pdim**2), S2.reshape(len(idx), d, pdim**2),
                                 sig_b, ww_b, s2_b)
        G, other = effective_predictor(u, V)
        for b, i in enumerate(idx):
            out[i] = _observation(params_list[i], G[b], float(other[b]), u[b], V[b], float(risk[b]),
                                  float(floor[b]), sigs[b], *per[b])
    return out


def _observation(p, G, other, u, V, risk, floor, sig, Mf, h, w):
    """Sandwich standard errors of the empirical risk minimiser over N
    independent contexts (each pair's two signs have the same influence)."""
    N, d = h.shape
    gap = (risk - floor) / floor
    certified = gap <= CERT_TOL
    Shh = h.T @ h / N
    r = w - h @ G.T                                   # residual of the learned predictor
    psi = (r[:, :, None] * (h @ torch.linalg.inv(Shh))[:, None, :]).reshape(N, d * d)   # influence of vec Γ̂
    cov = torch.cov(psi.T).reshape(d * d, d * d) / N if d * d > 1 else psi.var().reshape(1, 1) / N
    tr = psi.reshape(N, d, d).diagonal(dim1=1, dim2=2).sum(1) / d
    # the risk of the learned predictor x_qᵀΓh, averaged exactly over w, ε given each sampled context
    # (Rao–Blackwell: the sampled per-task loss is too heavy-tailed for a normal test at d = 1):
    # tr(Σ(ΓΣ̂ − I)Σ_w(ΓΣ̂ − I)ᵀ) + (σ²/n)tr(ΣΓΣ̂Γᵀ) + σ², Σ̂ = M_xx
    _, sw = model(p)
    sw = torch.as_tensor(sw, dtype=G.dtype, device=G.device)
    Shat = Mf.reshape(N, d + 1, d + 1)[:, :d, :d]
    A = G @ Shat - torch.eye(d, dtype=G.dtype, device=G.device)
    s2 = p["sigma"] ** 2
    loss = ((A * A) * sig[:, None] * sw[None, :]).sum((1, 2)) \
        + s2 / p["n"] * ((G @ Shat @ G.T).diagonal(dim1=1, dim2=2) * sig).sum(1) + s2
    nan = math.nan
    G_np = G.cpu().numpy()
    return {
        "gamma": G_np if certified else np.full((d, d), nan),
        "gamma_cov_inv": torch.linalg.inv(cov).cpu().numpy(),
        "diag_mean": float(np.trace(G_np) / d) if certified else nan, "diag_se": float(tr.std() / math.sqrt(N)),
        "risk": float(loss.mean()) if certified else nan, "risk_se": float(loss.std() / math.sqrt(N)),
        "empirical_risk": risk,
        "other_rel": other if certified else nan, "certificate_gap": gap, "pairs": N,
    }


def wald_gamma(pred, obs, params):
    e = (np.asarray(obs["gamma"]) - np.asarray(pred["gamma_star"])).reshape(-1)
    return float(e @ np.asarray(obs["gamma_cov_inv"]) @ e)


@functools.lru_cache(maxsize=None)
def _chi2_crit(dof: int, p: float = P_VALUE) -> float:
    return float(chi2.isf(p, dof))


def crit_gamma(pred, obs, params, ctx=None):
    return _chi2_crit(params["d"] ** 2, LEVEL(ctx))


def z_eta(pred, obs, params):
    return abs(obs["diag_mean"] - pred["eta_star"]) / obs["diag_se"]


def z_risk(pred, obs, params):
    return abs(obs["risk"] - pred["risk_star"]) / obs["risk_se"]


def _near_miss(params, pred):
    """The '+1' of (n+1)/n dropped: η = n/(n + d + σ²) (isotropic)."""
    sig, sw = model(params)
    n, s2 = params["n"], params["sigma"] ** 2
    tr = float(np.sum(sw * sig))
    G = np.diag(sw * sig / (sig * sw * sig + (tr + s2) / n * sig))
    return {**pred, "gamma_star": G, "eta_star": float(np.trace(G) / params["d"]),
            "risk_star": risk_of(G, sig, sw, n, s2)}


def _unit_step(params, pred):
    sig, sw = model(params)
    G = np.eye(params["d"])
    return {**pred, "gamma_star": G, "eta_star": 1.0,
            "risk_star": risk_of(G, sig, sw, params["n"], params["sigma"] ** 2)}


def _scalar_step(params, pred):
    """Unpreconditioned: Γ = (tr Γ*/d)·I, the isotropic answer with the right trace."""
    sig, sw = model(params)
    G = np.eye(params["d"]) * pred["eta_star"]
    return {**pred, "gamma_star": G, "risk_star": risk_of(G, sig, sw, params["n"], params["sigma"] ** 2)}


def _least_squares(params, pred):
    """The risk of ordinary least squares on the context, σ²(1 + d/(n − d − 1)) (isotropic, n > d + 1;
    infinite otherwise): a different learner than one GD step."""
    n, d, s2 = params["n"], params["d"], params["sigma"] ** 2
    r = s2 * (1 + d / (n - d - 1)) if n > d + 1 else math.inf
    return {**pred, "risk_star": r}


CHECK_GAMMA = "learned Γ = Γ* (Wald, Bonferroni p ≤ 1e-6)"
CHECK_ETA = "learned step size tr Γ/d = η* (z-test, Bonferroni z ≥ 5)"

claim = Claim(
    id="in_context.lsa_one_step_gd",
    title="One linear self-attention layer learns one step of (preconditioned) gradient descent",
    statement=("For tasks w ~ N(0, Σ_w), x_i, x_q ~ N(0, Σ) (Σ, Σ_w diagonal), y_i = wᵀx_i + ε_i with "
               "Var ε = σ² and n context pairs, the global minimiser over (u, V) of the pre-training risk of "
               "ŷ = uᵀMVx_q, M = (1/n)Σ_i z_iz_iᵀ, predicts ŷ = x_qᵀΓ*h with h = (1/n)Σ_i y_ix_i, "
               "Γ* = Σ_wΣ[((n+1)/n)ΣΣ_wΣ + ((tr(Σ_wΣ) + σ²)/n)Σ]⁻¹, and no other terms; for Σ = Σ_w = I, "
               "Γ* = η*I with η* = n/(n + d + 1 + σ²) and risk d + σ² − dη*."),
    math=sp.Eq(sp.Symbol("eta^*"), sp.Symbol("n") / (sp.Symbol("n") + sp.Symbol("d") + 1 + sp.Symbol("sigma") ** 2)),
    source=Source("One Step of Gradient Descent is Provably the Optimal In-Context Learner with One Layer of "
                  "Linear Self-Attention", "Arvind Mahankali, Tatsunori B. Hashimoto, Tengyu Ma", 2023, "seed 004",
                  note=("Narrowed: Σ and Σ_w diagonal in one basis.  Training is exact minimisation of the "
                        "empirical risk of N sampled tasks (alternating least squares, 6 starts) certified "
                        "against the best predictor linear in the LSA's features, instead of Adam on fresh "
                        "batches; tolerances are standard errors of the empirical minimiser, not fixed bands, at "
                        "Bonferroni levels over the run's draws (at most p = 1e-6, at least z = 5).")),
    assumptions=AssumptionSpace([
        Int("d", 1, 6, description="dimension"),
        Int("n", 2, 32, description="context length"),
        Float("sigma", 0.0, 1.5, description="label noise σ"),
        Choice("cov", ["isotropic", "anisotropic"], description="Σ = Σ_w = I, or diagonal Σ, Σ_w"),
        Float("kappa", 1.5, 6.0, log=True, description="anisotropic: spread of Σ's eigenvalues"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        at_most_in_run(CHECK_GAMMA, wald_gamma, crit_gamma),
        at_most_in_run(CHECK_ETA, z_eta, lambda pred, obs, params, ctx: Z_RUN(ctx)),
        at_most_in_run("learned risk = optimal risk (z-test, Bonferroni z ≥ 5)", z_risk,
                       lambda pred, obs, params, ctx: Z_RUN(ctx)),
        at_most("no other terms (M_xx, M_yy features)", "other_rel", lambda *a: OTHER_TOL),
        holds("sympy: Isserlis moments give Γ* and η*", lambda pred, obs, p: pred["symbolic"]),
    ],
    mutants=[
        Mutant("near-miss: η = n/(n + d + σ²)", _near_miss, "the +1 of (n + 1)/n (the fourth moment) dropped"),
        Mutant("plain step η = 1", _unit_step, "one GD step with unit step size, no shrinkage"),
        Mutant("no preconditioner: Γ = (tr Γ*/d)·I", _scalar_step,
               "the isotropic answer applied to anisotropic data (right trace, wrong shape)"),
        Mutant("least-squares risk σ²(1 + d/(n − d − 1))", _least_squares,
               "the Bayes-style learner that re-fits w on the context, not one GD step"),
    ],
    breaks=[
        Break("anisotropic Σ, Σ_w (isotropic prediction)",
              lambda p: {**p, "cov": "anisotropic"} if p["cov"] == "isotropic" else None,
              "the learned Γ becomes the preconditioned Γ*, not a multiple of I",
              expect=[CHECK_GAMMA, CHECK_ETA]),
        Break("Rademacher covariates (same covariance)", lambda p: {**p, "covariates": "rademacher"},
              ("a lighter fourth moment: E[xxᵀAxxᵀ] loses 2diag(A)Σ-type terms and the optimal step grows "
               "(isotropic: n/(n − 1 + d + σ²))"),
              expect=[CHECK_GAMMA, CHECK_ETA]),
    ],
    regimes={"n < d": "n < d", "n ≥ 4d": "n >= 4 * d", "d = 1": "d == 1", "σ < 0.2": "sigma < 0.2",
             "σ > 1": "sigma > 1", "anisotropic": "cov == 'anisotropic'"},
    # Statistical, 1536 antithetic task pairs in quick, measured on seeds 0–2: η* (scalar z-test) and the
    # risk (Rao–Blackwellised) are resolved to 3 % or finer; Γ* as a whole (a Wald test with d² degrees of
    # freedom) to 10 % on both sides (3 % on one).  With 32768 pairs (full) all of them to about 1 %.
    resolution={"eta_star": 0.03, "gamma_star": 0.1, "risk_star": 0.03,
                "symbolic": "an exact symbolic proof on the derive side; nothing to compare it with"},
    plots=[
        Plot("learned step size vs η*", [
            Series("η* (Isserlis)", "prediction.eta_star", "prediction.eta_star", role="theory", style="line"),
            Series("tr Γ/d of the trained layer", "prediction.eta_star", "observation.diag_mean", style="points"),
        ], xlabel="η*", ylabel="learned", over="examples"),
    ],
)
