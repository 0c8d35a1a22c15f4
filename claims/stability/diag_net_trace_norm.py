"""Sharpness–norm equivalence for diagonal linear networks (Wu & Su).

f(x) = ⟨u ⊙ v, x⟩, L = (1/2n) Σ (f(x_i) − y_i)².  Exact (sympy): tr(∇²L) =
Σ_j a_j (u_j² + v_j²) with a_j = (1/n) Σ_i x_ij², and the identity
tr(∇²L) − 2 Σ_j a_j |β_j| = Σ_j a_j (|u_j| − |v_j|)² with β = u ⊙ v, so
tr(H) ≥ 2‖β‖_{1,a} with equality iff |u| = |v|.  (The residual part of the
Hessian has zero diagonal, so the trace formula holds at any point; the claim
is checked at interpolation, where Wu & Su state it.)

Simulation: GD then Gauss–Newton train the network to interpolation (loss ≤ 1e-20) from a
balanced (|u| = |v|, preserved exactly by GD) or unbalanced initialisation;
the trace is read off the exact dense Hessian (Hessian toolkit)."""
import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Inconclusive, Int, Mutant, Plot, Seed, Series,
                         Source, at_least, close, holds)
from theorycheck.sim.hessian import dense_hessian

LOSS_TOL = 1e-20


def data(params):
    """Integer inputs with per-feature integer scales (so the weights a_j differ), labels from a sparse teacher."""
    rng = np.random.default_rng(params["data_seed"])
    n, d = params["n"], params["d"]
    scale = rng.integers(1, 4, size=d)
    X = rng.integers(-2, 3, size=(n, d)) * scale
    while np.linalg.matrix_rank(X) < n:
        X = rng.integers(-2, 3, size=(n, d)) * scale
    beta = np.zeros(d)
    beta[rng.choice(d, size=min(2, d), replace=False)] = rng.choice([-1.0, 1.0], size=min(2, d))
    return X, X @ beta


def derive(params):
    X, y = data(params)
    n, d = X.shape
    u = sp.symbols(f"u0:{d}", real=True)
    v = sp.symbols(f"v0:{d}", real=True)
    f = [sum(u[j] * v[j] * int(X[i, j]) for j in range(d)) for i in range(n)]
    L = sum((f[i] - sp.Rational(y[i]).limit_denominator(10**6)) ** 2 for i in range(n)) / (2 * n)
    tr = sp.expand(sum(sp.diff(L, w, 2) for w in u + v))
    poly = sp.Poly(tr, *u, *v)
    wu = [poly.coeff_monomial(u[j] ** 2) for j in range(d)]
    wv = [poly.coeff_monomial(v[j] ** 2) for j in range(d)]
    closed = sum(wu[j] * u[j] ** 2 + wv[j] * v[j] ** 2 for j in range(d))
    if sp.expand(tr - closed) != 0 or any(sp.simplify(a - b) != 0 for a, b in zip(wu, wv)):
        raise AssertionError("tr(H) is not Σ a_j (u_j² + v_j²)")
    a = [sp.Rational(int((X[:, j] ** 2).sum()), n) for j in range(d)]
    if any(sp.simplify(wu[j] - a[j]) != 0 for j in range(d)):
        raise AssertionError("weights are not the feature second moments")
    identity = sp.simplify(closed - 2 * sum(a[j] * sp.Abs(u[j] * v[j]) for j in range(d))
                           - sum(a[j] * (sp.Abs(u[j]) - sp.Abs(v[j])) ** 2 for j in range(d)))
    return {"weights": [float(w) for w in a], "factor": 2.0, "identity_is_zero": bool(identity == 0)}


def loss_fn(X, y, kind):
    d = X.shape[1]

    def loss(theta):
        f = X @ (theta[:d] * theta[d:])
        if kind == "logistic":
            return torch.nn.functional.softplus(-torch.sign(y) * f).mean()
        return 0.5 * ((f - y) ** 2).mean()

    return loss


def train(X, y, u, v, kind, gd_steps=100, gn_steps=60):
    """GD on the loss, then (square loss) Gauss–Newton steps δ = Jᵀc with the
    minimum-norm c; both keep u_j² − v_j² = 0 when it is 0 (each multiplies it by 1 − z_j²)."""
    n = X.shape[0]
    for _ in range(gd_steps):
        f = X @ (u * v)
        r = (f - y) / n if kind == "mse" else -torch.sign(y) * torch.sigmoid(-torch.sign(y) * f) / n
        z = X.T @ r
        eta = 0.5 / float((X**2).sum(0).max() / n * (u**2 + v**2).max() + 1e-12)
        u, v = u - eta * v * z, v - eta * u * z
    if kind != "mse":
        return u, v
    for _ in range(gn_steps):
        r = X @ (u * v) - y
        if float(0.5 * (r**2).mean()) <= LOSS_TOL:
            break
        J = torch.cat([X * v, X * u], 1)
        c = torch.linalg.solve(J @ J.T, -r)
        z = X.T @ c
        u, v = u + v * z, v + u * z
    return u, v


def simulate(params, ctx):
    Xn, yn = data(params)
    X, y = ctx.tensor(Xn), ctx.tensor(yn)
    d = X.shape[1]
    kind = params.get("loss", "mse")
    rng = ctx.numpy_rng()
    # signs of u0 ⊙ v0 follow the minimum-norm interpolant (a balanced β cannot change sign)
    sign = np.where(np.linalg.pinv(Xn) @ yn >= 0, 1.0, -1.0)
    u0 = rng.uniform(0.5, 1.0, size=d) * rng.choice([-1, 1], size=d)
    v0 = np.abs(u0) * np.sign(u0) * sign
    if params["init"] == "unbalanced":
        v0 = v0 * rng.uniform(0.2, 2.0, size=d)
    u, v = train(X, y, ctx.tensor(u0), ctx.tensor(v0), kind)
    loss = loss_fn(X, y, kind)
    theta = torch.cat([u, v])
    final = float(loss(theta))
    if kind == "mse" and not final <= LOSS_TOL:
        raise Inconclusive(f"no convergence to interpolation: loss {final:.2e}")
    H = dense_hessian(loss, theta)
    u, v = u.cpu().numpy(), v.cpu().numpy()
    return {"u": u, "v": v, "trace": float(torch.trace(H)), "loss": final, "beta": u * v}


def closed_trace(pred, obs, params):
    return float(np.dot(pred["weights"], obs["u"] ** 2 + obs["v"] ** 2))


def norm_bound(pred, obs, params):
    return pred["factor"] * float(np.dot(pred["weights"], np.abs(obs["u"] * obs["v"])))


def balance_gap(pred, obs, params):
    return float(np.dot(pred["weights"], (np.abs(obs["u"]) - np.abs(obs["v"])) ** 2))


claim = Claim(
    id="stability.diag_net_trace_norm",
    title="Diagonal linear networks: tr(H) ≥ 2‖u ⊙ v‖_{1,a}, equality iff |u| = |v|",
    statement=("For f(x) = ⟨u ⊙ v, x⟩ with square loss at interpolation, tr(∇²L) = Σ_j a_j(u_j² + v_j²) "
               "with a_j = (1/n)Σ_i x_ij², hence tr(∇²L) ≥ 2 Σ_j a_j |u_j v_j| with equality iff |u| = |v|: "
               "small sharpness (trace) is a small weighted ℓ1 norm of β = u ⊙ v."),
    math=sp.Ge(sp.Symbol("tr_H"), 2 * sp.Symbol("‖β‖_{1,a}")),
    source=Source("The Implicit Regularization of Dynamical Stability in Stochastic Gradient Descent",
                  "Lei Wu, Weijie J. Su", 2023, "seed 004",
                  note="The trace identity holds at any point (the residual Hessian term has zero diagonal)."),
    assumptions=AssumptionSpace([
        Int("d", 2, 6, description="features = width of the diagonal network"),
        Int("n", 1, "d - 1", description="samples (n < d: interpolation reachable)"),
        Choice("init", ["balanced", "unbalanced"], description="|u0| = |v0| or not"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    checks=[
        holds("sympy: tr(H) − 2‖β‖_{1,a} − Σ a_j(|u_j| − |v_j|)² simplifies to 0",
              lambda pred, obs, params: pred["identity_is_zero"]),
        close("tr(H) = Σ a_j (u_j² + v_j²)", closed_trace, "trace", rtol=1e-9, atol=1e-12),
        at_least("tr(H) ≥ 2 Σ a_j |β_j|", "trace", norm_bound, rtol=1e-9),
        close("tr(H) − 2‖β‖_{1,a} = Σ a_j(|u_j| − |v_j|)²",
              balance_gap, lambda pred, obs, params: obs["trace"] - norm_bound(pred, obs, params),
              rtol=1e-7, atol=1e-9),
    ],
    mutants=[
        Mutant("unweighted ℓ1 norm", lambda p, pred: {**pred, "weights": [1.0] * len(pred["weights"])},
               "tr(H) = Σ (u_j² + v_j²), ignoring the data"),
        Mutant("factor 1", lambda p, pred: {**pred, "factor": 1.0}, "tr(H) ≥ ‖β‖_{1,a} as the tight bound"),
        Mutant("factor 4", lambda p, pred: {**pred, "factor": 4.0}, "tr(H) ≥ 4‖β‖_{1,a}"),
    ],
    breaks=[
        Break("logistic loss", lambda p: {**p, "loss": "logistic"},
              "the Hessian weights become σ'(y f(x_i)) x_ij², not the feature second moments"),
    ],
    plots=[
        Plot("tr(H) against 2‖β‖_{1,a}", [
            Series("tr(H) = 2‖β‖_{1,a}", lambda pr, ob, pa: norm_bound(pr, ob, pa),
                   lambda pr, ob, pa: norm_bound(pr, ob, pa), role="theory", style="line"),
            Series("trained networks", lambda pr, ob, pa: norm_bound(pr, ob, pa), "observation.trace",
                   style="points"),
        ], xlabel="2 Σ a_j |u_j v_j|", ylabel="tr(∇²L)", over="examples"),
    ],
)
