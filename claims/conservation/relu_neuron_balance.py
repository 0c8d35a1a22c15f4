"""ReLU networks: every hidden neuron's incoming minus outgoing squared norm
is conserved by gradient flow.

Two-layer f(x) = Σ_j a_j σ(u_jᵀx + b_j): ‖u_j‖² + b_j² − ‖a_j‖² is constant; in a
deep MLP (biases everywhere) the same holds per hidden neuron with its
incoming weights and bias against its outgoing weights.

Exact side (derive), for the draw's σ and sizes: sympy decides on each
half-line whether σ(z) − zσ'(z) vanishes (positive homogeneity, Euler's
identity; ReLU, and leaky ReLU for every leak); only then does it derive the law:
for one neuron with symbolic data and symbolic loss derivatives g_i = ∂ℓ/∂f(x_i)
(any loss; the per-sample terms add up, so one sample is the general case), it
solves d/dt(‖u‖² + b² − ‖a‖²) = −ρ(‖u‖² + b² − ‖a‖²) for ρ from the coefficients
of the polynomial: ρ = 0.  The same computation is the per-neuron step of a
deep MLP (x_i the previous layer's outputs, g_i the gradient at the next
pre-activations).  A σ that is not homogeneous gets no prediction.

Simulation (batched: all draws and step sizes in one tensor program per
depth, backward pass written out): GD (explicit Euler) to T = 1/2 at
h = 1/16 … 1/128 on MSE or logistic loss; the per-neuron drift
‖Q_h(T) − e^{−ρT}Q(0)‖ (a norm over the hidden neurons) must shrink at least like h
(log-log slope ≥ 0.5; measured 0.75–2.1 on 2048 other draws).  Draws with fewer
than 3 hidden neurons simulate 3 networks and the check reads the one with the
median slope (a single neuron's O(h) coefficient can cancel).  RK4 is not used:
its stages straddle ReLU kinks, which lowers its order (the law itself holds
for any choice of σ'(0)).  In ``full`` / ``gpu`` widths and samples are tripled."""
import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Float, Int, Mutant, Plot, Seed, Series, Source)
from theorycheck.checks import conserved_at_least
from theorycheck.sim.conservation_nets import FLOOR, drifts, mlp_flow_batch
from theorycheck.symbolic.conservation import euler_defect_vanishes, neuron_balance_rate

T = 0.5
STEPS = [1 / 16, 1 / 32, 1 / 64, 1 / 128]
_u, _b, _a, _t = sp.symbols("u b a t")


def sizes(params, large=False):
    w = 3 * params["width"] if large else params["width"]
    return [params["d"], w, params["k"]] if params["arch"] == "two_layer" else [params["d"], w, w, params["k"]]


def derive(params):
    if not euler_defect_vanishes(params["activation"]):
        raise ValueError(f"σ = {params['activation']} is not positively homogeneous: no law derived")
    rho, _ = neuron_balance_rate(params["d"], params["k"])
    return {"quantity": "balance", "rate": float(rho), "order": 1}


def simulate_batch(params_list, ctx):
    big = ctx.large
    return mlp_flow_batch([{**p, "sizes": sizes(p, big), "n": 3 * p["n"] if big else p["n"]}
                           for p in params_list], ctx, STEPS, T=T)


def simulate(params, ctx):
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


def with_quantity(name):
    return lambda params, pred: {**pred, "quantity": name}


GD_CHECK = "GD: per-neuron drift ‖Q_h(T) − e^{−ρT}Q(0)‖ shrinks like h (or faster)"

claim = Claim(
    id="conservation.relu_neuron_balance",
    title="ReLU nets: per-neuron balance ‖in‖² − ‖out‖² is conserved",
    statement=("For positively homogeneous σ (ReLU, leaky ReLU), gradient flow on any loss of the output "
               "keeps ‖u_j‖² + b_j² − ‖a_j‖² constant for every hidden neuron of a two-layer net, and "
               "incoming (weights and bias) minus outgoing squared norm for every hidden neuron of a deep MLP."),
    math=sp.Eq(sp.Derivative(_u**2 + _b**2 - _a**2, _t), 0),
    source=Source("Abide by the Law and Follow the Flow: Conservation Laws for Gradient Flows",
                  "Sibylle Marcotte, Rémi Gribonval, Gabriel Peyré", 2023, "seed 002",
                  note="Per-neuron balance of homogeneous nets: Du, Hu, Lee 2018 ('Algorithmic regularization in "
                       "learning deep homogeneous models'); completeness for two-layer ReLU nets in Marcotte et al."),
    assumptions=AssumptionSpace([
        Choice("arch", ["two_layer", "deep"], description="one hidden layer, or two"),
        Int("d", 1, 3), Int("width", 1, 4), Int("k", 1, 2), Int("n", 2, 8),
        Choice("activation", ["relu", "leaky_relu"], description="positively homogeneous σ"),
        Float("leak", 0.01, 0.5, description="slope of leaky ReLU below 0 (unused for ReLU)"),
        Choice("loss", ["mse", "logistic"]),
        Float("init_scale", 0.5, 1.2, description="weights ~ scale·N(0, 1/fan-in), biases ~ scale·N(0, 1)"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        conserved_at_least(GD_CHECK, "steps_gd", drifts("gd"), "order", slope_tol=0.5, floor=FLOOR),
    ],
    mutants=[
        Mutant("bias left out: ‖u_j‖² − ‖a_j‖²", with_quantity("no_bias"),
               "the bias is an incoming weight (of a constant input 1): without it the balance is not conserved"),
        Mutant("‖u_j‖² + b_j² + ‖a_j‖² conserved", with_quantity("sum"), "the wrong sign"),
        Mutant("Q_j decays like e^{−t}", lambda p, pred: {**pred, "rate": 1.0}, "a decay where there is none"),
    ],
    breaks=[
        Break("weight decay λ = 0.5", lambda p: {**p, "weight_decay": 0.5}, "then Q_j(t) = e^{−2λt}Q_j(0)",
              expect=[GD_CHECK]),
        Break("σ = tanh", lambda p: {**p, "activation": "tanh"}, "not positively homogeneous", expect=[GD_CHECK]),
        Break("heavy-ball momentum (mass 1)", lambda p: {**p, "momentum": 1.0}, "the momentum flow",
              expect=[GD_CHECK]),
    ],
    regimes={"deep MLP": "arch == 'deep'", "leaky ReLU": "activation == 'leaky_relu'",
             "logistic loss": "loss == 'logistic'", "vector output (k = 2)": "k == 2",
             "single neuron (width 1)": "width == 1", "width ≥ 3": "width >= 3"},
    resolution=0.01,
    plots=[
        Plot("largest per-neuron drift vs step size", [
            Series("GD", "observation.steps_gd", drifts("gd"), style="points"),
            Series("slope 1", "observation.steps_gd",
                   lambda pred, obs, p: drifts("gd")(pred, obs, p)[-1] * np.asarray(obs["steps_gd"])
                   / obs["steps_gd"][-1], role="theory"),
        ], xlabel="step h", ylabel="‖Q_h(T) − Q(0)‖ over hidden neurons", xlog=True, ylog=True),
    ],
)
