"""Implicit differentiation of ridge and lasso solutions (Blondel et al. 2022).

Derive side: the exact lasso path by homotopy (LARS with drops): x*(λ) is
piecewise affine; on the segment containing λ, with support S and signs s,
x_S = (A_SᵀA_S)⁻¹(A_Sᵀb − λs) and dx_S/dλ = −(A_SᵀA_S)⁻¹s (the implicit
function theorem applied to the optimality condition
F(x, λ) = A_Sᵀ(A_Sx − b) + λs = 0).  The homotopy also gives the segment's
ends, i.e. the distance to the nearest kink.  A KKT certificate (signs, strict
complementarity) is required, else the draw is inconclusive.

Simulation side: ISTA, batched over draws and over the λ values a draw needs
(λ, λ ± h, λ ± h/2), run to a convergence certificate; the derivative of the
λ-row is carried by forward-mode autodiff through every ISTA step (dual
numbers), i.e. the unrolled derivative.
"""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp
import torch
import torch.autograd.forward_ad as fwAD


def data(params):
    """A (n × d, columns of norm ≈ 1) and b = A x₀ + noise, x₀ with about
    half its entries zero."""
    rng = np.random.default_rng(params["data_seed"])
    n, d = params["n"], params["d"]
    A = rng.standard_normal((n, d)) / np.sqrt(n)
    x0 = rng.standard_normal(d) * (rng.random(d) < 0.5)
    b = A @ x0 + 0.3 * rng.standard_normal(n)
    return A, b


def lam_of(params, A, b) -> float:
    """λ as a fraction of its natural scale: ‖Aᵀb‖_∞ (lasso: the solution is 0
    above it) or ‖A‖₂² (ridge)."""
    scale = np.max(np.abs(A.T @ b)) if params["problem"] == "lasso" else np.linalg.norm(A, 2) ** 2
    return params["lam_frac"] * scale


def lasso_homotopy(A, b, lam, max_steps=1000):
    """The lasso path from λ_max down to ``lam`` (LARS with drops).  Returns
    (x, support S (bool), signs, segment (λ_lo, λ_hi) containing lam)."""
    n, d = A.shape
    c = A.T @ b
    lam_k = float(np.max(np.abs(c)))
    if lam >= lam_k:
        return np.zeros(d), np.zeros(d, bool), np.zeros(d), (lam_k, np.inf)
    S = np.zeros(d, bool)
    j = int(np.argmax(np.abs(c)))
    S[j] = True
    s = np.zeros(d)
    s[j] = np.sign(c[j])
    x = np.zeros(d)
    hi = np.inf
    for _ in range(max_steps):
        idx = np.flatnonzero(S)
        G = A[:, idx].T @ A[:, idx]
        w = np.linalg.solve(G, s[idx])            # x_S grows by γw as λ falls by γ
        v = A.T @ (A[:, idx] @ w)                 # c falls by γv
        c = A.T @ (b - A @ x)
        gam = np.inf
        event = None
        for jj in np.flatnonzero(~S):             # an inactive coordinate reaches |c_j| = λ
            for sign in (1.0, -1.0):
                den = v[jj] - sign                # c_j − γv_j = sign·(λ_k − γ)
                if abs(den) > 1e-15:
                    g = (c[jj] - sign * lam_k) / den
                    if 1e-14 * lam_k < g < gam:
                        gam, event = g, ("in", jj, sign)
        for pos, jj in enumerate(idx):            # an active coordinate reaches 0
            if abs(w[pos]) > 0:
                g = -x[jj] / w[pos]
                if 1e-14 * lam_k < g < gam:
                    gam, event = g, ("out", jj, 0.0)
        if lam_k - gam <= lam:
            x[idx] = x[idx] + (lam_k - lam) * w
            return x, S, s, (max(lam_k - gam, 0.0), hi)
        x[idx] = x[idx] + gam * w
        lam_k -= gam
        hi = lam_k
        kind, jj, sign = event
        if kind == "in":
            S[jj] = True
            s[jj] = sign
        else:
            S[jj] = False
            s[jj] = 0.0
            x[jj] = 0.0
    raise RuntimeError("homotopy did not reach λ")


def lasso_certified(A, b, lam):
    """The lasso solution at ``lam`` from the homotopy's support and signs,
    re-solved in closed form, with its KKT certificate: sign consistency,
    strict complementarity margin (λ − max_{j∉S}|A_jᵀ(b − Ax)|)/λ and the
    relative distance to the nearest kink of the path."""
    x_path, S, s, (lo, hi) = lasso_homotopy(A, b, lam)
    idx = np.flatnonzero(S)
    G = A[:, idx].T @ A[:, idx]
    x = np.zeros(A.shape[1])
    x[idx] = np.linalg.solve(G, A[:, idx].T @ b - lam * s[idx])
    corr = A.T @ (b - A @ x)
    off = np.abs(corr[~S]).max() if (~S).any() else 0.0
    cert = {
        "signs_ok": bool(np.all(np.sign(x[idx]) == s[idx])),
        "stationary": float(np.max(np.abs(corr[idx] - lam * s[idx])) / lam) if idx.size else 0.0,
        "dual_margin": float((lam - off) / lam),
        "kink_distance": float(min(lam - lo, hi - lam) / lam),
        "cond": float(np.linalg.cond(G)) if idx.size else 1.0,
        "path_agrees": float(np.max(np.abs(x - x_path)) / max(np.max(np.abs(x)), 1e-300)),
    }
    return x, S, s, G, cert


@functools.lru_cache(maxsize=1)
def symbolic_ift() -> bool:
    """sympy, 2 × 2 symbolic A, b: (i) ridge: d/dλ (AᵀA + λI)⁻¹Aᵀb equals
    −(AᵀA + λI)⁻¹x*; (ii) lasso on a segment with support signs s: x_S(λ) =
    G⁻¹(A_Sᵀb − λs) and the IFT formula −(∂ₓF)⁻¹∂_λF of F = G x − A_Sᵀb + λs
    equals dx_S/dλ."""
    a = sp.symbols("a0:4")
    A = sp.Matrix(2, 2, a)
    b = sp.Matrix(sp.symbols("b0:2"))
    lam = sp.Symbol("lambda", positive=True)
    M = A.T * A + lam * sp.eye(2)
    x = M.inv() * A.T * b
    ridge = (x.diff(lam) + M.inv() * x).applyfunc(sp.cancel)
    s = sp.Matrix(sp.symbols("s0:2"))
    G = A.T * A
    xs = G.inv() * (A.T * b - lam * s)          # the solution on a segment with signs s
    xv = sp.Matrix(sp.symbols("x0:2"))
    F = G * xv - A.T * b + lam * s               # optimality condition F(x, λ) = 0 on S
    ift = -F.jacobian(xv).inv() * F.diff(lam)    # −(∂ₓF)⁻¹ ∂_λF
    lasso = (xs.diff(lam) - ift).applyfunc(sp.cancel)
    solves = F.subs(dict(zip(xv, xs))).applyfunc(sp.cancel)
    return bool(all(e == 0 for e in ridge) and all(e == 0 for e in lasso) and all(e == 0 for e in solves))


def ista_step(x, J, AtA, Atb, lam, step, lasso_f):
    """One ISTA step and its derivative in λ (forward mode, written out):
    u = x − t(AᵀAx − Aᵀb + (ridge) λx),  x⁺ = soft(u, tλ) (lasso) or u (ridge),
    J⁺ = 1[|u| > tλ]·(J − t(AᵀAJ + (ridge)(λJ + x))) − (lasso) t·sign(u)·1[|u| > tλ].
    tests/second_order check it against torch's forward-mode autodiff."""
    ridge_f = 1 - lasso_f
    grad = (AtA @ x[:, :, None]).squeeze(-1) - Atb + ridge_f * lam[:, None] * x
    dgrad = (AtA @ J[:, :, None]).squeeze(-1) + ridge_f * (lam[:, None] * J + x)
    u = x - step[:, None] * grad
    du = J - step[:, None] * dgrad
    tau = step[:, None] * lam[:, None] * lasso_f
    on = (u.abs() > tau).to(x.dtype)
    sg = torch.sign(u)
    return on * (u - tau * sg), on * (du - step[:, None] * lasso_f * sg)


def ista_reference_autodiff(A, b, lam, step, lasso, iters):
    """The same iteration under torch's forward-mode autodiff (dual numbers in
    λ), for tests."""
    AtA = A.transpose(1, 2) @ A
    Atb = (A.transpose(1, 2) @ b[:, :, None]).squeeze(-1)
    lasso_f = lasso.to(A.dtype)[:, None]
    with fwAD.dual_level():
        lam_d = fwAD.make_dual(lam, torch.ones_like(lam))
        x = torch.zeros(A.shape[0], A.shape[2], dtype=A.dtype)
        for _ in range(iters):
            grad = (AtA @ x[:, :, None]).squeeze(-1) - Atb + (1 - lasso_f) * lam_d[:, None] * x
            u = x - step[:, None] * grad
            tau = step[:, None] * lam_d[:, None] * lasso_f
            x = torch.where(u.abs() > tau, u - tau * torch.sign(u), torch.zeros_like(u))
        primal, tangent = fwAD.unpack_dual(x)
    return primal, tangent


def ista_batch(A, b, lam, step, lasso, max_iter: int, tol: float = 1e-15, track: torch.Tensor | None = None,
               every: int = 4):
    """ISTA for a batch of rows (A (R, n, d), b (R, n), lam, step (R,), lasso
    (R,) bool), each row run until ‖x_{k+1} − x_k‖ ≤ tol·‖x_{k+1}‖ or until it
    stalls at round-off (no 0.1 % decrease of ‖Δx‖ in 200 steps), with the
    unrolled derivative J = dx_k/dλ carried along.  Rows that finish leave the
    batch.  Returns x, J, iterations used, whether each row finished within
    max_iter, the last iteration at which a row's sign pattern changed, ‖Δx_k‖
    per row and iteration, and — for the rows in ``track`` — J every ``every``
    iterations."""
    R, n, d = A.shape
    AtA = A.transpose(1, 2) @ A
    Atb = (A.transpose(1, 2) @ b[:, :, None]).squeeze(-1)
    lasso_f = lasso.to(A.dtype)[:, None]
    x_out = torch.zeros(R, d, dtype=A.dtype, device=A.device)
    J_out = torch.zeros_like(x_out)
    iters = torch.full((R,), max_iter, dtype=torch.long, device=A.device)
    sign_change = torch.zeros(R, dtype=torch.long, device=A.device)
    dx_hist = torch.zeros(R, max_iter, dtype=A.dtype, device=A.device)
    track = torch.zeros(R, dtype=torch.bool, device=A.device) if track is None else track
    tracked_rows = torch.nonzero(track).flatten()
    snaps = torch.zeros(len(tracked_rows), max_iter // every, d, dtype=A.dtype, device=A.device)
    slot = torch.full((R,), -1, dtype=torch.long, device=A.device)
    slot[tracked_rows] = torch.arange(len(tracked_rows), device=A.device)

    rows = torch.arange(R, device=A.device)
    x = torch.zeros(R, d, dtype=A.dtype, device=A.device)
    J = torch.zeros_like(x)
    best = torch.full((R,), float("inf"), dtype=A.dtype, device=A.device)
    stall = torch.zeros(R, dtype=torch.long, device=A.device)
    sub = (AtA, Atb, lam, step, lasso_f)
    k = -1
    for k in range(max_iter):
        xn, Jn = ista_step(x, J, *sub)
        dn = (xn - x).norm(dim=1)
        dx_hist[rows, k] = dn
        changed = (torch.sign(xn) != torch.sign(x)).any(1)
        sign_change[rows[changed]] = k + 1
        x, J = xn, Jn
        if k % every == every - 1:
            s = slot[rows]
            has = s >= 0
            snaps[s[has], k // every] = J[has]
        improved = dn < 0.999 * best
        best = torch.where(improved, dn, best)
        stall = torch.where(improved, torch.zeros_like(stall), stall + 1)
        fin = (dn <= tol * x.norm(dim=1).clamp_min(1e-300)) | (stall > 200)
        if k % 8 == 7 or k == max_iter - 1:
            if bool(fin.any()):
                r = rows[fin]
                x_out[r], J_out[r], iters[r] = x[fin], J[fin], k + 1
                keep = ~fin
                rows, x, J, best, stall = rows[keep], x[keep], J[keep], best[keep], stall[keep]
                sub = tuple(t[keep] for t in sub)
                if rows.numel() == 0:
                    break
    finished = torch.ones(R, dtype=torch.bool, device=A.device)
    if rows.numel():
        x_out[rows], J_out[rows] = x, J
        finished[rows] = False
    return {"x": x_out, "J": J_out, "iters": iters, "finished": finished, "sign_change": sign_change,
            "dx_hist": dx_hist[:, : k + 1], "snaps": snaps[:, : (k + 1) // every], "every": every,
            "slot": slot}
