"""The known laws are all the laws: D − dim Lie(V)(θ) equals the number of
independent known laws — r(r+1)/2 for two-layer linear nets while r ≤ d + k,
and r (one per hidden neuron) for two-layer ReLU nets.

Narrowed from CLAIMS.md: for r > d + k the r(r+1)/2 entries of
Q = W1W1ᵀ − W2ᵀW2 are not independent (Q = M J Mᵀ has rank ≤ d + k); both Lie-rank
routes then give r(d+k) − (d+k)(d+k−1)/2 = D − dim so(d, k), e.g. 5, not 6, at
(d, r, k) = (1, 3, 1) — still exactly the independent known laws.  The claim
compares the Lie count with the rank of the known laws' Jacobian at θ, and
that rank with the closed form.

V is spanned by the fields θ ↦ ∇_θ f_c(x_i) at generic data (every loss
gradient is a combination of them with coefficients ∂ℓ/∂f_c(x_i)).  For ReLU
nets the count is taken on the activation region of a generic θ (there f is a
polynomial in θ): the draw resamples θ until the hidden neurons have distinct
activation patterns, each active on at least d + 2 points — with tied
patterns, neurons move together and more laws appear, so "generic" matters.
For linear nets the draw requires full-rank data and weights and nonzero
entries (a point such as W1 = 0 is not generic: there the rank drops).

Exact side (derive): sympy Lie brackets over QQ, closed to a Lie algebra, rank
of its evaluation at a random rational point over QQ.  Simulation side: the
same rank by torch autodiff (vjp fields, nested-jvp brackets) at the same
point in floating point, from singular values with the gap at the cut.
"""
import numpy as np
import sympy as sp

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Inconclusive, Int, Mutant, Plot, Seed, Series, Source,
                         at_least, close)
from theorycheck.sim.conservation_nets import flat_linear_outputs, flat_relu_outputs
from theorycheck.symbolic.conservation import linear_net_fields, relu_region_fields
from theorycheck.symbolic.lie import exact_lie_rank, numeric_lie_rank

GAP = 1e6  # smallest singular-value gap at the cut for the numeric rank to count
DEN = 7    # rational point: integers / DEN


def nonzero_integers(rng, size):
    v = rng.integers(1, 41, size=size)
    return v * rng.choice([-1, 1], size=size)


def full_rank(M):
    return np.linalg.matrix_rank(M.astype(float)) == min(M.shape)


def problem(params):
    """Rational data X (n×d) and point θ, and the ReLU activation pattern."""
    d, r, k = params["d"], params["r"], params["k"]
    rng = np.random.default_rng(params["data_seed"])
    if params["net"] == "linear":
        for _ in range(200):
            X = rng.integers(-6, 7, size=(d + 1, d))
            theta = nonzero_integers(rng, r * d + k * r)
            W1, W2 = theta[: r * d].reshape(r, d), theta[r * d:].reshape(k, r)
            if full_rank(X) and full_rank(W1) and full_rank(W2):
                return X, tie(params, theta, [(r, d), (k, r)]), None
        raise Inconclusive("no generic linear point found")
    n = 4 * (d + 2) + 4
    X = rng.integers(-6, 7, size=(n, d))
    for _ in range(200):
        theta = nonzero_integers(rng, r * d + r + k * r)
        U, b = theta[: r * d].reshape(r, d), theta[r * d: r * d + r]
        pre = X @ U.T + b
        pat = (pre > 0).astype(int)
        distinct = len({tuple(c) for c in pat.T}) == r
        if distinct and (pat.sum(0) >= d + 2).all() and (pre != 0).all() and np.all(theta[r * d + r:] != 0):
            if params.get("tied"):
                theta = tie(params, theta, [(r, d), (r, 1), (k, r)])
                U, b = theta[: r * d].reshape(r, d), theta[r * d: r * d + r]
                pat = ((X @ U.T + b) > 0).astype(int)
            return X, theta, pat
    raise Inconclusive("no generic ReLU point found (distinct patterns, enough active data)")


def tie(params, theta, shapes):
    """The break: hidden neuron 1 made a copy of neuron 0 (a non-generic point).
    ``shapes`` are the blocks of θ; the hidden index is the rows of the first
    blocks and the columns of the last one."""
    if not params.get("tied"):
        return theta
    theta, start = theta.copy(), 0
    for i, (a, b) in enumerate(shapes):
        block = theta[start: start + a * b].reshape(a, b)
        if i == len(shapes) - 1:
            block[:, 1] = block[:, 0]
        else:
            block[1] = block[0]
        theta[start: start + a * b] = block.ravel()
        start += a * b
    return theta


def formula(params):
    """Closed form of the number of independent known laws.  Linear: the r(r+1)/2
    entries of Q = M J Mᵀ (M = [W1, W2ᵀ], J = diag(I_d, −I_k)) are independent only
    while r ≤ m = d + k; beyond, Q has rank ≤ m and r·m − m(m−1)/2 remain (that is
    D − dim so(d, k)).  ReLU: one per hidden neuron."""
    d, r, k = params["d"], params["r"], params["k"]
    if params["net"] == "relu":
        return r
    m = d + k
    return r * (r + 1) // 2 if r <= m else r * m - m * (m - 1) // 2


def known_laws(params, syms):
    """The known laws as sympy expressions in the same θ symbols as the fields."""
    d, r, k = params["d"], params["r"], params["k"]
    if params["net"] == "linear":
        W1 = sp.Matrix(r, d, syms[: r * d])
        W2 = sp.Matrix(k, r, syms[r * d:])
        Q = W1 * W1.T - W2.T * W2
        return [Q[i, j] for i in range(r) for j in range(i, r)]
    U = sp.Matrix(r, d, syms[: r * d])
    b = syms[r * d: r * d + r]
    A = sp.Matrix(k, r, syms[r * d + r:])
    return [sum(U[j, c] ** 2 for c in range(d)) + b[j] ** 2 - sum(A[c, j] ** 2 for c in range(k)) for j in range(r)]


def known_count(params, syms, point):
    """Independent known laws at θ: rank over QQ of their Jacobian there."""
    laws = known_laws(params, syms)
    J = sp.Matrix([[sp.diff(q, t) for t in syms] for q in laws]).subs(dict(zip(syms, point)))
    return J.rank()


def derive(params):
    d, r, k = params["d"], params["r"], params["k"]
    X, theta, pat = problem(params)
    if params["net"] == "linear":
        fields, syms = linear_net_fields(d, r, k, X.tolist())
    else:
        fields, syms = relu_region_fields(d, r, k, X.tolist(), pat.tolist())
    point = [sp.Rational(int(v), DEN) for v in theta]
    res = exact_lie_rank(fields, syms, point)
    return {"known": known_count(params, syms, point), "formula": formula(params), "laws_exact": res.laws,
            "lie_dim_exact": res.rank, "algebra_dim": res.algebra_dim, "D": res.D}


def simulate(params, ctx):
    d, r, k = params["d"], params["r"], params["k"]
    X, theta, _ = problem(params)
    Xt = ctx.tensor(X)
    phi = flat_linear_outputs(d, r, k, Xt) if params["net"] == "linear" else flat_relu_outputs(d, r, k, Xt)
    res = numeric_lie_rank(phi, ctx.tensor(theta) / DEN, X.shape[0] * k, generator=ctx.generator())
    return {"laws_numeric": res.laws, "lie_dim_numeric": res.rank, "gap": res.gap, "levels": res.levels,
            "singular_values": res.singular_values}


def _obs(key):
    return lambda pred, obs, p: obs[key]


claim = Claim(
    id="conservation.completeness",
    title="No conservation laws beyond the known ones (two-layer linear and ReLU nets)",
    statement=("At a generic θ the number of independent conservation laws, D − dim Lie(V)(θ), equals the "
               "number of independent known laws: r(r+1)/2 for two-layer linear nets with r ≤ d + k (the entries "
               "of W1W1ᵀ − W2ᵀW2; r(d+k) − (d+k)(d+k−1)/2 beyond) and r for two-layer ReLU nets (one balance "
               "per hidden neuron)."),
    math=sp.Eq(sp.Symbol("D") - sp.Symbol("dim Lie(V)(θ)"),
               sp.Symbol("r") * (sp.Symbol("r") + 1) / 2),
    source=Source("Abide by the Law and Follow the Flow: Conservation Laws for Gradient Flows",
                  "Sibylle Marcotte, Rémi Gribonval, Gabriel Peyré", 2023, "seed 002",
                  note="Narrowed: r(r+1)/2 only for r ≤ d + k (for larger r the entries of Q are dependent; the "
                       "count is r(d+k) − (d+k)(d+k−1)/2). ReLU count holds at θ whose hidden neurons have "
                       "distinct activation patterns on the data (generic); the draw enforces it."),
    assumptions=AssumptionSpace([
        Choice("net", ["linear", "relu"]),
        Int("d", 1, 3, description="input dimension"),
        Int("r", 1, 3, description="hidden width"),
        Int("k", 1, 3, description="outputs"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    checks=[
        close("closed form = independent known laws at θ", "formula", lambda pred, obs, p: pred["known"],
              rtol=0, atol=0.5),
        close("exact count (sympy, QQ) = known count", "known", lambda pred, obs, p: pred["laws_exact"],
              rtol=0, atol=0.5),
        close("numeric count (autodiff) = known count", "known", "laws_numeric", rtol=0, atol=0.5),
        close("numeric count = exact count", "laws_exact", "laws_numeric", rtol=0, atol=0.5),
        at_least("singular-value gap at the numeric rank", "gap", lambda pred, obs, p: GAP),
    ],
    mutants=[
        Mutant("r² laws", lambda p, pred: {**pred, "known": p["r"] ** 2, "formula": p["r"] ** 2},
               "one law per entry of an r×r matrix"),
        Mutant("r(r−1)/2 laws", lambda p, pred: {**pred, "known": p["r"] * (p["r"] - 1) // 2,
                                                   "formula": p["r"] * (p["r"] - 1) // 2},
               "the antisymmetric count"),
    ],
    breaks=[
        Break("non-generic point: two hidden neurons coincide",
              lambda p: {**p, "tied": True} if p["r"] >= 2 else None,
              "the count holds at generic θ; at a point with a duplicated neuron the flow's algebra is smaller"),
    ],
    plots=[
        Plot("laws: exact vs numeric vs known", [
            Series("known count", "prediction.known", "prediction.known", role="theory"),
            Series("exact (sympy)", "prediction.known", "prediction.laws_exact", style="points"),
            Series("numeric (autodiff)", "prediction.known", "observation.laws_numeric", style="points"),
        ], xlabel="known count", ylabel="D − dim Lie(V)(θ)", over="examples"),
    ],
)
