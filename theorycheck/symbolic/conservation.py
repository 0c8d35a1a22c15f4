"""Symbolic proofs that a quantity is conserved by a flow.

``time_derivative(Q, θ, F)`` is dQ/dt = ∇Q · F along θ' = F(θ);
``derivative_vanishes`` decides whether it is identically zero (exact
expansion; with ``assume`` a set of substitutions encoding a hypothesis such as
positive homogeneity σ(z) = z σ'(z)).  The two-layer balance laws are proved
for a *symbolic* loss gradient, so the proof covers every loss that depends
on the network's output only.
"""
from __future__ import annotations

import functools

import sympy as sp


def time_derivative(Q, theta, field):
    """d/dt Q(θ(t)) along θ' = field(θ); Q a sympy expression or matrix."""
    Q = sp.Matrix(Q) if not isinstance(Q, sp.Expr) else Q
    return sum((sp.diff(Q, t) * f for t, f in zip(theta, field)), sp.zeros(*Q.shape) if hasattr(Q, "shape") else 0)


def derivative_vanishes(Q, theta, field, assume: dict | None = None, minus=None) -> bool:
    """True iff dQ/dt (− minus) expands to 0 identically (after ``assume``)."""
    dq = time_derivative(Q, theta, field)
    if minus is not None:
        dq = dq - minus
    dq = sp.Matrix(dq) if hasattr(dq, "shape") else sp.Matrix([dq])
    if assume:
        dq = dq.subs(assume)
    return all(sp.expand(e) == 0 for e in dq)


def _mat(name, rows, cols):
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))


@functools.lru_cache(maxsize=128)
def linear_balance_proof(d: int, r: int, k: int, decay: bool = False) -> dict:
    """f(x) = W2 W1 x, L = ℓ(W2 W1): ∇_{W1}L = W2ᵀG, ∇_{W2}L = G W1ᵀ with G = ∂ℓ/∂P a
    k×d matrix of free symbols (any loss).  With weight decay λ the field gains −λθ.
    Returns which candidate quantities have dQ/dt ≡ 0, and (decay) whether
    dQ/dt ≡ −2λQ for Q = W1W1ᵀ − W2ᵀW2."""
    W1, W2, G = _mat("u", r, d), _mat("v", k, r), _mat("g", k, d)
    lam = sp.Symbol("lambda", positive=True)
    dW1, dW2 = -W2.T * G, -G * W1.T
    if decay:
        dW1, dW2 = dW1 - lam * W1, dW2 - lam * W2
    theta = list(W1) + list(W2)
    field = list(dW1) + list(dW2)
    Q = W1 * W1.T - W2.T * W2
    candidates = {"balance": Q, "sum": W1 * W1.T + W2.T * W2, "trace_w1": sp.Matrix([(W1 * W1.T).trace()])}
    out = {name: derivative_vanishes(q, theta, field) for name, q in candidates.items()}
    if decay:
        out["balance_decays_2lambda"] = derivative_vanishes(Q, theta, field, minus=-2 * lam * Q)
        out["balance_decays_lambda"] = derivative_vanishes(Q, theta, field, minus=-lam * Q)
    return out


def decay_solution():
    """Solve q' = −2λq, q(0) = q0 (each entry of Q obeys it): q0·e^{−2λt}."""
    t, lam, q0 = sp.symbols("t lambda q0", positive=True)
    q = sp.Function("q")
    sol = sp.dsolve(sp.Eq(q(t).diff(t), -2 * lam * q(t)), q(t), ics={q(0): q0})
    return sp.simplify(sol.rhs / q0), t, lam


@functools.lru_cache(maxsize=64)
def neuron_balance_proof(d: int, k: int, n: int = 2) -> bool:
    """One hidden neuron of f(x) = Σ_j a_j σ(u_jᵀx + b_j) (a_j ∈ R^k), data x_1..x_n
    and symbolic loss derivatives g_i = ∂ℓ/∂f(x_i): d/dt(‖u‖² + b² − ‖a‖²) ≡ 0 once
    σ(z) = z σ'(z) (positive homogeneity, Euler's identity) is assumed.  The same
    computation is the per-neuron step of the deep-MLP law (incoming vs outgoing)."""
    sigma = sp.Function("sigma")
    u, a = _mat("u", d, 1), _mat("a", k, 1)
    b = sp.Symbol("b", real=True)
    xs = [_mat(f"x{i}", d, 1) for i in range(n)]
    gs = [_mat(f"g{i}", k, 1) for i in range(n)]
    zs = [(u.T * x)[0] + b for x in xs]
    z = sp.Symbol("z")
    dsig = [sp.Subs(sigma(z).diff(z), z, zi) for zi in zs]
    # −∇ of Σ_i g_iᵀ f(x_i) w.r.t. (u, b, a) for this neuron
    du = -sum((((g.T * a)[0] * ds) * x for g, ds, x in zip(gs, dsig, xs)), sp.zeros(d, 1))
    db = -sum(((g.T * a)[0] * ds for g, ds in zip(gs, dsig)), 0)
    da = -sum((g * sigma(zi) for g, zi in zip(gs, zs)), sp.zeros(k, 1))
    theta = list(u) + [b] + list(a)
    field = list(du) + [db] + list(da)
    Q = (u.T * u)[0] + b**2 - (a.T * a)[0]
    euler = {sigma(zi): zi * ds for zi, ds in zip(zs, dsig)}
    return derivative_vanishes(Q, theta, field, assume=euler)


ACTIVATIONS = {
    "relu": lambda z: sp.Max(0, z),
    "leaky_relu": lambda z: sp.Max(z, z / 10),
    "tanh": sp.tanh,
}


def positively_homogeneous(name: str) -> bool:
    """σ(z) = z σ'(z) on both half-lines (exact), the hypothesis the proof uses."""
    sigma = ACTIVATIONS[name]
    ok = True
    for z in (sp.Symbol("z", positive=True), sp.Symbol("z", negative=True)):
        ok &= sp.simplify(z * sp.diff(sigma(z), z) - sigma(z)) == 0
    return bool(ok)


__all__ = ["time_derivative", "derivative_vanishes", "linear_balance_proof", "decay_solution",
           "neuron_balance_proof", "positively_homogeneous", "ACTIVATIONS"]


# ------------------------------------------- generating fields for Lie ranks
def linear_net_fields(d: int, r: int, k: int, X):
    """Fields ∇_θ f_c(x_i) of f(x) = W2 W1 x at rational data X (n×d): any loss
    gradient is a combination of them with coefficients ∂ℓ/∂f_c(x_i).  Returns
    (fields, θ symbols) with θ = (vec W1, vec W2) row-major."""
    W1, W2 = _mat("u", r, d), _mat("v", k, r)
    theta = list(W1) + list(W2)
    out = W2 * W1 * sp.Matrix(X).T  # k × n
    return [[sp.diff(o, t) for t in theta] for o in out], theta


def relu_region_fields(d: int, r: int, k: int, X, pattern):
    """Fields ∇_θ f_c(x_i) of f(x) = Σ_j a_j relu(u_jᵀx + b_j) on the activation
    region given by ``pattern`` (n×r 0/1): there f is the polynomial
    Σ_j pattern_ij a_j (u_jᵀx_i + b_j).  θ = (vec U, b, vec A) row-major."""
    U, b, A = _mat("u", r, d), _mat("b", r, 1), _mat("a", k, r)
    theta = list(U) + list(b) + list(A)
    Xm = sp.Matrix(X)
    fields = []
    for i in range(Xm.rows):
        pre = [(U[j, :] * Xm[i, :].T)[0] + b[j] for j in range(r)]
        for c in range(k):
            f = sum(int(pattern[i][j]) * A[c, j] * pre[j] for j in range(r))
            fields.append([sp.diff(f, t) for t in theta])
    return fields, theta
