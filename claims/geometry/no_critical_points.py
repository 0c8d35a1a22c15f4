"""No critical points for non-increasing widths (Kuehn & Kuntz, Morse functions).

f(x) = wᵀσ(W_Lσ(… σ(W_1x + b_1) …) + b_L), scalar output, σ′ > 0, W_l of full rank, w ≠ 0.
∇f(x) = W_1ᵀD_1 W_2ᵀD_2 ⋯ W_LᵀD_L w with D_l = diag σ′(z_l).  With non-increasing widths
d_0 ≥ d_1 ≥ … ≥ d_L every W_lᵀ is injective, ‖W_lᵀv‖ ≥ σ_min(W_l)‖v‖, so with σ′ ≥ a:
‖∇f(x)‖ ≥ a^L Π_l σ_min(W_l)‖w‖ > 0 for all x — no critical point.  With a widening layer
critical points can exist.

Exact side: the certified bound from the singular values of the draw's weights; for
widening widths an explicit network with a critical point x* (∇f(x*) = 0 to round-off,
see ``_morse._planted``), and sympy's 1-2-1 tanh example (tanh(x) − tanh(x − 1), critical
at x = ½).  For the 'aligned' weights the bound is attained on an open set (every D_l = aI
and the bottom singular vectors chain), which is what resolves it.
Simulation: a search for small gradients, per network from 32 uniform starts in [−6, 6]^{d_0}:
50 Levenberg–Marquardt steps on ∇f(x) = 0 with adaptive damping (a step is kept only when it
lowers ‖∇f‖), ∇f and ∇²f in closed form by back-propagation and its forward-mode derivative
(tested against autograd); the smallest ‖∇f‖ reached.  Networks of one depth are
zero-padded to common widths and searched as one tensor program."""
import functools

import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Float, Mutant, Plot, Seed, Series, Source,
                         at_least, holds)

from ._morse import (BOX, gradient_np, max_widening, network, search_min_gradient, widening,
                     widths)

STARTS = 32
FOUND = 1e-10   # ‖∇f‖ at or below this: a critical point (round-off is ~1e-16)
BOUND_RTOL = 1e-9

NON_INCREASING = ["2-2", "3-2", "3-1", "3-3-3", "4-2-1", "4-4-3-2", "5-3-3-1"]
WIDENING = ["1-2", "2-3", "2-4", "2-6-3", "3-4-2", "2-2-3", "4-3-5-2"]


@functools.lru_cache(maxsize=1)
def tanh_example():
    """sympy: f(x) = tanh(x) − tanh(x − 1) (widths 1, 2, 1) has f′(½) = 0 and f″(½) ≠ 0."""
    x = sp.Symbol("x", real=True)
    f = sp.tanh(x) - sp.tanh(x - 1)
    f1 = sp.diff(f, x)
    half = sp.Rational(1, 2)
    return {"critical": sp.simplify(f1.subs(x, half)) == 0, "f2": float(sp.diff(f, x, 2).subs(x, half))}


def _bound(Ws, w, a, smallest):
    """a^L Π σ(W_l) ‖w‖ with σ the d_l-th singular value (the injectivity constant of W_lᵀ);
    ``smallest=True``: the smallest non-zero singular value (the naive formula a wrong
    theorem would use for a widening layer, where W_lᵀ has a kernel)."""
    s = 1.0
    for W in Ws:
        sv = np.linalg.svd(W, compute_uv=False)
        s *= sv[-1] if smallest else (sv[W.shape[0] - 1] if W.shape[0] <= W.shape[1] else 0.0)
    return a ** len(Ws) * s * float(np.linalg.norm(w))


def derive(params):
    ws = widths(params["arch"])
    Ws, bs, w, x_star = network(params["arch"], params["activation"], params["a"], params["weights"],
                                params["data_seed"])
    no_crit = not widening(ws)
    out = {"no_critical": no_crit, "bound": _bound(Ws, w, params["a"], False) if no_crit else 0.0,
           "naive_bound": _bound(Ws, w, params["a"], True), "max_widening": max_widening(ws),
           "tanh_example_critical": tanh_example()["critical"]}
    if x_star is not None:
        out["witness_gradient"] = float(np.linalg.norm(gradient_np(x_star, Ws, bs, w, params["activation"],
                                                                    params["a"])))
    return out


def _activation(params):
    return params.get("activation_override") or params["activation"]


def _run(params_list, gens, ctx):
    depth = {}
    for i, p in enumerate(params_list):
        depth.setdefault(len(widths(p["arch"])), []).append(i)
    out = [None] * len(params_list)
    for idx in depth.values():
        items, starts = [], []
        d0 = max(widths(params_list[i]["arch"])[0] for i in idx)
        for i in idx:
            p = params_list[i]
            net = network(p["arch"], p["activation"], p["a"], p["weights"], p["data_seed"])
            items.append((net, _activation(p), p["a"]))
            x0 = (2 * torch.rand(STARTS, widths(p["arch"])[0], generator=gens[i], dtype=ctx.dtype,
                                 device=ctx.device) - 1) * BOX
            starts.append(torch.nn.functional.pad(x0, (0, d0 - x0.shape[1])))
        best, where = search_min_gradient(items, torch.stack(starts), ctx)
        for j, i in enumerate(idx):
            out[i] = {"min_grad": float(best[j]), "argmin": where[j][: widths(params_list[i]["arch"])[0]]}
    return out


def simulate_batch(params_list, ctx):
    return _run(params_list, ctx.generators(), ctx)


def simulate(params, ctx):
    return _run([params], [ctx.generator()], ctx)[0]


def _found_where_allowed(pred, obs, params):
    if pred["no_critical"]:
        return True            # this half of the claim is the bound (check above)
    if obs["min_grad"] <= FOUND:
        return True
    return None                # the search missed the critical point: undecidable, never a refutation


def _naive_everywhere(params, pred):
    return {**pred, "no_critical": True, "bound": pred["naive_bound"]}


def _widen_by_one(params, pred):
    if pred["max_widening"] <= 1:
        return {**pred, "no_critical": True, "bound": pred["naive_bound"]}
    return pred


CHECK_BOUND = "no critical point: min ‖∇f‖ ≥ a^L Π σ_min(W_l) ‖w‖"
CHECK_FOUND = "widening widths: a critical point exists (found with ‖∇f‖ ≤ 1e-10)"

claim = Claim(
    id="geometry.no_critical_points",
    title="Non-increasing widths and σ′ ≥ a > 0: no critical points, ‖∇f‖ ≥ a^L Π σ_min(W_l)‖w‖",
    statement=("For f(x) = wᵀσ(W_Lσ(… σ(W_1x + b_1) …) + b_L) with scalar output, full-rank W_l, w ≠ 0, "
               "an activation with σ′ ≥ a > 0 and non-increasing widths d_0 ≥ d_1 ≥ … ≥ d_L, f has no "
               "critical point: ‖∇f(x)‖ ≥ a^L Π_l σ_min(W_l)‖w‖ for every x.  With a widening layer "
               "critical points can exist (e.g. tanh(x) − tanh(x − 1), widths 1, 2, 1, at x = ½)."),
    math=sp.GreaterThan(sp.Symbol(r"\|\nabla f(x)\|"),
                        sp.Symbol("a") ** sp.Symbol("L") * sp.Product(sp.Symbol(r"\sigma_{\min}(W_l)"),
                                                                      (sp.Symbol("l"), 1, sp.Symbol("L")))
                        * sp.Symbol(r"\|w\|")),
    source=Source("Analysis of the Geometric Structure of Neural Networks and Neural ODEs via Morse Functions",
                  "Christian Kuehn, Sara-Viola Kuntz", 2024, "seed 002",
                  note=("Talk abstract at seed 002 line 16 (the talk does not name the paper).  Narrowed: the "
                        "quantitative bound is checked for activations with σ′ ≥ a > 0 globally "
                        "(az + (1−a)softplus(z), and a C¹ leaky unit equal to a on z ≤ 0); for tanh σ′ "
                        "saturates and the bound is vacuous, so tanh enters only symbolically (the 1-2-1 "
                        "example).  'Critical points can exist' is checked on networks built to have one "
                        "(found by the search, not told where); a missed one is undecidable, not a "
                        "refutation.  The neural-ODE half of the talk is not part of the claim.")),
    assumptions=AssumptionSpace([
        Choice("arch", NON_INCREASING + WIDENING, description="widths d_0-d_1-…-d_L (scalar output after d_L)"),
        Choice("activation", ["softplus_mix", "leaky_c1"], description="σ with σ′ ≥ a everywhere"),
        Float("a", 0.05, 0.5, description="the lower bound of σ′"),
        Choice("weights", ["random", "aligned"],
               description="non-increasing widths: random, or aligned singular vectors and saturated "
                           "biases (the bound attained); widening widths: a planted critical point"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        at_least(CHECK_BOUND, "min_grad", "bound", rtol=BOUND_RTOL),
        holds(CHECK_FOUND, _found_where_allowed),
    ],
    mutants=[
        Mutant("σ′ > 0 suffices for any widths", _naive_everywhere,
               "structural: the width condition dropped; the product formula with the smallest non-zero "
               "singular values claimed for every architecture"),
        Mutant("near-miss: widening by one unit is still safe", _widen_by_one,
               "d_l ≤ d_{l−1} + 1 claimed sufficient (e.g. widths 1-2, 2-3, 3-4-2)"),
    ],
    breaks=[
        Break("ReLU (σ′ = 0 on a half-line)",
              lambda p: {**p, "activation_override": "relu"} if not widening(widths(p["arch"])) else None,
              "dead units make D_l = 0 on open sets: ∇f = 0 exactly there", expect=[CHECK_BOUND]),
        Break("σ(z) = z³ (σ′(0) = 0)",
              lambda p: {**p, "activation_override": "cube"} if not widening(widths(p["arch"])) else None,
              "σ′ > 0 fails at one point: where a layer's preactivations all vanish (W_1x = −b_1 is "
              "solvable when d_1 ≤ d_0), ∇f = 0", expect=[CHECK_BOUND]),
    ],
    regimes={"non-increasing widths": f"arch in {tuple(NON_INCREASING)!r}",
             "bound attained (aligned weights)": f"arch in {tuple(NON_INCREASING)!r} and weights == 'aligned'",
             "widening by one unit": "arch in ('1-2', '2-3', '3-4-2', '2-2-3')",
             "widening by two or more": "arch in ('2-4', '2-6-3', '4-3-5-2')",
             "depth 3": "arch in ('4-4-3-2', '5-3-3-1', '4-3-5-2')",
             "softplus mix": "activation == 'softplus_mix'", "C¹ leaky": "activation == 'leaky_c1'"},
    resolution={"bound": 1e-5,
                "no_critical": "switches between the two halves of the statement (tested by the mutants)"},
    plots=[
        Plot("smallest gradient found vs the certified bound", [
            Series("bound", "prediction.bound", "prediction.bound", role="theory", style="line"),
            Series("min ‖∇f‖ found", "prediction.bound", "observation.min_grad", style="points"),
        ], xlabel="a^L Π σ_min(W_l) ‖w‖", ylabel="smallest ‖∇f‖ found", xlog=True, ylog=True, over="examples"),
    ],
)
