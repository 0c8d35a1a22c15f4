"""ReLU attention along a line, exactly (integer polynomial arithmetic) and by simulation.

A(X) = ReLU(X M Xᵀ) X W_V with M = W_Q W_Kᵀ (no softmax, no row normalisation); optional
second layer A₂ = ReLU(A M₂ Aᵀ) A W_V2; optional ReLU feed-forward layer after the last
attention layer, Y = ReLU(A W₁ + b₁) W₂ + b₂.  All weights and the line
X(t) = X₀ + tΔ, t ∈ [T0, T1], have small integer entries, so every score, output and
feed-forward pre-activation is a polynomial in t with integer coefficients (numpy int64 for
one layer, Python integers for two), and the exact degree on every piece is the index of
its highest non-zero coefficient.

Exact side (:func:`exact_structure`): breakpoints = real roots, with a sign change, of the
score polynomials (and of the feed-forward pre-activations and the second layer's scores on
each piece) inside (T0, T1); the output's polynomial on each piece; its exact degree.

Simulation (:func:`simulate_lines`): torch forward passes on a grid, many draws at once; the activation pattern
(signs of every ReLU input) per grid point; breakpoints located by bisection on the pattern;
least-squares fits of every degree 0 … 10 per piece (Chebyshev basis); jumps across the
breakpoints.
"""
from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np
import torch

T0, T1 = 1 - 1 / (2 * math.pi), 3 + 1 / math.e   # transcendental ends: never a root of an integer polynomial
INSIDE = 1 / math.e   # a piece's activation pattern is read at lo + (hi − lo)/e: never a (rational) touch point
FFN_WIDTH = 3
GRID = 800
BISECT = 30
MAX_DEGREE = 10
EXTRA_POINTS = 10      # a degree-k fit is judged only on pieces with ≥ k + 1 + EXTRA_POINTS points


@functools.lru_cache(maxsize=1024)
def weights(n, d, layers, ffn, qk, data_seed):
    """Integer data and weights of one draw (a dict of int64 arrays)."""
    rng = np.random.default_rng(data_seed)
    r = lambda *shape, lo=-1, hi=1: rng.integers(lo, hi + 1, size=shape).astype(np.int64)
    X0, D = r(n, d, lo=-2, hi=2), r(n, d, lo=-2, hi=2)
    while not D.any():
        D = r(n, d, lo=-2, hi=2)

    def qk_matrix():
        """M = W_Q W_Kᵀ; rank one: u vᵀ (every score factors into two linear forms)."""
        if qk == "rank_one":
            u, v = r(d, 1), r(d, 1)
            while not u.any() or not v.any():
                u, v = r(d, 1), r(d, 1)
            return u @ v.T
        WQ, WK = r(d, d), r(d, d)
        return WQ @ WK.T

    out = {"X0": X0, "D": D, "M": qk_matrix(), "WV": r(d, d)}
    if layers == 2:
        out["M2"], out["WV2"] = qk_matrix(), r(d, d)
    if ffn:
        out["W1"], out["b1"], out["W2"], out["b2"] = r(d, FFN_WIDTH), r(FFN_WIDTH, lo=-3, hi=3), r(FFN_WIDTH, d), r(d)
    return out


# ---- integer polynomial arithmetic (ascending coefficients on the last axis) -------------------

def pmul(a, b):
    """Elementwise product of polynomial arrays a (..., p) and b (..., q) -> (..., p + q - 1)."""
    p, q = a.shape[-1], b.shape[-1]
    shape = np.broadcast_shapes(a.shape[:-1], b.shape[:-1]) + (p + q - 1,)
    out = np.zeros(shape, dtype=np.result_type(a, b))
    for i in range(p):
        for j in range(q):
            out[..., i + j] = out[..., i + j] + a[..., i] * b[..., j]
    return out


def linear_map(A, W):
    """Σ_a A[..., a, c] W[a, k] for a polynomial array A (n, da, c) and an integer matrix W."""
    return np.einsum("iac,ak->ikc", A, W.astype(A.dtype)) if A.dtype != object else \
        np.array([[sum((A[i, a] * int(W[a, k]) for a in range(A.shape[1])), np.zeros(A.shape[2], dtype=object))
                   for k in range(W.shape[1])] for i in range(A.shape[0])], dtype=object).reshape(
                       A.shape[0], W.shape[1], A.shape[2])


def scores(A, M):
    """S_ij = A_i M A_jᵀ as polynomials: (n, n, 2c − 1)."""
    AM = linear_map(A, M)                     # (n, d, c)
    n, d, c = A.shape
    S = np.zeros((n, n, 2 * c - 1), dtype=A.dtype)
    for a in range(d):
        S = S + pmul(AM[:, None, a, :], A[None, :, a, :])
    return S


def degree(poly):
    nz = np.flatnonzero(np.asarray(poly != 0))
    return int(nz[-1]) if nz.size else -1


def peval(poly, t):
    """Float evaluation of integer coefficients at t (Horner)."""
    v = 0.0
    for c in poly[::-1]:
        v = v * t + float(c)
    return v


# exact polynomial algebra over Q (ascending Fraction coefficients), for Yun's square-free factorisation

def _trim(p):
    while len(p) > 1 and p[-1] == 0:
        p = p[:-1]
    return p


def _deriv(p):
    return _trim([i * p[i] for i in range(1, len(p))] or [Fraction(0)])


def _sub(a, b):
    n = max(len(a), len(b))
    a, b = list(a) + [Fraction(0)] * (n - len(a)), list(b) + [Fraction(0)] * (n - len(b))
    return _trim([x - y for x, y in zip(a, b)])


def _divmod(a, b):
    a, q = list(a), [Fraction(0)] * max(len(a) - len(b) + 1, 1)
    while len(a) >= len(b) and any(a):
        k = len(a) - len(b)
        f = a[-1] / b[-1]
        q[k] = f
        for i in range(len(b)):
            a[i + k] -= f * b[i]
        a = _trim(a[:-1]) if len(a) > 1 else a
    return _trim(q), _trim(a)


def _gcd(a, b):
    while any(b):
        a, b = b, _divmod(a, b)[1]
    return [c / a[-1] for c in a]


def square_free_factors(poly):
    """Yun's algorithm over Q: [(multiplicity, factor)] with poly = c·Π factor^multiplicity and
    every factor square-free (simple roots)."""
    p = _trim([Fraction(int(c)) for c in poly])
    dp = _deriv(p)
    g = _gcd(p, dp)
    c, d = _divmod(p, g)[0], _divmod(dp, g)[0]
    d = _sub(d, _deriv(c))
    out, i = [], 1
    while len(c) > 1:
        a = _gcd(c, d)
        if len(a) > 1:
            out.append((i, a))
        c = _divmod(c, a)[0]
        d = _sub(_divmod(d, a)[0], _deriv(c))
        i += 1
    return out


def _simple_real_roots(coeffs, lo, hi):
    """Real roots in (lo, hi) of a polynomial with simple roots (float coefficients, ascending)."""
    deg = len(coeffs) - 1
    if deg <= 0:
        return []
    c = np.asarray(coeffs, dtype=float)
    dc = np.array([k * c[k] for k in range(1, deg + 1)])
    out = []
    for z in np.roots(c[::-1]):
        if abs(z.imag) > 1e-6 * max(1.0, abs(z.real)):
            continue
        t = float(z.real)
        for _ in range(4):
            dv = peval(dc, t)
            if dv == 0 or not math.isfinite(dv):
                break
            t_new = t - peval(c, t) / dv
            if not math.isfinite(t_new) or abs(t_new - t) > 1e-6:
                break
            t = t_new
        if lo < t < hi:
            out.append(t)
    return out


def sign_change_roots(poly, lo, hi):
    """Real roots in (lo, hi) at which the integer polynomial changes sign, as (t, multiplicity):
    linear and quadratic exactly (discriminant); higher degrees through the square-free
    factorisation (Yun, exact over Q) whenever the float roots cluster, so that multiplicities —
    and with them the sign changes (odd multiplicity) — are exact and every factor's roots simple."""
    deg = degree(poly)
    if deg <= 0:
        return []
    if deg == 1:
        t = -float(Fraction(int(poly[0]), int(poly[1])))
        return [(t, 1)] if lo < t < hi else []
    if deg == 2:
        c0, c1, c2 = (int(x) for x in poly[:3])
        disc = c1 * c1 - 4 * c0 * c2
        if disc <= 0:          # no real root, or a double root (a touch, not a breakpoint)
            return []
        r = math.sqrt(disc)
        if c1 != 0:
            q = -0.5 * (c1 + math.copysign(r, c1))
            ts = [q / c2, c0 / q]
        else:
            ts = [r / (2 * c2), -r / (2 * c2)]
        return sorted((t, 1) for t in ts if lo < t < hi)
    coeffs = [float(c) for c in poly[: deg + 1]]
    z = np.roots(np.asarray(coeffs)[::-1])
    gaps = np.abs(z[:, None] - z[None, :]) + np.eye(z.size) * 1e9
    if gaps.min() > 1e-4 * max(1.0, np.abs(z).max()):
        return sorted((t, 1) for t in _simple_real_roots(coeffs, lo, hi))
    out = []
    for k, factor in square_free_factors(poly[: deg + 1]):
        if k % 2 == 1:
            out += [(t, k) for t in _simple_real_roots([float(c) for c in factor], lo, hi)]
    return sorted(out)


def _companion_roots(C):
    """Roots of many polynomials of one degree at once: C (N, deg + 1) ascending, leading ≠ 0."""
    deg = C.shape[1] - 1
    M = np.zeros((C.shape[0], deg, deg))
    M[:, 0, :] = -C[:, ::-1][:, 1:] / C[:, -1:]
    M[:, np.arange(1, deg), np.arange(deg - 1)] = 1.0
    return np.linalg.eigvals(M)


def all_sign_change_roots(polys, lo, hi):
    """sign_change_roots for a list of integer polynomials, the cubic-and-higher ones batched by
    degree through one companion-matrix eigenvalue call (clusters go through Yun, one by one)."""
    out = []
    groups = {}
    for p in polys:
        deg = degree(p)
        if deg <= 0:
            continue
        if deg <= 2:
            out += sign_change_roots(p, lo, hi)
        else:
            groups.setdefault(deg, []).append(p[: deg + 1])
    for deg, ps in groups.items():
        C = np.array([[float(c) for c in p] for p in ps])
        Z = _companion_roots(C)
        scale = np.maximum(1.0, np.abs(Z).max(1))
        gaps = np.abs(Z[:, :, None] - Z[:, None, :]) + np.eye(deg)[None] * 1e9
        near = (np.abs(Z.imag) <= 1e-3 * scale[:, None]) & (Z.real > lo - 1e-3) & (Z.real < hi + 1e-3)
        # a cluster (a multiple root seen through round-off) matters only inside the interval
        clustered = ((gaps <= 1e-4 * scale[:, None, None]) & near[:, :, None]).reshape(len(ps), -1).any(1)
        dC = C[:, 1:] * np.arange(1, deg + 1)[None, :]
        for i, p in enumerate(ps):
            if clustered[i]:
                out += sign_change_roots(p, lo, hi)
                continue
            for z in Z[i]:
                if abs(z.imag) > 1e-6 * scale[i]:
                    continue
                t = float(z.real)
                if not (lo - 1e-6 < t < hi + 1e-6):
                    continue
                for _ in range(3):
                    dv = peval(dC[i], t)
                    if dv == 0:
                        break
                    t_new = t - peval(C[i], t) / dv
                    if not math.isfinite(t_new) or abs(t_new - t) > 1e-6:
                        break
                    t = t_new
                if lo < t < hi:
                    out.append((t, 1))
    return out


def _pieces(polys, lo, hi):
    """Breakpoints (sign-change roots of every polynomial in the list, with the largest
    multiplicity among the polynomials vanishing there) and the pieces between."""
    bps = sorted(all_sign_change_roots(polys, lo, hi))
    merged = []
    for t, k in bps:
        if merged and t - merged[-1][0] <= 1e-10:
            merged[-1] = (merged[-1][0], max(merged[-1][1], k))
        else:
            merged.append((t, k))
    edges = [lo] + [t for t, _ in merged] + [hi]
    return merged, list(zip(edges[:-1], edges[1:]))


def _pattern(S, lo, hi):
    mid = lo + INSIDE * (hi - lo)
    return np.array([[peval(S[i, j], mid) > 0 for j in range(S.shape[1])] for i in range(S.shape[0])])


def exact_structure(n, d, layers, ffn, qk, data_seed):
    """Breakpoints in (T0, T1), their multiplicities, and the pieces as (lo, hi, exact degree of
    the output there)."""
    w = weights(n, d, layers, ffn, qk, data_seed)
    dtype = object if layers == 2 else np.int64
    X = np.stack([w["X0"], w["D"]], axis=-1).astype(dtype)          # (n, d, 2)
    S1 = scores(X, w["M"])                                           # (n, n, 3)
    C1 = pmul(S1[:, :, None, :], linear_map(X, w["WV"])[None, :, :, :])   # (n, n, d, 4)
    bps1, pieces1 = _pieces([S1[i, j] for i in range(n) for j in range(n)], T0, T1)
    breakpoints, degrees = list(bps1), []
    for lo, hi in pieces1:
        P = _pattern(S1, lo, hi)
        A = np.einsum("ij,ijkc->ikc", P.astype(dtype), C1) if dtype is not object else \
            np.array([[sum((C1[i, j, k] for j in range(n) if P[i, j]), np.zeros(4, dtype=object))
                       for k in range(d)] for i in range(n)], dtype=object)
        sub = [(lo, hi, A)]
        if layers == 2:
            S2 = scores(A, w["M2"])
            C2 = pmul(S2[:, :, None, :], linear_map(A, w["WV2"])[None, :, :, :])
            bps2, pieces2 = _pieces([S2[i, j] for i in range(n) for j in range(n)], lo, hi)
            breakpoints += bps2
            sub = []
            for lo2, hi2 in pieces2:
                P2 = _pattern(S2, lo2, hi2)
                A2 = np.array([[sum((C2[i, j, k] for j in range(n) if P2[i, j]), np.zeros(C2.shape[-1], dtype=object))
                                for k in range(d)] for i in range(n)], dtype=object)
                sub.append((lo2, hi2, A2))
        for lo2, hi2, A2 in sub:
            if not ffn:
                degrees.append((lo2, hi2, max(degree(A2[i, k]) for i in range(n) for k in range(d))))
                continue
            U = linear_map(A2, w["W1"])
            U[:, :, 0] = U[:, :, 0] + w["b1"].astype(U.dtype)[None, :]
            bps3, pieces3 = _pieces([U[i, m] for i in range(n) for m in range(FFN_WIDTH)], lo2, hi2)
            breakpoints += bps3
            for lo3, hi3 in pieces3:
                mid = lo3 + INSIDE * (hi3 - lo3)
                Pf = np.array([[peval(U[i, m], mid) > 0 for m in range(FFN_WIDTH)] for i in range(n)])
                Y = linear_map(U * Pf[:, :, None].astype(U.dtype), w["W2"])
                Y[:, :, 0] = Y[:, :, 0] + w["b2"].astype(Y.dtype)[None, :]
                degrees.append((lo3, hi3, max(degree(Y[i, k]) for i in range(n) for k in range(d))))
    breakpoints = sorted(breakpoints)
    return np.array([t for t, _ in breakpoints]), np.array([k for _, k in breakpoints], dtype=int), degrees


# ---- simulation ---------------------------------------------------------------------------------

def _t(x, ctx):
    return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=ctx.dtype, device=ctx.device)


ZERO_REL = 1e-12   # |z| ≤ 1e-12 × max over the grid of |z| ...
ZERO_TERMS = 1e-13 # ... or ≤ 1e-13 × (magnitude of the terms summed into z, round-off ≤ ~1e-15 of it):
                   # z counts as zero, its sign is not read (exact zeros seen through round-off)
KEYS = ("X0", "D", "M", "WV", "M2", "WV2", "W1", "b1", "W2", "b2")


def stack_weights(ws, ctx):
    """Weights of several draws of one architecture, zero-padded to common n and d, as tensors
    (B, …), with their absolute values.  Padded tokens are zero rows (their scores are 0, they
    never flip, their outputs are dropped); padded dimensions are zero rows/columns."""
    n = max(w["X0"].shape[0] for w in ws)
    d = max(w["X0"].shape[1] for w in ws)
    target = {"X0": (n, d), "D": (n, d), "M": (d, d), "WV": (d, d), "M2": (d, d), "WV2": (d, d),
              "W1": (d, FFN_WIDTH), "b1": (FFN_WIDTH,), "W2": (FFN_WIDTH, d), "b2": (d,)}
    out = {}
    for k in KEYS:
        if k not in ws[0]:
            continue
        arr = np.zeros((len(ws),) + target[k])
        for i, w in enumerate(ws):
            arr[(i,) + tuple(slice(0, s) for s in w[k].shape)] = w[k]
        out[k] = _t(arr, ctx)
        out["abs_" + k] = out[k].abs()
    return out


def forward(ts, W, layers, ffn, attention, zmax=None):
    """Outputs (B, P, n, d) and the three-state pattern (B, P, K) of every ReLU input at the
    points ts (B, P), row b evaluated with the weights W[·][b]: +1 / −1 by the sign of z, 0 where
    |z| is within round-off of zero.  The round-off scale is carried alongside the values (the
    same network evaluated on the absolute values of its terms).  ``zmax`` (B, K): each input's
    largest |z| over the grid (computed over P when None; returned)."""
    g = lambda k: W[k][:, None]
    X = g("X0") + ts[..., None, None] * g("D")
    Xm = g("abs_X0") + ts.abs()[..., None, None] * g("abs_D")
    pats = []

    def state(z, zm):
        pats.append((z.flatten(2), zm.flatten(2)))

    def attend(Z, Zm, M, WV):
        S = Z @ g(M) @ Z.transpose(-1, -2)
        Sm = Zm @ g("abs_" + M) @ Zm.transpose(-1, -2)
        V, Vm = Z @ g(WV), Zm @ g("abs_" + WV)
        if attention == "softmax":
            return torch.softmax(S, dim=-1) @ V, Vm
        R = torch.relu(S)
        state(S, Sm)
        if attention == "rownorm":
            tot = R.sum(-1, keepdim=True)
            R = torch.where(tot > 0, R / torch.where(tot > 0, tot, torch.ones_like(tot)), torch.zeros_like(R))
            return R @ V, Vm
        return R @ V, Sm @ Vm

    A, Am = attend(X, Xm, "M", "WV")
    if layers == 2:
        A, Am = attend(A, Am, "M2", "WV2")
    if ffn:
        U = A @ g("W1") + g("b1")[..., None, :]
        state(U, Am @ g("abs_W1") + g("abs_b1")[..., None, :])
        A = torch.relu(U) @ g("W2") + g("b2")[..., None, :]
    if not pats:
        return A, torch.zeros(*ts.shape, 0, dtype=torch.int8, device=ts.device), zmax
    z = torch.cat([q[0] for q in pats], -1)
    zm = torch.cat([q[1] for q in pats], -1)
    if zmax is None:
        zmax = z.abs().amax(1)
    band = torch.maximum(ZERO_REL * zmax[:, None, :], ZERO_TERMS * zm)
    st = torch.sign(z).to(torch.int8)
    return A, torch.where(z.abs() <= band, torch.zeros_like(st), st), zmax


def _chebyshev_residuals(t, Y, lo, hi):
    """Relative max residual of the least-squares fit of each degree 0 … MAX_DEGREE
    (Chebyshev basis on [lo, hi]); NaN where the piece has too few points for that degree."""
    m = t.size
    out = np.full(MAX_DEGREE + 1, np.nan)
    kmax = min(MAX_DEGREE, m - 1 - EXTRA_POINTS)
    if kmax < 0:
        return out
    x = (2 * t - (lo + hi)) / (hi - lo)
    V = np.polynomial.chebyshev.chebvander(x, kmax)
    Q = torch.linalg.qr(torch.from_numpy(V))[0].numpy()     # torch: LAPACK on one thread
    c = Q.T @ Y
    scale = max(np.abs(Y).max(), 1e-300)
    fits = np.cumsum(Q.T[:, :, None] * c[:, None, :], axis=0)          # (kmax + 1, m, outputs)
    out[: kmax + 1] = np.abs(Y[None] - fits).reshape(kmax + 1, -1).max(1) / scale
    return out


def simulate_lines(ws, layers, ffn, attention, ctx):
    """The simulation for several draws of one architecture (one list of weights each), as one
    tensor program for the grid and for every bisection step; per-draw pieces and fits."""
    B = len(ws)
    W = stack_weights(ws, ctx)
    ts = torch.linspace(T0, T1, GRID, dtype=ctx.dtype, device=ctx.device)
    tn = ts.cpu().numpy()
    A, pat, zmax = forward(ts.expand(B, GRID), W, layers, ffn, attention)
    A = A.cpu().numpy()
    terms = zmax.amax(1).cpu().numpy() if zmax is not None else np.abs(A).reshape(B, -1).max(1)
    P = pat.cpu().numpy().astype(np.int8)
    # a sign flip (+1 ↔ −1) of some ReLU input between consecutive grid points is a breakpoint;
    # states within round-off of zero (0) carry the last non-zero sign (identically-zero inputs stay 0)
    pos = np.where(P != 0, np.arange(GRID)[None, :, None], 0)
    np.maximum.accumulate(pos, axis=1, out=pos)
    carried = np.where((P != 0).cumsum(1) > 0, np.take_along_axis(P, pos, 1), 0)
    flips = carried[:, 1:] * carried[:, :-1] < 0                      # (B, GRID-1, K)
    cb, cc = np.nonzero(flips.any(2))                                  # draw, cell
    lo, hi = tn[cc].copy(), tn[cc + 1].copy()
    if cb.size:   # bisection: has any of the cell's flipping inputs reached its new sign at mid?
        F = flips[cb, cc]
        target = carried[cb, cc + 1]
        cidx = torch.as_tensor(cb, device=ctx.device)
        Wc = {k: v[cidx] for k, v in W.items()}
        zc = zmax[cidx] if zmax is not None else None
        for _ in range(BISECT):
            mid = 0.5 * (lo + hi)
            pm = forward(_t(mid, ctx)[:, None], Wc, layers, ffn, attention, zc)[1][:, 0].cpu().numpy()
            done = (F & (pm == target)).any(1)
            lo, hi = np.where(done, lo, mid), np.where(done, mid, hi)
    bps = 0.5 * (lo + hi)
    # change across each breakpoint against the change over the same distance beside it
    ratio = np.zeros(B)
    if cb.size:
        e = 1e-9 * (T1 - T0)
        pts = _t(bps[:, None] + e * np.array([-3.0, -1.0, 1.0, 3.0])[None, :], ctx)
        Ac = forward(pts, Wc, layers, ffn, attention, zc)[0]
        At = [Ac[:, j] for j in range(4)]
        jump = (At[2] - At[1]).abs().flatten(1).amax(1)
        beside = torch.maximum((At[1] - At[0]).abs().flatten(1).amax(1), (At[3] - At[2]).abs().flatten(1).amax(1))
        scale = torch.as_tensor(np.abs(A).reshape(B, -1).max(1), dtype=ctx.dtype, device=ctx.device)[cidx]
        r = (jump / (beside + 1e-12 * scale + 1e-300)).cpu().numpy()
        np.maximum.at(ratio, cb, r)
    out = []
    for b, w in enumerate(ws):
        n, d = w["X0"].shape
        Y = A[b, :, :n, :d].reshape(GRID, -1)
        cells = cc[cb == b]
        starts, ends = np.r_[0, cells + 1], np.r_[cells + 1, GRID]
        mids, res, peak, span = [], [], [], []
        for s_, e_ in zip(starts, ends):
            if e_ - s_ >= 2:
                mids.append(0.5 * (tn[s_] + tn[e_ - 1]))
                span.append((tn[s_], tn[e_ - 1]))
                res.append(_chebyshev_residuals(tn[s_:e_], Y[s_:e_], tn[s_], tn[e_ - 1]))
                peak.append(np.abs(Y[s_:e_]).max() / max(terms[b], 1e-300))
        out.append({"breakpoints": bps[cb == b], "piece_mid": np.array(mids), "piece_peak": np.array(peak),
                    "piece_span": np.array(span).reshape(-1, 2),
                    "piece_residuals": np.array(res).reshape(-1, MAX_DEGREE + 1), "jump_ratio": float(ratio[b]),
                    "t": tn[:: GRID // 150], "output": Y[:: GRID // 150, 0]})
    return out
