"""Large-step logistic regression: the batch-perceptron limit per instance, and the trend that
survives (the narrowed statement rescuing published.large_step_separation).

LR+GD from w₀ = 0 with step γ on separable data; u_t = w_t/γ follows
u_{t+1} = u_t + (1/n)Σ y_i x_i σ(−γ y_i x_iᵀu_t), whose γ → ∞ limit is the batch perceptron
(weight ½ on the ties of the first step).  K(γ) = iterations until every point is correctly
classified.

(i) Perceptron limit (per instance, exact): with m_min the perceptron's smallest |margin| over
its iterates u_1..u_K, X̄ = mean‖x_i‖, X_max = max‖x_i‖, for γ ≥ γ₀ = (2/m_min)
log(2K X̄ X_max/m_min) every margin keeps its sign, K(γ) = K_perc, and
max_{t ≤ K}‖w_t/γ − u_t‖ ≤ (K − 1) X̄ e^{−γ m_min/2} (``theorycheck.sim.large_step``).
(ii) Trend, over an ensemble of 50 instances: in the small-step regime the count follows the
gradient flow (K(γ)·γ → T_flow), so the median count is non-increasing along γ = ½, 1, 2, and no
larger step on the grid has a larger median than γ = ½.
Narrowed: beyond that regime the median is NOT monotone in γ — between γ = 10 and the perceptron
limit it can rise (measured 3 → 3.5 → 4 and 3 → 4 → 5 in ensembles of 50), because finite-γ
weights σ(−γm) on correctly classified points can separate in fewer steps than the perceptron;
and per instance K(γ) is not monotone anywhere near γ ≈ 1–10³.

Exact side: the perceptron iterates, counts, m_min, γ₀ and the deviation bounds per instance
(float64, margins ≥ 1e-9 required, else the instance is excluded); sympy: the limits of
σ(−γm) (1, ½, 0).
Simulation: LR+GD for the 50 instances at γ ∈ {½, 1, 2, 10², 10⁴, 10⁶} (one array program for
all draws), counts K(γ) and the first iterates w_t/γ."""
import functools
import math

import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Claim, Float, Inconclusive, Int, Mutant, Plot, Seed, Series,
                         Source, holds)
from theorycheck.sim.large_step import deviation_bound, gamma0, instance, lr_gd_counts, perceptron

ENSEMBLE = 50
SMALL = (0.5, 1.0, 2.0)
LARGE = (1e2, 1e4, 1e6)
GRID = SMALL + LARGE
MARGIN_MIN = 1e-9


def _instance(params, k):
    return instance(params["n"], params["d"], params["margin"], params["ensemble_seed"] * 1000 + k)


@functools.lru_cache(maxsize=1)
def sigmoid_limit():
    """sympy: σ(−γm) → 1, ½, 0 for m < 0, m = 0, m > 0 as γ → ∞ (the perceptron's weights)."""
    g = sp.Symbol("gamma", positive=True)
    s = lambda m: 1 / (1 + sp.exp(g * m))
    return (sp.limit(s(-1), g, sp.oo), s(0), sp.limit(s(1), g, sp.oo)) == (1, sp.Rational(1, 2), 0)


def derive(params):
    Kp, K1, g0, m_min = [], [], [], []
    dev = np.full((ENSEMBLE, len(LARGE)), np.nan)
    iters = []
    for k in range(ENSEMBLE):
        X, y = _instance(params, k)
        K, U, mm = perceptron(X, y)
        if not math.isfinite(K):
            raise Inconclusive("the batch perceptron did not separate an instance within the cap")
        Kp.append(K), m_min.append(mm), iters.append(U)
        K1.append(perceptron(X, y, ties=1.0)[0])
        g0.append(gamma0(X, K, mm) if mm >= MARGIN_MIN else math.inf)
        dev[k] = [deviation_bound(X, K, mm, g) for g in LARGE]
    return {"perceptron_counts": np.array(Kp, dtype=float), "gamma0": np.array(g0), "deviation_bounds": dev,
            "perceptron_iterates": iters, "ties_one_counts": np.array(K1, dtype=float),
            "sigmoid_limit_proved": sigmoid_limit(), "per_instance_monotone": False}


def _runs(params_list):
    Xs, ys, gs, w0s, loss = [], [], [], [], []
    for p in params_list:
        rng = np.random.default_rng([p["ensemble_seed"], 99])
        for k in range(ENSEMBLE):
            X, y = _instance(p, k)
            u0 = None
            if p.get("init"):   # break: w₀ = γ·u₀, ‖u₀‖ = 0.05
                u0 = rng.standard_normal(X.shape[1])
                u0 *= 0.05 / np.linalg.norm(u0)
            for g in GRID:
                Xs.append(X), ys.append(y), gs.append(g), w0s.append(u0), loss.append(p.get("loss", "logistic"))
    K, traj = lr_gd_counts(Xs, ys, gs, w0s=w0s, losses=loss)
    G = len(GRID)
    out = []
    for i in range(len(params_list)):
        Ki = K[i * ENSEMBLE * G:(i + 1) * ENSEMBLE * G].reshape(ENSEMBLE, G)
        Ti = traj[i * ENSEMBLE * G:(i + 1) * ENSEMBLE * G].reshape(ENSEMBLE, G, *traj.shape[1:])
        med = np.median(Ki, axis=0)
        out.append({"counts": Ki, "large_step_iterates": Ti[:, len(SMALL):], "median_counts": med,
                    "grid": np.array(GRID)})
    return out


def simulate_batch(params_list, ctx):
    return _runs(params_list)


def simulate(params, ctx):
    return _runs([params])[0]


def _limit_pairs(pred):
    g0 = np.asarray(pred["gamma0"], dtype=float)
    return [(k, j) for k in range(ENSEMBLE) for j, g in enumerate(LARGE) if g >= g0[k]]


def _perceptron_limit(pred, obs, params):
    pairs = _limit_pairs(pred)
    if not pairs:
        return None
    K = np.asarray(obs["counts"])[:, len(SMALL):]
    Kp = np.asarray(pred["perceptron_counts"], dtype=float)
    return all(K[k, j] == Kp[k] for k, j in pairs)


def _deviation(pred, obs, params):
    pairs = _limit_pairs(pred)
    if not pairs:
        return None
    T = np.asarray(obs["large_step_iterates"])
    B = np.asarray(pred["deviation_bounds"], dtype=float)
    for k, j in pairs:
        U = np.asarray(pred["perceptron_iterates"][k])
        K = min(U.shape[0] - 1, T.shape[2] - 1)
        got = T[k, j, : K + 1, : U.shape[1]]
        dev = float(np.max(np.linalg.norm(got - U[: K + 1], axis=1)))
        if not dev <= B[k, j] * (1 + 1e-9) + 1e-12 * float(np.max(np.linalg.norm(U, axis=1))):
            return False
    return True


def _small_step_monotone(pred, obs, params):
    med = np.asarray(obs["median_counts"])[: len(SMALL)]
    if np.any(np.isinf(med)):
        return None
    return bool(np.all(np.diff(med) <= 0))


def _never_slower_than_small(pred, obs, params):
    med = np.asarray(obs["median_counts"])
    if math.isinf(med[0]):
        return None
    return bool(np.all(med <= med[0]))


def _per_instance(pred, obs, params):
    if not pred["per_instance_monotone"]:
        return True
    K = np.where(np.isinf(obs["counts"]), 1e18, obs["counts"])
    return bool(np.all(np.diff(K, axis=1) <= 0))


CHECK_LIMIT = "γ ≥ γ₀: K(γ) = the batch perceptron's count (every instance)"
CHECK_DEV = "γ ≥ γ₀: ‖w_t/γ − u_t‖ ≤ (K − 1) X̄ e^{−γ m_min/2}"
CHECK_MONO = "small steps: median K non-increasing along γ = ½, 1, 2"
CHECK_SLOW = "no larger step has a larger median count than γ = ½"
CHECK_PER = "per-instance monotonicity only where the prediction claims it"

claim = Claim(
    id="dynamics.large_step_perceptron_limit",
    title="Large-step LR+GD: the batch-perceptron limit beyond γ₀, and the small-step 1/γ trend",
    statement=("Logistic regression by GD from w₀ = 0 on separable data: (i) for γ ≥ γ₀ = (2/m_min)"
               "log(2K X̄ X_max/m_min) the iterates w_t/γ are the batch perceptron's up to (K − 1)X̄e^{−γm_min/2} "
               "and the iteration count to separate equals the perceptron's, independent of γ; (ii) over an "
               "ensemble of ≥ 50 instances the median count is non-increasing in the small-step regime "
               "(γ = ½, 1, 2) and no larger step has a larger median than γ = ½.  The median is not monotone "
               "beyond that regime, and K(γ) is not monotone per instance."),
    math=sp.Implies(sp.Symbol(r"\gamma \ge \gamma_0"), sp.Eq(sp.Symbol("K(gamma)"), sp.Symbol("K_perc"))),
    source=Source("From Logistic Regression to the Perceptron Algorithm: Exploring Gradient Descent with Large "
                  "Step Sizes", "Alexander Tyurin", 2024, "seed 003",
                  note=("Rescues published.large_step_separation (seed 003 line 155).  γ₀ and the deviation bound "
                        "are derived here (see the module docstring).  Narrowed beyond CLAIMS-2, whose trend "
                        "'median non-increasing in γ' fails: medians 3 → 3.5 → 4 and 3 → 4 → 5 between γ = 10² "
                        "and 10⁶ in 2 of 10 ensembles of 50 (finite-γ weights on correctly classified points "
                        "can separate in fewer steps than the perceptron); the trend is kept for the small-step "
                        "regime, where K(γ)γ → T_flow (the medians halve with each doubling there up to an O(1) "
                        "offset of the discrete count: ratios 1.78–2.06 measured, not graded), and as 'no larger "
                        "step is slower in the median than the smallest one'.")),
    assumptions=AssumptionSpace([
        Int("n", 20, 80, description="training points per instance"),
        Int("d", 2, 10, description="dimension"),
        Float("margin", 0.02, 0.2, log=True, description="teacher margin"),
        Seed("ensemble_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        holds(CHECK_LIMIT, _perceptron_limit),
        holds(CHECK_DEV, _deviation),
        holds(CHECK_MONO, _small_step_monotone),
        holds(CHECK_SLOW, _never_slower_than_small),
        holds(CHECK_PER, _per_instance),
    ],
    mutants=[
        Mutant("per-instance monotone (the published reading)",
               lambda p, pred: {**pred, "per_instance_monotone": True},
               "structural: K(γ) non-increasing for every instance"),
        Mutant("near-miss: perceptron with weight 1 on ties", lambda p, pred: {
            **pred, "perceptron_counts": pred["ties_one_counts"]},
               "σ(0) = ½ replaced by 1 in the limit (the first step doubles)"),
    ],
    breaks=[
        Break("w₀ = γ·u₀ (‖u₀‖ = 0.05)", lambda p: {**p, "init": True},
              "a start that scales with γ: the limit is the perceptron from u₀, not from 0", expect=[CHECK_LIMIT]),
        Break("square loss", lambda p: {**p, "loss": "square"},
              "no perceptron limit: large steps diverge", expect=[CHECK_LIMIT]),
    ],
    regimes={"small margin (≤ 0.05)": "margin <= 0.05", "large margin (≥ 0.1)": "margin >= 0.1",
             "d ≥ 6": "d >= 6", "n ≥ 50": "n >= 50"},
    resolution={"perceptron_counts": 0.1,
                "gamma0": "a sufficient threshold, not the smallest γ that works",
                "deviation_bounds": "an upper bound (loose: the margins are mostly far above m_min)",
                "perceptron_iterates": "compared within the bound", "ties_one_counts": "a mutant's value",
                "per_instance_monotone": "a switch (tested by the mutant)"},
    draws=24,
    draws_note="each draw is an ensemble of 50 instances × 6 step sizes (300 LR+GD runs, up to 3000 steps)",
    plots=[
        Plot("median iterations to separate vs step size (ensemble of 50)", [
            Series("median K(γ)", "observation.grid", "observation.median_counts", style="points"),
        ], xlabel="γ", ylabel="median K(γ)", xlog=True, ylog=True),
    ],
)
