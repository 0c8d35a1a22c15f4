"""The convex program over sampled patterns is an upper bound on the optimum,
monotone as patterns are added, and tight once the optimal patterns are in.

Exact side: the optimum over the exact (Cover-certified) pattern set and the
patterns its solution uses.  Simulation: what practitioners run — patterns of
random Gaussian directions, in nested sets of 1, 2, 4, … directions — each
program solved (certified) and its solution rebuilt as a ReLU network whose
objective is evaluated in torch; then the first two sampled patterns plus the
predicted optimal ones.  Checks: every sampled value ≥ the optimum; the
values never increase as patterns are added; with the optimal patterns the
value equals the optimum; each sampled value is attained by a real network
(which is why it is an upper bound).  Assumption break: dropping the cone
constraints (gated ReLU) — the sampled program is then no longer attained by
a ReLU network and can go below the optimum.
"""
import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Claim, Inconclusive, Mutant, Plot, Series,
                         Source, at_least, close, holds)
from theorycheck.sim.relu_nets import regression_data, relu_objective, data_assumptions
from theorycheck.symbolic.arrangements import Patterns, cover_count, enumerate_patterns, patterns_of
from theorycheck.symbolic.group_lasso import rebuild_network, solve_convex_relu

MONOTONE_TOL = 1e-7  # relative: two certified solves of nested programs may differ by solver accuracy


def exact_solution(params, beta=None, cone=True):
    X, y = regression_data(params["n"], params["d"], params["data_seed"])
    pats = enumerate_patterns(X)
    expected = cover_count(X.shape[0], np.linalg.matrix_rank(X))
    if len(pats) != expected:
        raise Inconclusive(f"enumerated {len(pats)} patterns, Cover's count is {expected}")
    return pats, solve_convex_relu(X, y, params["beta"] if beta is None else beta, pats, cone=cone)


def prediction_from(pats, sol, optimal_masks=None):
    return {"optimum": sol.value, "duality_gap": sol.gap, "patterns": len(pats),
            "optimal_masks": sol.active_patterns().masks if optimal_masks is None else optimal_masks}


def derive(params):
    return prediction_from(*exact_solution(params))


def simulate(params, ctx, prediction):
    X, y = regression_data(params["n"], params["d"], params["data_seed"])
    beta, cone = params["beta"], not params.get("drop_cone", False)
    counts = [1, 2, 4, 8, 16, 32, 64]
    dirs = ctx.numpy_rng().standard_normal((counts[-1], X.shape[1]))  # nested: the first k directions
    values, net_values, found = [], [], []
    Xt, yt = ctx.tensor(X), ctx.tensor(y)
    for k in counts:
        sub = patterns_of(X, dirs[:k])
        sol = solve_convex_relu(X, y, beta, sub, cone=cone)
        net = rebuild_network(sol)
        values.append(sol.value)
        net_values.append(float(relu_objective(Xt, yt, ctx.tensor(net.U), ctx.tensor(net.alpha), beta)))
        found.append(len(sub))
    opt_masks = np.asarray(prediction["optimal_masks"], dtype=np.int8).reshape(-1, X.shape[0])
    optimal = Patterns(opt_masks, np.zeros((len(opt_masks), X.shape[1])))
    with_optimal = patterns_of(X, dirs[:2]).union(optimal)
    return {"directions": np.array(counts), "found": np.array(found), "sampled": np.array(values),
            "network_values": np.array(net_values), "sampled_min": float(min(values)),
            "with_optimal": solve_convex_relu(X, y, beta, with_optimal, cone=cone).value}


def monotone(pred, obs, params):
    v = np.asarray(obs["sampled"], dtype=float)
    return bool(np.all(np.diff(v) <= MONOTONE_TOL * max(1.0, abs(v[0]))))


def unused_patterns(p, pred):
    X, _ = regression_data(p["n"], p["d"], p["data_seed"])
    pats = enumerate_patterns(X)
    used = {tuple(m) for m in np.asarray(pred["optimal_masks"]).tolist()}
    return {**pred, "optimal_masks": np.array([m for m in pats.masks if tuple(m.tolist()) not in used],
                                              dtype=np.int8)}


claim = Claim(
    id="convex_relu.sampled_bound",
    title="Sampled activation patterns give an upper bound, tight once the optimal patterns are in",
    statement=("The convex ReLU program restricted to a subset of hyperplane-arrangement patterns has a value "
               "at least the optimum over all patterns, non-increasing as patterns are added, and equal to the "
               "optimum once the patterns of an optimal solution are included."),
    math=sp.Ge(sp.Function("p_sampled")(sp.Symbol("S")), sp.Symbol("p^*")),
    source=Source("Neural Networks are Convex Regularizers", "Mert Pilanci, Tolga Ergen", 2020, "seed 002",
                  note=("Sampling gates is how practical solvers (e.g. pyscnn) build the program; 'Efficient "
                        "Global Optimization of Two-layer ReLU Networks' (Bai, Gautam, Sojoudi 2023), seeds 001 "
                        "and 004.")),
    assumptions=AssumptionSpace(data_assumptions()),
    derive=derive,
    simulate=simulate,
    checks=[
        at_least("sampled programs bound the optimum from above", "sampled_min", "optimum", rtol=1e-6),
        holds("value non-increasing as patterns are added", monotone),
        close("tight once the optimal patterns are included", "optimum", "with_optimal", rtol=1e-6, atol=1e-9),
        close("each sampled value is attained by a ReLU network",
              lambda pred, obs, p: obs["sampled"], "network_values", rtol=1e-6, atol=1e-9),
    ],
    mutants=[
        Mutant("β doubled", lambda p, pred: prediction_from(*exact_solution(p, beta=2 * p["beta"])),
               "the optimum of the program with 2β"),
        Mutant("cone constraints dropped", lambda p, pred: prediction_from(*exact_solution(p, cone=False)),
               "the gated-ReLU relaxation in place of the optimum"),
        Mutant("unused patterns called optimal", unused_patterns,
               "the patterns the optimal solution leaves at zero, in place of the ones it uses"),
    ],
    breaks=[
        Break("cone constraints dropped in the sampled programs", lambda p: {**p, "drop_cone": True},
              "without (2D_i − I)Xv_i ≥ 0 a sampled program is a relaxation, not a set of ReLU networks"),
    ],
    plots=[
        Plot("sampled programs approach the optimum from above", [
            Series("sampled patterns", "observation.directions", "observation.sampled", style="line"),
            Series("exact optimum", None, "prediction.optimum", role="theory", style="hline"),
        ], xlabel="sampled directions", ylabel="program value", xlog=True),
        Plot("patterns found by sampling", [
            Series("distinct patterns", "observation.directions", "observation.found", style="line"),
            Series("exact count (Cover)", None, "prediction.patterns", role="theory", style="hline"),
        ], xlabel="sampled directions", ylabel="patterns", xlog=True),
    ],
)
