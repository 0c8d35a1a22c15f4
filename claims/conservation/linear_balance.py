"""Gradient flow on a two-layer linear net conserves Q = W1W1ᵀ − W2ᵀW2.

Exact side: sympy derives, for *matrix symbols* W1 (r×d), W2 (k×r) and a
symbolic loss gradient G = ∂ℓ/∂(W2W1) (k×d) — so for every size and every loss
of the product at once — dQ/dt by the product rule and solves dQ/dt = −ρQ for
ρ from the coefficients of every matrix monomial: ρ = 0.  Simulation (batched:
all draws, both integrators and every step size in one tensor program, the
gradient written out): the flow for an MSE, logistic or cross-entropy loss on
data drawn from the draw's seed, integrated to T = 1/2 by GD (explicit Euler) at
h = 1/8 … 1/64 and by RK4 at h = 1/16 … 1/64.  Checks: the drift
‖Q_h(T) − e^{−ρT}Q(0)‖ shrinks at least like h (GD) and h⁴ (RK4) — one-sided
log-log slopes, tolerance 0.5 (an order-p scheme guarantees O(h^p); flows whose
leading error term is small show faster decay, no evidence against the law);
and the RK4 values extrapolated to h → 0 (Richardson, h⁴ and h⁵ terms
eliminated) match e^{−ρT}Q(0) to 1e-4·(1 + ‖Q(0)‖).  The checks read the
quantity and the rate the prediction names, so a mutant naming a wrong quantity
or rate is tested on the same trajectories.

Each draw simulates 3 independent networks when r = 1 (Q is then a scalar whose
O(h) drift coefficient ∫(‖∇_{W1}L‖² − ‖∇_{W2}L‖²)dt can cancel: a single
cancelled scalar makes the slope meaningless), one otherwise (r(r+1)/2 ≥ 3
entries).  Inputs are N(0, I/d) so that the flow's stiffness does not grow
with d (the RK4 ladder stays asymptotic).  In ``full`` / ``gpu`` the networks
are three times larger in d, r and n (the law is size-free)."""
import sympy as sp

from theorycheck import AssumptionSpace, Break, Claim, Mutant, Plot, Series, Source
from theorycheck.sim.conservation_nets import drifts, theory_line

from ._linear import W1s, W2s, derive_rate, drift_checks, norm_path, simulate, simulate_batch, sizes_space, theory_path

def derive(params):
    return derive_rate(params, decay=False)


def with_quantity(name):
    return lambda params, pred: {**pred, "quantity": name}


BREAK_CHECKS = [c.name for c in drift_checks("Q(0)")]

claim = Claim(
    id="conservation.linear_balance",
    title="Two-layer linear nets: gradient flow conserves W1W1ᵀ − W2ᵀW2",
    statement=("For f(x) = W2W1x and any loss that depends on the product W2W1, the r×r matrix "
               "Q = W1W1ᵀ − W2ᵀW2 is constant along gradient flow."),
    math=sp.Eq(sp.Derivative(W1s * W1s.T - W2s.T * W2s, sp.Symbol("t")), sp.ZeroMatrix(sp.Symbol("r"),
                                                                                      sp.Symbol("r"))),
    source=Source("Abide by the Law and Follow the Flow: Conservation Laws for Gradient Flows",
                  "Sibylle Marcotte, Rémi Gribonval, Gabriel Peyré", 2023, "seed 002",
                  note="Talk 'conservation laws for gradient flows' (Gribonval). Balancedness of linear nets "
                       "is classical (Arora, Cohen, Hazan 2018; Du, Hu, Lee 2018)."),
    assumptions=AssumptionSpace(sizes_space()),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=drift_checks("Q(0)"),
    mutants=[
        Mutant("W1W1ᵀ + W2ᵀW2 conserved", with_quantity("sum"), "the wrong sign: the sum of the Gram matrices"),
        Mutant("tr(W1W1ᵀ) conserved", with_quantity("trace_w1"), "the first layer's norm alone"),
        Mutant("Q decays like e^{−t}", lambda p, pred: {**pred, "rate": 1.0}, "a decay rate where there is none"),
    ],
    breaks=[
        Break("weight decay λ = 0.5", lambda p: {**p, "weight_decay": 0.5},
              "Q then decays like e^{−2λt} (conservation.linear_balance_decay)", expect=BREAK_CHECKS),
        Break("heavy-ball momentum (mass 1)", lambda p: {**p, "momentum": 1.0},
              "the momentum flow θ'' + θ' = −∇L does not conserve Q", expect=BREAK_CHECKS),
    ],
    regimes={"MSE": "loss == 'mse'", "logistic": "loss == 'logistic'", "cross-entropy": "loss == 'cross_entropy'",
             "matrix law (r ≥ 2)": "r >= 2", "wide hidden layer (r > d)": "r > d",
             "bottleneck (r < min(d, k))": "r < d and r < k"},
    resolution=0.01,
    plots=[
        Plot("drift of Q vs step size", [
            Series("GD", "observation.steps_gd", drifts("gd"), style="points"),
            Series("slope 1", "observation.steps_gd", theory_line("gd", 1), role="theory"),
            Series("RK4", "observation.steps_rk4", drifts("rk4"), style="points"),
            Series("slope 4", "observation.steps_rk4", theory_line("rk4", 4), role="theory"),
        ], xlabel="step h", ylabel="‖Q_h(T) − Q(0)‖_F", xlog=True, ylog=True),
        Plot("‖Q(t)‖ along the finest RK4 trajectory", [
            Series("simulated", "observation.t", norm_path),
            Series("‖Q(0)‖ (conserved)", "observation.t", theory_path, role="theory"),
        ], xlabel="t", ylabel="‖Q(t)‖_F"),
    ],
)
