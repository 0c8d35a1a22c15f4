"""Chen, Liu, Liang & Liu: Lion with decoupled weight decay λ solves min f(x) s.t. ‖x‖∞ ≤ 1/λ.

Lion: c = β1 m + (1 − β1)∇f(x);  x ← x − η(sign(c) + λx);  m ← β2 m + (1 − β2)∇f(x).

Exact side.  (1) The constrained minimiser of a strongly convex quadratic
f(x) = ½(x − a)ᵀH(x − a): cvxpy (status optimal; one compiled parametrised problem per
dimension), polished by active-set solves and certified by its KKT conditions (projected-gradient
residual ≤ 1e-9, free coordinates strictly inside, outward gradient on active ones).  (2) Entering the box: with ηλ ≤ 1,
|x_i| − 1/λ ≤ (1 − ηλ)(|x_i| − 1/λ)_+ every step (|sign(c)| ≤ 1), so the excess
(λ‖x_t‖∞ − 1)_+ is bounded by Π_s(1 − η_sλ)·(λ‖x_0‖∞ − 1)_+, computed exactly from
the schedule and x_0.

Simulation: Lion in torch, every draw in one batched program (dimensions zero-padded: a
zero gradient has sign 0, padded coordinates stay 0).  Step size: constant η = 0.05/λ for
300 steps (phase 1: reach the box), then geometric decay to
1e-5/λ over 1200 steps
(phase 2: a sign method with a constant step only reaches an O(η) neighbourhood).
All comparisons in the scaled coordinates λx (the box is [−1, 1]^d).
"""
import functools

import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Claim, Float, Inconclusive, Int, Mutant, Plot, Seed, Series, Source,
                         at_most, close)
from theorycheck.symbolic.convex import solve

PHASE1, PHASE2, ETA0, ETA_END = 300, 1200, 0.05, 1e-5
MARGIN = 0.02     # strict complementarity required of a draw (else inconclusive)   # η in units of 1/λ
X0 = 2.0                                                 # start at λ|x_0,i| = 2, outside the box


def problem(p):
    """H (condition number ``cond``), the unconstrained minimiser a (max |a_i| = a_scale/λ) and x_0."""
    rng = np.random.default_rng(p["data_seed"])
    d = p["d"]
    Q = np.linalg.qr(rng.normal(size=(d, d)))[0]
    H = Q @ np.diag(np.geomspace(1.0, p["cond"], d)) @ Q.T
    a = rng.uniform(-1, 1, d)
    a *= p["a_scale"] / np.abs(a).max() / p["lam"]
    x0 = X0 / p["lam"] * np.where(rng.random(d) < 0.75, np.sign(a), -np.sign(a))
    return H, a, x0


def schedule(p):
    """η_t/λ⁻¹ … the step sizes (in units of x) of every iteration."""
    decay = ETA0 * (ETA_END / ETA0) ** (np.arange(PHASE2) / (PHASE2 - 1))
    return np.concatenate([np.full(PHASE1, ETA0), decay]) / p["lam"]


@functools.lru_cache(maxsize=16)
def _cvx_problem(d):
    """A parametrised (DPP) cvxpy problem per dimension: compiled once, re-solved per draw."""
    import cvxpy as cp

    x, L, La, r = cp.Variable(d), cp.Parameter((d, d)), cp.Parameter(d), cp.Parameter(nonneg=True)
    return cp.Problem(cp.Minimize(0.5 * cp.sum_squares(L @ x - La)), [x <= r, x >= -r]), x, L, La, r


def polish(H, a, radius, x):
    """Exact minimiser from an approximate one: active-set solves until the KKT conditions hold
    (projected-gradient residual ≤ 1e-9·radius); Inconclusive when no certificate is reached."""
    active = np.abs(x) >= radius * (1 - 1e-6)
    side = np.sign(x)
    for _ in range(2 * len(a) + 2):
        y = np.where(active, side * radius, 0.0)
        free = ~active
        if free.any():  # the free block solves H_ff (y_f − a_f) = −H_fa (y_a − a_a)
            rhs = -H[np.ix_(free, active)] @ (y[active] - a[active])
            y[free] = a[free] + np.linalg.solve(H[np.ix_(free, free)], rhs)
        g = H @ (y - a)
        out = free & (np.abs(y) > radius)                        # left the box: make it active
        wrong = active & (side * g > 0)                           # gradient points inward: release it
        if not out.any() and not wrong.any():
            kkt = np.abs(y - np.clip(y - g, -radius, radius)).max() / radius
            if kkt <= 1e-9:
                return y, float(kkt)
            break
        side = np.where(out, np.sign(y), side)
        active = (active | out) & ~wrong
    raise Inconclusive("no KKT certificate for the box minimiser")


def box_minimiser(H, a, radius):
    """argmin ½(x − a)ᵀH(x − a) s.t. ‖x‖∞ ≤ radius: cvxpy (status optimal), polished and KKT-certified."""
    problem, x, L, La, r = _cvx_problem(len(a))
    L.value = np.linalg.cholesky(H).T
    La.value, r.value = L.value @ a, radius
    solve(problem, solver="CLARABEL")
    return polish(H, a, radius, np.asarray(x.value, dtype=float))


def box_minimiser_fast(H, a, radius):
    """The same minimiser without cvxpy, for the mutants' wrong radii: active-set solves from clip(a),
    else L-BFGS-B, then the same KKT certificate."""
    from scipy.optimize import minimize

    try:
        return polish(H, a, radius, np.clip(a, -radius, radius))
    except Inconclusive:
        pass
    res = minimize(lambda x: (0.5 * (x - a) @ H @ (x - a), H @ (x - a)), np.clip(a, -radius, radius), jac=True,
                   method="L-BFGS-B", bounds=[(-radius, radius)] * len(a), options={"ftol": 1e-15, "gtol": 1e-12})
    return polish(H, a, radius, res.x)


def complementarity(H, a, x, radius):
    """min over coordinates of (distance of a free one to the box edge, |∂f| of an active one), scaled."""
    g = H @ (x - a)
    active = np.abs(x) >= radius * (1 - 1e-9)
    gap = np.where(active, np.abs(g) / max(np.abs(H @ a).max(), 1e-300), 1 - np.abs(x) / radius)
    return float(gap.min())


def derive(params, radius_factor=1.0):
    H, a, x0 = problem(params)
    lam = params["lam"]
    radius = radius_factor / lam
    x_star, kkt = (box_minimiser if radius_factor == 1.0 else box_minimiser_fast)(H, a, radius)
    if radius_factor == 1.0 and complementarity(H, a, x_star, radius) < MARGIN:
        raise Inconclusive("nearly degenerate box problem (a free coordinate within 2 % of the edge or an "
                           "active one with a near-zero multiplier): a sign method converges arbitrarily slowly")
    shrink = np.concatenate([[1.0], np.cumprod(1 - schedule(params) * lam)])
    return {"x_star_scaled": lam * x_star, "radius_scaled": radius_factor,
            "excess_bound": shrink * max(lam * np.abs(x0).max() - radius_factor, 0.0) + 1e-12,
            "kkt_residual": kkt}


def simulate(params, ctx):
    return simulate_batch([params], ctx)[0]


def simulate_batch(params_list, ctx):
    B, d = len(params_list), max(p["d"] for p in params_list)
    H = torch.zeros(B, d, d, dtype=ctx.dtype, device=ctx.device)
    a, x = (torch.zeros(B, d, dtype=ctx.dtype, device=ctx.device) for _ in range(2))
    for b, p in enumerate(params_list):
        Hb, ab, x0 = problem(p)
        H[b, :p["d"], :p["d"]], a[b, :p["d"]], x[b, :p["d"]] = ctx.tensor(Hb), ctx.tensor(ab), ctx.tensor(x0)
    col = lambda key, default=0.0: ctx.tensor([p.get(key, default) for p in params_list])[:, None]  # noqa: E731
    lam, b1, b2 = col("lam"), col("beta1"), col("beta2")
    omb1, omb2 = 1 - b1, 1 - b2
    decay = col("decoupled_decay", 1.0) * lam
    coupled = col("coupled_decay") * lam                          # break: L2 decay inside the gradient
    etas = ctx.tensor(np.stack([schedule(p) for p in params_list], 1))[:, :, None]  # (steps, B, 1)
    Ha = (H @ a[:, :, None]).squeeze(-1)
    m = torch.zeros_like(x)
    linf = torch.empty(B, etas.shape[0] + 1, dtype=ctx.dtype, device=ctx.device)
    linf[:, 0] = x.abs().amax(1)
    for t in range(etas.shape[0]):
        g = torch.baddbmm(-Ha[:, :, None], H, x[:, :, None]).squeeze(-1) + coupled * x
        c = torch.addcmul(omb1 * g, b1, m)
        x = x - etas[t] * (torch.sign(c) + decay * x)
        m.mul_(b2).addcmul_(omb2, g)
        linf[:, t + 1] = x.abs().amax(1)
    linf = linf * lam
    linf = linf.cpu().numpy()
    xs = (lam * x).cpu().numpy()
    return [{"x_scaled": xs[b, :p["d"]], "linf_traj": linf[b], "linf_final": float(linf[b, -1]),
             "step": np.arange(linf.shape[1])} for b, p in enumerate(params_list)]


def excess(pred, obs, params):
    """(λ‖x_t‖∞ − 1)_+ along the run: the excess over the box [−1, 1]^d of the scaled coordinates
    (the bound it is compared with, ``excess_bound``, carries the predicted radius)."""
    return np.maximum(obs["linf_traj"] - 1.0, 0.0)


def _radius_mutant(factor):
    def mutate(params, pred):
        return derive(params, radius_factor=factor)
    return mutate


claim = Claim(
    id="dynamics.lion_box",
    title="Lion with decoupled weight decay λ minimises f over the box ‖x‖∞ ≤ 1/λ",
    statement=("Lion (c = β1 m + (1 − β1)∇f, x ← x − η(sign c + λx), m ← β2 m + (1 − β2)∇f) with ηλ ≤ 1 "
               "enters the box ‖x‖∞ ≤ 1/λ at least as fast as Π(1 − η_tλ) and, with a step size decaying to 0, "
               "converges to argmin{f(x) : ‖x‖∞ ≤ 1/λ}; here f is a strongly convex quadratic."),
    math=sp.Eq(sp.Symbol("x_infinity"), sp.Symbol(r"argmin_{‖x‖∞ ≤ 1/λ} f(x)")),
    source=Source("Lion Secretly Solves Constrained Optimization: As Lyapunov Predicts",
                  "Lizhang Chen, Bo Liu, Kaizhao Liang, Qiang Liu", 2023, "seed 003",
                  note=("Checked on strongly convex quadratics (unique minimiser, certified by KKT) with a step "
                        "size decaying to 1e-5/λ: with a constant step a sign method only reaches an O(η) "
                        "neighbourhood, so 'reaches the minimiser' is the decaying-step statement.  Draws whose "
                        "minimiser is nearly degenerate (strict complementarity margin < 2 %) are inconclusive: "
                        "there Lion's convergence is arbitrarily slow (seen: 1e-3 off after 2000 steps).  "
                        "β1 ∈ [0.8, 0.95], β2 ∈ [0.95, 0.995] (around Lion's defaults 0.9, 0.99): with "
                        "β2 = 0.999 and β1 = 0.8 the momentum's memory (~1/(1 − β2) steps) outlasts the "
                        "decaying step schedule and the run freezes ~1e-3 away on ill-conditioned draws (a limit "
                        "of the finite schedule, not of the theorem).")),
    assumptions=AssumptionSpace([
        Int("d", 2, 6, description="dimension"),
        Float("lam", 0.3, 3.0, log=True, description="decoupled weight decay λ (box radius 1/λ)"),
        Float("a_scale", 0.3, 3.0, description="λ·max|a_i|: > 1 puts the unconstrained minimiser outside the box"),
        Float("cond", 1.0, 30.0, log=True, description="condition number of H"),
        Float("beta1", 0.8, 0.95, description="Lion's interpolation coefficient"),
        Float("beta2", 0.95, 0.995, description="Lion's momentum coefficient"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        close("reaches the box-constrained minimiser (cvxpy + KKT)", "x_star_scaled", "x_scaled", rtol=0, atol=1e-4),
        at_most("ends inside the box ‖x‖∞ ≤ 1/λ", "linf_final", "radius_scaled", margin=1e-9),
        at_most("enters the box at rate Π(1 − η_tλ)", excess, "excess_bound"),
    ],
    mutants=[
        Mutant("box radius 2/λ", _radius_mutant(2.0), "a wrong constant: the box twice as large"),
        Mutant("box radius 1/(2λ)", _radius_mutant(0.5), "a wrong constant: the box half as large"),
        Mutant("near-miss: box radius 1.1/λ", _radius_mutant(1.1), "10 % off: moves every active coordinate"),
        Mutant("unconstrained minimiser", lambda p, pred: {**pred, "x_star_scaled": p["lam"] * problem(p)[1]},
               "weight decay ignored: argmin f"),
    ],
    breaks=[
        Break("weight decay inside the gradient (L2, coupled)",
              lambda p: {**p, "decoupled_decay": 0.0, "coupled_decay": 1.0},
              "sign(∇f + λx): a different fixed point, x = (H + λI)⁻¹Ha",
              expect=["reaches the box-constrained minimiser (cvxpy + KKT)"]),
        Break("no weight decay", lambda p: {**p, "decoupled_decay": 0.0},
              "no box at all: Lion converges to argmin f",
              expect=["reaches the box-constrained minimiser (cvxpy + KKT)", "ends inside the box ‖x‖∞ ≤ 1/λ"]),
    ],
    regimes={"constraint active (a outside the box)": "a_scale >= 1.2",
             "interior optimum": "a_scale <= 0.8",
             "ill-conditioned (cond ≥ 10)": "cond >= 10",
             "strong decay (λ ≥ 1.5)": "lam >= 1.5"},
    resolution={"x_star_scaled": 0.001, "radius_scaled": 0.001, "excess_bound": 0.01,
                "kkt_residual": "a certificate of the exact side, not a prediction"},
    plots=[
        Plot("λ‖x_t‖∞ along the run", [
            Series("λ‖x_t‖∞", "observation.step", "observation.linf_traj"),
            Series("box", None, "prediction.radius_scaled", role="theory", style="hline"),
        ], xlabel="iteration", ylabel="λ‖x_t‖∞"),
        Plot("final iterate vs constrained minimiser", [
            Series("λx* (cvxpy)", "prediction.x_star_scaled", "prediction.x_star_scaled", role="theory"),
            Series("Lion", "prediction.x_star_scaled", "observation.x_scaled", style="points"),
        ], xlabel="λx* coordinate", ylabel="λx_T coordinate"),
    ],
)
