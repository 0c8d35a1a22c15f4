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

import numpy as np
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


LINEAR_CANDIDATES = {
    "balance": lambda W1, W2: W1 * W1.T - W2.T * W2,
    "sum": lambda W1, W2: W1 * W1.T + W2.T * W2,
}


def _matrix_coefficients(expr) -> dict:
    """Scalar coefficient of every matrix monomial of an expanded matrix expression."""
    expr = sp.expand(expr)
    if isinstance(expr, sp.ZeroMatrix):
        return {}
    terms = expr.args if isinstance(expr, sp.MatAdd) else (expr,)
    out: dict = {}
    for term in terms:
        if isinstance(term, sp.ZeroMatrix):
            continue
        c, m = term.as_coeff_mmul()
        out[m] = sp.expand(out.get(m, 0) + c)
    return out


@functools.lru_cache(maxsize=8)
def linear_balance_rate(decay: bool = False, quantity: str = "balance"):
    """Size-free derivation for f(x) = W2W1x and any loss of the product: with
    W1, W2 and the loss gradient G = ∂ℓ/∂(W2W1) as *matrix symbols* (r×d, k×r,
    k×d, sizes symbolic), the flow W1' = −W2ᵀG − λW1, W2' = −GW1ᵀ − λW2 (λ = 0
    without ``decay``) gives dQ/dt by the product rule (the ε-derivative of
    Q(W + εW')); the rate ρ with dQ/dt = −ρQ is solved for from the
    coefficients of every matrix monomial of dQ/dt + ρQ.  Returns (ρ, λ): ρ a
    sympy expression in λ (0 without decay, 2λ with), or None when no ρ
    makes dQ/dt + ρQ vanish identically (the quantity obeys no such law)."""
    r, d, k = sp.symbols("r d k", integer=True, positive=True)
    W1, W2, G = sp.MatrixSymbol("W_1", r, d), sp.MatrixSymbol("W_2", k, r), sp.MatrixSymbol("G", k, d)
    lam, eps, rho = sp.Symbol("lambda", positive=True), sp.Symbol("epsilon"), sp.Symbol("rho")
    dW1, dW2 = -W2.T * G, -G * W1.T
    if decay:
        dW1, dW2 = dW1 - lam * W1, dW2 - lam * W2
    Qf = LINEAR_CANDIDATES[quantity]
    dQ = sp.diff(Qf(W1 + eps * dW1, W2 + eps * dW2), eps).subs(eps, 0)
    eqs = [c for c in _matrix_coefficients(dQ + rho * Qf(W1, W2)).values() if c != 0]
    if not eqs:
        return sp.Integer(0), lam
    sol = sp.solve(eqs, rho, dict=True)
    return (sp.simplify(sol[0][rho]) if sol else None), lam


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


@functools.lru_cache(maxsize=64)
def neuron_balance_rate(d: int, k: int, n: int = 1, decay: bool = False):
    """The rate ρ with d/dt(‖u‖² + b² − ‖a‖²) = −ρ(‖u‖² + b² − ‖a‖²) for one hidden
    neuron of f(x) = Σ_j a_j σ(u_jᵀx + b_j) (u ∈ R^d, a ∈ R^k) under gradient flow
    of Σ_i ℓ_i(f(x_i)) with symbolic data x_i and symbolic loss derivatives
    g_i = ∂ℓ/∂f(x_i) (any loss), given Euler's identity σ(z) = zσ'(z) (positive
    homogeneity), with weight decay λ when ``decay``.  The same computation is
    the per-neuron step of a deep MLP (x_i: the previous layer's outputs, g_i:
    the gradient at the next layer's pre-activations, a: the outgoing weights).
    Solved from the coefficients of dQ/dt + ρQ as a polynomial: returns (ρ, λ),
    ρ = 0 (2λ with decay), or None when no ρ works."""
    sigma = sp.Function("sigma")
    u, a = _mat("u", d, 1), _mat("a", k, 1)
    b = sp.Symbol("b", real=True)
    lam, rho, z = sp.Symbol("lambda", positive=True), sp.Symbol("rho"), sp.Symbol("z")
    xs = [_mat(f"x{i}", d, 1) for i in range(n)]
    gs = [_mat(f"g{i}", k, 1) for i in range(n)]
    zs = [(u.T * x)[0] + b for x in xs]
    dsig = [sp.Subs(sigma(z).diff(z), z, zi) for zi in zs]
    du = -sum((((g.T * a)[0] * ds) * x for g, ds, x in zip(gs, dsig, xs)), sp.zeros(d, 1))
    db = -sum(((g.T * a)[0] * ds for g, ds in zip(gs, dsig)), 0)
    da = -sum((g * sigma(zi) for g, zi in zip(gs, zs)), sp.zeros(k, 1))
    if decay:
        du, db, da = du - lam * u, db - lam * b, da - lam * a
    theta = list(u) + [b] + list(a)
    field = list(du) + [db] + list(da)
    Q = (u.T * u)[0] + b**2 - (a.T * a)[0]
    euler = {sigma(zi): zi * ds for zi, ds in zip(zs, dsig)}
    dq = sp.expand((time_derivative(Q, theta, field) + rho * Q).subs(euler))
    slopes = {ds: sp.Symbol(f"s{i}") for i, ds in enumerate(dsig)}  # σ'(z_i) as free symbols
    poly = sp.Poly(dq.subs(slopes), *(theta + [s for s in slopes.values()]
                                      + [v for x in xs for v in x] + [v for g in gs for v in g]))
    eqs = [c for c in poly.coeffs() if c != 0]
    if not eqs:
        return sp.Integer(0), lam
    sol = sp.solve(eqs, rho, dict=True)
    return (sp.simplify(sol[0][rho]) if sol else None), lam


def sigma_expr(name: str, z, leak=None):
    """The activation as a sympy expression (leaky ReLU with a symbolic leak by default)."""
    if name == "relu":
        return sp.Piecewise((z, z > 0), (0, True))
    if name == "leaky_relu":
        c = sp.Symbol("c", positive=True) if leak is None else sp.nsimplify(leak)
        return sp.Piecewise((z, z > 0), (c * z, True))
    if name == "tanh":
        return sp.tanh(z)
    raise ValueError(f"unknown activation {name!r}")


@functools.lru_cache(maxsize=16)
def euler_defect_vanishes(name: str) -> bool:
    """Does σ(z) − zσ'(z) vanish for every z ≠ 0 (Euler's identity, i.e. positive
    homogeneity of degree 1)?  Decided exactly on each half-line: a value at a
    rational point that is provably non-zero (30-digit evaluation) settles "no";
    otherwise the expression must simplify to 0 on the half-line."""
    ok = True
    for zz in (sp.Symbol("z", positive=True), sp.Symbol("z", negative=True)):
        defect = sp.piecewise_fold(sigma_expr(name, zz) - zz * sp.diff(sigma_expr(name, zz), zz))
        point = defect.subs(zz, sp.Rational(3, 7) if zz.is_positive else -sp.Rational(3, 7))
        val = sp.N(point, 30)
        if val.is_number and abs(val) > 1e-25:
            return False
        ok &= sp.simplify(defect) == 0
    return bool(ok)


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


__all__ = ["time_derivative", "derivative_vanishes", "linear_balance_proof", "linear_balance_rate", "decay_solution",
           "neuron_balance_proof", "positively_homogeneous", "ACTIVATIONS", "neuron_balance_rate",
           "euler_defect_vanishes", "sigma_expr", "linear_net_hessians", "relu_region_hessians"]


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


# ------------------------------------- the same generators as integer matrices
def linear_net_hessians(d: int, r: int, k: int, X) -> list:
    """The fields ∇_θ f_c(x_i) of f(x) = W2W1x are linear in θ: θ ↦ M θ with M the
    (integer, for integer data) Hessian of the quadratic form f_c(x_i).  Same θ
    order as ``linear_net_fields``: (vec W1, vec W2), row-major."""
    D = r * d + k * r
    out = []
    for c in range(k):  # output-major, as in linear_net_fields (rows of W2 W1 Xᵀ)
        for x in np.asarray(X, dtype=np.int64):
            M = np.zeros((D, D), dtype=np.int64)
            for j in range(r):
                for m in range(d):
                    a, b = j * d + m, r * d + c * r + j  # W1[j, m], W2[c, j]
                    M[a, b] = M[b, a] = x[m]
            out.append(M)
    return out


def relu_region_hessians(d: int, r: int, k: int, X, pattern) -> list:
    """Hessians of f_c(x_i) = Σ_j pattern_ij a_cj (u_jᵀx_i + b_j) (the ReLU net on one
    activation region), θ = (vec U, b, vec A) as in ``relu_region_fields``."""
    D = r * d + r + k * r
    X, P = np.asarray(X, dtype=np.int64), np.asarray(pattern, dtype=np.int64)
    out = []
    for i in range(X.shape[0]):
        for c in range(k):
            M = np.zeros((D, D), dtype=np.int64)
            for j in range(r):
                if not P[i, j]:
                    continue
                a = r * d + r + c * r + j  # A[c, j]
                for m in range(d):
                    M[j * d + m, a] = M[a, j * d + m] = X[i, m]  # U[j, m]
                M[r * d + j, a] = M[a, r * d + j] = 1  # b[j]
            out.append(M)
    return out
