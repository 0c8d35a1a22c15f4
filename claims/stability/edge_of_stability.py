"""Edge of stability (Cohen et al. 2021): full-batch GD on a small tanh MLP
with square loss.  The top Hessian eigenvalue (sharpness) first rises
(progressive sharpening) and then hovers at 2/η instead of exceeding it,
while the loss keeps decreasing non-monotonically.

An EMPIRICAL claim with a stated band.  What we assert, and what held in our
prototypes (η ∈ [0.4, 0.9], width 10–16, 16 samples, 600 steps: 32 runs; and
the 10 quick-profile draws, medians within ±0.05): once
the sharpness has reached 0.95·2/η, its median over the last 40 % of training
lies in [0.85, 1.15]·2/η (observed 0.93–1.05), and the final loss is below the
initial loss.  At η ≥ 0.55 the sharpness at initialisation can already exceed
2/η (catapult, then it comes down to 2/η); the assumption range η ∈ [0.45, 0.7],
width 8–12 keeps to runs that mostly start below 2/η and sharpen, but the
initial sharpness is reported, not checked.  At η ≤ 0.3 many runs do not
reach 2/η within 600 steps (inconclusive).  A run whose sharpness never reaches 0.95·2/η within the
budget is inconclusive (no edge of stability to test), never a pass.
Sharpness: Lanczos on Hessian-vector products, warm-started from the previous
top eigenvector, with its convergence report (unconverged → inconclusive)."""
import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Claim, Float, Inconclusive, Int, Mutant, Plot, Seed, Series,
                         Source, close, holds)
from theorycheck.sim.descent import gd_path, mlp_mse
from theorycheck.sim.hessian import lanczos

BAND = 0.15       # |median late sharpness / (2/η) − 1| ≤ BAND
REACHED = 0.95    # sharpness must reach this fraction of 2/η
LATE = 0.4        # last fraction of training used for the median
N_SAMPLES = 16
eta_s, lam_s = sp.symbols("eta lambda_max", positive=True)


def problem(params, ctx):
    g = torch.Generator(device=ctx.device).manual_seed(params["data_seed"] % 2**63)
    X = torch.randn(N_SAMPLES, 4, generator=g, dtype=ctx.dtype, device=ctx.device)
    y = torch.sin(3 * X[:, :1]) * torch.cos(2 * X[:, 1:2])  # a wiggly target: training must sharpen
    loss, _, init = mlp_mse(X, y, [params["width"]] * 2)
    return loss, init(g)


def derive(params):
    return {"sharpness_limit": 2 / params["eta"]}


def simulate(params, ctx):
    steps = 2000 if ctx.large else 600
    every = 10
    loss, theta0 = problem(params, ctx)
    state = {"v": None, "unconverged": 0}

    def sharpness(theta):
        rep = lanczos(loss, theta, k=1, tol=1e-6, max_iter=60, generator=ctx.generator(), start=state["v"])
        state["v"] = rep.vectors[:, 0]
        state["unconverged"] += not rep.converged
        return float(rep.values[0])

    _, losses, probes = gd_path(loss, theta0, params["eta"], steps, every=every, probe=sharpness,
                                momentum=params.get("momentum", 0.0))
    t = np.array([s for s, _ in probes], dtype=float)
    sh = np.array([v for _, v in probes])
    if state["unconverged"] > len(probes) // 10:
        raise Inconclusive(f"Lanczos unconverged at {state['unconverged']} of {len(probes)} probes")
    if not np.all(np.isfinite(losses)):
        raise Inconclusive("GD diverged (non-finite loss)")
    limit = 2 / params["eta"]
    if sh.max() < REACHED * limit:
        raise Inconclusive(f"sharpness peaked at {sh.max() / limit:.2f}·2/η: no edge of stability reached")
    late = sh[t >= (1 - LATE) * steps]
    return {"steps": t, "sharpness": sh, "median_late": float(np.median(late)),
            "initial_sharpness": float(sh[0]), "loss_first": losses[0], "loss_last": losses[-1],
            "loss_curve": np.array(losses)}


claim = Claim(
    id="stability.edge_of_stability",
    title="Edge of stability: GD's sharpness settles at 2/η",
    statement=("Full-batch GD with step η on a small tanh MLP with square loss: after progressive "
               "sharpening the top Hessian eigenvalue hovers at 2/η — stated band: once it has reached "
               f"{REACHED}·2/η, its median over the last {int(LATE * 100)}% of training lies in "
               f"[{1 - BAND:.2f}, {1 + BAND:.2f}]·2/η — and the loss still decreases overall."),
    math=sp.Eq(lam_s, 2 / eta_s),
    source=Source("Gradient Descent on Neural Networks Typically Occurs at the Edge of Stability",
                  "Jeremy Cohen, Simran Kaur, Yuanzhi Li, J. Zico Kolter, Ameet Talwalkar", 2021, "seed 001",
                  note=("Empirical, band chosen from prototypes (observed 0.93–1.05·2/η); cited by the "
                        "large-step papers in seeds 001 and 003.  Inconclusive when no sharpening to 2/η "
                        "happens within the step budget.")),
    assumptions=AssumptionSpace([
        Float("eta", 0.45, 0.7, description="step size (large enough to reach 2/η within the budget)"),
        Int("width", 8, 12, description="two hidden tanh layers of this width"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    checks=[
        close("late median sharpness in the band around 2/η", "sharpness_limit", "median_late", rtol=BAND, atol=0),
        holds("loss still decreases overall", lambda pred, obs, params: obs["loss_last"] < obs["loss_first"]),
    ],
    mutants=[
        Mutant("settles at 1/η", lambda p, pred: {**pred, "sharpness_limit": 1 / p["eta"]},
               "the classical threshold with a wrong constant"),
        Mutant("settles at 4/η", lambda p, pred: {**pred, "sharpness_limit": 4 / p["eta"]},
               "sharpness overshoots the stability threshold"),
    ],
    breaks=[
        Break("heavy-ball momentum β = 0.5", lambda p: {**p, "momentum": 0.5},
              "momentum moves the stability threshold to 2(1 + β)/η"),
    ],
    plots=[
        Plot("sharpness along training", [
            Series("sharpness λ_max(H)", "observation.steps", "observation.sharpness"),
            Series("2/η", y="prediction.sharpness_limit", role="theory", style="hline"),
        ], xlabel="GD step", ylabel="λ_max(∇²L)"),
        Plot("training loss", [Series("loss", lambda pr, ob, pa: np.arange(len(ob["loss_curve"])),
                                      "observation.loss_curve")],
             xlabel="GD step", ylabel="loss", ylog=True),
    ],
)
