"""An orthogonalised-momentum optimiser under a Kronecker-factored Fisher metric (FISMO,
re-implemented from its abstract) on a small nonconvex matrix regression, many runs at once.

Problem: W ∈ R^{2×2}, f(W) = (1/N) Σ_i ½‖tanh(W x_i) − y_i‖² on a fixed data set (N = 32,
x_i ~ N(0, I₂), y_i = tanh(W* x_i) + σ ε_i).  f is L-smooth and bounded below; a minibatch
gradient (B indices drawn with replacement) is unbiased with bounded variance (the per-sample
gradients are bounded) — the hypotheses of the stochastic nonconvex setting.

Update (trust region in the Fisher metric, as the abstract describes it): with G the
minibatch gradient, M ← μM + G, A ← β_F A + (1 − β_F) GGᵀ/2, B ← β_F B + (1 − β_F) GᵀG/2,
    Δ = −A^{−½} polar(A^{−½} M B^{−½}) B^{−½},   W ← W + η Δ / RMS(Δ)   (unit-RMS step),
polar(P) = UVᵀ for P = UΣVᵀ.  With A = B = I this is Muon's orthogonalised momentum.  Every
2×2 operation is in closed form (polar factor (P + sgn(det P)·cof P)/√(‖P‖² + 2|det P|), inverse
square root (adj S + √det S·I)/(√det S·√(tr S + 2√det S))), so a run is a scalar loop of a few
hundred float operations per step (plain Python: faster than array code at this size).
``optimizer="sgdm"`` runs momentum SGD instead (W ← W − ηM), the comparison the narrowed claim draws on.

The squared norm of the full-batch gradient is recorded every ``every`` steps.
"""
from __future__ import annotations

import math
import random

import numpy as np

N_DATA = 32
BETA_F = 0.95
DAMP = 1e-3


def problem(seed: int, sigma: float):
    """Data and a start W₀ = W* + 0.3·ξ near the teacher (in its basin: the claims are about the
    floor, not about escaping other basins)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_DATA, 2))
    Wstar = rng.standard_normal((2, 2))
    Y = np.tanh(X @ Wstar.T) + sigma * rng.standard_normal((N_DATA, 2))
    W0 = Wstar + 0.3 * rng.standard_normal((2, 2))
    return X, Y, W0


def _full_grad(X, Y, w11, w12, w21, w22):
    """∇f at W (plain floats) over the whole data set, and ‖∇f‖²."""
    g11 = g12 = g21 = g22 = 0.0
    for (x1, x2), (y1, y2) in zip(X, Y):
        h1 = math.tanh(w11 * x1 + w12 * x2)
        h2 = math.tanh(w21 * x1 + w22 * x2)
        r1 = (h1 - y1) * (1.0 - h1 * h1)
        r2 = (h2 - y2) * (1.0 - h2 * h2)
        g11 += r1 * x1
        g12 += r1 * x2
        g21 += r2 * x1
        g22 += r2 * x2
    n = len(X)
    return g11 / n, g12 / n, g21 / n, g22 / n


def _inv_sqrt(a, b, d):
    """S^{−½} of the SPD matrix [[a, b], [b, d]]: (adj S + √det S·I)/(√det S·√(tr S + 2√det S))."""
    s = math.sqrt(a * d - b * b)
    k = 1.0 / (s * math.sqrt(a + d + 2.0 * s))
    return (d + s) * k, -b * k, (a + s) * k


def _polar(p, q, r, u):
    """The orthogonal polar factor of [[p, q], [r, u]]: (P + sgn(det P)·cof P)/√(‖P‖² + 2|det P|)."""
    det = p * u - q * r
    sg = 1.0 if det >= 0 else -1.0
    n = 1.0 / math.sqrt(p * p + q * q + r * r + u * u + 2.0 * abs(det))
    return (p + sg * u) * n, (q - sg * r) * n, (r - sg * q) * n, (u + sg * p) * n


def _mul(a, b):
    """2×2 product of (a11, a12, a21, a22) tuples."""
    return (a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3])


def run_one(X, Y, W0, eta, batch, mu, steps, seed, optimizer="fismo", every=5, decay=False):
    """One run in plain Python floats (fast for 2×2 matrices): the recorded ‖∇f(W_t)‖² every
    ``every`` steps.  batch = 0: full-batch (deterministic) gradients; decay: step η·0.995^t
    (a break of the constant-step setting)."""
    X = [tuple(map(float, x)) for x in X]
    Y = [tuple(map(float, y)) for y in Y]
    rnd = random.Random(seed)
    n = len(X)
    w11, w12, w21, w22 = (float(v) for v in np.asarray(W0).ravel())
    m11 = m12 = m21 = m22 = 0.0
    a1, a2, a3 = 1e-2, 0.0, 1e-2
    b1, b2, b3 = 1e-2, 0.0, 1e-2
    cF = 1.0 - BETA_F
    out = []
    for t in range(steps):
        if t % every == 0:
            f11, f12, f21, f22 = _full_grad(X, Y, w11, w12, w21, w22)
            out.append(f11 * f11 + f12 * f12 + f21 * f21 + f22 * f22)
        if batch == 0:
            g11, g12, g21, g22 = _full_grad(X, Y, w11, w12, w21, w22)
        else:
            g11 = g12 = g21 = g22 = 0.0
            for _ in range(batch):
                (x1, x2), (y1, y2) = X[i := rnd.randrange(n)], Y[i]
                h1 = math.tanh(w11 * x1 + w12 * x2)
                h2 = math.tanh(w21 * x1 + w22 * x2)
                r1 = (h1 - y1) * (1.0 - h1 * h1)
                r2 = (h2 - y2) * (1.0 - h2 * h2)
                g11 += r1 * x1
                g12 += r1 * x2
                g21 += r2 * x1
                g22 += r2 * x2
            g11, g12, g21, g22 = g11 / batch, g12 / batch, g21 / batch, g22 / batch
        m11, m12, m21, m22 = mu * m11 + g11, mu * m12 + g12, mu * m21 + g21, mu * m22 + g22
        step = eta * 0.995 ** t if decay else eta
        if optimizer == "sgdm":
            w11, w12, w21, w22 = w11 - step * m11, w12 - step * m12, w21 - step * m21, w22 - step * m22
            continue
        a1 = BETA_F * a1 + cF * 0.5 * (g11 * g11 + g12 * g12)
        a2 = BETA_F * a2 + cF * 0.5 * (g11 * g21 + g12 * g22)
        a3 = BETA_F * a3 + cF * 0.5 * (g21 * g21 + g22 * g22)
        b1 = BETA_F * b1 + cF * 0.5 * (g11 * g11 + g21 * g21)
        b2 = BETA_F * b2 + cF * 0.5 * (g11 * g12 + g21 * g22)
        b3 = BETA_F * b3 + cF * 0.5 * (g12 * g12 + g22 * g22)
        p, q, r = _inv_sqrt(a1 + DAMP, a2, a3 + DAMP)
        Ai = (p, q, q, r)
        p, q, r = _inv_sqrt(b1 + DAMP, b2, b3 + DAMP)
        Bi = (p, q, q, r)
        Q = _polar(*_mul(_mul(Ai, (m11, m12, m21, m22)), Bi))
        d11, d12, d21, d22 = _mul(_mul(Ai, Q), Bi)
        k = step / math.sqrt(0.25 * (d11 * d11 + d12 * d12 + d21 * d21 + d22 * d22))
        w11, w12, w21, w22 = w11 - k * d11, w12 - k * d12, w21 - k * d21, w22 - k * d22
    return np.array(out)


def run(data, eta, batch, mu, steps, seeds, optimizer="fismo", every=5, decay=None):
    """Runs r = 0..R−1 on data[r] = (X, Y, W0) with steps eta[r], batch sizes batch[r] (0 = the
    full batch, deterministic), momentum mu[r], minibatch indices from random.Random(seeds[r]);
    optimizer a string or one per run.  Returns the recorded ‖∇f(W_t)‖² (R, steps // every) and
    the recording times.  Each run is its own scalar loop, so a run's result does not depend on
    the others in the call."""
    opts = [optimizer] * len(data) if isinstance(optimizer, str) else list(optimizer)
    dec = decay or [False] * len(data)
    g = np.stack([run_one(*d, e, int(b), m, steps, s, o, every, dc)
                  for d, e, b, m, s, o, dc in zip(data, eta, batch, mu, seeds, opts, dec)])
    return g, np.arange(0, steps, every)


# ---- the shared parts of published.fismo_rate and dynamics.orthogonalized_momentum_floor -----

STEPS = 800
EVERY = 5


def space(batches=(4, 16)):
    """Constant step η, batch B, momentum μ, label noise σ (the stochastic nonconvex setting:
    L-smooth, bounded below, unbiased minibatch gradients of bounded variance)."""
    from ..space import AssumptionSpace, Choice, Float, Seed
    return AssumptionSpace([
        Float("eta", 0.05, 0.1, log=True, description="constant step (unit-RMS update size)"),
        Choice("batch", list(batches), description="minibatch size B (fixed, independent of T)"),
        Float("mu", 0.8, 0.95, description="momentum"),
        Float("sigma", 0.25, 1.0, description="label noise of the regression data"),
        Seed("data_seed"),
    ])


REGIMES = {"B = 4": "batch == 4", "B = 16": "batch == 16", "η ≤ 0.07": "eta <= 0.07", "η > 0.07": "eta > 0.07"}


def window_means(g, steps=STEPS, every=EVERY):
    """Per-run means of ‖∇f‖² over [T/4, T/2] and [T/2, T] (T = steps)."""
    n = steps // every
    return g[:, n // 4: n // 2].mean(1), g[:, n // 2:].mean(1)


def floor_stats(g, chains):
    """Chain-averaged window means, the rate exponent log₂(E[T/2,T] / E[T/4,T/2]) and its standard
    error (delta method over chains: Var log Ē ≈ Var/(R Ē²))."""
    e1, e2 = window_means(g)
    m1, m2 = e1.mean(), e2.mean()
    v = (e1.var(ddof=1) / m1**2 + e2.var(ddof=1) / m2**2) / chains
    return m1, m2, float(np.log2(m2 / m1)), float(np.sqrt(v) / np.log(2)), float(e2.std(ddof=1) / np.sqrt(chains))


def configs_run(params_list, configs, chains, optimizer="fismo"):
    """For each draw and each (eta factor, batch factor) in ``configs``: ``chains`` runs; returns
    per draw a list (one per config) of the recorded ‖∇f‖² arrays (chains, STEPS // EVERY)."""
    data, eta, batch, mu, seeds, opt, dec = [], [], [], [], [], [], []
    for p in params_list:
        d = problem(p["data_seed"], p["sigma"])
        for c, (fe, fb) in enumerate(configs):
            for k in range(chains):
                data.append(d), eta.append(p["eta"] * fe), batch.append(int(p["batch"] * fb)), mu.append(p["mu"])
                seeds.append(hash((p["data_seed"], c, k)) % (2**32)), opt.append(p.get("optimizer", optimizer))
                dec.append(bool(p.get("decay", False)))
    G, _ = run(data, eta, batch, mu, STEPS, seeds, optimizer=opt, every=EVERY, decay=dec)
    per = len(configs) * chains
    return [[G[i * per + c * chains: i * per + (c + 1) * chains] for c in range(len(configs))]
            for i in range(len(params_list))]


def late_windows(g, chains, every=EVERY, steps=STEPS, batches=3):
    """Means of ‖∇f‖² over [T/8, T/4] and [T/2, T] (chains pooled) with batch-means standard
    errors (each chain's window cut into ``batches`` consecutive batches), and the pooled mean
    over [T/4, T] (the floor) with its standard error."""
    n = steps // every
    e0, e1, a, m, b = n // 8, n // 4, n // 4, n // 2, n

    def stat(lo, hi):
        bm = np.array([x.mean() for c in range(chains) for x in np.array_split(g[c, lo:hi], batches)])
        return float(bm.mean()), float(bm.std(ddof=1) / np.sqrt(bm.size))

    return stat(e0, e1), stat(m, b), stat(a, b)
