"""Probabilistic (almost-sure) stability of linearised SGD (Ziyin et al.).

Process: w_{t+1} = (I − ηH_{i_t}) w_t, the index i_t i.i.d.: sample 1 with
probability q, else sample 2.  The per-sample Hessians commute (one
eigenbasis): ηH_1 = diag(a, a₂), ηH_2 = diag(b, b₂) (p = 2; p = 1 keeps the
first direction only, the scalar chain w_{t+1} = (1 − ηh_t) w_t).  Theorem: w_t → 0 almost surely iff
Λ = max_k E log|1 − ηh_k| < 0 (the a.s. growth rate (1/t) log‖w_t‖ → Λ),
which can hold while the mean-square criterion E(1 − ηh)² < 1 fails, and
even while E[ηh] < 0 (SGD attracted to a maximum of the expected loss).

Exact side (mpmath, 30 digits / scipy): Λ per direction; and since every direction's
log-factor after t steps is K·log|1 − a_k| + (t − K)·log|1 − b_k| with
K ~ Binomial(t, q) shared by the directions, the exact finite-horizon law
of log‖w_t‖: its mean (the expected rate at t = T; for p = 1 it is Λ
exactly) and P(‖w_t‖ < ‖w_0‖) at t = T/8, T/4, T/2, T.
Simulation (torch, theorycheck.sim.chains): thousands of chains of the
process itself (matrix–vector products, the norm of the vector; the
simulation never sees the eigenvalues' logarithms), renormalised in log
space.  The common eigenbasis is the axes on purpose: in a rotated basis
float64 keeps every component within ~1e-16 of the largest (rounding of
U diag Uᵀ couples the directions), and a direction that the exact process
pushes 40 nats below the dominant one and then brings back returns from
1e-16 instead — a bias of the rate of up to 0.4 % (z ≈ 4), found by the full
profile (draw p = 2, a = 1.09, b = −0.2, a₂ = 2.1, b₂ = 1.05, q = 0.53).

Checks: (1) the chains' mean rate against Λ (p = 1) / the exact finite-T
mean (p = 2): a z-test on the chains' standard error at the Bonferroni z of
the run's draws × 5 comparisons (this test and the four below, family-wise
1 %), at least 5 (5 in quick and full, ≈ 5.3 in gpu);
zero variance (|1 − a| = |1 − b|: every chain identical) is decided
exactly (the within_se zero-variance rule, with 1e-10 for round-off);
(2) the fraction of chains below their start at the four horizons against
the exact binomial law, an exact two-sided binomial test at the run's
Bonferroni level (draws × 5 comparisons, family-wise 1 %), at most 1e-7
each (1e-7 in every profile up to ~20 000 draws);
(3) the fate: most chains end below their start iff Λ < 0 (the horizon T
is long enough by the constraint |Λ_k| ≥ 0.15·|log|1−a_k| − log|1−b_k||,
and derive verifies that the exact law at T is ≤ 1 % or ≥ 99 %)."""
import math

import mpmath
import numpy as np
import sympy as sp
from scipy.special import bdtr, bdtrc, gammaln

from theorycheck import (AssumptionSpace, Break, Check, Choice, Claim, Float, Inconclusive, Int, Mutant, Plot,
                         Seed, Series, Source, holds, within_se)
from theorycheck.sim.chains import linear_chains, sample_picks
from theorycheck.stats import family_p, family_z
from theorycheck.verdict import Evidence

T = 256                      # horizon of every chain
HORIZONS = (T // 8, T // 4, T // 2, T)
CHAINS, CHAINS_LARGE = 400, 2000
SUB_BATCH = 32               # draws per tensor program (the picks are draws × T × chains)
DELTA = 1e-9                 # "below start": log‖w_t/w_0‖ < −DELTA (exact ties are not convergence)
Z_RATE = 5.0                 # z of the rate test in quick: a floor
ALPHA_FRACTION = 1e-7        # level of each exact binomial test of a fraction in quick: a ceiling
# Bonferroni over the run's draws × 5 comparisons (the rate, 4 horizons' fractions) at a family-wise 1 %
RATE_Z = family_z(per_draw=5, at_least=Z_RATE)
FRACTION_LEVEL = family_p(per_draw=5, at_most=ALPHA_FRACTION)
RATE_ATOL = 1e-10            # round-off of a product of T factors, for the zero-variance case
lam_sym, h, eta = sp.symbols("Lambda h eta", real=True)


def factors(params):
    """ηh per direction for the two samples, as the draw defines them: (a_k), (b_k).
    'zero-variance' mirrors b = 2 − a, so |1 − a| = |1 − b| (log|1 − ηh| constant)."""
    a = [params["a"], params["a2"]][: params["p"]]
    if params["law"] == "zero-variance":
        b = [2 - x for x in a]
    else:
        b = [params["b"], params["b2"]][: params["p"]]
    return a, b


def binomial_pmf(t: int, q: float) -> np.ndarray:
    """P(K = k), k = 0..t, K ~ Binomial(t, q), through log-gamma (no overflow)."""
    K = np.arange(t + 1)
    return np.exp(gammaln(t + 1) - gammaln(K + 1) - gammaln(t - K + 1) + K * math.log(q) + (t - K) * math.log1p(-q))


def exact_law(params):
    """Exact Λ_k (sympy), and the finite-horizon law of log‖w_t‖ (w_0 with equal
    weight 1/p on every eigendirection), from K ~ Binomial(t, q)."""
    a, b = factors(params)
    with mpmath.workdps(30):  # the draw's floats taken as exact binary numbers, logarithms to 30 digits
        q = mpmath.mpf(params["q"])
        la = [mpmath.log(abs(1 - mpmath.mpf(x))) for x in a]
        lb = [mpmath.log(abs(1 - mpmath.mpf(x))) for x in b]
        lams = [float(q * x + (1 - q) * y) for x, y in zip(la, lb)]
    la_f, lb_f = np.array([float(x) for x in la]), np.array([float(x) for x in lb])
    fractions, means = [], []
    for t in HORIZONS:
        K = np.arange(t + 1)
        pmf = binomial_pmf(t, params["q"])
        S = K[:, None] * la_f[None, :] + (t - K)[:, None] * lb_f[None, :]   # (t + 1, p)
        top = S.max(axis=1)
        f = top + 0.5 * np.log(np.exp(2 * (S - top[:, None])).mean(axis=1))  # log‖w_t‖, ‖w_0‖ = 1
        fractions.append(float(pmf[f < -DELTA].sum()))
        means.append(float(np.dot(pmf, f)) / t)
    ms = [float(params["q"] * (1 - x) ** 2 + (1 - params["q"]) * (1 - y) ** 2) for x, y in zip(a, b)]
    mean_h = [float(params["q"] * x + (1 - params["q"]) * y) for x, y in zip(a, b)]
    return lams, fractions, means, ms, mean_h


def derive(params):
    lams, fractions, means, ms, mean_h = exact_law(params)
    lam = max(lams)
    if 0.01 < fractions[-1] < 0.99:
        raise Inconclusive(f"the exact law at t = {T} is not decided ({fractions[-1]:.3f}): horizon too short")
    return {"Lambda": lam, "Lambda_directions": lams, "rate_T": means[-1],
            "fraction": np.array(fractions), "horizons": np.array(HORIZONS),
            # for the mutants: the mean-square and the GD-on-the-mean criteria, as growth rates
            "mean_square_rate": max(0.5 * math.log(m) for m in ms),
            "gd_mean_rate": max(math.log(abs(1 - m)) for m in mean_h),
            "mean_eta_h": mean_h[0], "mean_square": ms[0]}


def rotation(params) -> np.ndarray:
    """The second sample's eigenbasis under the 'non-commuting' break: turned by a
    random angle in [π/8, 3π/8] (from the data seed); else the common (axis) basis."""
    if params["p"] == 1 or not params.get("non_commuting"):
        return np.eye(params["p"])
    angle = np.random.default_rng(params["data_seed"]).uniform(np.pi / 8, 3 * np.pi / 8)
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def step_matrices(params) -> np.ndarray:
    """A_i = I − ηH_i, (2, p, p): diagonal in the common eigenbasis (the axes; see the
    module note on rounding), the second one turned under the 'non-commuting' break."""
    a, b = factors(params)
    U2 = rotation(params)
    eye = np.eye(params["p"])
    return np.stack([eye - np.diag(a), eye - U2 @ np.diag(b) @ U2.T])


def start(params) -> np.ndarray:
    """w_0 with equal weight on the eigendirections (unit norm)."""
    return np.full(params["p"], 1 / math.sqrt(params["p"]))


def simulate_batch(params_list, ctx):
    chains = CHAINS_LARGE if ctx.large else CHAINS
    gens = ctx.generators()
    out = [None] * len(params_list)
    # one tensor program per (p, momentum, frozen) group
    groups: dict = {}
    for i, p in enumerate(params_list):
        groups.setdefault((p["p"], p.get("momentum", 0.0), bool(p.get("frozen"))), []).append(i)
    parts = [(key, idx[k:k + SUB_BATCH]) for key, idx in groups.items() for k in range(0, len(idx), SUB_BATCH)]
    for (_, beta, frozen), idx in parts:
        A = ctx.tensor(np.stack([step_matrices(params_list[i]) for i in idx]))
        w0 = ctx.tensor(np.stack([start(params_list[i]) for i in idx]))
        picks = sample_picks([params_list[i]["q"] for i in idx], T, chains, [gens[i] for i in idx],
                             ctx.device, ctx.dtype, frozen=frozen)
        logs = linear_chains(A, w0, picks, HORIZONS, momentum=beta)          # (B, horizons, chains)
        frac = (logs < -DELTA).double().mean(-1).cpu().numpy()
        rates = (logs[:, -1] / T).cpu().numpy()
        for j, i in enumerate(idx):
            r = rates[j]
            out[i] = {"horizons": np.array(HORIZONS), "fraction": frac[j], "chains": chains,
                      "below": np.round(frac[j] * chains).astype(int),
                      "rate_mean": float(r.mean()), "rate_se": float(r.std(ddof=1) / math.sqrt(chains)),
                      "fraction_final": float(frac[j][-1])}
    return out


def simulate(params, ctx):
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


def rate_theory(pred, obs, params):
    """For p = 1 the exact mean rate at any t is Λ itself; for p = 2 the exact finite-T mean."""
    return pred["Lambda"] if params["p"] == 1 else pred["rate_T"]


def binomial_law(name: str, alpha) -> Check:
    """Counts of chains below their start against the exact probabilities: a
    two-sided exact binomial test at level alpha per horizon (probabilities
    outside [0, 1] are refuted outright).  ``alpha`` may be a function of the
    context (``theorycheck.stats.family_p``: the run's Bonferroni level)."""
    alpha_of = alpha if callable(alpha) else (lambda ctx: alpha)
    level_text = "the run's Bonferroni level" if callable(alpha) else f"level {alpha:g}"

    def fn(pred, obs, params, ctx):
        alpha = float(alpha_of(ctx))
        f = np.asarray(pred["fraction"], dtype=float)
        k = np.asarray(obs["below"], dtype=int)
        n = int(obs["chains"])
        if not np.all(np.isfinite(f)):
            return Evidence(name, None, math.nan, None, None, None, "non-finite probability")
        fc = np.clip(f, 0.0, 1.0)
        lo = np.where(fc == 1.0, (k == n) * 1.0, bdtr(k, n, fc))                   # P(X ≤ k)
        hi = np.where(fc == 0.0, (k == 0) * 1.0, np.where(k > 0, bdtrc(k - 1, n, fc), 1.0))  # P(X ≥ k)
        pvals = np.minimum(1.0, 2 * np.minimum(lo, hi))
        pvals[(f < -1e-12) | (f > 1 + 1e-12)] = 0.0  # not a probability
        pmin = float(pvals.min())
        margin = math.log10(max(pmin, 1e-300)) - math.log10(alpha)
        used = math.log10(alpha) / math.log10(max(pmin, 1e-300)) if pmin < 1 else 0.0
        return Evidence(name, bool(pmin >= alpha), margin, f.tolist(), (k / n).tolist(), alpha,
                        f"smallest two-sided binomial p-value {pmin:.3g} (level {alpha:g}, {n} chains)",
                        used=used)

    return Check(name, fn, f"chains below start ~ Binomial(chains, exact probability), {level_text}")


def fate(pred, obs, params):
    """Most chains end below their start at t = T iff Λ < 0."""
    return (obs["fraction_final"] > 0.5) == (pred["Lambda"] < 0)


LOG_A = "log(abs(1-a))"
LOG_B = "log(abs(1-b))"
LOG_A2 = "log(abs(1-a2))"
LOG_B2 = "log(abs(1-b2))"
LAMBDA_1 = f"q*{LOG_A} + (1-q)*{LOG_B}"
MEAN_SQUARE_1 = "q*(1-a)**2 + (1-q)*(1-b)**2"

claim = Claim(
    id="stability.probabilistic",
    title="Almost-sure stability of linearised SGD: w_t → 0 iff Λ = max_k E log|1 − ηh_k| < 0",
    statement=("For linearised SGD w_{t+1} = (I − ηH_t) w_t with i.i.d. per-sample Hessians that commute "
               "(scalar: w_{t+1} = (1 − ηh_t) w_t), w_t → 0 almost surely iff Λ = max_k E log|1 − ηh_k| < 0, "
               "and (1/t) log‖w_t‖ → Λ almost surely.  This can hold while E(1 − ηh)² ≥ 1 (mean-square "
               "unstable) and even while E[ηh] < 0 (a maximum of the expected loss).  For two-point h the "
               "finite-horizon law of log‖w_t‖ is an exact function of a binomial count."),
    notion="almost-sure (probabilistic) stability",
    math=sp.Eq(lam_sym, sp.Symbol("E") * sp.log(sp.Abs(1 - eta * h))),
    source=Source("The Probabilistic Stability of Stochastic Gradient Descent (talk, seed 002); "
                  "SGD with a Constant Large Learning Rate Can Converge to Local Maxima (ICLR 2022)",
                  "Liu Ziyin, Botao Li, Tomer Galanti, Masahito Ueda; Liu Ziyin, Botao Li, James B. Simon, "
                  "Masahito Ueda", 2023, "seed 002",
                  note=("Narrowed to two-point laws of h and commuting per-sample Hessians (p ≤ 2), where "
                        "the a.s. rate is max_k Λ_k and the finite-horizon law is exact; non-commuting "
                        "Hessians are an assumption break (the rate is then a Lyapunov exponent with no "
                        "closed form).")),
    assumptions=AssumptionSpace([
        Choice("law", ["two-point", "two-point", "two-point", "zero-variance"],
               description=("a quarter of the draws: zero-variance, b = 2 − a, so log|1 − ηh| is constant "
                            "(every chain identical)")),
        Int("p", 1, 2, description="dimension of w (commuting per-sample Hessians)"),
        Float("a", 0.2, 3.5, description="ηh along direction 1 for sample 1 (probability q)"),
        Float("b", -1.0, 1.5, description="ηh along direction 1 for sample 2 (negative: negative curvature)"),
        Float("a2", 0.2, 3.5, description="p = 2: ηh along direction 2 for sample 1"),
        Float("b2", -1.0, 1.5, description="p = 2: ηh along direction 2 for sample 2"),
        Float("q", 0.1, 0.9, description="probability of sample 1"),
        Seed("data_seed"),
    ], constraints=[
        "abs(1-a) > 1e-6", "abs(1-b) > 1e-6", "abs(1-a2) > 1e-6", "abs(1-b2) > 1e-6",
        "abs(abs(1-a) - 1) > 1e-3", "abs(abs(1-a2) - 1) > 1e-3",
        # the horizon decides: Λ_k at least a tenth of the spread of the log-factors (per direction used)
        f"law == 'zero-variance' or abs({LAMBDA_1}) >= 0.15*abs({LOG_A} - {LOG_B})",
        f"law == 'zero-variance' or p == 1 or abs(q*{LOG_A2} + (1-q)*{LOG_B2}) >= 0.15*abs({LOG_A2} - {LOG_B2})",
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        within_se("chains' mean log-growth rate = Λ (p = 1) / exact finite-T mean (p = 2)", "rate_mean",
                  "rate_se", rate_theory, z=RATE_Z, atol=RATE_ATOL),
        binomial_law("fraction below start = exact binomial law", FRACTION_LEVEL),
        holds("fate follows the sign of Λ", fate),
    ],
    mutants=[
        Mutant("mean-square criterion decides",
               lambda p, pred: {**pred, "Lambda": pred["mean_square_rate"]},
               "w_t → 0 iff E(1 − ηh)² < 1 (growth rate ½ log E(1 − ηh)²)"),
        Mutant("GD criterion on the mean", lambda p, pred: {**pred, "Lambda": pred["gd_mean_rate"]},
               "w_t → 0 iff |1 − η E h| < 1 (growth rate log|1 − η E h|)"),
        Mutant("first direction only", lambda p, pred: {**pred, "Lambda": pred["Lambda_directions"][0]},
               "the rate of one eigendirection in place of the largest (structural: p = 2)"),
        Mutant("mean over directions", lambda p, pred: {**pred, "Lambda": float(np.mean(pred["Lambda_directions"]))},
               "the directions' rates averaged instead of maximised (structural: p = 2)"),
    ],
    breaks=[
        Break("heavy-ball momentum β = 0.5", lambda p: {**p, "momentum": 0.5},
              "a second-order recursion: the growth rate is no longer E log|1 − ηh|",
              expect=["chains' mean log-growth rate = Λ (p = 1) / exact finite-T mean (p = 2)"]),
        Break("h frozen after the first step (non-ergodic)", lambda p: {**p, "frozen": True},
              ("h_t = h_0 for all t: the same marginal law and the same mean rate Λ, but not ergodic — "
               "w_t → 0 with probability P(|1 − ηh_0| < 1), neither 0 nor 1"),
              expect=["fraction below start = exact binomial law", "fate follows the sign of Λ"]),
        Break("non-commuting Hessians (second eigenbasis turned by π/8–3π/8)",
              lambda p: {**p, "non_commuting": True} if p["p"] == 2 else None,
              "the rate of a product of non-commuting matrices is not max_k E log|1 − ηh_k|",
              expect=["chains' mean log-growth rate = Λ (p = 1) / exact finite-T mean (p = 2)"]),
    ],
    regimes={
        "Λ < 0 while mean-square unstable (scalar)":
            f"p == 1 and law == 'two-point' and {LAMBDA_1} < 0 and {MEAN_SQUARE_1} > 1",
        "E[ηh] < 0 yet Λ < 0 (converges to a maximum)":
            f"p == 1 and law == 'two-point' and q*a + (1-q)*b < 0 and {LAMBDA_1} < 0",
        "zero variance": "law == 'zero-variance'",
        "two commuting directions": "p == 2 and law == 'two-point'",
    },
    resolution={"Lambda": 0.01, "rate_T": 0.01,
                "fraction": ("probabilities estimated from 400 chains (binomial test): a statistical "
                             "comparison with no constant to resolve; its power is that of the test")},
    plots=[
        Plot("fraction of chains below their start against Λ", [
            Series("exact law", "prediction.Lambda", lambda pr, ob, pa: float(pr["fraction"][-1]), role="theory",
                   style="points"),
            Series("simulated chains", "prediction.Lambda", "observation.fraction_final", style="points"),
            Series("Λ = 0", x=lambda pred, obs, params: 0.0, role="theory", style="vline"),
        ], xlabel="Λ = max_k E log|1 − ηh_k|", ylabel=f"fraction below start at t = {T}", over="examples"),
        Plot("chains' growth rate against Λ", [
            Series("rate = Λ", "prediction.Lambda", "prediction.Lambda", role="theory", style="line"),
            Series("chains", "prediction.Lambda", "observation.rate_mean", style="points"),
        ], xlabel="Λ", ylabel="mean (1/T) log‖w_T/w_0‖", over="examples"),
        Plot("fraction below start vs horizon", [
            Series("exact binomial", "prediction.horizons", "prediction.fraction", role="theory"),
            Series("chains", "observation.horizons", "observation.fraction", style="points"),
        ], xlabel="t", ylabel="fraction ‖w_t‖ < ‖w_0‖", xlog=True),
    ],
)
