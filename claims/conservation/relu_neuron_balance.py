"""ReLU networks: every hidden neuron's incoming minus outgoing squared norm
is conserved by gradient flow.

Two-layer f(x) = Σ_j a_j σ(u_jᵀx + b_j): ‖u_j‖² + b_j² − ‖a_j‖² is constant; in a
deep MLP (biases everywhere) the same holds per hidden neuron with its
incoming weights and bias against its outgoing weights.  Exact side: sympy
shows d/dt(‖u‖² + b² − ‖a‖²) ≡ 0 for one neuron with symbolic data and
symbolic loss derivatives once Euler's identity σ(z) = zσ'(z) (positive
homogeneity) is assumed — the step that makes every hidden neuron of a deep
net balanced too; sympy also decides whether the draw's σ satisfies it.
Simulation: GD (explicit Euler) to T = 1 at four step sizes on MSE or
logistic loss; the largest per-neuron drift must shrink at least like h (slope ≥ 0.5;
the O(h) term is ∫ h(‖g_in‖² − ‖g_out‖²)dt, which can nearly cancel, so faster
shrinkage is seen and is no evidence against the law).  RK4 is not
used here: its stages straddle ReLU kinks, which lowers its order (the law
itself holds for any choice of σ'(0)).  The simulation also runs a tanh twin
(same data and weights), which the mutant "also holds for tanh" is tested on.
"""
import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Float, Int, Mutant, Plot, Seed, Series, Source,
                         holds)
from theorycheck.checks import conserved_at_least
from theorycheck.sim.conservation_nets import mlp_flow_run
from theorycheck.symbolic.conservation import neuron_balance_proof, positively_homogeneous

STEPS = [1 / 32, 1 / 64, 1 / 128, 1 / 256]  # coarse steps overshoot kinks: pre-asymptotic
_u, _b, _a, _t = sp.symbols("u b a t")


def sizes(params):
    w = params["width"]
    return [params["d"], w, params["k"]] if params["arch"] == "two_layer" else [params["d"], w, w, params["k"]]


def derive(params):
    return {"activation": params["activation"], "proved": neuron_balance_proof(params["d"], params["k"]),
            "homogeneous": positively_homogeneous(params["activation"]), "order": 1}


def simulate(params, ctx):
    acts = sorted({params["activation"], "tanh"})
    return mlp_flow_run({**params, "sizes": sizes(params)}, ctx, STEPS, acts)


def drifts(pred, obs, params):
    """max over draws of the Euclidean norm of the per-neuron drifts."""
    a = pred["activation"]
    QT, Q0 = np.asarray(obs[f"QnT_{a}"]), np.asarray(obs[f"Qn0_{a}"])
    return np.linalg.norm(QT - Q0[None], axis=2).max(axis=1)


claim = Claim(
    id="conservation.relu_neuron_balance",
    title="ReLU nets: per-neuron balance ‖in‖² − ‖out‖² is conserved",
    statement=("For positively homogeneous σ (ReLU, leaky ReLU), gradient flow on any loss of the output "
               "keeps ‖u_j‖² + b_j² − ‖a_j‖² constant for every hidden neuron of a two-layer net, and "
               "incoming (weights and bias) minus outgoing squared norm for every hidden neuron of a deep MLP."),
    math=sp.Eq(sp.Derivative(_u**2 + _b**2 - _a**2, _t), 0),
    source=Source("Abide by the Law and Follow the Flow: Conservation Laws for Gradient Flows",
                  "Sibylle Marcotte, Rémi Gribonval, Gabriel Peyré", 2023, "seed 002",
                  note="Per-neuron balance of homogeneous nets: Du, Hu, Lee 2018; completeness for two-layer "
                       "ReLU nets in Marcotte et al."),
    assumptions=AssumptionSpace([
        Choice("arch", ["two_layer", "deep"], description="one hidden layer, or two"),
        Int("d", 1, 3), Int("width", 1, 4), Int("k", 1, 2), Int("n", 2, 8),
        Choice("activation", ["relu", "leaky_relu"], description="positively homogeneous σ"),
        Choice("loss", ["mse", "logistic"]),
        Float("init_scale", 0.7, 1.5),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    checks=[
        holds("sympy: d/dt(‖u‖² + b² − ‖a‖²) ≡ 0 given σ(z) = zσ'(z)", lambda pred, obs, p: pred["proved"]),
        conserved_at_least("GD: largest per-neuron drift shrinks like h (or faster)", "steps_gd", drifts,
                                 "order", slope_tol=0.5, floor=1e-10),
    ],
    mutants=[
        Mutant("the law also holds for tanh", lambda p, pred: {**pred, "activation": "tanh"},
               "σ = tanh is not positively homogeneous"),
    ],
    breaks=[
        Break("weight decay λ = 0.5", lambda p: {**p, "weight_decay": 0.5}, "decay shrinks both sides"),
        Break("σ = tanh", lambda p: {**p, "activation": "tanh"}, "not positively homogeneous"),
        Break("heavy-ball momentum (mass 1)", lambda p: {**p, "momentum": 1.0}, "momentum flow"),
    ],
    plots=[
        Plot("largest per-neuron drift vs step size", [
            Series("GD", "observation.steps_gd", drifts, style="points"),
            Series("slope 1", "observation.steps_gd",
                   lambda pred, obs, p: drifts(pred, obs, p)[-1] * np.asarray(STEPS) / STEPS[-1], role="theory"),
        ], xlabel="step h", ylabel="max_j |Q_j,h(T) − Q_j(0)|", xlog=True, ylog=True),
    ],
)
