"""Symmetric matrix sensing, fully observed: f(X) = ¼‖XXᵀ − M*‖²_F, GD X ← X − η(XXᵀ − M*)X.
The exact facts (sympy) and the batched GD simulation of ``dynamics.matrix_sensing_slowdown``."""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp
import torch

LOG_EVERY = 10          # e_t is recorded every this many steps
CROSS = 1e-10           # k = r: the contraction is measured from the first e < 1e-7 to the first e < 1e-10
CROSS_START = 1e-7      # (far below the nonlinear transient, far above round-off)
WINDOW = 1000           # k > r: the slope of 1/e over the last 1000 steps
RATE_WINDOW = 100       # contraction e_{t+100}/e_t, per step


def spectrum(params) -> np.ndarray:
    """λ_1 = 1 ≥ … ≥ λ_r: 'distinct' halves each time (a gap of 2 between neighbours), 'repeated'
    has all λ_i = 1."""
    r = params["r"]
    if params["spectrum"] == "repeated":
        return np.ones(r)
    return 0.5 ** np.arange(r)


def horizon(params, ctx) -> int:
    """Steps of the run: 3000 in quick, the entry's 4·10⁴ with ctx.large."""
    return 40_000 if getattr(ctx, "large", False) else 3_000


# ---- exact side ---------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def excess_law() -> dict:
    """sympy: an excess direction Z = σ·a bᵀ (a ⟂ range M*, ‖a‖ = ‖b‖ = 1, b ⟂ the fitted
    directions) follows Z ← Z − ηZZᵀZ, i.e. σ ← σ − ησ³; u = σ⁻² then obeys
    u′ = u/(1 − η/u)² = u + 2η + 3η²/u + O(u⁻²), so 1/σ² grows by 2η per step; with m = k − r
    equal excess values e = √m·σ² and 1/e grows by 2η/√m."""
    sigma, eta, u, m = sp.symbols("sigma eta u m", positive=True)
    a, b = sp.Matrix([1, 0]), sp.Matrix([0, 1])
    Z = sigma * a * b.T
    Zn = Z - eta * Z * Z.T * Z
    assert sp.simplify(Zn - (sigma - eta * sigma**3) * a * b.T) == sp.zeros(2, 2)
    u_next = sp.simplify((1 / (sigma - eta * sigma**3) ** 2).subs(sigma, 1 / sp.sqrt(u)))
    x = sp.Symbol("x", positive=True)  # x = 1/u → 0
    ser = sp.series(sp.simplify(u_next.subs(u, 1 / x)), x, 0, 2).removeO()
    increment = sp.expand(ser - 1 / x)
    assert sp.simplify(increment.subs(x, 0) - 2 * eta) == 0  # the constant term: 2η per step
    assert sp.simplify(sp.diff(increment, x).subs(x, 0) - 3 * eta**2) == 0
    slope = (2 * eta) / sp.sqrt(m)
    return {"u_next": u_next, "increment": increment, "slope": slope, "eta": eta, "m": m,
            "t2e2": sp.simplify(m / (2 * eta) ** 2)}


@functools.lru_cache(maxsize=1)
def linearisation() -> dict:
    """sympy: the differential of the GD map G(X) = X − η(XXᵀ − M)X at a minimiser X* = [S; 0]
    (S = diag(s_1, s_2), M = diag(s_1², s_2², 0)) acting on Δ = [P; R].  It is block diagonal:
    P_ii ↦ (1 − 2ηs_i²)P_ii, the pair (P_ij, P_ji) has eigenvalues 1 − η(s_i² + s_j²) and 1 (an
    infinitesimal rotation X*Q, which leaves XXᵀ unchanged), and R_j ↦ (1 − ηs_j²)R_j.  The
    structure is entrywise, so it holds for every r; the slowest mode that moves XXᵀ is
    1 − ηλ_r (complement block) as long as ηλ_1 < 1."""
    s1, s2, eta, eps = sp.symbols("s1 s2 eta epsilon", positive=True)
    d = sp.Matrix(3, 2, sp.symbols("d0:6"))
    Xs = sp.Matrix([[s1, 0], [0, s2], [0, 0]])
    M = sp.diag(s1**2, s2**2, 0)
    X = Xs + eps * d
    dG = sp.expand(sp.diff(X - eta * (X * X.T - M) * X, eps).subs(eps, 0))
    J = dG.reshape(6, 1).jacobian(list(d))
    blocks = [[0], [3], [1, 2], [4], [5]]  # P11, P22, (P12, P21), R1, R2
    for bi in blocks:
        for bj in blocks:
            if bi is not bj:
                assert all(J[i, j] == 0 for i in bi for j in bj)
    x = sp.Symbol("x")
    pair = J.extract([1, 2], [1, 2])
    pair_eigs = sorted(sp.roots(sp.factor(pair.charpoly(x).as_expr()), x).keys(), key=str)
    assert set(sp.simplify(e) for e in pair_eigs) == {1, sp.expand(1 - eta * (s1**2 + s2**2))}
    # the eigenvalue-1 direction (a rotation) leaves XXᵀ unchanged to first order
    null = (pair - sp.eye(2)).nullspace()[0]
    rot = sp.zeros(3, 2)
    rot[0, 1], rot[1, 0] = null[0], null[1]
    assert sp.simplify(rot * Xs.T + Xs * rot.T) == sp.zeros(3, 3)
    assert sp.simplify(J[0, 0] - (1 - 2 * eta * s1**2)) == 0
    assert sp.simplify(J[4, 4] - (1 - eta * s1**2)) == 0 and sp.simplify(J[5, 5] - (1 - eta * s2**2)) == 0
    return {"diag": 1 - 2 * eta * s1**2, "pair": 1 - eta * (s1**2 + s2**2), "complement": 1 - eta * s1**2,
            "eta": eta, "s1": s1, "s2": s2}


@functools.lru_cache(maxsize=1)
def _families():
    lin = linearisation()
    args = (lin["eta"], lin["s1"], lin["s2"])
    return [sp.lambdify(args, lin[k], "math") for k in ("complement", "diag", "pair")]


def slowest_mode(eta: float, lams: np.ndarray) -> float:
    """The largest eigenvalue < 1 among the linearisation's families (all > 0 for ηλ_1 < 0.5)."""
    comp, diag, pair = _families()
    s = [float(np.sqrt(lam)) for lam in lams]
    vals = [comp(eta, a, 0.0) for a in s] + [diag(eta, a, 0.0) for a in s]
    vals += [pair(eta, a, b) for i, a in enumerate(s) for b in s[i + 1:]]
    return max(v for v in vals if v < 1)


# ---- simulation -----------------------------------------------------------------------------------

def init_frame(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random n×k frame (orthonormal columns): X(0) = α·Q."""
    q, rr = np.linalg.qr(rng.standard_normal((n, k)))
    return q * np.sign(np.diag(rr))


def run_gd(problems, ctx, T: int, record_every: int = LOG_EVERY):
    """GD on ¼‖XXᵀ − M*‖² (or, for rows flagged asymmetric, on ½‖FGᵀ − M*‖² with F, G updated
    simultaneously) for T steps, all draws in one tensor program.  M* = diag(λ_1..λ_r, 0, …)
    (GD is equivariant under X ↦ OX, M* ↦ OM*Oᵀ, and the Haar initial frame is invariant, so the
    eigenbasis loses no generality).  Zero padding to the largest n, k is exact: a zero row or
    column of X with a zero row of M* gets no gradient.  e_t = ‖XXᵀ − M*‖_F is computed blockwise
    (range rows / complement rows), so it keeps its relative accuracy down to e ~ 1e-15.
    problems: list of (n, k, lams, eta, X0, F0, G0) with F0, G0 None for the symmetric run.
    Returns e at steps 0, record_every, …, T: array (T // record_every + 1, draws)."""
    B = len(problems)
    n_max = max(p[0] for p in problems)
    k_max = max(p[1] for p in problems)
    dev, dt = ctx.device, ctx.dtype
    F = np.zeros((B, n_max, k_max))
    G = np.zeros((B, n_max, k_max))
    lam = np.zeros((B, n_max, 1))
    eta = np.zeros((B, 1, 1))
    asym = np.zeros(B, dtype=bool)
    for b, (n, k, lams, et, X0, F0, G0) in enumerate(problems):
        lam[b, : len(lams), 0] = lams
        eta[b] = et
        if F0 is None:
            F[b, :n, :k] = G[b, :n, :k] = X0
        else:
            F[b, :n, :k], G[b, :n, :k], asym[b] = F0, G0, True
    Ft, Gt = torch.as_tensor(F, dtype=dt, device=dev), torch.as_tensor(G, dtype=dt, device=dev)
    L, H = torch.as_tensor(lam, dtype=dt, device=dev), torch.as_tensor(eta, dtype=dt, device=dev)
    R = min(3, n_max)
    rng_mask = (L[:, :R] > 0).to(dt)     # range rows (the first r ≤ 3 rows carry λ_i > 0)
    comp_mask = (L == 0).to(dt)          # complement rows
    Lam3 = torch.diag_embed(L[:, :R, 0])
    steps = T // record_every + 1
    E = torch.empty(steps, B, dtype=dt, device=dev)

    def err(Fm, Gm):
        # ‖FGᵀ − M*‖² = ‖F_R G_Rᵀ − Λ‖² + ‖F_R G_Cᵀ‖² + ‖F_C G_Rᵀ‖² + ‖F_C G_Cᵀ‖² (R: range rows)
        FR, GR = Fm[:, :R] * rng_mask, Gm[:, :R] * rng_mask
        FC, GC = Fm * comp_mask, Gm * comp_mask
        top = torch.bmm(FR, GR.transpose(1, 2)) - Lam3
        gFR, gGR = torch.bmm(FR.transpose(1, 2), FR), torch.bmm(GR.transpose(1, 2), GR)
        gFC, gGC = torch.bmm(FC.transpose(1, 2), FC), torch.bmm(GC.transpose(1, 2), GC)
        e2 = ((top * top).sum((1, 2)) + (gFR * gGC).sum((1, 2)) + (gFC * gGR).sum((1, 2))
              + (gFC * gGC).sum((1, 2)))
        return e2.clamp_min(0).sqrt()

    sym = torch.as_tensor(~asym, device=dev)
    any_asym = bool(asym.any())
    for t in range(T + 1):
        if t % record_every == 0:
            E[t // record_every] = err(Ft, Gt)
        if t == T:
            break
        if not any_asym:  # X = F = G: X ← X − η(X(XᵀX) − ΛX)
            Ft = Ft - H * (torch.bmm(Ft, torch.bmm(Ft.transpose(1, 2), Ft)) - L * Ft)
            Gt = Ft
        else:  # F ← F − η(FGᵀ − M*)G, G ← G − η(GFᵀ − M*)F (for symmetric rows F = G stays true)
            dF = torch.bmm(Ft, torch.bmm(Gt.transpose(1, 2), Gt)) - L * Gt
            dG = torch.bmm(Gt, torch.bmm(Ft.transpose(1, 2), Ft)) - L * Ft
            Ft, Gt = Ft - H * dF, Gt - H * dG
            Gt = torch.where(sym[:, None, None], Ft, Gt)
    return E.cpu().numpy()
