"""Large steps tame homogeneity: GD on f(x, y) = ½(xy − 1)² converges only to minimisers
with η(x² + y²) ≤ 2, hence only for η ≤ 1, and ends near balance.

Exact side (sympy): on the minimiser set {xy = 1} the Hessian has eigenvalues 0 and
x² + y² = (x⁴ + 1)/x² (computed from the Hessian, not assumed); linear stability of GD
needs η·λ ≤ 2, so (x − y)² = λ − 2 ≤ 2/η − 2, and min_{xy=1} λ = 2 gives η ≤ 1.  Gradient
flow keeps D = x² − y², so its limit has λ = √(D₀² + 4); GD multiplies D by 1 − η²(xy − 1)²
each step (sympy), which is how it reaches minimisers the flow never would.

Simulation: GD from many starts per draw (uniform on [−4, 4]², near-balanced, or strongly
unbalanced), all draws in one tensor program.  A run counts as converged when |xy − 1| <
1e-10 at the end (square loss: linear rate, so the end point is the limit to ~1e-10).
Checks: every converged run has η(x² + y²) ≤ 2(1 + 1e-9); no run converges for η > 1;
non-vacuity: where at least a quarter of the starts have a flow limit violating the bound
and at least 16 runs converged, some converged run started there (GD rebalanced it).

Narrowed / made precise: the entry's 2·10⁴ starts × 2·10⁴ steps per η are 256 starts ×
3000 steps in quick (4096 × 20000 with ctx.large); runs still moving at the end are not
counted (they are neither converged nor a counterexample).  The non-vacuity check is stated
per draw with the explicit applicability condition above."""
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Float, Mutant, Plot, Seed, Series, Source,
                         at_most, holds)

from ._balancing import draw_generators, gd, starts

CONVERGED = 1e-10           # |xy − 1| at the end of a converged square-loss run
CONVERGED_QUARTIC = 1e-2    # the degenerate loss converges like t^(-1/2): see the break
MIN_CONVERGED = 16          # non-vacuity needs this many converged runs ...
MIN_VIOLATING_SHARE = 0.25  # ... and this share of starts whose flow limit violates the bound

x, y, eta_s = sp.symbols("x y eta", real=True)


def sizes(ctx):
    return (4096, 20000) if ctx.large else (512, 3000)


def eta_of(params) -> float:
    return 1.0 + params["side"] * params["gap"]


def _exact():
    """Hessian eigenvalues on xy = 1, the stability bound and the per-step law of D."""
    f = (x * y - 1) ** 2 / 2
    H = sp.hessian(f, (x, y)).subs(y, 1 / x)
    eig = sorted((sp.simplify(e) for e in H.eigenvals()), key=lambda e: sp.count_ops(e))
    lam = [e for e in eig if e != 0]
    assert len(lam) == 1 and sp.simplify(lam[0] - (x**4 + 1) / x**2) == 0
    lam_min = sp.minimum(lam[0], x, sp.Interval.open(0, sp.oo))  # = 2 at x = 1
    # one GD step and D = x² − y²: D' = D·(1 − η²(xy − 1)²) exactly
    r = x * y - 1
    xn, yn = x - eta_s * r * y, y - eta_s * r * x
    assert sp.expand(xn**2 - yn**2 - (x**2 - y**2) * (1 - eta_s**2 * r**2)) == 0
    return lam[0], lam_min


LAMBDA_EXPR, LAMBDA_MIN = _exact()
BOUND = sp.Integer(2)  # linear stability of GD: η·λ_max ≤ 2


def derive(params):
    eta = eta_of(params)
    return {"eta": eta,
            "sharpness_bound": float(BOUND),             # η·λ ≤ 2 at any limit of GD
            "imbalance_bound": float(BOUND) / eta - 2,    # (x − y)² = λ − 2 ≤ 2/η − 2
            "eta_max": float(BOUND / LAMBDA_MIN),         # = 1: no convergence above
            "keeps_D": False}                             # GD does not keep x² − y²


def _observe(x0, y0, x1, y1, eta, loss):
    tol = CONVERGED if loss == "square" else CONVERGED_QUARTIC
    r = (x1 * y1 - 1).abs()
    conv = torch.isfinite(r) & (r < tol)
    lam = eta * (x1 * x1 + y1 * y1)
    flow = eta * torch.sqrt((x0 * x0 - y0 * y0) ** 2 + 4)   # η·λ at the gradient flow's limit
    viol = flow > 2
    n_conv = int(conv.sum())
    lam_c = lam[conv]
    return {
        "n_conv": n_conv, "n_starts": int(x0.numel()),
        "max_sharpness": float(lam_c.max()) if n_conv else 0.0,
        "max_imbalance": float(((x1 - y1)[conv] ** 2).max()) if n_conv else 0.0,
        "eta_if_converged": float(eta) if n_conv else 0.0,
        "n_violating_starts": int(viol.sum()), "n_converged_violating": int((conv & viol).sum()),
        "limit_sharpness": lam_c.cpu().numpy(), "flow_sharpness": flow[conv].cpu().numpy(),
    }


def simulate_batch(params_list, ctx):
    S, T = sizes(ctx)
    gens = draw_generators(ctx, len(params_list))
    out = [None] * len(params_list)
    groups = {}
    for i, p in enumerate(params_list):
        groups.setdefault(p.get("loss", "square"), []).append(i)
    for loss, idx in groups.items():
        x0 = torch.empty(len(idx), S, dtype=ctx.dtype, device=ctx.device)
        y0 = torch.empty_like(x0)
        for j, i in enumerate(idx):
            x0[j], y0[j] = starts(params_list[i]["starts"], S, gens[i], ctx.dtype, ctx.device)
        eta = ctx.tensor([eta_of(params_list[i]) for i in idx])[:, None]
        x1, y1 = gd(x0, y0, eta, T, loss)
        for j, i in enumerate(idx):
            out[i] = _observe(x0[j], y0[j], x1[j], y1[j], float(eta[j, 0]), loss)
    return out


def simulate(params, ctx):
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


def rebalanced(pred, obs, params):
    """GD reaches minimisers the flow cannot: where a quarter of the starts have a flow limit
    violating η·λ ≤ 2 and ≥ 16 runs converged, some converged run started there.  Under
    "GD keeps x² − y²" no converged run could have started there."""
    if pred["keeps_D"]:
        return obs["n_converged_violating"] == 0
    if obs["n_violating_starts"] < MIN_VIOLATING_SHARE * obs["n_starts"] or obs["n_conv"] < MIN_CONVERGED:
        return True  # nothing to see at this draw
    return obs["n_converged_violating"] > 0


claim = Claim(
    id="dynamics.large_step_balancing",
    title="Large steps tame homogeneity: GD on ½(xy − 1)² converges only where η(x² + y²) ≤ 2",
    statement=("GD with step η on f(x, y) = ½(xy − 1)² from a generic start can converge only to "
               "minimisers whose Hessian eigenvalue x² + y² satisfies η(x² + y²) ≤ 2; hence "
               "(x − y)² ≤ 2/η − 2 at the limit and, since x² + y² ≥ 2 on xy = 1, no convergence for "
               "η > 1.  Gradient flow conserves x² − y²; GD does not (it multiplies it by "
               "1 − η²(xy − 1)² each step) and converges from starts whose flow limit would violate "
               "the bound, ending near balance when η is close to 1."),
    math=sp.Le(eta_s * (x**2 + y**2), 2),
    source=Source("Large Learning Rate Tames Homogeneity: Convergence and Balancing Effect",
                  "Yuqing Wang, Minshuo Chen, Tuo Zhao, Molei Tao", 2022, "seed 002",
                  note=("Seed 002, talk on large learning rates (line 73).  Checked per draw on 256 starts × "
                        "3000 steps (quick) instead of 2·10⁴ × 2·10⁴; only runs with |xy − 1| < 1e-10 at "
                        "the end count as converged.  The non-vacuity ('balancing') check applies where "
                        "≥ 25 % of the starts have a flow limit violating the bound and ≥ 16 runs "
                        "converged.")),
    assumptions=AssumptionSpace([
        Choice("side", [-1, 1], description="η below (−1) or above (+1) the threshold 1"),
        Float("gap", 3e-3, "0.95 if side < 0 else 0.2", log=True,
              description="η = 1 + side·gap: log-uniform distance to the threshold (η ∈ [0.05, 1.2])"),
        Choice("starts", ["box", "balanced", "unbalanced"],
               description="starts uniform on [−4, 4]², near the diagonal, or with |x₀² − y₀²| ≥ 2.16"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        at_most("converged runs satisfy η(x² + y²) ≤ 2", "max_sharpness", "sharpness_bound", rtol=1e-9),
        at_most("no run converges for η > 1", "eta_if_converged", "eta_max", rtol=1e-12),
        holds("GD converges from starts whose flow limit violates the bound", rebalanced),
    ],
    mutants=[
        Mutant("near-miss: η(x² + y²) ≤ 1.8", lambda p, pred: {**pred, "sharpness_bound": 1.8},
               "a 10 % tighter stability bound"),
        Mutant("GD keeps x² − y²", lambda p, pred: {**pred, "keeps_D": True},
               "GD read as its gradient flow: the limit would be the flow's, so no converged run could start "
               "where the flow limit violates the bound"),
        Mutant("threshold η < 0.9", lambda p, pred: {**pred, "eta_max": 0.9},
               "a wrong minimum of x² + y² on the minimiser set (2.22 instead of 2)"),
    ],
    breaks=[
        Break("degenerate loss ¼(xy − 1)⁴", lambda p: {**p, "loss": "quartic"},
              "the Hessian vanishes on the minimiser set, so no stability bound applies: runs approach "
              "minimisers with η(x² + y²) far above 2 (converging like t^(-1/2); counted converged at "
              "|xy − 1| < 1e-2)",
              expect=["converged runs satisfy η(x² + y²) ≤ 2"]),
    ],
    regimes={
        "η just below 1 (0.9 < η < 1)": "side < 0 and gap < 0.1",
        "η above 1": "side > 0",
        "small η (< 0.6)": "side < 0 and gap > 0.4",
        "near-balanced starts": "starts == 'balanced'",
        "unbalanced starts (|x₀² − y₀²| ≥ 2.16)": "starts == 'unbalanced'",
    },
    resolution={"sharpness_bound": 0.01, "eta_max": 0.01,
                "eta": "the draw's step, read by no check",
                "imbalance_bound": "a restatement of the sharpness bound on xy = 1, read by no check"},
    plots=[
        Plot("limit sharpness of converged GD runs vs the flow's limit", [
            Series("GD limit η(x² + y²)", "observation.flow_sharpness", "observation.limit_sharpness",
                   style="points"),
            Series("bound 2", None, "prediction.sharpness_bound", role="theory", style="hline"),
        ], xlabel="η·√((x₀² − y₀²)² + 4) (gradient-flow limit)", ylabel="η(x² + y²) at the GD limit"),
        Plot("largest limit sharpness per draw", [
            Series("max over converged runs", "prediction.eta", "observation.max_sharpness", style="points"),
            Series("bound 2", None, "prediction.sharpness_bound", role="theory", style="hline"),
        ], xlabel="η", ylabel="max η(x² + y²)", over="examples"),
    ],
)
