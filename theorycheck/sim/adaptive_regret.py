"""diffGrad / Adam-type optimisers on Reddi, Kale & Kumar's online convex problem.

Feasible set F = [−1, 1]; loss f_t(x) = C·x if t ≡ 1 (mod 3), −x otherwise (C > 2), so the best
fixed decision is x* = −1 and each 3-step cycle spent at +1 costs 2(C − 2) of regret.

The optimiser (diffGrad, Dubey et al. 2019, with Kingma & Ba's schedules):
    g_t = ∇f_t(x_t),  β₁,t = β₁ λ^{t−1}
    m_t = β₁,t m_{t−1} + (1 − β₁,t) g_t,   v_t = β₂ v_{t−1} + (1 − β₂) g_t²
    m̂_t = m_t / (1 − β₁^t),   v̂_t = v_t / (1 − β₂^t)   [AMSGrad: v̂_t ← max(v̂_{t−1}, v̂_t)]
    ξ_t = 1 / (1 + exp(−|g_{t−1} − g_t|))   (g_0 = 0; ξ_t ≡ 1 for plain Adam)
    x_{t+1} = Π_F(x_t − α_t ξ_t m̂_t / (√v̂_t + ε)),   α_t = α/√t (or α: constant-step break)
The projection Π_F (a clip) keeps every iterate in F, which is what makes the diameter
hypothesis ‖x_m − x_n‖ ≤ D = 2 of the regret theorem hold.

Two implementations of the same recursion: a scalar one in plain Python floats (fast for one
run) and a numpy one over many runs at once; they agree to round-off.

Also the shared parts of published.diffgrad_regret and dynamics.amsgrad_diffgrad_regret (which
must range over the same hypotheses): the assumption space, the exact side on the instance,
and the regret-exponent observation.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp

from ..space import AssumptionSpace, Float

EPS = 1e-8


def checkpoints(T: int) -> tuple:
    return (T // 4, T // 2, T)


def run_scalar(C, beta1, beta2, lam, alpha, x1, T, amsgrad=False, friction=True, decay=True):
    """One run; returns (regret at T/4, T/2, T), x_T and a coarse regret path."""
    marks = set(checkpoints(T))
    every = max(T // 200, 1)
    x, m, v, vh, gprev, R = float(x1), 0.0, 0.0, 0.0, 0.0, 0.0
    out, path = [], []
    for t in range(1, T + 1):
        g = C if t % 3 == 1 else -1.0
        R += g * (x + 1.0)                       # f_t(x_t) − f_t(−1)
        b1t = beta1 * lam ** (t - 1)
        m = b1t * m + (1.0 - b1t) * g
        v = beta2 * v + (1.0 - beta2) * g * g
        mhat = m / (1.0 - beta1 ** t) if beta1 > 0 else m
        vhat = v / (1.0 - beta2 ** t)
        if amsgrad:
            vh = vhat if vhat > vh else vh
            vhat = vh
        xi = 1.0 / (1.0 + math.exp(-abs(gprev - g))) if friction else 1.0
        gprev = g
        step = (alpha / math.sqrt(t) if decay else alpha) * xi * mhat / (math.sqrt(vhat) + EPS)
        x = x - step
        x = 1.0 if x > 1.0 else (-1.0 if x < -1.0 else x)
        if t in marks:
            out.append(R)
        if t % every == 0:
            path.append(R / t)
    return np.array(out), x, np.array(path)


def run_batch(C, beta1, beta2, lam, alpha, x1, T, amsgrad, friction, decay):
    """The same recursion for arrays of parameters (one run per entry); boolean arrays select
    AMSGrad, the friction and the 1/√t decay per run."""
    C, beta1, beta2, lam, alpha = (np.asarray(a, dtype=float) for a in (C, beta1, beta2, lam, alpha))
    amsgrad, friction, decay = (np.asarray(a, dtype=bool) for a in (amsgrad, friction, decay))
    B = C.size
    x = np.asarray(x1, dtype=float).copy()
    m, v, vh, gprev, R = (np.zeros(B) for _ in range(5))
    b1pow, b2pow, lampow = np.ones(B), np.ones(B), np.ones(B)
    marks = checkpoints(T)
    every = max(T // 200, 1)
    out, path = [], []
    pos = beta1 > 0
    for t in range(1, T + 1):
        g = C if t % 3 == 1 else -np.ones(B)
        R = R + g * (x + 1.0)
        b1t = beta1 * lampow
        lampow = lampow * lam
        m = b1t * m + (1.0 - b1t) * g
        v = beta2 * v + (1.0 - beta2) * g * g
        b1pow, b2pow = b1pow * beta1, b2pow * beta2
        mhat = np.where(pos, m / np.where(pos, 1.0 - b1pow, 1.0), m)
        vhat = v / (1.0 - b2pow)
        vh = np.where(vhat > vh, vhat, vh)
        vhat = np.where(amsgrad, vh, vhat)
        xi = np.where(friction, 1.0 / (1.0 + np.exp(-np.abs(gprev - g))), 1.0)
        gprev = g
        step = np.where(decay, alpha / math.sqrt(t), alpha) * xi * mhat / (np.sqrt(vhat) + EPS)
        x = np.clip(x - step, -1.0, 1.0)
        if t in marks:
            out.append(R.copy())
        if t % every == 0:
            path.append(R / t)
    return np.stack(out, 1), x, np.stack(path, 1)


def stuck_regret_rate(C):
    """R_T/T of a run stuck at x = +1: 2(C − 2) per 3-step cycle."""
    return 2.0 * (C - 2.0) / 3.0


# ---- the shared claim parts -------------------------------------------------------------------


HORIZON = 12_000
EXPONENT_TOL = 0.004  # the Θ(√T) exponent at T = 12 000 (measured |estimate − ½| ≤ 0.0013 on other draws)
PUBLISHED_TOL = 0.05  # the O(√T) upper bound: allowance for plain diffGrad's slower transients


def space():
    """Kingma & Ba's (and diffGrad's) hypotheses, on the instance family f_t = C·x (t ≡ 1 mod 3),
    −x otherwise, over F = [−1, 1] (projected iterates: diameter D = 2; gradients bounded by C):
    β₁ ∈ [0, 0.9], β₂ ∈ (0, 1) with γ = β₁²/√β₂ < 1, β₁,t = β₁λ^{t−1} with λ ∈ (0, 1),
    α_t = α/√t."""
    return AssumptionSpace([
        Float("C", 2.5, 10.0, description="the large gradient of Reddi et al.'s instance (C > 2)"),
        Float("beta2", 1e-3, 0.999, log=True, description="second-moment decay β₂"),
        Float("beta1", 0.0, 0.9, description="first-moment decay β₁ (β₁² < √β₂)"),
        Float("lam", 0.5, 0.99, description="β₁,t = β₁ λ^{t−1} (λ ≤ 0.99: λ^{T/4} ≤ e^{−30}, the schedule has "
                                             "decayed before the exponent windows)"),
        Float("alpha", 0.25, 1.0, log=True, description="α_t = α/√t"),
        Float("x1", -1.0, 1.0, description="the first decision x₁ ∈ F"),
    ], constraints=["beta1 ** 2 < sqrt(beta2)"])


REGIMES = {"Reddi's adversarial β₂ ≤ 1/(1 + C²)": "beta2 <= 1 / (1 + C * C)", "β₁ > 0.3": "beta1 > 0.3",
           "β₂ ≥ 0.9": "beta2 >= 0.9", "x₁ ≤ 0": "x1 <= 0"}


@functools.lru_cache(maxsize=1)
def _cycle():
    """sympy, once: the cycle sum of the losses (C − 2)x, its slope, and the regret rate of a run
    stuck at +1 against x* = −1: (cycle(1) − cycle(−1))/3 = 2(C − 2)/3."""
    x, C = sp.symbols("x C", real=True)
    cycle = C * x - x - x
    return sp.lambdify(C, sp.diff(cycle, x)), sp.lambdify(C, sp.simplify((cycle.subs(x, 1) - cycle.subs(x, -1)) / 3))


def exact(params):
    """x* = −1 (the cycle loss has slope C − 2 > 0 on [−1, 1]); the stuck rate 2(C − 2)/3; the
    hypotheses of the draw."""
    slope, stuck = _cycle()
    xstar = -1.0 if slope(params["C"]) > 0 else 1.0
    gamma = params["beta1"] ** 2 / math.sqrt(params["beta2"])
    return {"x_star": float(xstar), "stuck_rate": float(stuck(params["C"])),
            "stuck_rate_closed_form": stuck_regret_rate(params["C"]), "gamma": gamma,
            "hypotheses_hold": bool(gamma < 1 and 0 < params["lam"] < 1 and params["C"] > 0)}


def _observation(R, x, path):
    """Regret exponent from the increments R(T/2) − R(T/4) and R(T) − R(T/2) (log base 2 of
    their ratio: ½ for Θ(√T) regret, 1 for linear regret; increments ≤ 0 read as bounded)."""
    d1, d2 = R[1] - R[0], R[2] - R[1]
    if d2 <= 0:
        expo = 0.0
    elif d1 <= 0:
        expo = math.inf
    else:
        expo = math.log(d2 / d1) / math.log(2.0)
    T = HORIZON
    return {"regret_exponent": expo, "avg_regret": float(R[2] / T), "regret": np.asarray(R),
            "x_final": float(x), "avg_regret_path": np.asarray(path),
            "t_path": np.arange(1, len(path) + 1) * max(T // 200, 1)}


def _flags(p, amsgrad):
    return (bool(p.get("amsgrad", amsgrad)), bool(p.get("friction", True)), not p.get("constant_step", False))


def simulate_one(params, amsgrad):
    a, f, dec = _flags(params, amsgrad)
    R, x, path = run_scalar(params["C"], params.get("beta1_run", params["beta1"]),
                            params.get("beta2_run", params["beta2"]), params["lam"], params["alpha"],
                            params["x1"], HORIZON, amsgrad=a, friction=f, decay=dec)
    return _observation(R, x, path)


def simulate_many(params_list, amsgrad):
    col = lambda k: np.array([p.get(k + "_run", p[k]) if k in ("beta1", "beta2") else p[k] for p in params_list])
    flags = np.array([_flags(p, amsgrad) for p in params_list])
    R, x, path = run_batch(col("C"), col("beta1"), col("beta2"), col("lam"), col("alpha"), col("x1"), HORIZON,
                           flags[:, 0], flags[:, 1], flags[:, 2])
    return [_observation(R[i], x[i], path[i]) for i in range(len(params_list))]


