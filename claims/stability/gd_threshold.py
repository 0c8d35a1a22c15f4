"""GD is linearly stable at a minimum with Hessian H iff η·λ_max(H) ≤ 2.

Exact side: H is an integer matrix; sympy computes its characteristic
polynomial and isolates its largest root exactly (CRootOf), so the threshold
2/λ_max is an algebraic number evaluated to 30 digits.  Simulation: GD on
½ wᵀHw on both sides of the predicted threshold, plus the threshold found by
the simulation alone (a refined grid over η)."""
import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Claim, Float, Int, Mutant, Plot, Seed, Series, Source,
                         close, converges, diverges)
from theorycheck.sim.descent import empirical_threshold, gd_quadratic

EPS = 0.05  # probe at (1 ± EPS)·threshold
STEPS = 1500
eta, lam = sp.symbols("eta lambda_max", positive=True)


def hessian(params) -> np.ndarray:
    """A symmetric positive definite integer matrix from the draw's seed."""
    rng = np.random.default_rng(params["data_seed"])
    a = rng.integers(-params["entry"], params["entry"] + 1, size=(params["p"], params["p"]))
    return a.T @ a + params["shift"] * np.eye(params["p"], dtype=np.int64)


def derive(params):
    H = sp.Matrix(hessian(params).tolist())
    x = sp.Symbol("x")
    roots = sp.Poly(H.charpoly(x).as_expr(), x).real_roots()
    lmax = max(roots)  # exact algebraic number (CRootOf)
    threshold = 2 / lmax
    return {"lambda_max": sp.N(lmax, 30), "threshold": sp.N(threshold, 30)}


def simulate(params, ctx, prediction):
    H = ctx.tensor(hessian(params))
    w0 = torch.randn(params["p"], generator=ctx.generator(), dtype=ctx.dtype, device=ctx.device)
    t = float(prediction["threshold"])
    etas = ctx.tensor([(1 - EPS) * t, (1 + EPS) * t])
    kw = {"momentum": params.get("momentum", 0.0), "weight_decay": params.get("weight_decay", 0.0)}
    norms = gd_quadratic(H, w0, etas, STEPS, **kw)
    return {"below": norms[:, 0], "above": norms[:, 1],
            "empirical_threshold": empirical_threshold(H, w0, steps=STEPS, **kw),
            "iterations": np.arange(STEPS + 1)}


claim = Claim(
    id="stability.gd_threshold",
    title="Linear stability of gradient descent: η·λ_max(H) ≤ 2",
    statement=("A minimum whose Hessian is H is linearly stable for gradient descent with step size η "
               "if and only if η·λ_max(H) ≤ 2: GD converges to it at (1 − ε)·2/λ_max and is repelled "
               "at (1 + ε)·2/λ_max."),
    math=sp.Le(eta * lam, 2),
    source=Source("The Implicit Regularization of Dynamical Stability in Stochastic Gradient Descent",
                  "Lei Wu, Weijie J. Su", 2023, "seed 004",
                  note="Classical linear-stability condition; edge-of-stability papers in seeds 001 and 003."),
    assumptions=AssumptionSpace([
        Int("p", 1, 5, description="dimension of the parameter"),
        Int("entry", 1, 4, description="H = AᵀA + shift·I with integer A, |A_ij| ≤ entry"),
        Int("shift", 1, 5, description="keeps H positive definite (a strict minimum)"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    checks=[
        converges("converges below 2/λ_max", "below", rel_tol=1e-6),
        diverges("diverges above 2/λ_max", "above", growth=1e6),
        close("threshold located by simulation", "threshold", "empirical_threshold", rtol=0.01, atol=0),
    ],
    mutants=[
        Mutant("threshold 1/λ_max", lambda p, pred: {**pred, "threshold": pred["threshold"] / 2},
               "a wrong constant: η·λ_max ≤ 1"),
        Mutant("threshold 4/λ_max", lambda p, pred: {**pred, "threshold": pred["threshold"] * 2},
               "a wrong constant: η·λ_max ≤ 4"),
        Mutant("threshold 2/tr(H)",
               lambda p, pred: {**pred, "threshold": 2.0 / float(np.trace(hessian(p)))},
               "the trace in place of the top eigenvalue"),
    ],
    breaks=[
        Break("heavy-ball momentum β = 0.5", lambda p: {**p, "momentum": 0.5},
              "momentum moves the threshold to 2(1+β)/λ_max"),
        Break("weight decay 0.3·λ_max",
              lambda p: {**p, "weight_decay": 0.3 * float(np.linalg.eigvalsh(hessian(p)).max())},
              "decay adds to the curvature: the threshold drops to 2/(λ_max + λ)"),
    ],
    plots=[
        Plot("‖w_t‖ on both sides of 2/λ_max", [
            Series("η = (1 − ε)·2/λ_max", "observation.iterations", "observation.below"),
            Series("η = (1 + ε)·2/λ_max", "observation.iterations", "observation.above"),
        ], xlabel="iteration", ylabel="‖w_t‖", ylog=True),
        Plot("threshold: theory vs simulation", [
            Series("2/λ_max (sympy)", "prediction.threshold", "prediction.threshold", role="theory", style="line"),
            Series("simulation", "prediction.threshold", "observation.empirical_threshold", style="points"),
        ], xlabel="2/λ_max (exact)", ylabel="threshold found by GD", xlog=True, ylog=True, over="examples"),
    ],
)
