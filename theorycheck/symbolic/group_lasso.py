"""The convex (group-lasso, cone-constrained) program of two-layer ReLU
training (Pilanci & Ergen 2020), solved with its status and duality gap
recorded, and the map from its solution back to a ReLU network.

    min ½‖Σ_i D_i X (v_i − w_i) − y‖² + β Σ_i (‖v_i‖ + ‖w_i‖)
    s.t. (2D_i − I) X v_i ≥ 0, (2D_i − I) X w_i ≥ 0

Conventions: the squared loss carries ½ and no 1/n; β multiplies the sum of
group norms.  It equals the non-convex objective ½‖Σ_j (Xu_j)_+ α_j − y‖² +
(β/2) Σ_j (‖u_j‖² + α_j²) at its optimum (the ½ on the weight decay turns
into β·‖u‖·|α| after rescaling each neuron).  pyscnn uses
(1/(2n))‖·‖² + λ Σ‖·‖, i.e. λ = β / n and its optimum is ours divided by n.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..verdict import Inconclusive
from .arrangements import Patterns
from .convex import solve

GAP_RTOL = 1e-6  # relative duality gap above which a solution is not certified
ACTIVE_RTOL = 1e-6  # a group counts as a neuron when its norm exceeds this × the largest norm


@dataclass
class ConvexReLUSolution:
    value: float
    status: str
    solver: str
    gap: float  # primal − (certified dual bound)
    V: np.ndarray  # (P, d): positive-output neurons, one per pattern
    W: np.ndarray  # (P, d): negative-output neurons
    patterns: Patterns

    def record(self) -> dict:
        return {"value": self.value, "status": self.status, "solver": self.solver, "gap": self.gap,
                "patterns": len(self.patterns)}

    def active_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """Boolean masks (P,) of non-zero v_i and w_i groups."""
        nv, nw = np.linalg.norm(self.V, axis=1), np.linalg.norm(self.W, axis=1)
        top = max(float(nv.max(initial=0.0)), float(nw.max(initial=0.0)), 1e-300)
        return nv > ACTIVE_RTOL * top, nw > ACTIVE_RTOL * top

    def active_patterns(self) -> Patterns:
        """The patterns the solution uses (either sign)."""
        v, w = self.active_groups()
        return self.patterns.subset(np.nonzero(v | w)[0])


def dual_certificate(X, y, beta, masks, V, W, mu=None, nu=None) -> tuple[float, float]:
    """A lower bound on the program from a dual-feasible point, and the gap.

    Dual:  max −½‖λ‖² − λᵀy  s.t. ‖Xᵀ(D_iλ − S_iμ_i)‖ ≤ β, ‖Xᵀ(D_iλ + S_iν_i)‖ ≤ β,
    μ, ν ≥ 0 (S_i = 2D_i − I; μ = ν = 0 without the cone constraints).  At the
    optimum λ is the residual Σ D_iX(v_i − w_i) − y; the multipliers come from
    the solver.  Dividing (λ, μ, ν) by the worst violation κ ≥ 1 makes the
    point feasible, so the returned bound holds whatever the solver's accuracy."""
    masks = np.asarray(masks, dtype=np.float64)
    S = 2 * masks - 1
    fit = (masks * (V @ X.T - W @ X.T)).sum(0)
    lam = fit - y
    primal = 0.5 * float(lam @ lam) + beta * float(np.linalg.norm(V, axis=1).sum() + np.linalg.norm(W, axis=1).sum())
    mu = np.zeros_like(masks) if mu is None else np.maximum(np.asarray(mu, dtype=np.float64), 0.0)
    nu = np.zeros_like(masks) if nu is None else np.maximum(np.asarray(nu, dtype=np.float64), 0.0)
    Dlam = masks * lam[None, :]  # row i: D_i λ
    gv = np.linalg.norm((Dlam - S * mu) @ X, axis=1)
    gw = np.linalg.norm((Dlam + S * nu) @ X, axis=1)
    kappa = max(1.0, float(max(gv.max(), gw.max())) / beta)
    lam_f = lam / kappa
    dual = -0.5 * float(lam_f @ lam_f) - float(lam_f @ y)
    return dual, primal - dual


def solve_convex_relu(X: np.ndarray, y: np.ndarray, beta: float, patterns: Patterns,
                      cone: bool = True, solver: str | None = None) -> ConvexReLUSolution:
    """Build and solve the program over the given patterns.  ``cone=False``
    drops the cone constraints (the gated-ReLU relaxation, a lower bound).
    ``solver``: None (Clarabel called directly, no modelling layer: the same
    interior-point solver cvxpy would pick, without its ~25 ms of
    canonicalisation per problem) or "cvxpy" / a cvxpy solver name (the program
    written in cvxpy, an independent formulation).  Anything but an optimal,
    certified solve (relative duality gap of a dual-feasible point ≤ GAP_RTOL)
    raises Inconclusive."""
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(patterns) == 0:
        raise ValueError("no patterns")
    masks = patterns.masks.astype(np.float64)  # (P, n)
    if solver is None or solver.lower() == "clarabel-direct":
        value, status, name, Vv, Wv, mu, nu = _solve_clarabel(X, y, beta, masks, cone)
    else:
        value, status, name, Vv, Wv, mu, nu = _solve_cvxpy(X, y, beta, masks, cone,
                                                           None if solver.lower() == "cvxpy" else solver)
    _, gap = dual_certificate(X, y, beta, masks, Vv, Wv, mu, nu)
    if not gap <= GAP_RTOL * max(1.0, abs(value)):
        raise Inconclusive(f"duality gap {gap:.2e} too large for a certified optimum")
    return ConvexReLUSolution(value, status, name, gap, Vv, Wv, patterns)


def _solve_cvxpy(X, y, beta, masks, cone, solver):
    import cvxpy as cp

    P, d = masks.shape[0], X.shape[1]
    V, W = cp.Variable((P, d)), cp.Variable((P, d))
    XV, XW = V @ X.T, W @ X.T  # (P, n): row i is X v_i
    fit = cp.sum(cp.multiply(masks, XV - XW), axis=0)  # Σ_i D_i X (v_i − w_i)
    objective = 0.5 * cp.sum_squares(fit - y) + beta * (cp.sum(cp.norm(V, 2, axis=1)) +
                                                        cp.sum(cp.norm(W, 2, axis=1)))
    constraints = []
    if cone:
        S = 2 * masks - 1  # (2D_i − I) on the diagonal
        constraints = [cp.multiply(S, XV) >= 0, cp.multiply(S, XW) >= 0]
    problem = cp.Problem(cp.Minimize(objective), constraints)
    solved = solve(problem, solver=solver)
    mu = constraints[0].dual_value if cone else None
    nu = constraints[1].dual_value if cone else None
    return solved.value, solved.status, solved.solver, np.asarray(V.value), np.asarray(W.value), mu, nu


def _solve_clarabel(X, y, beta, masks, cone):
    """The program in Clarabel's standard form min ½zᵀPz + qᵀz s.t. Az + s = b, s ∈ K,
    z = (v_1..v_P, w_1..w_P, t_1..t_P, s_1..s_P, r) with r = Σ_i D_iX(v_i − w_i) − y
    (zero cone), ‖v_i‖ ≤ t_i, ‖w_i‖ ≤ s_i (second-order cones) and
    (2D_i − I)Xv_i ≥ 0, (2D_i − I)Xw_i ≥ 0 (nonnegative cone)."""
    import clarabel
    from scipy import sparse

    P, n = masks.shape
    d = X.shape[1]
    nv = P * d
    iv, iw, it, is_, ir = 0, nv, 2 * nv, 2 * nv + P, 2 * nv + 2 * P
    N = ir + n
    # fit operator: column block i of M is D_i X (n × d)
    M = sparse.hstack([sparse.csc_matrix(masks[i][:, None] * X) for i in range(P)], format="csc")
    blocks = [sparse.hstack([-M, M, sparse.csc_matrix((n, 2 * P)), sparse.identity(n, format="csc")],
                            format="csc")]
    b = [-y]
    cones = [clarabel.ZeroConeT(n)]
    if cone:
        S = 2 * masks - 1
        C = sparse.block_diag([sparse.csc_matrix(S[i][:, None] * X) for i in range(P)], format="csc")  # (Pn, Pd)
        Z = sparse.csc_matrix((P * n, nv))
        rest = sparse.csc_matrix((P * n, 2 * P + n))
        blocks += [sparse.hstack([-C, Z, rest], format="csc"), sparse.hstack([Z, -C, rest], format="csc")]
        b += [np.zeros(2 * P * n)]
        cones += [clarabel.NonnegativeConeT(2 * P * n)]
    rows, cols = [], []
    groups = [(it + i, iv + i * d) for i in range(P)] + [(is_ + i, iw + i * d) for i in range(P)]
    for g, (tcol, vcol) in enumerate(groups):
        base = g * (d + 1)
        rows += [base] + [base + 1 + j for j in range(d)]
        cols += [tcol] + [vcol + j for j in range(d)]
    soc = sparse.csc_matrix((-np.ones(len(rows)), (rows, cols)), shape=(2 * P * (d + 1), N))
    blocks.append(soc)
    b.append(np.zeros(2 * P * (d + 1)))
    cones += [clarabel.SecondOrderConeT(d + 1)] * (2 * P)
    A = sparse.vstack(blocks, format="csc")
    Pm = sparse.csc_matrix((np.ones(n), (np.arange(ir, N), np.arange(ir, N))), shape=(N, N))
    q = np.zeros(N)
    q[it:ir] = beta
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.max_threads = 1
    sol = clarabel.DefaultSolver(Pm, q, A, np.concatenate(b), cones, settings).solve()
    status = str(sol.status)
    if "Solved" not in status or "Almost" in status:
        raise Inconclusive(f"Clarabel status {status} (need Solved)")
    x, z = np.asarray(sol.x), np.asarray(sol.z)
    Vv, Wv = x[iv:iw].reshape(P, d), x[iw:it].reshape(P, d)
    mu = nu = None
    if cone:
        zc = z[n: n + 2 * P * n]
        mu, nu = zc[: P * n].reshape(P, n), zc[P * n:].reshape(P, n)
    value = 0.5 * float(x[ir:] @ x[ir:]) + beta * float(x[it:ir].sum())
    return value, "optimal", "CLARABEL (direct)", Vv, Wv, mu, nu


@dataclass
class ReluNetwork:
    """A two-layer ReLU network x ↦ Σ_j (xᵀu_j)_+ α_j (no biases)."""

    U: np.ndarray  # (m, d)
    alpha: np.ndarray  # (m,)

    @property
    def width(self) -> int:
        return int(self.alpha.shape[0])


def network_from_groups(V: np.ndarray, W: np.ndarray, keep_v=None, keep_w=None) -> ReluNetwork:
    """u = v/√‖v‖, α = √‖v‖ for every kept v; u = w/√‖w‖, α = −√‖w‖ for w.
    The rescaling balances ‖u‖ = |α|, so (β/2)(‖u‖² + α²) = β‖v‖."""
    keep_v = np.ones(len(V), bool) if keep_v is None else keep_v
    keep_w = np.ones(len(W), bool) if keep_w is None else keep_w
    us, alphas = [], []
    for groups, keep, sign in ((V, keep_v, 1.0), (W, keep_w, -1.0)):
        for g in groups[keep]:
            r = np.sqrt(np.linalg.norm(g))
            if r == 0:
                continue
            us.append(g / r)
            alphas.append(sign * r)
    d = V.shape[1]
    return ReluNetwork(np.array(us).reshape(-1, d), np.array(alphas, dtype=np.float64))


def rebuild_network(solution: ConvexReLUSolution) -> ReluNetwork:
    """The ReLU network of a convex solution: one neuron per non-zero group."""
    v, w = solution.active_groups()
    return network_from_groups(solution.V, solution.W, v, w)


def sparsify(solution: ConvexReLUSolution, X: np.ndarray) -> ReluNetwork:
    """An optimal network with at most rank(X) ≤ n neurons, from any optimal one.

    Keep the neurons' directions and their fitted output ŷ; the weights t_j ≥ 0
    (t_j = ‖v_j‖) then solve the LP min Σ t_j s.t. Σ_j s_j t_j a_j = ŷ with
    a_j = (X v̂_j)_+.  The optimal t is feasible, so the LP's optimum is no
    worse, and a basic (vertex) solution has at most rank(A) ≤ n non-zeros
    (Carathéodory): same fit, no larger regulariser, few neurons."""
    from scipy.optimize import linprog

    net = rebuild_network(solution)
    if net.width == 0:
        return net
    U, alpha = net.U, net.alpha
    t = np.abs(alpha) * np.linalg.norm(U, axis=1)  # = ‖v_j‖
    unit = U / np.linalg.norm(U, axis=1, keepdims=True)
    A = np.maximum(X @ unit.T, 0.0) * np.sign(alpha)[None, :]  # (n, m) columns s_j a_j
    # in units of the current weights (s_j = t_j / t_j⁰): s = 1 is feasible and the LP well scaled
    As = A * t[None, :]
    res = linprog(t, A_eq=As, b_eq=As.sum(1), bounds=[(0, None)] * len(t), method="highs-ds")
    if res.status != 0:
        raise Inconclusive(f"sparsifying LP failed: {res.message}")
    s_new = np.where(res.x > 1e-12, res.x, 0.0)
    t_new = s_new * t
    keep = t_new > 0
    scale = np.sqrt(t_new[keep])
    return ReluNetwork(unit[keep] * scale[:, None], np.sign(alpha[keep]) * scale)


__all__ = ["ConvexReLUSolution", "ReluNetwork", "solve_convex_relu", "rebuild_network", "network_from_groups",
           "sparsify", "dual_certificate", "GAP_RTOL"]
