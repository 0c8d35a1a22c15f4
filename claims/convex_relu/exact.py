"""Two-layer ReLU training with weight decay equals a convex program.

min over (u_j, α_j) of ½‖Σ_j (Xu_j)_+ α_j − y‖² + (β/2) Σ_j (‖u_j‖² + α_j²)
equals the group-lasso cone program over ALL hyperplane-arrangement patterns
of X (Pilanci & Ergen 2020), for any width m ≥ m* (m* ≤ n + 1).

Exact side: the pattern set is enumerated exactly (one LP per region and
hyperplane) and certified complete by Cover's count for rows in general
position; cvxpy solves the program, and a dual-feasible point certifies the
optimum (relative duality gap ≤ 1e-6), otherwise the example is inconclusive.
Simulation side, three ways: (a) the network rebuilt from the convex solution
(u = v/√‖v‖, α = ±√‖v‖) evaluated in torch attains the optimum; (b) no network
trained by Adam — 12 restarts at each of the widths 1, 2, n + 1, 4(n + 1) —
goes below it (the robust, one-sided direction); (c) the best run of width
≥ n + 1 comes within 3 % of it.  A run stuck above the optimum is only a
failure of (c) when every wide restart is stuck; widths below m* are an
assumption break, where (c) must fail.
"""
import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Claim, Inconclusive, Mutant, Plot, Series,
                         Source, at_least, at_most, close)
from theorycheck.sim.relu_nets import regression_data, relu_objective, train_relu_nets, data_assumptions
from theorycheck.symbolic.arrangements import cover_count, enumerate_patterns, in_general_position, sample_patterns
from theorycheck.symbolic.group_lasso import rebuild_network, solve_convex_relu

GAP = 0.03          # (c): the best wide run is within 3 % of the optimum
RESTARTS = 12
STEPS = 2000
LR = 0.05


def data(params):
    return regression_data(params["n"], params["d"], params["data_seed"])


def patterns_for(params, X):
    """The exact set, certified by Cover's count; or, under the break, the
    patterns of a few random directions (an incomplete set)."""
    k = params.get("sampled_directions")
    if k is not None:
        return sample_patterns(X, k, np.random.default_rng(params["data_seed"] + 1))
    if not in_general_position(X):
        raise Inconclusive("rows of X not in general position: Cover's count cannot certify the pattern set")
    pats = enumerate_patterns(X)
    expected = cover_count(X.shape[0], np.linalg.matrix_rank(X))
    if len(pats) != expected:
        raise Inconclusive(f"enumerated {len(pats)} patterns, Cover's count is {expected}")
    return pats


def convex_prediction(params, beta=None, cone=True, keep=None):
    X, y = data(params)
    pats = patterns_for(params, X)
    if keep is not None:
        pats = pats.subset(keep(len(pats)))
    sol = solve_convex_relu(X, y, params["beta"] if beta is None else beta, pats, cone=cone)
    net = rebuild_network(sol)
    return {"optimum": sol.value, "duality_gap": sol.gap, "status": sol.status, "patterns": len(pats),
            "cover_count": cover_count(X.shape[0], np.linalg.matrix_rank(X)),
            "neurons": net.width, "U": net.U, "alpha": net.alpha}


def derive(params):
    return convex_prediction(params)


def widths_for(params):
    n = params["n"]
    widths = [1, 2, n + 1, 4 * (n + 1)]
    cap = params.get("max_width")
    return [w for w in widths if cap is None or w <= cap]


def simulate(params, ctx):
    X, y = data(params)
    Xt, yt = ctx.tensor(X), ctx.tensor(y)
    widths = widths_for(params)
    runs = train_relu_nets(Xt, yt, params["beta"], widths, RESTARTS, ctx.generator(), steps=STEPS, lr=LR)
    if not np.all(np.isfinite(runs.objective)):
        raise Inconclusive("non-finite objective in training")
    wide = runs.widths >= min(params["n"] + 1, max(widths))
    return {"trained": runs.objective, "widths": runs.widths, "run": np.arange(len(runs.objective)),
            "trained_min": float(runs.objective.min()), "best_wide": float(runs.objective[wide].min()),
            "best_per_width": np.array([runs.objective[runs.widths == w].min() for w in widths]),
            "width_values": np.array(widths), "X": X, "y": y}


def rebuilt_objective(pred, obs, params):
    """The non-convex objective, in torch, at the network rebuilt from the prediction's solution."""
    X, y = torch.as_tensor(obs["X"]), torch.as_tensor(obs["y"])
    U, a = torch.as_tensor(np.asarray(pred["U"], dtype=np.float64)), torch.as_tensor(
        np.asarray(pred["alpha"], dtype=np.float64))
    return float(relu_objective(X, y, U, a, params["beta"]))


beta_s, m = sp.symbols("beta m", positive=True)

claim = Claim(
    id="convex_relu.exact",
    title="Two-layer ReLU training equals a convex group-lasso program",
    statement=("For X ∈ R^{n×d}, y ∈ R^n, β > 0, the minimum over widths m ≥ m* (m* ≤ n + 1) of "
               "½‖Σ_j (Xu_j)_+α_j − y‖² + (β/2)Σ_j(‖u_j‖² + α_j²) equals the minimum of "
               "½‖Σ_i D_iX(v_i − w_i) − y‖² + βΣ_i(‖v_i‖ + ‖w_i‖) subject to (2D_i − I)Xv_i ≥ 0, "
               "(2D_i − I)Xw_i ≥ 0 over all hyperplane-arrangement patterns D_i of X."),
    math=sp.Eq(sp.Function("p_nonconvex")(beta_s, m), sp.Function("p_convex")(beta_s)),
    source=Source("Neural Networks are Convex Regularizers: Exact Polynomial-time Convex Optimization "
                  "Formulations for Two-layer Networks", "Mert Pilanci, Tolga Ergen", 2020, "seed 002",
                  note=("Talk on exact convex formulations (seed 002); 'Efficient Global Optimization of "
                        "Two-layer ReLU Networks' (Bai, Gautam, Sojoudi 2023), seeds 001 and 004. Checked for "
                        "n ≤ 8, d ≤ 3 where the pattern set can be enumerated exactly.")),
    assumptions=AssumptionSpace(data_assumptions()),
    derive=derive,
    simulate=simulate,
    checks=[
        close("rebuilt network attains the convex optimum", "optimum", rebuilt_objective, rtol=1e-6, atol=1e-9),
        at_least("no trained network goes below the optimum", "trained_min", "optimum", rtol=1e-6),
        at_most(f"best run of width ≥ n + 1 within {GAP:.0%} of the optimum", "best_wide", "optimum", rtol=GAP),
    ],
    mutants=[
        Mutant("β doubled", lambda p, pred: convex_prediction(p, beta=2 * p["beta"]),
               "the convex program solved with 2β (a factor-2 slip between β/2·Σ(‖u‖²+α²) and β·Σ‖v‖)"),
        Mutant("cone constraints dropped", lambda p, pred: convex_prediction(p, cone=False),
               "the gated-ReLU relaxation: a lower bound, not the optimum"),
        Mutant("half of the patterns", lambda p, pred: convex_prediction(p, keep=lambda P: np.arange(0, P, 2)),
               "every other pattern: an incomplete set gives only an upper bound"),
    ],
    breaks=[
        Break("width 2 (below m*)", lambda p: {**p, "max_width": 2},
              "only networks of width ≤ 2: the equality needs m ≥ m*"),
        Break("patterns of 6 random directions", lambda p: {**p, "sampled_directions": 6},
              "the program over sampled patterns is only an upper bound: the equality needs the exact set"),
    ],
    plots=[
        Plot("trained objectives against the convex optimum", [
            Series("trained runs (all widths, 12 restarts)", "observation.run", "observation.trained",
                   style="points"),
            Series("convex optimum", None, "prediction.optimum", role="theory", style="hline"),
        ], xlabel="run", ylabel="objective", ylog=True),
        Plot("objective vs width", [
            Series("all runs", "observation.widths", "observation.trained", style="points"),
            Series("best run per width", "observation.width_values", "observation.best_per_width", style="line"),
            Series("convex optimum", None, "prediction.optimum", role="theory", style="hline"),
        ], xlabel="width m", ylabel="objective", xlog=True, ylog=True),
    ],
)
