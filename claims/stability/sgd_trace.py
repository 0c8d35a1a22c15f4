"""Mean-square stability of SGD (batch size 1) forces η·tr(H) ≤ 2 (Wu & Su).

Stability notion: MEAN-SQUARE (second-moment) linear stability at an
interpolating minimum of least squares — E[δ_t δ_tᵀ] stays bounded for the
linearised SGD δ ← (I − ηH_i) δ, H_i = g_i g_iᵀ, i uniform.  (Almost-sure
stability is another notion: see stability.probabilistic.)

Exact side (numpy / sympy): the lifted operator T_η(M) = E[(I − ηH_i) M
(I − ηH_i)] written with Kronecker products from its closed form on the span
of the data, its spectral radius, η_c by bisection to 1e-12; for equal
sample norms c (and for n = 1) the closed form η_c = 2/c = 2/tr(H) (sympy,
exact), which then is the prediction.  And the exact second-moment curve
tr E[δ_t δ_tᵀ], t = 1..8, at two probe steps η = f·2/max_i‖g_i‖² (f = ½, 1).

Simulation side (torch, batched over draws): (a) the SGD update itself,
averaged exactly over its random index — every index batch enumerated, each
update matrix read off by applying the step to the identity — propagated for
2^30 steps by repeated squaring; the step where this propagated moment turns
from decaying to growing is bracketed (a grid of 16 trial steps on [1e-4,
1e2], then twelve rounds of three inner steps: ~1e-7) from the simulation
alone; (b) Monte Carlo: 2000 sampled SGD trajectories per probe step, the
mean of ‖δ_t‖². At the probe steps every update is a contraction (η‖g_i‖² ≤
2), so 0 ≤ ‖δ_t‖² ≤ ‖δ_0‖² = 1: bounded samples, compared with Bernstein's
inequality and the exact variance (the fourth moment from the fourth-order
lifted operator). A z-test on the sample's standard error is not valid here:
the mean can be carried by rare index paths (probability n^{−t}) that a
sample may miss entirely. (c) Reported, not checked: sampled SGD at
1.05·η_c, the fraction of 128 runs still shrinking after 128 steps — the
threshold sampled SGD sees is the almost-sure one (0 on most draws, up to
0.9 where it lies above η_c); the mean-square threshold cannot be located
by sampling, its growth being carried by rare index paths.

Checks: η_c located by (a) = the lifted operator's η_c (or the closed form),
rtol 1e-6; η_c·tr(H)/2 ≤ 1 from (a) (tight on equal norms and n = 1); the
Monte Carlo mean within the Bernstein bound of the exact curve at level
min(1e-7, 0.01/(16·draws)) per comparison (16 per draw; Bonferroni over the
run's draws at a family-wise 1 %: 1e-7 in quick and full, ≈ 3.7e-8 in gpu)."""
import math

import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Check, Choice, Claim, Int, Mutant, Plot, Seed, Series, Source,
                         at_most, close)
from theorycheck.sim.descent import bracket_threshold
from theorycheck.sim.sgd import averaged_moment_map, moment_grows, sampled_sq_norms, span_coordinates
from theorycheck.stats import family_p
from theorycheck.symbolic.moments import fourth_moment_curve, mean_square_threshold, moment_curve, range_basis
from theorycheck.verdict import Evidence

PROBES = (0.5, 1.0)       # probe steps, as fractions of 2/max_i ‖g_i‖² (every update a contraction)
T_MC = 8                  # steps of the sampled trajectories
CHAINS, CHAINS_LARGE = 2000, 6000
SUB_BATCH = 32            # draws per tensor program
AS_CHAINS, AS_STEPS, AS_EPS = 128, 128, 0.05  # sampled SGD just above η_c (reported: almost-sure behaviour)
ALPHA_MC = 1e-7          # level of each Bernstein comparison in quick (16 per draw); a ceiling:
LEVEL_MC = family_p(per_draw=16, at_most=ALPHA_MC)  # Bonferroni over the run's draws × 16 (family-wise 1 %)
LOG2_STEPS = 30
POINTS, ROUNDS, INTERIOR = 16, 13, 3  # bracket: a grid of 16, then 12 rounds of 3 inner steps (~1e-7)
ETA_RANGE = (1e-4, 1e2)
N_MAX = 4
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


def start(params) -> np.ndarray:
    """δ_0: a unit vector in the span of the data (a random combination of the g_i)."""
    G = gradients(params).astype(float)
    c = np.random.default_rng([params["data_seed"], 1]).normal(size=params["n"])
    d = c @ G
    return d / np.linalg.norm(d)


def probe_steps(G: np.ndarray) -> list[float]:
    return [f * 2.0 / float((G.astype(float) ** 2).sum(1).max()) for f in PROBES]


def derive(params):
    G = gradients(params)
    Gf = G.astype(float)
    Hs = np.einsum("na,nb->nab", Gf, Gf)
    U = range_basis(Hs)
    Hr = np.einsum("pa,npq,qb->nab", U, Hs, U)
    eta_num = mean_square_threshold(Hs, batch=1)
    tr = sp.Rational(int((G**2).sum()), params["n"])  # tr(H), exact
    norms = {int(v) for v in (G**2).sum(1)}
    if len(norms) == 1:  # equal norms (or n = 1): η_c = 2/c exactly
        closed = 2 / sp.Integer(norms.pop())
        if abs(float(closed) - eta_num) > 1e-9 * eta_num:
            raise ArithmeticError(f"closed form 2/c = {float(closed)} ≠ lifted-operator η_c = {eta_num}")
        eta_c = float(closed)
    else:
        eta_c = eta_num
    d0 = U.T @ start(params)
    curves = [moment_curve(Hr, np.outer(d0, d0), e, T_MC)[1:] for e in probe_steps(G)]
    fourth = [fourth_moment_curve(Hr, d0, e, T_MC)[1:] for e in probe_steps(G)]
    lam = float(np.linalg.eigvalsh(Hs.mean(0)).max())
    return {"eta_c": eta_c, "trace": float(tr), "trace_bound": float(2 / tr), "gd_bound": 2.0 / lam,
            "ratio_bound": 1.0, "m2_probe": np.stack(curves),
            "m2_var": np.maximum(np.stack(fourth) - np.stack(curves) ** 2, 0.0)}


def padded(params_list, ctx):
    B = len(params_list)
    p_max = max(p["p"] for p in params_list)
    n_max = max(p["n"] for p in params_list)
    Gp = torch.zeros(B, n_max, p_max, dtype=ctx.dtype, device=ctx.device)
    d0 = torch.zeros(B, p_max, dtype=ctx.dtype, device=ctx.device)
    for b, p in enumerate(params_list):
        Gp[b, : p["n"], : p["p"]] = ctx.tensor(gradients(p))
        d0[b, : p["p"]] = ctx.tensor(start(p))
    return Gp, d0, [p["n"] for p in params_list]


def simulate_batch(params_list, ctx):
    chains = CHAINS_LARGE if ctx.large else CHAINS
    gens = ctx.generators()
    out = [None] * len(params_list)
    groups: dict = {}
    for i, p in enumerate(params_list):  # one tensor program per (batch size, n): the moment map is n²×n²
        groups.setdefault((p.get("batch", 1), p["n"]), []).append(i)
    parts = [(key, idx[k:k + SUB_BATCH]) for key, idx in groups.items() for k in range(0, len(idx), SUB_BATCH)]
    for (batch, _), idx in parts:
        items = [params_list[i] for i in idx]
        Gp, d0, counts = padded(items, ctx)
        # (a) the SGD update averaged exactly over its index, propagated 2^30 steps
        Gr = span_coordinates(Gp)
        r = Gr.shape[-1]
        U_d0 = torch.linalg.svd(Gp, full_matrices=False)[2] @ d0[..., None]            # δ_0 in span coordinates
        m0 = (U_d0 @ U_d0.transpose(-1, -2)).reshape(len(items), 1, r * r)

        def grows(etas):
            return moment_grows(averaged_moment_map(Gr, counts, etas, batch), m0.expand(-1, etas.shape[1], -1),
                                LOG2_STEPS)

        stable, unstable = bracket_threshold(grows, *ETA_RANGE, len(items), POINTS, ROUNDS, ctx.dtype, ctx.device,
                                             interior=INTERIOR)
        eta_sim = torch.sqrt(stable * unstable)
        trace = (Gp**2).sum((-1, -2)) / ctx.tensor(counts)
        # (b) sampled SGD at the probe steps
        gmax = (Gp**2).sum(-1).amax(-1)
        etas = torch.stack([f * 2 / gmax for f in PROBES], 1)                         # (B, 2)
        sub_gens = [gens[i] for i in idx]
        sq = sampled_sq_norms(Gp, counts, d0, etas, T_MC, chains, sub_gens, batch)[:, :, 1:]
        mean, se = sq.mean(-1), sq.std(-1, unbiased=True) / math.sqrt(chains)
        # almost-sure behaviour, reported: sampled runs just above the mean-square threshold (each draw's
        # generator continues after its Monte Carlo draws: the same numbers batched or alone)
        above = sampled_sq_norms(Gp, counts, d0, ((1 + AS_EPS) * eta_sim)[:, None], AS_STEPS, AS_CHAINS,
                                 sub_gens, batch)[:, 0, -1]
        decayed = (above < 1).double().mean(-1)
        for j, i in enumerate(idx):
            e = float(eta_sim[j])
            out[i] = {"eta_c_sim": e, "eta_stable": float(stable[j]), "eta_unstable": float(unstable[j]),
                      "trace_ratio": e * float(trace[j]) / 2, "batch": batch,
                      "m2_mc": mean[j].cpu().numpy(), "m2_se": se[j].cpu().numpy(), "chains": chains,
                      "as_decayed_above": float(decayed[j]),
                      "t": np.arange(1, T_MC + 1)}
    return out


def simulate(params, ctx):
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


def bernstein_mean(name: str, mean_key: str, var_key: str, observed_key: str, alpha) -> Check:
    """Monte Carlo means of samples in [0, 1] against exact means μ, with the exact
    variances σ²: Bernstein's inequality P(|mean − μ| ≥ ε) ≤ 2exp(−Cε²/(2σ² + 2ε/3))
    gives the allowed ε at level alpha per comparison.  Valid for any law on
    [0, 1], also when the mean is carried by rare trajectories (where a
    z-test on the sample's standard error is not).  ``alpha`` may be a function
    of the context (``theorycheck.stats.family_p``: the run's Bonferroni level)."""
    alpha_of = alpha if callable(alpha) else (lambda ctx: alpha)
    level_text = "the run's Bonferroni level" if callable(alpha) else f"level {alpha:g}"

    def fn(pred, obs, params, ctx):
        alpha = float(alpha_of(ctx))
        mu = np.asarray(pred[mean_key], dtype=float)
        var = np.maximum(np.asarray(pred[var_key], dtype=float), 0.0)
        est = np.asarray(obs[observed_key], dtype=float)
        C = float(obs["chains"])
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(est)) and np.all(np.isfinite(var))):
            return Evidence(name, None, math.nan, None, None, None, "non-finite value")
        L = math.log(2 / alpha)
        eps = (2 * L / 3 + np.sqrt((2 * L / 3) ** 2 + 8 * C * L * var)) / (2 * C) + 1e-12 * np.maximum(mu, 1)
        used = float(np.max(np.abs(est - mu) / eps))
        return Evidence(name, bool(used <= 1), 1 - used, mu.tolist(), est.tolist(), {"alpha": alpha},
                        f"largest |mean − μ| / ε = {used:.3g} (Bernstein, level {alpha:g}, {int(C)} runs)",
                        used=used)

    return Check(name, fn, f"{observed_key} within the Bernstein bound of {mean_key} ({level_text})")


claim = Claim(
    id="stability.sgd_trace",
    title="Mean-square stability of SGD (batch size 1) implies η·tr(H) ≤ 2",
    statement=("At an interpolating minimum of over-parameterised least squares (H_i = g_i g_iᵀ, "
               "H = mean H_i), if the minimum is linearly stable for SGD with batch size 1 in the "
               "mean-square sense, then η·tr(H) ≤ 2.  The mean-square threshold η_c is the step where the "
               "spectral radius of T(M) = E[(I − ηH_i) M (I − ηH_i)] reaches 1, and T describes the second "
               "moment of sampled SGD; for samples of equal norm c, η_c = 2/c = 2/tr(H) exactly."),
    notion="mean-square (second-moment) linear stability; batch size 1, samples drawn uniformly",
    math=sp.Le(eta * trH, 2),
    source=Source("The Implicit Regularization of Dynamical Stability in Stochastic Gradient Descent",
                  "Lei Wu, Weijie J. Su", 2023, "seed 004",
                  note=("Mean-square notion, batch size 1.  For B ≥ 2 drawn with replacement the trace bound is "
                        "not the right one (an assumption break): E[H_B M H_B] = mean H_i M H_i / B + "
                        "(1 − 1/B) H M H, scalar case 2/η_c = h + v/(hB).")),
    assumptions=AssumptionSpace([
        Int("n", 1, N_MAX, description="number of samples"),
        Int("p", "n + 1", 6, description="parameters (over-parameterised: p > n)"),
        Int("entry", 1, 3, description="integer gradients with |g_ij| ≤ entry"),
        Choice("norms", ["random", "equal"], description="equal: all ‖g_i‖ the same (closed form)"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        close("η_c of the exactly averaged SGD update = η_c of the lifted operator", "eta_c", "eta_c_sim",
              rtol=1e-6, atol=0),
        at_most("η_c·tr(H)/2 ≤ 1", "trace_ratio", "ratio_bound", rtol=1e-6),
        bernstein_mean("sampled SGD: E‖δ_t‖² = lifted-operator moment (probe steps)", "m2_probe", "m2_var",
                       "m2_mc", LEVEL_MC),
    ],
    mutants=[
        Mutant("η·tr(H) ≤ 1", lambda p, pred: {**pred, "ratio_bound": 0.5}, "a wrong constant in the trace bound"),
        Mutant("λ_max(H) ≤ 2/η suffices for SGD", lambda p, pred: {**pred, "eta_c": pred["gd_bound"]},
               "the GD threshold 2/λ_max taken as SGD's mean-square threshold"),
        Mutant("the trace bound is always tight", lambda p, pred: {**pred, "eta_c": pred["trace_bound"]},
               "η_c = 2/tr(H) for every data set (true only for equal norms)"),
        Mutant("second moment as for GD", lambda p, pred: {**pred, "m2_probe": _gd_curves(p)},
               "E[δ_t δ_tᵀ] propagated with the mean Hessian (I − ηH) M (I − ηH): the noise term dropped"),
    ],
    breaks=[
        Break("batch size B = 2 (with replacement)", lambda p: {**p, "batch": 2},
              "the second moment and its threshold change: η_c(B) = the trace bound no longer",
              expect=["η_c of the exactly averaged SGD update = η_c of the lifted operator",
                      "sampled SGD: E‖δ_t‖² = lifted-operator moment (probe steps)"]),
        Break("batch size B = 4 (with replacement)", lambda p: {**p, "batch": 4},
              "η_c·tr(H)/2 exceeds 1 on random instances",
              expect=["η_c·tr(H)/2 ≤ 1", "η_c of the exactly averaged SGD update = η_c of the lifted operator"]),
    ],
    regimes={"equal norms: η_c = 2/tr(H)": "norms == 'equal' and n >= 2", "n = 1 (tight)": "n == 1",
             "random norms, n ≥ 3": "norms == 'random' and n >= 3"},
    resolution={"eta_c": 0.001, "ratio_bound": 0.001,
                "m2_probe": ("a Monte Carlo mean of 2000 bounded trajectories under a Bernstein bound: a "
                             "statistical comparison, not a constant; its power is measured, not promised"),
                "m2_var": "the exact variance sets the width of the Bernstein bound; it is not a claim"},
    plots=[
        Plot("η_c against 2/tr(H) and 2/λ_max across draws", [
            Series("2/tr(H)", "prediction.eta_c", "prediction.trace_bound", role="theory", style="points"),
            Series("2/λ_max(H)", "prediction.eta_c", "prediction.gd_bound", role="theory", style="points"),
            Series("η_c (averaged SGD update, simulated)", "prediction.eta_c", "observation.eta_c_sim",
                   style="points"),
        ], xlabel="η_c (lifted operator)", ylabel="step size", xlog=True, ylog=True, over="examples"),
        Plot("almost-sure behaviour: sampled SGD just above the mean-square threshold", [
            Series("fraction of 128 runs with ‖δ_128‖ < ‖δ_0‖ at 1.05·η_c", "prediction.eta_c",
                   "observation.as_decayed_above", style="points"),
        ], xlabel="η_c", ylabel="fraction decayed (a.s. ≠ mean-square)", xlog=True, over="examples"),
        Plot("E‖δ_t‖² at the probe step η = 2/max‖g_i‖²: exact vs sampled SGD", [
            Series("lifted operator", "observation.t", lambda pr, ob, pa: pr["m2_probe"][1], role="theory"),
            Series("sampled SGD (2000 runs)", "observation.t", lambda pr, ob, pa: ob["m2_mc"][1], style="points"),
        ], xlabel="t", ylabel="E‖δ_t‖²", ylog=True),
    ],
)


def _gd_curves(params):
    """The GD recursion's ‖δ_t‖² at the probe steps (a wrong second moment for SGD)."""
    G = gradients(params).astype(float)
    H = G.T @ G / params["n"]
    out = []
    for e in probe_steps(G):
        d = start(params)
        vals = []
        for _ in range(T_MC):
            d = d - e * H @ d
            vals.append(float(d @ d))
        out.append(vals)
    return np.array(out)
