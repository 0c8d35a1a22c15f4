"""Gradient flow on a two-layer linear net conserves Q = W1W1ᵀ − W2ᵀW2.

Exact side: sympy shows dQ/dt ≡ 0 for a *symbolic* loss gradient G = ∂ℓ/∂(W2W1)
(so for every loss of the product), at the draw's sizes; it also shows the two
mutant quantities are not conserved.  Simulation: the flow for an MSE,
logistic or cross-entropy loss on data drawn from the example's seed,
integrated to T = 1 by GD (explicit Euler) and RK4 at four step sizes; the
drift |Q_h(T) − Q(0)| must shrink like h¹ (GD) and h⁴ (RK4) — log-log slope ≥ 0.5 for GD and ≥ 3
for RK4 (one-sided: an order-p scheme guarantees O(h^p); flows where the leading
error term is small show faster decay, which is no evidence against the law) — and the RK4 values
extrapolated to h → 0 (Richardson) must be within 1e-4·(1 + |Q(0)|) of Q(0).  The quantity the checks read
is the one the prediction names, so a mutant that names a wrong quantity is
tested on the same trajectories."""
import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Float, Int, Mutant, Plot, Seed, Series, Source,
                         close, holds)
from theorycheck.checks import conserved_at_least
from theorycheck.sim.conservation_nets import FLOOR, STEPS, drifts, limit_gap, linear_flow_run, theory_line
from theorycheck.symbolic.conservation import linear_balance_proof

_r, _d, _k = sp.symbols("r d k", integer=True, positive=True)
W1s, W2s = sp.MatrixSymbol("W_1", _r, _d), sp.MatrixSymbol("W_2", _k, _r)


def derive(params):
    proof = linear_balance_proof(params["d"], params["r"], params["k"])
    return {"quantity": "balance", "proved": proof["balance"], "factor": 1.0, "order_gd": 1, "order_rk4": 4}


def simulate(params, ctx):
    return linear_flow_run(params, ctx, STEPS, trajectory_decays=(0.0, 0.5))


def with_quantity(name):
    def mutate(params, pred):
        proof = linear_balance_proof(params["d"], params["r"], params["k"])
        return {**pred, "quantity": name, "proved": proof[name]}
    return mutate


claim = Claim(
    id="conservation.linear_balance",
    title="Two-layer linear nets: gradient flow conserves W1W1ᵀ − W2ᵀW2",
    statement=("For f(x) = W2W1x and any loss that depends on the product W2W1, the r×r matrix "
               "Q = W1W1ᵀ − W2ᵀW2 is constant along gradient flow."),
    math=sp.Eq(sp.Derivative(W1s * W1s.T - W2s.T * W2s, sp.Symbol("t")), sp.ZeroMatrix(_r, _r)),
    source=Source("Abide by the Law and Follow the Flow: Conservation Laws for Gradient Flows",
                  "Sibylle Marcotte, Rémi Gribonval, Gabriel Peyré", 2023, "seed 002",
                  note="Talk 'conservation laws for gradient flows' (Gribonval). Balancedness of linear nets "
                       "is classical (Arora et al. 2018; Du et al. 2018)."),
    assumptions=AssumptionSpace([
        Int("d", 1, 4, description="input dimension"),
        Int("r", 1, 4, description="hidden width"),
        Int("k", 2, 3, description="outputs (classes for cross-entropy)"),
        Int("n", 2, 8, description="samples"),
        Choice("loss", ["mse", "logistic", "cross_entropy"], description="any loss of the product W2W1"),
        Float("init_scale", 0.3, 1.2, description="initial weights ~ scale·N(0, 1/fan-in)"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    checks=[
        holds("sympy: dQ/dt ≡ 0 for a symbolic loss gradient", lambda pred, obs, p: pred["proved"]),
        conserved_at_least("GD drift shrinks like h (or faster)", "steps_gd", drifts("gd"), "order_gd", slope_tol=0.5),
        conserved_at_least("RK4 drift shrinks like h⁴ (or faster)", "steps_rk4", drifts("rk4"),
                                 "order_rk4", slope_tol=1.0, floor=FLOOR),
        close("RK4 Q(T), Richardson-extrapolated to h → 0, equals Q(0)", lambda pred, obs, p: 0.0,
              limit_gap, rtol=0, atol=1e-4),
    ],
    mutants=[
        Mutant("W1W1ᵀ + W2ᵀW2 conserved", with_quantity("sum"), "the sum of the Gram matrices"),
        Mutant("tr(W1W1ᵀ) conserved", with_quantity("trace_w1"), "the first layer's norm alone"),
    ],
    breaks=[
        Break("weight decay λ = 0.5", lambda p: {**p, "weight_decay": 0.5},
              "Q then decays like e^{−2λt} (conservation.linear_balance_decay)"),
        Break("heavy-ball momentum (mass 1)", lambda p: {**p, "momentum": 1.0},
              "the momentum flow θ'' + θ' = −∇L does not conserve Q"),
    ],
    plots=[
        Plot("drift of Q vs step size", [
            Series("GD", "observation.steps_gd", drifts("gd"), style="points"),
            Series("slope 1", "observation.steps_gd", theory_line("gd", 1), role="theory"),
            Series("RK4", "observation.steps_rk4", drifts("rk4"), style="points"),
            Series("slope 4", "observation.steps_rk4", theory_line("rk4", 4), role="theory"),
        ], xlabel="step h", ylabel="max |Q_h(T) − Q(0)|", xlog=True, ylog=True),
        Plot("‖Q(t)‖ along a trajectory, with and without weight decay", [
            Series("no weight decay", "observation.t", "observation.Qnorm_path_wd0"),
            Series("weight decay 0.5", "observation.t", "observation.Qnorm_path_wd50"),
            Series("e^{−t}‖Q(0)‖", "observation.t",
                   lambda pred, obs, p: np.exp(-1.0 * np.asarray(obs["t"])) * obs["Qnorm_path_wd0"][0],
                   role="theory"),
        ], xlabel="t", ylabel="‖Q(t)‖_F"),
    ],
)
