"""Some optimal two-layer ReLU network has at most n + 1 active neurons.

Exact side: the certified convex optimum (exact pattern set); its solution
(an interior-point solution, often with more non-zero groups than n + 1) is
pruned by the Carathéodory LP of ``group_lasso.sparsify``: keep each neuron's
direction, re-weight by a basic solution of min Σ t_j s.t. the fit is
unchanged — at most rank(X) ≤ n neurons, same objective.  Simulation: the
extracted network's objective and active-neuron count, in torch; Adam started
from the extracted network (perturbed, at exactly the predicted width, its
largest neurons kept) stays within 0.2 % of the optimum; and no network of that
width trained from random starts goes below the optimum.  Random starts at
width n + 1 do get stuck (2 % above the optimum at β = 0.05 with 32
restarts), so reaching the optimum from random starts is checked only at
larger widths, in ``exact``.  Assumption break: output weights held
non-negative (the theorem needs both signs of α).
"""
import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Claim, Inconclusive, Mutant, Plot, Series,
                         Source, at_least, at_most, close)
from theorycheck.sim.relu_nets import regression_data, relu_objective, train_relu_nets, data_assumptions
from theorycheck.symbolic.arrangements import cover_count, enumerate_patterns
from theorycheck.symbolic.group_lasso import rebuild_network, solve_convex_relu, sparsify

RESTARTS = 16      # random starts: only the one-sided check (random starts at width n + 1 can get stuck)
STEPS = 2000
LR = 0.05
FINE_RESTARTS = 4  # perturbed copies of the extracted network (noise 1e-3)
FINE_STEPS = 500
FINE_LR = 3e-4
FINE_RTOL = 2e-3


def derive(params, beta=None):
    n = params["n"]
    X, y = regression_data(n, params["d"], params["data_seed"])
    pats = enumerate_patterns(X)
    expected = cover_count(n, np.linalg.matrix_rank(X))
    if len(pats) != expected:
        raise Inconclusive(f"enumerated {len(pats)} patterns, Cover's count is {expected}")
    sol = solve_convex_relu(X, y, params["beta"] if beta is None else beta, pats)
    sparse = sparsify(sol, X)
    return {"optimum": sol.value, "duality_gap": sol.gap, "max_neurons": n + 1,
            "solver_neurons": rebuild_network(sol).width, "U": sparse.U, "alpha": sparse.alpha}


def simulate(params, ctx, prediction):
    X, y = regression_data(params["n"], params["d"], params["data_seed"])
    Xt, yt = ctx.tensor(X), ctx.tensor(y)
    width = int(prediction["max_neurons"])
    U = ctx.tensor(np.asarray(prediction["U"], dtype=np.float64)).reshape(-1, params["d"])
    a = ctx.tensor(np.asarray(prediction["alpha"], dtype=np.float64)).reshape(-1)
    contribution = a.abs() * torch.relu(U @ Xt.T).norm(dim=1)  # what each neuron adds to the fit
    order = torch.argsort(contribution, descending=True)  # a narrower width keeps the largest neurons
    positive = params.get("positive_output", False)
    # (i) from the extracted network, at the predicted width: an optimum stays put
    local = train_relu_nets(Xt, yt, params["beta"], [width], FINE_RESTARTS, ctx.generator(), steps=FINE_STEPS,
                            lr=FINE_LR, start=(U[order], a[order]), positive_output=positive)
    # (ii) from random starts at the predicted width: nothing goes below the optimum
    runs = train_relu_nets(Xt, yt, params["beta"], [width], RESTARTS, ctx.generator(), steps=STEPS, lr=LR,
                           positive_output=positive)
    trained = np.concatenate([local.objective, runs.objective])
    if not np.all(np.isfinite(trained)):
        raise Inconclusive("non-finite objective in training")
    return {"extracted_objective": float(relu_objective(Xt, yt, U, a, params["beta"])),
            "extracted_neurons": int((contribution > 0).sum()),
            "from_extracted": float(local.objective.min()),
            "trained": runs.objective, "run": np.arange(len(runs.objective)),
            "best_random": float(runs.objective.min()),
            "trained_min": float(trained.min()), "width": width}


claim = Claim(
    id="convex_relu.sparsity",
    title="An optimal two-layer ReLU network needs at most n + 1 neurons",
    statement=("For the weight-decay-regularised squared loss of a two-layer ReLU network on n samples, some "
               "global minimiser has at most n + 1 active neurons; it can be extracted from any convex "
               "solution, and networks of width n + 1 attain the optimum."),
    math=sp.Le(sp.Symbol("m^*"), sp.Symbol("n") + 1),
    source=Source("Neural Networks are Convex Regularizers", "Mert Pilanci, Tolga Ergen", 2020, "seed 002",
                  note=("The extraction (an LP with n equality constraints) gives at most rank(X) ≤ n neurons, "
                        "inside the stated n + 1. 'Efficient Global Optimization of Two-layer ReLU Networks' "
                        "(Bai, Gautam, Sojoudi 2023), seeds 001 and 004.")),
    assumptions=AssumptionSpace(data_assumptions()),
    derive=derive,
    simulate=simulate,
    checks=[
        at_most("extracted network has at most the predicted number of neurons", "extracted_neurons",
                "max_neurons"),
        close("extracted network attains the optimum", "optimum", "extracted_objective", rtol=1e-6, atol=1e-9),
        at_most("trained from the extracted network at the predicted width, stays at the optimum",
                "from_extracted", "optimum", rtol=FINE_RTOL),
        at_least("no trained network goes below the optimum", "trained_min", "optimum", rtol=1e-6),
    ],
    mutants=[
        Mutant("one neuron suffices", lambda p, pred: {**pred, "max_neurons": 1}, "m* ≤ 1"),
        Mutant("d neurons suffice", lambda p, pred: {**pred, "max_neurons": p["d"]}, "m* ≤ d (input dimension)"),
        Mutant("β halved", lambda p, pred: derive(p, beta=p["beta"] / 2),
               "the optimum and extracted network of the program with β/2"),
    ],
    breaks=[
        Break("output weights held non-negative", lambda p: {**p, "positive_output": True},
              "α ≥ 0: the network class loses the negative neurons (w_i) of the convex program"),
    ],
    plots=[
        Plot("width-(n + 1) runs against the optimum", [
            Series("random starts", "observation.run", "observation.trained", style="points"),
            Series("convex optimum", None, "prediction.optimum", role="theory", style="hline"),
        ], xlabel="run", ylabel="objective"),
        Plot("neurons: solver's solution, extracted, bound", [
            Series("solver's solution", "params.n", "prediction.solver_neurons", style="points"),
            Series("extracted", "params.n", "observation.extracted_neurons", style="points"),
            Series("n + 1", "params.n", "prediction.max_neurons", role="theory", style="line"),
        ], xlabel="n", ylabel="active neurons", over="examples"),
    ],
)
