"""GD is linearly stable at a minimum with Hessian H iff η·λ_max(H) ≤ 2.

model = quadratic.  Exact side: H = AᵀA + shift·I is an integer matrix; its
characteristic polynomial is computed exactly (sympy DomainMatrix over ZZ)
and λ_max is certified by exact Sturm root counting: exactly the floating
estimate's 1e-12 neighbourhood holds a root and none lies above it, so the
threshold 2/λ_max is known to 1e-12.  Simulation: GD on ½wᵀHw from a random
start, 2^30 steps for every trial step (exact iterates by binary powering of
the iteration matrix, batched over draws and trial steps); the step where GD
switches from approaching the minimum to leaving it is located from the
simulation alone (a geometric grid of 16 trial steps on [1e-3, 1e2], then ten
rounds of three inner steps: a bracket of relative width ~1e-6), with no eigenvalue computed.

model = mlp.  A tanh network (2 → width → 1, square loss) at a constructed
global minimum: the labels are the outputs of a teacher network of the same
shape on 24 random inputs, so the teacher's weights θ* have zero loss and
zero gradient (no training, exact).  Derivation: the exact dense Hessian at
θ* (autograd) and its top eigenvalue (LAPACK).  Simulation: GD on the network
itself, started at θ* + 1e-7·v (v the top eigenvector of the simulation's own
Hessian, batched over draws), 16 GD steps per trial step (gradient by
backpropagation written out, checked against autograd in the tests); the step where the
top-mode distance |⟨θ_t − θ*, v⟩| switches from shrinking to growing is
bracketed like the quadratic one.

Checks (both sides of the threshold, through the simulation): GD converges
at the largest stable step found, η_lo ≤ 2/λ_max, and diverges at the
smallest unstable one, η_hi ≥ 2/λ_max (relative slack 1e-5: the bracket
(~1e-6 wide) and the network's nonlinearity at 1e-7).  Together they pin 2/λ_max to
the bracket: a threshold 0.01 % off is refuted.

Sizes: the dimensions are drawn parameters that the exact side reads, so
``ctx.large`` does not change them (the full profile draws more of them)."""
import functools
import math

import numpy as np
import sympy as sp
import torch
from sympy.polys.matrices import DomainMatrix

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Int, Mutant, Plot, Seed, Series,
                         Source, at_least, at_most)
from theorycheck.sim.descent import (bracket_threshold, gd_batched_draws, mlp_mse_batched, quadratic_grows,
                                     tanh_net_grad)

LOG2_STEPS = 30        # quadratic: 2^30 GD steps per trial step
MLP_STEPS = 16         # network: GD steps per trial step
MLP_SIZE = 1e-7        # network: size of the perturbation along the top eigenvector
MLP_N, MLP_D = 24, 2   # network: samples and input dimension
ETA_RANGE = (1e-3, 1e2)
POINTS, ROUNDS, INTERIOR = 16, 11, 3   # a grid of 16 trial steps, then ten rounds of 3 inner ones
SLACK = 1e-5           # relative slack of the bracket checks
TRACE_STEPS = (300, 60)  # steps of the plotted trajectories (quadratic, mlp)
EPS = 0.05             # plotted trajectories at (1 ± EPS)·(the simulation's own threshold)
eta, lam = sp.symbols("eta lambda_max", positive=True)


def hessian(params) -> np.ndarray:
    """A symmetric positive definite integer matrix from the draw's seed."""
    rng = np.random.default_rng(params["data_seed"])
    a = rng.integers(-params["entry"], params["entry"] + 1, size=(params["p"], params["p"]))
    return a.T @ a + params["shift"] * np.eye(params["p"], dtype=np.int64)


def certified_lambda_max(H: np.ndarray) -> tuple[float, float]:
    """λ_max of an integer symmetric matrix to 1e-12, certified by exact root counting
    on its integer characteristic polynomial.  Returns (λ_max, certified relative width)."""
    p = H.shape[0]
    dM = DomainMatrix([[sp.ZZ(int(v)) for v in row] for row in H.tolist()], (p, p), sp.ZZ)
    x = sp.Symbol("x")
    P = sp.Poly([int(c) for c in dM.charpoly()], x, domain=sp.ZZ)
    est = float(np.linalg.eigvalsh(H.astype(float)).max())
    width = 1e-12
    lo, hi = sp.Rational(est * (1 - width)), sp.Rational(est * (1 + width))
    if P.count_roots(lo, hi) < 1 or P.count_roots(hi, None) != 0:
        raise ArithmeticError("the floating λ_max is not certified by exact root counting")
    return est, width


@functools.lru_cache(maxsize=512)
def teacher(width: int, data_seed: int):
    """(X, y, θ*) of a teacher–student problem: y = f(X; θ*) exactly, so θ* is a global minimum."""
    rng = np.random.default_rng(data_seed)
    X = rng.normal(size=(MLP_N, MLP_D))
    parts = []
    for o, i in [(width, MLP_D), (1, width)]:
        parts += [rng.normal(size=o * i) / math.sqrt(i), rng.normal(size=o) * 0.5]
    theta = np.concatenate(parts)
    y = _outputs(torch.as_tensor(X)[None], torch.as_tensor(theta)[None, None], width)[0, 0]
    return X, y.numpy(), theta


def _outputs(X, theta, width):
    """Network outputs for theta (B, E, P) on X (B, n, d): (B, E, n, 1)."""
    B, E = theta.shape[:2]
    k = width * MLP_D
    W1, b1 = theta[..., :k].reshape(B, E, width, MLP_D), theta[..., k:k + width]
    W2, b2 = theta[..., k + width:k + 2 * width].reshape(B, E, 1, width), theta[..., -1:]
    h = 2 * torch.sigmoid(2 * (X[:, None] @ W1.transpose(-1, -2) + b1[..., None, :])) - 1
    return h @ W2.transpose(-1, -2) + b2[..., None, :]


def network_hessians(items, dtype=torch.float64, device="cpu"):
    """Losses and exact dense Hessians at θ* for draws of one width: (loss, θ* (B, P), H (B, P, P), X, y)."""
    width = items[0]["width"]
    X = torch.stack([torch.as_tensor(teacher(width, p["data_seed"])[0]) for p in items]).to(device, dtype)
    y = torch.stack([torch.as_tensor(teacher(width, p["data_seed"])[1]) for p in items]).to(device, dtype)
    theta = torch.stack([torch.as_tensor(teacher(width, p["data_seed"])[2]) for p in items]).to(device, dtype)
    loss, P = mlp_mse_batched(X, y, [width])
    th = theta[:, None].clone().requires_grad_(True)                    # (B, 1, P)
    (g,) = torch.autograd.grad(loss(th).sum(), th, create_graph=True)
    eye = torch.eye(P, dtype=dtype, device=device)
    # every draw's Hessian at once: one vmapped backward pass over the P unit vectors
    V = eye[:, None, None, :].expand(P, len(items), 1, P)
    H = torch.autograd.grad(g, th, V, is_grads_batched=True)[0][:, :, 0].permute(1, 0, 2)
    return loss, theta, (H + H.transpose(1, 2)) / 2, X, y


def derive(params):
    if params["model"] == "mlp":
        _, _, H, _, _ = network_hessians([params])
        w = torch.linalg.eigvalsh(H[0])
        lmax, lmin = float(w[-1]), float(w[0])
        return {"lambda_max": lmax, "threshold": 2.0 / lmax, "trace": float(torch.trace(H[0])),
                "lambda_min": lmin}
    H = hessian(params)
    lmax, _ = certified_lambda_max(H)
    w = np.linalg.eigvalsh(H.astype(float))
    return {"lambda_max": lmax, "threshold": 2.0 / lmax, "trace": float(np.trace(H)), "lambda_min": float(w[0])}


def _simulate_quadratics(items, gens, ctx):
    H = ctx.tensor(np.stack([hessian(p) for p in items]))
    w0 = torch.stack([torch.randn(items[0]["p"], generator=g, dtype=ctx.dtype, device=ctx.device) for g in gens])
    beta = ctx.tensor([p.get("momentum", 0.0) for p in items])
    wd = ctx.tensor([p.get("weight_decay", 0.0) for p in items])
    stable, unstable = bracket_threshold(lambda e: quadratic_grows(H, w0, e, LOG2_STEPS, beta, wd), *ETA_RANGE,
                                         len(items), POINTS, ROUNDS, ctx.dtype, ctx.device, interior=INTERIOR)
    mid = torch.sqrt(stable * unstable)
    etas = torch.stack([(1 - EPS) * mid, (1 + EPS) * mid], 1)            # (B, 2)
    w = w0[:, None].expand(-1, 2, -1).clone()
    prev = w.clone()
    Hd = H + wd[:, None, None] * torch.eye(H.shape[1], dtype=ctx.dtype, device=ctx.device)
    norms = [w.norm(dim=-1)]
    for _ in range(TRACE_STEPS[0]):
        w, prev = w - etas[..., None] * (w @ Hd.transpose(1, 2)) + beta[:, None, None] * (w - prev), w
        norms.append(w.norm(dim=-1))
    return stable, unstable, torch.stack(norms, 1)                       # (B,), (B,), (B, steps + 1, 2)


def _simulate_networks(items, ctx):
    loss, theta, H, X, y = network_hessians(items, ctx.dtype, ctx.device)
    grad = tanh_net_grad(X, y, items[0]["width"])
    v = torch.linalg.eigh(H)[1][..., -1]                                 # (B, P): the direction of the kick
    beta = ctx.tensor([p.get("momentum", 0.0) for p in items])

    def distances(etas, steps, record=False):
        start = theta[:, None] + MLP_SIZE * v[:, None]
        proj = (lambda th: ((th - theta[:, None]) * v[:, None]).sum(-1).abs())
        got = gd_batched_draws(loss, start.expand(-1, etas.shape[1], -1), etas, steps, momentum=beta,
                               record=proj if record else None, grad=grad)
        return got if record else proj(got)

    stable, unstable = bracket_threshold(lambda e: ~(distances(e, MLP_STEPS) < MLP_SIZE), *ETA_RANGE, len(items),
                                         POINTS, ROUNDS, ctx.dtype, ctx.device, interior=INTERIOR)
    mid = torch.sqrt(stable * unstable)
    trace = distances(torch.stack([(1 - EPS) * mid, (1 + EPS) * mid], 1), TRACE_STEPS[1], record=True)
    return stable, unstable, trace.permute(1, 0, 2)                      # (B, steps + 1, 2)


def simulate_batch(params_list, ctx):
    gens = ctx.generators()
    out = [None] * len(params_list)
    groups: dict = {}
    for i, p in enumerate(params_list):
        key = ("mlp", p["width"]) if p["model"] == "mlp" else ("quadratic", p["p"])
        groups.setdefault(key, []).append(i)
    for (model, _), idx in groups.items():
        items = [params_list[i] for i in idx]
        if model == "mlp":
            stable, unstable, trace = _simulate_networks(items, ctx)
        else:
            stable, unstable, trace = _simulate_quadratics(items, [gens[i] for i in idx], ctx)
        for j, i in enumerate(idx):
            out[i] = {"eta_stable": float(stable[j]), "eta_unstable": float(unstable[j]),
                      "below": trace[j, :, 0].cpu().numpy(), "above": trace[j, :, 1].cpu().numpy(),
                      "iterations": np.arange(trace.shape[1])}
    return out


def simulate(params, ctx):
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


claim = Claim(
    id="stability.gd_threshold",
    title="Linear stability of gradient descent: η·λ_max(H) ≤ 2",
    statement=("A minimum whose Hessian is H is linearly stable for gradient descent with step size η "
               "if and only if η·λ_max(H) ≤ 2: GD started near it approaches it for every η < 2/λ_max and "
               "leaves it for every η > 2/λ_max.  Exact on quadratics ½wᵀHw; for a tanh network at a global "
               "minimum through the Hessian there (a small kick along the top eigenvector)."),
    math=sp.Le(eta * lam, 2),
    source=Source("Classical linear stability of fixed-point iterations; for GD vs SGD on neural networks: "
                  "How SGD Selects the Global Minima in Over-parameterized Learning: A Dynamical Stability "
                  "Perspective", "Lei Wu, Chao Ma, Weinan E", 2018, "seed 004",
                  note=("Seed 004 (Wu & Su 2023) cites Wu, Ma & E 2018 for dynamical stability and contrasts "
                        "GD's λ_max condition with SGD's trace condition.  Network case: a teacher–student "
                        "minimum (zero loss and gradient, no training); its Hessian is the Gauss–Newton "
                        "matrix there.")),
    assumptions=AssumptionSpace([
        Choice("model", ["quadratic", "mlp"], description="½wᵀHw, or a tanh network at a teacher's minimum"),
        Int("p", 1, 5, description="quadratic: dimension of w"),
        Int("entry", 1, 4, description="quadratic: H = AᵀA + shift·I with integer A, |A_ij| ≤ entry"),
        Int("shift", 1, 5, description="quadratic: keeps H positive definite (a strict minimum)"),
        Int("width", 2, 4, description="mlp: hidden width (2 → width → 1, 4·width + 1 parameters)"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        at_most("GD converges at the largest stable step found: η_lo ≤ 2/λ_max", "eta_stable", "threshold",
                rtol=SLACK),
        at_least("GD diverges at the smallest unstable step found: η_hi ≥ 2/λ_max", "eta_unstable", "threshold",
                 rtol=SLACK),
    ],
    mutants=[
        Mutant("threshold 1/λ_max", lambda p, pred: {**pred, "threshold": pred["threshold"] / 2},
               "a wrong constant: η·λ_max ≤ 1"),
        Mutant("threshold 2/tr(H)", lambda p, pred: {**pred, "threshold": 2.0 / pred["trace"]},
               "SGD's trace condition in place of GD's top eigenvalue (equal at p = 1; refuted where p ≥ 2)"),
        Mutant("threshold 2/λ_min", lambda p, pred: {**pred, "threshold": 2.0 / pred["lambda_min"]},
               "the wrong end of the spectrum (equal at p = 1)"),
    ],
    breaks=[
        Break("heavy-ball momentum β = 0.5", lambda p: {**p, "momentum": 0.5},
              "momentum moves the threshold to 2(1 + β)/λ_max",
              expect=["GD converges at the largest stable step found: η_lo ≤ 2/λ_max"]),
        Break("weight decay λ = 0.5 (quadratic)",
              lambda p: {**p, "weight_decay": 0.5} if p["model"] == "quadratic" else None,
              "decay adds λ to every curvature: the threshold drops to 2/(λ_max + λ)",
              expect=["GD diverges at the smallest unstable step found: η_hi ≥ 2/λ_max"]),
    ],
    regimes={"quadratic, p ≥ 2": "model == 'quadratic' and p >= 2", "network": "model == 'mlp'"},
    resolution=0.001,
    plots=[
        Plot("distance to the minimum on both sides of the simulated threshold", [
            Series("η = (1 − ε)·η_sim", "observation.iterations", "observation.below"),
            Series("η = (1 + ε)·η_sim", "observation.iterations", "observation.above"),
        ], xlabel="iteration", ylabel="‖w_t‖ (quadratic) or top-mode distance (mlp)", ylog=True),
        Plot("threshold: theory vs simulation", [
            Series("2/λ_max (exact)", "prediction.threshold", "prediction.threshold", role="theory", style="line"),
            Series("simulation (bracket midpoint)", "prediction.threshold",
                   lambda pr, ob, pa: math.sqrt(ob["eta_stable"] * ob["eta_unstable"]), style="points"),
        ], xlabel="2/λ_max (exact)", ylabel="threshold found by GD", xlog=True, ylog=True, over="examples"),
    ],
)
