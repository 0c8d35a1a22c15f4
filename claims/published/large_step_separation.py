"""'Larger step sizes lead to faster convergence to a solution of the classification problem'
(Tyurin 2024) — the per-instance reading, tested as stated (expected to fail).

Logistic regression by gradient descent from w₀ = 0 on separable data, steps γ; K(γ) = the
first iteration at which every training point is classified correctly.  Read per instance,
the statement says K(γ) is non-increasing in γ.  It is not: for finite γ the correctly
classified points keep weights σ(−γ y xᵀw) > 0 that can help (K(10) = 2 while the perceptron
limit needs 3), and in the approach to the perceptron limit K(γ) can rise and fall.

Exact side: the statement's prediction (non-increasing) and, for reference, the batch
perceptron's count (the γ → ∞ limit, ``theorycheck.sim.large_step.perceptron``).
Simulation: LR+GD at γ ∈ {1, 2, 10, 10², …, 10⁶} for the draw's instance (all draws and steps
in one array program, ``lr_gd_counts``), K(γ) counted.
Check: K(γ) non-increasing along the grid (a run that never separates within 3000 steps
counts as slower than any run that does)."""

import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Claim, Float, Int, Mutant, Plot, Seed, Series, Source,
                         holds)
from theorycheck.sim.large_step import instance, lr_gd_counts, perceptron

GRID = (1.0, 2.0, 10.0, 1e2, 1e3, 1e4, 1e5, 1e6)


def derive(params):
    X, y = instance(params["n"], params["d"], params["margin"], params["data_seed"])
    K, _, _ = perceptron(X, y)
    return {"relation": "non-increasing", "perceptron_count": K, "grid": np.array(GRID)}


def _runs(params_list):
    Xs, ys, gs, loss = [], [], [], []
    for p in params_list:
        X, y = instance(p["n"], p["d"], p["margin"], p["data_seed"])
        for g in GRID:
            Xs.append(X), ys.append(y), gs.append(g), loss.append(p.get("loss", "logistic"))
    K, _ = lr_gd_counts(Xs, ys, gs, losses=loss)
    K = K.reshape(len(params_list), len(GRID))
    return [{"counts": K[i], "grid": np.array(GRID)} for i in range(len(params_list))]


def simulate_batch(params_list, ctx):
    return _runs(params_list)


def simulate(params, ctx):
    return _runs([params])[0]


def _relation_holds(pred, obs, params):
    K = np.asarray(obs["counts"], dtype=float)
    if np.all(np.isinf(K)):
        return None                     # never separated within the cap: nothing to compare
    rel = pred["relation"]
    steps = np.diff(np.where(np.isinf(K), 1e18, K))
    if rel == "non-increasing":
        return bool(np.all(steps <= 0))
    if rel == "strictly decreasing":
        return bool(np.all(steps < 0))
    if rel == "independent of γ":
        return bool(np.all(steps == 0))
    raise ValueError(rel)


CHECK = "per instance, K(γ) is non-increasing in γ"

claim = Claim(
    id="published.large_step_separation",
    title="Larger steps separate faster — per instance (as stated)",
    statement=("Published statement, read per instance: for logistic regression by gradient descent from "
               "w₀ = 0 on a linearly separable data set, a larger step size γ never needs more iterations to "
               "reach a solution of the classification problem (every point correctly classified): K(γ) is "
               "non-increasing in γ."),
    math=sp.Implies(sp.Symbol(r"\gamma_1 < \gamma_2"), sp.Symbol(r"K(\gamma_2) \le K(\gamma_1)")),
    source=Source("From Logistic Regression to the Perceptron Algorithm: Exploring Gradient Descent with Large "
                  "Step Sizes", "Alexander Tyurin", 2024, "seed 003",
                  note=("Abstract at seed 003 line 155 ('larger step sizes also lead to faster convergence to a "
                        "solution for the classification problem').  Hypotheses pinned: separable data (a teacher "
                        "with margin ≥ the draw's margin), the logistic loss, full-batch GD from w₀ = 0 with a "
                        "constant step γ, a solution = all margins > 0.  Expected refuted per instance (a single "
                        "counterexample suffices); rescued by dynamics.large_step_perceptron_limit, which keeps "
                        "the perceptron limit and the trend that survives.")),
    assumptions=AssumptionSpace([
        Int("n", 20, 80, description="training points"),
        Int("d", 2, 10, description="dimension"),
        Float("margin", 0.02, 0.2, log=True, description="teacher margin: points with |x·w*| below it rejected"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[holds(CHECK, _relation_holds)],
    mutants=[
        Mutant("strictly decreasing", lambda p, pred: {**pred, "relation": "strictly decreasing"},
               "every larger step strictly faster (false already in the perceptron limit, where K is constant)"),
        Mutant("independent of γ", lambda p, pred: {**pred, "relation": "independent of γ"},
               "structural: the step size does not matter (false: small steps need ~T_flow/γ iterations)"),
    ],
    breaks=[
        Break("square loss ½(1 − y xᵀw)²", lambda p: {**p, "loss": "square"},
              "GD on the square loss is unstable for large γ: small steps separate, large ones never do",
              expect=[CHECK]),
    ],
    regimes={"small margin (≤ 0.05)": "margin <= 0.05", "large margin (≥ 0.1)": "margin >= 0.1", "d ≥ 6": "d >= 6",
             "n ≥ 50": "n >= 50"},
    resolution={"relation": "a statement, not a number", "perceptron_count": "shown only",
                "grid": "the step sizes run"},
    expected="refuted",
    rescue="dynamics.large_step_perceptron_limit",
    plots=[
        Plot("iterations to separate vs step size", [
            Series("K(γ)", "observation.grid", "observation.counts", style="points"),
            Series("batch perceptron (γ → ∞)", None, "prediction.perceptron_count", role="theory", style="hline"),
        ], xlabel="γ", ylabel="K(γ)", xlog=True, ylog=True),
    ],
)
