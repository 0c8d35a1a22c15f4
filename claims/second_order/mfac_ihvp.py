"""M-FAC: the inverse of a damped empirical Fisher applied to a vector, by a
recursion of rank-one updates, in O(dm) per product.

For F = λI + (1/m) Σ_{k≤m} g_k g_kᵀ (λ > 0):

    F⁻¹x = x/λ − Σ_k v_k (v_kᵀx) / (m + g_kᵀv_k),   v_k = F_{k−1}⁻¹ g_k,   F_0 = λI.

Exact side: sympy cancels one Sherman–Morrison step to the identity (symbolic
symmetric B = A⁻¹, g, m); the recursion is m such steps.  Per draw, derive
evaluates the recursion (the formula, float64) and the cost of the algorithm
is predicted as exponents: one product is linear in d and in m, the
precomputation linear in d.

Comparison: a dense LU solve of F x = b (torch.linalg.solve) — an independent
computation of the same vector, not a process: the statement is an algebraic
identity, so the claim is graded as an *identity* check.  The simulation also
runs the recursion itself at its own parameters (so that a break of the
numerical assumptions reaches the recursion).  Cost is measured as
matrix-product work counted by a torch function mode at sizes d, 4d and m, 4m
(deterministic; wall-clock timing belongs in a benchmark, not in a verdict).

Narrowed (found while building the claim): the float64 error of the recursion
is governed by κ = λ_max(F)/λ, the worst condition number of the intermediate
matrices F_k, not by cond(F): with m > d and tiny λ, F is well conditioned
(cond 14) while the recursion loses digits like 1e-16·κ.  The promise is
relative error ≤ 1e-8 for κ ≤ 1e7 (the space keeps κ ≤ 1 + m/λ_rel ≤ 6.4e6).
"""
import dataclasses
import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Claim, Float, Int, Mutant, Plot, Seed, Series, Source, at_most,
                         close, holds)

from ._mfac import buckets, cost_exponents, ihvp, mfac_apply, mfac_vectors, problem, symbolic_identity

TOL = 1e-8


def derive(params):
    G, lam, x = problem(params)
    return {"ihvp": ihvp(G, lam, x),
            "query_exponent_d": 1.0, "query_exponent_m": 1.0, "precompute_exponent_d": 1.0,
            "symbolic_identity": symbolic_identity()}


def _mutant_ihvp(params, den_scale, den_offset):
    G, lam, x = problem(params)
    return ihvp(G, lam, x, den_scale, den_offset)


def simulate(params, ctx):
    return simulate_batch([params], ctx)[0]


def simulate_batch(params_list, ctx):
    """Dense solves and the recursion for all draws, bucketed by d and
    zero-padded inside a bucket (padding adds λ on the diagonal and zero
    gradients, which changes no draw's solution)."""
    # float64 whatever the run's dtype: the checks compare the recursion with a dense solve at 1e-8
    ctx = dataclasses.replace(ctx, dtype=torch.float64)
    out = [None] * len(params_list)
    problems = [problem(p) for p in params_list]
    for idx in buckets([p["d"] for p in params_list]):
        B = len(idx)
        D = max(params_list[i]["d"] for i in idx)
        M = max(params_list[i]["m"] for i in idx)
        G = torch.zeros(B, M, D, dtype=ctx.dtype, device=ctx.device)
        x = torch.zeros(B, D, dtype=ctx.dtype, device=ctx.device)
        lam = ctx.tensor([problems[i][1] for i in idx])
        m = ctx.tensor([float(params_list[i]["m"]) for i in idx])
        for b, i in enumerate(idx):
            Gi, _, xi = problems[i]
            G[b, : Gi.shape[0], : Gi.shape[1]] = ctx.tensor(Gi)
            x[b, : xi.shape[0]] = ctx.tensor(xi)
        F = G.transpose(1, 2) @ G / m[:, None, None] + lam[:, None, None] * torch.eye(D, dtype=ctx.dtype,
                                                                                       device=ctx.device)
        solve = torch.linalg.solve(F, x)
        V, den = mfac_vectors(G, lam, m)
        rec = mfac_apply(V, den, lam, x)
        err = (rec - solve).norm(dim=1) / solve.norm(dim=1)
        top = torch.linalg.eigvalsh(G @ G.transpose(1, 2) / m[:, None, None])[:, -1]
        kappa = (lam + top) / lam
        for b, i in enumerate(idx):
            d = params_list[i]["d"]
            out[i] = {"solve": solve[b, :d].cpu().numpy(), "sim_rel_err": float(err[b]), "kappa": float(kappa[b]),
                      **cost_exponents(d, params_list[i]["m"])}
    return out


def rel_err(pred, obs, params):
    a, b = np.asarray(pred["ihvp"]), np.asarray(obs["solve"])
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


claim = Claim(
    id="second_order.mfac_ihvp",
    title="M-FAC: inverse Fisher–vector products by a rank-one recursion in O(dm)",
    statement=("For F = λI + (1/m)Σ_k g_k g_kᵀ with λ > 0, the recursion "
               "F⁻¹x = x/λ − Σ_k v_k(v_kᵀx)/(m + g_kᵀv_k), v_k = F_{k−1}⁻¹g_k, F_0 = λI, returns F⁻¹x "
               "(agreeing with a dense solve to relative error ≤ 1e-8 in float64 whenever "
               "κ = λ_max(F)/λ ≤ 1e7); after an O(dm²) precomputation of the v_k, one product costs "
               "O(dm) (matrix-product work linear in d and in m), the precomputation is linear in d."),
    math=sp.Eq(sp.Symbol("F") ** -1 * sp.Symbol("x"),
               sp.Symbol("x") / sp.Symbol("lambda")
               - sp.Sum(sp.Symbol("v_k") * sp.Symbol("v_k^T x")
                        / (sp.Symbol("m") + sp.Symbol("g_k^T v_k")), (sp.Symbol("k"), 1, sp.Symbol("m")))),
    source=Source("M-FAC: Efficient Matrix-Free Approximations of Second-Order Information",
                  "Elias Frantar, Eldar Kurtic, Dan Alistarh", 2021, "seed 004",
                  note=("Also in seed 003.  Verified: the static algorithm (precomputed v_k, O(dm) per product). "
                        "The sliding-window variant is not covered.  Narrowed: the 1e-8 accuracy holds for "
                        "κ = λ_max(F)/λ ≤ 1e7 (the intermediate F_k's worst condition), not for cond(F) ≤ 1e7: "
                        "with m > d and λ → 0, cond(F) stays small while the recursion loses ~1e-16·κ.  The "
                        "entry's query-time slope is replaced by deterministic operation counts.")),
    assumptions=AssumptionSpace([
        Int("d", 2, 256, description="dimension"),
        Int("m", 1, 64, description="number of gradients"),
        Float("lam_rel", 1e-5, 1e-1, log=True, description="damping λ relative to the mean ‖g_k‖²/m"),
        Float("norm_spread", 0.0, 3.0, description="gradient norms spread over 10^(±norm_spread/2)"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        at_most("recursion = dense solve", rel_err, lambda *a: TOL),
        at_most("recursion accurate at the simulated damping", "sim_rel_err", lambda *a: TOL),
        close("product work linear in d", "query_exponent_d", "query_exp_d", rtol=0, atol=1e-6),
        close("product work linear in m", "query_exponent_m", "query_exp_m", rtol=0, atol=1e-6),
        close("precomputation linear in d", "precompute_exponent_d", "pre_exp_d", rtol=0, atol=1e-6),
        holds("sympy: Sherman–Morrison step cancels", lambda pred, obs, p: pred["symbolic_identity"]),
    ],
    mutants=[
        Mutant("near-miss: denominator m + 1 + g_kᵀv_k",
               lambda p, pred: {**pred, "ihvp": _mutant_ihvp(p, 1.0, 1.0)},
               "an off-by-one in the Sherman–Morrison denominator"),
        Mutant("denominator 1 + g_kᵀv_k",
               lambda p, pred: {**pred, "ihvp": _mutant_ihvp(p, 1.0 / p["m"], 0.0)},
               "the 1/m weight of the rank-one terms forgotten (the Fisher as a sum, not a mean)"),
        Mutant("dense inverse per product: work ∝ d²",
               lambda p, pred: {**pred, "query_exponent_d": 2.0},
               "a product with a stored d × d inverse costs O(d²)"),
    ],
    breaks=[
        Break("damping λ → 1e-12·‖g‖²/m", lambda p: {**p, "lam_rel": 1e-12},
              ("κ ≈ 1e12–1e14: the identity still holds in exact arithmetic, but the recursion cancels terms of "
               "size 1/λ and float64 loses ~1e-16·κ (also when m > d, where F itself stays well conditioned)"),
              expect=["recursion accurate at the simulated damping"]),
    ],
    regimes={"m < d": "m < d", "m > d": "m > d", "small damping (λ_rel < 1e-3)": "lam_rel < 1e-3",
             "norms spread over > 100×": "norm_spread > 2"},
    resolution={"ihvp": 0.001, "query_exponent_d": 0.001, "query_exponent_m": 0.001,
                "precompute_exponent_d": 0.001,
                "symbolic_identity": "an exact symbolic proof on the derive side; nothing to compare it with"},
    kind="identity",
    notes=("Identity check: the statement is an algebraic identity (Sherman–Morrison applied m times); both "
           "sides are computations of the same vector (the recursion vs a dense LU solve), there is no process "
           "to simulate.  What the comparison adds to the symbolic proof is floating-point evidence: the "
           "recursion's accuracy across dimensions, damping and gradient-norm spreads."),
    plots=[
        Plot("recursion error against κ = λ_max(F)/λ", [
            Series("relative error (simulation's recursion vs dense solve)", "observation.kappa",
                   "observation.sim_rel_err", style="points"),
            Series("tolerance 1e-8", None, lambda pred, obs, p: TOL, role="theory", style="hline"),
        ], xlabel="κ", ylabel="‖recursion − solve‖/‖solve‖", xlog=True, ylog=True, over="examples"),
    ],
)
