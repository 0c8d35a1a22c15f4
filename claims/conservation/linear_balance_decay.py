"""With weight decay λ, Q = W1W1ᵀ − W2ᵀW2 of a two-layer linear net decays
exactly like e^{−2λt}Q(0) along gradient flow.

Exact side: sympy derives, for matrix symbols of any size and a symbolic loss
gradient G = ∂ℓ/∂(W2W1) (any loss of the product), dQ/dt along
W1' = −W2ᵀG − λW1, W2' = −GW1ᵀ − λW2 and solves dQ/dt = −ρQ for ρ from the
coefficients of every matrix monomial: ρ = 2λ, hence Q(t) = e^{−2λt}Q(0).
Simulation (batched, as in conservation.linear_balance): the flow with decay
(MSE, logistic, cross-entropy) to T = 1/2 by GD at h = 1/8 … 1/64 and RK4 at
h = 1/16 … 1/64; ‖Q_h(T) − e^{−ρT}Q(0)‖ must shrink at least like h (GD) and h⁴
(RK4), and the RK4 Richardson limit (h⁴, h⁵ terms eliminated) must match
e^{−ρT}Q(0) to 1e-4·(1 + ‖Q(0)‖).  ρ = 2λT ranges over 0.05 … 1 at T = 1/2, so a
relative error δ in the rate moves e^{−ρT} by ≈ ρTδ: the rate is resolved on
the draws with large λ."""
import sympy as sp

from theorycheck import AssumptionSpace, Break, Claim, Mutant, Plot, Series, Source
from theorycheck.sim.conservation_nets import drifts, theory_line

from ._linear import T, derive_rate, drift_checks, norm_path, simulate, simulate_batch, sizes_space, theory_path

_t, _lam = sp.symbols("t lambda", positive=True)


def derive(params):
    return derive_rate(params, decay=True)


def with_rate(mult):
    return lambda params, pred: {**pred, "rate": mult * params["weight_decay"]}


BREAK_CHECKS = [c.name for c in drift_checks("e^{−2λT}Q(0)")]

claim = Claim(
    id="conservation.linear_balance_decay",
    title="Two-layer linear nets with weight decay: Q(t) = e^{−2λt} Q(0)",
    statement=("For f(x) = W2W1x, any loss of W2W1 and weight decay λ (flow θ' = −∇L − λθ), "
               "Q = W1W1ᵀ − W2ᵀW2 obeys dQ/dt = −2λQ, hence Q(t) = e^{−2λt}Q(0)."),
    math=sp.Eq(sp.Function("Q")(_t), sp.exp(-2 * _lam * _t) * sp.Function("Q")(0)),
    source=Source("Abide by the Law and Follow the Flow: Conservation Laws for Gradient Flows",
                  "Sibylle Marcotte, Rémi Gribonval, Gabriel Peyré", 2023, "seed 002",
                  note="The weight-decay break of conservation.linear_balance, made a claim of its own (the "
                       "e^{−2λt} law is the standard companion of balancedness, e.g. in the weight-decay analyses "
                       "of homogeneous nets)."),
    assumptions=AssumptionSpace(sizes_space(decay=True)),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=drift_checks("e^{−2λT}Q(0)"),
    mutants=[
        Mutant("rate λ", with_rate(1.0), "Q(t) = e^{−λt}Q(0): the factor 2 of d/dt(W W ᵀ) forgotten"),
        Mutant("no decay", with_rate(0.0), "Q conserved despite weight decay"),
        Mutant("W1W1ᵀ + W2ᵀW2 decays like e^{−2λt}", lambda p, pred: {**pred, "quantity": "sum"},
               "the wrong sign: the sum of the Gram matrices"),
    ],
    breaks=[
        Break("heavy-ball momentum (mass 1)", lambda p: {**p, "momentum": 1.0},
              "the momentum flow with decay does not give e^{−2λt}", expect=BREAK_CHECKS),
        Break("decay on the first layer only", lambda p: {**p, "decay_first_layer_only": True},
              "dQ/dt = −2λW1W1ᵀ is not a multiple of Q", expect=BREAK_CHECKS),
    ],
    regimes={"MSE": "loss == 'mse'", "logistic": "loss == 'logistic'", "cross-entropy": "loss == 'cross_entropy'",
             "matrix law (r ≥ 2)": "r >= 2", "weak decay (λ < 0.1)": "weight_decay < 0.1",
             "strong decay (λ > 0.5)": "weight_decay > 0.5"},
    resolution=0.01,
    plots=[
        Plot("‖Q(t)‖: simulated (finest RK4) vs e^{−2λt}‖Q(0)‖", [
            Series("simulated (RK4)", "observation.t", norm_path),
            Series("e^{−2λt}‖Q(0)‖", "observation.t", theory_path, role="theory"),
        ], xlabel="t", ylabel="‖Q(t)‖_F"),
        Plot("drift vs step size", [
            Series("GD", "observation.steps_gd", drifts("gd"), style="points"),
            Series("slope 1", "observation.steps_gd", theory_line("gd", 1), role="theory"),
            Series("RK4", "observation.steps_rk4", drifts("rk4"), style="points"),
            Series("slope 4", "observation.steps_rk4", theory_line("rk4", 4), role="theory"),
        ], xlabel="step h", ylabel=f"‖Q_h(T) − e^{{−2λT}}Q(0)‖_F (T = {T:g})", xlog=True, ylog=True),
    ],
)
