"""With weight decay λ, Q = W1W1ᵀ − W2ᵀW2 of a two-layer linear net decays
exactly like e^{−2λt}Q(0) along gradient flow.

Exact side: sympy shows dQ/dt ≡ −2λQ for a symbolic loss gradient (any loss of
W2W1) — and not −λQ — and solves q' = −2λq to get the factor e^{−2λT}.
Simulation: the flow with decay (MSE, logistic, cross-entropy) by GD and RK4
at four step sizes; |Q_h(T) − e^{−2λT}Q(0)| must shrink with the
integrator's order (slope ≥ 0.5 for GD, ≥ 3 for RK4) and the Richardson
limit of RK4 must match to 1e-4·(1 + |Q(0)|)."""
import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Float, Int, Mutant, Plot, Seed, Series, Source,
                         close, holds)
from theorycheck.checks import conserved_at_least
from theorycheck.sim.conservation_nets import FLOOR, STEPS, drifts, limit_gap, linear_flow_run, theory_line
from theorycheck.symbolic.conservation import decay_solution, linear_balance_proof

T = 1.0
_t, _lam = sp.symbols("t lambda", positive=True)


def derive(params):
    proof = linear_balance_proof(params["d"], params["r"], params["k"], decay=True)
    factor_expr, t, lam = decay_solution()
    rate = sp.simplify(-sp.diff(factor_expr, t) / factor_expr)  # 2λ
    return {"quantity": "balance", "proved": proof["balance_decays_2lambda"],
            "rate": float(rate.subs(lam, params["weight_decay"])),
            "factor": float(factor_expr.subs({t: T, lam: params["weight_decay"]})),
            "order_gd": 1, "order_rk4": 4}


def simulate(params, ctx):
    return linear_flow_run(params, ctx, STEPS, T=T, trajectory_decays=(params.get("weight_decay", 0.0),))


def with_rate(mult, proved_key):
    def mutate(params, pred):
        proof = linear_balance_proof(params["d"], params["r"], params["k"], decay=True)
        rate = mult * params["weight_decay"]
        return {**pred, "rate": rate, "factor": float(np.exp(-rate * T)),
                "proved": proof.get(proved_key, False)}
    return mutate


def simulated_path(pred, obs, params):
    return obs[f"Qnorm_path_wd{round(100 * params['weight_decay'])}"]


claim = Claim(
    id="conservation.linear_balance_decay",
    title="Two-layer linear nets with weight decay: Q(t) = e^{−2λt} Q(0)",
    statement=("For f(x) = W2W1x, any loss of W2W1 and weight decay λ (flow θ' = −∇L − λθ), "
               "Q = W1W1ᵀ − W2ᵀW2 obeys dQ/dt = −2λQ, hence Q(t) = e^{−2λt}Q(0)."),
    math=sp.Eq(sp.Function("Q")(_t), sp.exp(-2 * _lam * _t) * sp.Function("Q")(0)),
    source=Source("Abide by the Law and Follow the Flow: Conservation Laws for Gradient Flows",
                  "Sibylle Marcotte, Rémi Gribonval, Gabriel Peyré", 2023, "seed 002",
                  note="The weight-decay break of conservation.linear_balance, made a claim of its own."),
    assumptions=AssumptionSpace([
        Int("d", 1, 4), Int("r", 1, 4), Int("k", 2, 3), Int("n", 2, 8),
        Choice("loss", ["mse", "logistic", "cross_entropy"]),
        Float("init_scale", 0.3, 1.2),
        Float("weight_decay", 0.05, 1.0, log=True, description="λ"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    checks=[
        holds("sympy: dQ/dt ≡ −2λQ for a symbolic loss gradient", lambda pred, obs, p: pred["proved"]),
        conserved_at_least("GD: |Q_h(T) − e^{−2λT}Q(0)| shrinks like h (or faster)", "steps_gd",
                                 drifts("gd"), "order_gd", slope_tol=0.5),
        conserved_at_least("RK4: |Q_h(T) − e^{−2λT}Q(0)| shrinks like h⁴ (or faster)", "steps_rk4",
                                 drifts("rk4"), "order_rk4", slope_tol=1.0, floor=FLOOR),
        close("RK4 Richardson limit of Q(T) = e^{−2λT}Q(0)", lambda pred, obs, p: 0.0, limit_gap,
              rtol=0, atol=1e-4),
    ],
    mutants=[
        Mutant("rate λ", with_rate(1.0, "balance_decays_lambda"), "Q(t) = e^{−λt}Q(0)"),
        Mutant("no decay", with_rate(0.0, "balance"), "Q conserved despite weight decay"),
    ],
    breaks=[
        Break("heavy-ball momentum (mass 1)", lambda p: {**p, "momentum": 1.0},
              "the momentum flow with decay does not give e^{−2λt}"),
    ],
    plots=[
        Plot("‖Q(t)‖: simulated vs e^{−2λt}‖Q(0)‖", [
            Series("simulated (RK4)", "observation.t", simulated_path),
            Series("e^{−2λt}‖Q(0)‖", "observation.t",
                   lambda pred, obs, p: np.exp(-pred["rate"] * np.asarray(obs["t"])) * simulated_path(pred, obs, p)[0],
                   role="theory"),
        ], xlabel="t", ylabel="‖Q(t)‖_F"),
        Plot("drift vs step size", [
            Series("GD", "observation.steps_gd", drifts("gd"), style="points"),
            Series("slope 1", "observation.steps_gd", theory_line("gd", 1), role="theory"),
            Series("RK4", "observation.steps_rk4", drifts("rk4"), style="points"),
            Series("slope 4", "observation.steps_rk4", theory_line("rk4", 4), role="theory"),
        ], xlabel="step h", ylabel="max |Q_h(T) − e^{−2λT}Q(0)|", xlog=True, ylog=True),
    ],
)
