"""GD is linearly stable at a minimum with Hessian H iff η·λ_max(H) ≤ 2.

model = quadratic.  Exact side: H is an integer matrix; sympy computes its
characteristic polynomial and isolates its largest root exactly (CRootOf), so
the threshold 2/λ_max is an algebraic number evaluated to 30 digits.
Simulation: GD on ½ wᵀHw on both sides of the predicted threshold, plus the
threshold found by the simulation alone (a refined grid over η).

model = mlp.  A small tanh network (2 → width → 1, square loss plus a small ridge
1e-3·‖θ‖², 48 noisy samples: minima at finite weights, strict).  Derivation: training
to a certified minimum (GD, then Newton on the exact Hessian until
‖∇L‖ ≤ 1e-11 and H positive definite; otherwise inconclusive) and λ_max of the
exact dense Hessian (Hessian toolkit).  Simulation: GD started at the minimum
plus a small perturbation along the top eigenvector found by Lanczos (an
independent computation), at (1 ± ε)·2/λ_max; ‖θ_t − θ*‖ must shrink below and
grow above.  The threshold located by the simulation alone (bisection over η
of the same experiment, batched with vmap) must match 2/λ_max."""
import functools
import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Inconclusive, Int, Mutant, Plot, Seed, Series,
                         Source, close, converges, diverges)
from theorycheck.sim.descent import (empirical_threshold, gd_batched, gd_quadratic, minimum_by_newton, mlp_mse,
                                     refine_threshold)
from theorycheck.sim.hessian import dense_hessian, lanczos

EPS = 0.05  # probe at (1 ± EPS)·threshold
STEPS = 1500
MLP_STEPS = 200
MLP_N = 48
RIDGE = 1e-3
eta, lam = sp.symbols("eta lambda_max", positive=True)


def hessian(params) -> np.ndarray:
    """A symmetric positive definite integer matrix from the draw's seed."""
    rng = np.random.default_rng(params["data_seed"])
    a = rng.integers(-params["entry"], params["entry"] + 1, size=(params["p"], params["p"]))
    return a.T @ a + params["shift"] * np.eye(params["p"], dtype=np.int64)


@functools.lru_cache(maxsize=64)
def mlp_problem(width: int, data_seed: int, device: str = "cpu"):
    """(loss, θ*, certificate) of a small tanh MLP trained to a certified minimum
    (cached: the derivation and the simulation read the same minimum)."""
    g = torch.Generator(device=device).manual_seed(data_seed % 2**63)
    X = torch.randn(MLP_N, 2, generator=g, dtype=torch.float64, device=device)
    # a target every hidden unit is needed for, so the minimum is non-degenerate
    y = torch.sin(2 * X[:, :1]) + 0.5 * torch.cos(3 * X[:, 1:2])
    y = y + 0.1 * torch.randn(MLP_N, 1, generator=g, dtype=torch.float64, device=device)
    mse, _, init = mlp_mse(X, y, [width])

    def loss(theta):  # a small ridge keeps minima at finite weights and strict
        return mse(theta) + RIDGE * (theta**2).sum(-1)

    theta, cert = minimum_by_newton(loss, init(g))
    return loss, theta, cert


def derive(params):
    if params.get("model", "quadratic") == "mlp":
        loss, theta, cert = mlp_problem(params["width"], params["data_seed"])
        if not cert["certified"]:
            raise Inconclusive(f"no certified minimum: ‖∇L‖ = {cert['grad_norm']:.1e}, "
                               f"λ_min = {cert['lambda_min']:.2e}")
        H = dense_hessian(loss, theta)
        lmax = float(torch.linalg.eigvalsh(H).max())
        return {"lambda_max": lmax, "threshold": 2.0 / lmax, "trace": float(torch.trace(H)),
                "grad_norm": cert["grad_norm"], "lambda_min": cert["lambda_min"]}
    H = sp.Matrix(hessian(params).tolist())
    x = sp.Symbol("x")
    roots = sp.Poly(H.charpoly(x).as_expr(), x).real_roots()
    lmax = max(roots)  # exact algebraic number (CRootOf)
    threshold = 2 / lmax
    return {"lambda_max": sp.N(lmax, 30), "threshold": sp.N(threshold, 30), "trace": float(H.trace())}


def mlp_top_mode(loss, theta_star, v, size, etas, steps, **kw):
    """|⟨θ_t − θ*, v⟩| for GD from θ* + size·v (v the top eigenvector; size a
    number or one per η), every η at once.  The projection isolates the mode the threshold is about: slow modes
    (λ_min ≪ λ_max) excited at second order would otherwise decay for ages."""
    size = torch.as_tensor(size, dtype=v.dtype).reshape(-1, 1)
    path = gd_batched(loss, theta_star + size * v, etas, steps, **kw)
    return ((path - theta_star) @ v).abs()  # (steps + 1, len(etas))


@functools.lru_cache(maxsize=64)
def mlp_empirical_threshold(width, data_seed, momentum, weight_decay, rounds=3, points=12, steps=120):
    """The step where GD started near θ* switches from approaching to leaving it,
    from the simulation alone: a geometric grid over η, refined ``rounds`` times."""
    loss, theta, _ = mlp_problem(width, data_seed)
    v = lanczos(loss, theta, k=1, tol=1e-10, generator=torch.Generator().manual_seed(data_seed % 2**63)).vectors[:, 0]
    def grows(etas):
        d = mlp_top_mode(loss, theta, v, 1e-8, etas, steps, momentum=momentum, weight_decay=weight_decay)[-1]
        return ~(d < 1e-8)
    return refine_threshold(grows, 1e-3, 1e3, rounds, points, theta.dtype)


def simulate_mlp(params, ctx, prediction):
    loss, theta, _ = mlp_problem(params["width"], params["data_seed"])
    v = lanczos(loss, theta, k=1, tol=1e-10, generator=ctx.generator()).vectors[:, 0]
    t = float(prediction["threshold"])
    kw = {"momentum": params.get("momentum", 0.0),
          "weight_decay": params.get("weight_decay_rel", 0.0) * float(prediction["lambda_max"])}
    # above: start smaller, so a ×1e6 growth stays inside the linear regime
    modes = mlp_top_mode(loss, theta, v, [1e-5, 1e-10], torch.tensor([(1 - EPS) * t, (1 + EPS) * t],
                                                                     dtype=theta.dtype), MLP_STEPS, **kw)
    return {"below": modes[:, 0], "above": modes[:, 1],
            "empirical_threshold": mlp_empirical_threshold(params["width"], params["data_seed"],
                                                           kw["momentum"], kw["weight_decay"]),
            "iterations": np.arange(MLP_STEPS + 1)}


def simulate(params, ctx, prediction):
    if params.get("model", "quadratic") == "mlp":
        return simulate_mlp(params, ctx, prediction)
    H = ctx.tensor(hessian(params))
    w0 = torch.randn(params["p"], generator=ctx.generator(), dtype=ctx.dtype, device=ctx.device)
    t = float(prediction["threshold"])
    etas = ctx.tensor([(1 - EPS) * t, (1 + EPS) * t])
    lmax = float(np.linalg.eigvalsh(hessian(params)).max())
    kw = {"momentum": params.get("momentum", 0.0), "weight_decay": params.get("weight_decay_rel", 0.0) * lmax}
    norms = gd_quadratic(H, w0, etas, STEPS, **kw)
    return {"below": norms[:, 0], "above": norms[:, 1],
            "empirical_threshold": empirical_threshold(H, w0, steps=STEPS, **kw),
            "iterations": np.arange(STEPS + 1)}


claim = Claim(
    id="stability.gd_threshold",
    title="Linear stability of gradient descent: η·λ_max(H) ≤ 2",
    statement=("A minimum whose Hessian is H is linearly stable for gradient descent with step size η "
               "if and only if η·λ_max(H) ≤ 2: GD converges to it at (1 − ε)·2/λ_max and is repelled "
               "at (1 + ε)·2/λ_max.  Exact on quadratics; at a certified minimum of a small tanh network "
               "through the Hessian there (perturbation along the top eigenvector)."),
    math=sp.Le(eta * lam, 2),
    source=Source("The Implicit Regularization of Dynamical Stability in Stochastic Gradient Descent",
                  "Lei Wu, Weijie J. Su", 2023, "seed 004",
                  note=("Classical linear-stability condition; edge-of-stability papers in seeds 001 and 003. "
                        "Network case: square loss + 1e-3 ridge (keeps minima strict); minimum certified by "
                        "‖∇L‖ ≤ 1e-12 and a positive definite exact Hessian, else inconclusive.")),
    assumptions=AssumptionSpace([
        Int("p", 1, 5, description="dimension of the parameter"),
        Int("entry", 1, 4, description="H = AᵀA + shift·I with integer A, |A_ij| ≤ entry"),
        Int("shift", 1, 5, description="keeps H positive definite (a strict minimum)"),
        Choice("model", ["quadratic", "mlp"], description="½wᵀHw, or a small tanh MLP at a certified minimum"),
        Int("width", 2, 3, description="mlp: hidden width (unused for the quadratic)"),
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
               lambda p, pred: {**pred, "threshold": 2.0 / pred["trace"]},
               "the trace in place of the top eigenvalue"),
    ],
    breaks=[
        Break("heavy-ball momentum β = 0.5", lambda p: {**p, "momentum": 0.5},
              "momentum moves the threshold to 2(1+β)/λ_max"),
        Break("weight decay 0.3·λ_max", lambda p: {**p, "weight_decay_rel": 0.3},
              "decay adds to the curvature: the threshold drops to 2/(λ_max + λ)"),
    ],
    plots=[
        Plot("distance to the minimum on both sides of 2/λ_max", [
            Series("η = (1 − ε)·2/λ_max", "observation.iterations", "observation.below"),
            Series("η = (1 + ε)·2/λ_max", "observation.iterations", "observation.above"),
        ], xlabel="iteration", ylabel="‖w_t‖ (quadratic) or top-mode distance (mlp)", ylog=True),
        Plot("threshold: theory vs simulation", [
            Series("2/λ_max (sympy)", "prediction.threshold", "prediction.threshold", role="theory", style="line"),
            Series("simulation", "prediction.threshold", "observation.empirical_threshold", style="points"),
        ], xlabel="2/λ_max (exact)", ylabel="threshold found by GD", xlog=True, ylog=True, over="examples"),
    ],
)
