"""Hutter's memorising learner on Zipf-distributed features: the sympy
derivation of the power law, the exact finite-n error, an exact fast Zipf
sampler and the unseen-mass learning curve of sampled streams."""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp
from scipy.special import gamma, gammainc, zeta

K_HEAD = 20_000     # exact sum of E_n up to here, the rest as an integral (midpoint rule)
K_TABLE = 2**14     # inverse-CDF table of the sampler; beyond it, exact rejection from a discretised Pareto


@functools.lru_cache(maxsize=1)
def derivation() -> dict:
    """E_n = Σ_k p_k(1 − p_k)^n ~ Σ_k p_k e^{−n p_k} ~ ∫ c k^{−s} e^{−n c k^{−s}} dk, s = 1 + α,
    c = 1/ζ(s).  With u = n c k^{−s} (k = (nc/u)^{1/s}) sympy turns the integrand into
    C·u^{−1/s}e^{−u} with C = c(1/(cn))^{α/s}/s, and ∫u^{−1/s}e^{−u}du = Γ(1 − 1/s):
    E_n ~ C_α n^{−β}, β = α/(1 + α), C_α = ζ(1+α)^{−1/(1+α)} Γ(α/(1+α))/(1 + α)."""
    al, u, n, c = sp.symbols("alpha u n c", positive=True)
    s = 1 + al
    k = (n * c / u) ** (1 / s)
    integrand = c * k ** (-s) * sp.exp(-n * c * k ** (-s)) * (-sp.diff(k, u))
    prefactor = sp.simplify(sp.powsimp(integrand / (u ** (-1 / s) * sp.exp(-u)), force=True))
    laplace = sp.integrate(u ** (-1 / s) * sp.exp(-u), (u, 0, sp.oo))
    E_asym = sp.powsimp(sp.expand_power_base(prefactor * laplace, force=True), force=True)
    C = sp.simplify(E_asym.subs(c, 1 / sp.zeta(s)) * n ** (al / s))
    beta = sp.simplify(-sp.diff(sp.log(E_asym), n) * n)
    return {"prefactor": prefactor, "laplace": laplace, "C": C, "beta": beta, "alpha": al, "n": n,
            "C_fn": sp.lambdify(al, C, modules=["scipy", "numpy"])}


def C_alpha(alpha: float) -> float:
    s = 1 + alpha
    return float(zeta(s) ** (-1 / s) * gamma(alpha / s) / s)


def E_exact(n, alpha: float):
    """Σ_k p_k(1 − p_k)^n: exact sum for k ≤ K_HEAD, plus the tail as
    ∫_{K_HEAD+½}^∞ c k^{−s} e^{−n c k^{−s}} dk = (nc)^{1/s}/(s n)·γ(1 − 1/s, n c x0^{−s})
    (midpoint rule: error ≈ f′/24 ≈ 1e-12 relative; e^{−np} for (1 − p)^n: n p² ≤ 1e-8)."""
    n = np.atleast_1d(np.asarray(n, dtype=np.float64))
    s = 1 + alpha
    c = 1 / zeta(s)
    k = np.arange(1, K_HEAD + 1, dtype=np.float64)
    p = c * k ** -s
    head = np.array([np.sum(p * np.exp(m * np.log1p(-p))) for m in n])
    x0, a = K_HEAD + 0.5, 1 - 1 / s
    tail = (n * c) ** (1 / s) / (s * n) * gamma(a) * gammainc(a, n * c * x0 ** -s)
    return head + tail


def E_geometric(n, q: float):
    n = np.atleast_1d(np.asarray(n, dtype=np.float64))
    k = np.arange(1, int(np.ceil(60 / (1 - q))) + 2000, dtype=np.float64)
    p = (1 - q) * q ** (k - 1)
    return np.array([np.sum(p * np.exp(m * np.log1p(-p))) for m in n])


def zipf_sample(rng: np.random.Generator, s: float, size) -> np.ndarray:
    """Exact samples of P(k) = k^{−s}/ζ(s), k ≥ 1, as float64: inverse CDF on a
    table for k ≤ K_TABLE; the tail k > K_TABLE by rejection from floor(X),
    X ~ Pareto(x_m = K_TABLE + 1, shape s − 1), accepted with probability
    r(k)/r(x_m), r(k) = k^{−s}/P_prop(k) decreasing in k (acceptance ≈ 1)."""
    c = 1 / zeta(s)
    k = np.arange(1, K_TABLE + 1, dtype=np.float64)
    cdf = np.cumsum(c * k ** -s)
    u = rng.random(size)
    out = (np.searchsorted(cdf, u, side="right") + 1).astype(np.float64)
    tail = u >= cdf[-1]
    m = int(tail.sum())
    if m:
        a, xm = s - 1, float(K_TABLE + 1)

        def ratio(kk):  # k^{−s} / (x_m^a (k^{−a} − (k+1)^{−a})), the difference without cancellation
            return kk ** (a - s) / (xm**a * -np.expm1(-a * np.log1p(1 / kk)))

        top = ratio(xm)
        got = []
        while m > 0:
            x = np.floor(xm * rng.random(2 * m + 8) ** (-1 / a))
            keep = rng.random(x.size) < ratio(x) / top
            acc = x[keep][:m]
            got.append(acc)
            m -= acc.size
        out[tail] = np.concatenate(got)
    return out


def unseen_mass_curves(values: np.ndarray, mass, checkpoints) -> np.ndarray:
    """values: (R, n) feature streams; mass(values) -> probabilities.  Returns
    (R, len(checkpoints)): the probability mass of the features not among the first
    n_c samples of each stream (the memorising learner's test error)."""
    R, n = values.shape
    order = np.argsort(values, axis=1, kind="stable")
    v = np.take_along_axis(values, order, 1)
    first = np.ones(v.shape, dtype=bool)
    first[:, 1:] = v[:, 1:] != v[:, :-1]  # the first (earliest) occurrence of each feature
    rows = np.nonzero(first)[0]
    p = mass(v[first])
    # the checkpoint interval in which each feature is first seen, per stream: one weighted bincount
    ck = np.asarray(checkpoints)
    slot = np.searchsorted(ck, order[first], side="right")  # 0: seen before ck[0]; len(ck): never by the end
    seen = np.bincount(rows * (len(ck) + 1) + slot, weights=p, minlength=R * (len(ck) + 1))
    seen = np.cumsum(seen.reshape(R, len(ck) + 1)[:, : len(ck)], axis=1)
    return 1.0 - seen
