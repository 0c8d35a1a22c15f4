"""Dynamical stability regularises SGD on diagonal linear networks (Wu & Su).

f(x) = ⟨u ⊙ v, x⟩, L = (1/2n) Σ_i (f(x_i) − y_i)², β = u ⊙ v, a_j = (1/n)Σ_i x_ij².
Wu & Su's chain: a minimum SGD (batch 1, step η) converges to is linearly
stable, so η·tr(∇²L) ≤ 2 (stability ⇒ trace bound, cf. stability.sgd_trace);
and tr(∇²L) = Σ_j a_j(u_j² + v_j²) ≥ 2‖β‖_{1,a} (sharpness–norm equivalence,
equality iff |u| = |v|); hence the solution SGD reaches has ‖β‖_{1,a} ≤ 1/η.

Exact side: the trace formula of one sample's loss, tr ∇²ℓ = Σ_j x_j²(u_j² +
v_j²), by sympy (symbolic x, u, v, y; the loss is a mean of such terms, so
the weights are a_j = mean_i x_ij², exact rationals), the identity tr −
2Σa_j|u_jv_j| = Σ a_j(|u_j| − |v_j|)² simplified by sympy; the bound 2/η;
and the flattest interpolant's norm min{‖β‖_{1,a} : Xβ = y} (a linear
program, HiGHS).

Simulation (numpy SGD loop batched over draws; torch for the Hessian): SGD
with batch size 1 started at a chosen interpolating minimum θ_0 (plus a 1e-3
kick): the minimum β_min + t·n (n a random null-space direction of X) whose
weighted norm puts η·tr(H)/2 at the drawn s0 — for s0 > 1 the start is too
sharp to be stable and SGD has to leave it.  Up to 8000 steps (16000 in full); once the loss
is ≤ 1e-12, Gauss–Newton steps to the nearest interpolant (loss ≤ 1e-26;
this moves θ by O(√loss/(1 − ρ)), hence a 3e-3 relative slack in the bound
checks); the trace is read off the exact dense Hessian there (autograd).
Then the theorem's hypothesis is tested by simulation at the minimum θ∞
reached: linearised SGD's second moment there (per-sample gradients
(v⊙x_i, u⊙x_i)), averaged exactly over the index and propagated 2^30 steps,
must not grow (for the GD break: η·λ_max ≤ 2).

Undecidable draws (stated, hence ``inconclusive_fraction`` = 0.35): SGD
diverges or has not converged (~13 %: near sparse, non-strict minima the
convergence is sublinear), or the minimum SGD settles at is only
almost-surely stable, not mean-square stable (~9 %: η > η_c(θ∞), the gap
stability.probabilistic is about) — there the hypothesis of the bound does
not hold, and indeed η·tr(H)/2 reached 1.002 on one such draw.

Checks: at linearly stable minima, η·tr(H)/2 ≤ 1 and ‖β‖_{1,a} ≤ 1/η; at
every minimum reached, the trace identity and the gap identity through the
trained network (weights and factor 2 resolved), and ‖β‖_{1,a} ≥ the LP
minimum (SGD's solution interpolates)."""
import functools
import math

import numpy as np
import sympy as sp
import torch
from scipy.optimize import linprog

from theorycheck import (AssumptionSpace, Break, Check, Choice, Claim, Float, Inconclusive, Int, Mutant, Plot, Seed,
                         Series, Source, at_least, at_most, close)
from theorycheck.sim.hessian import dense_hessian
from theorycheck.sim.sgd import averaged_moment_map, moment_grows, span_coordinates
from theorycheck.verdict import Evidence

STEPS, STEPS_LARGE, CHECK_EVERY = 8000, 16000, 200
CONVERGED, POLISHED = 1e-12, 1e-26
KICK = 1e-3
SLACK = 3e-3   # relative: the Gauss–Newton polish moves θ by O(√loss/(1 − ρ)) from SGD's limit
BLOWUP = 1e6


def data(params):
    """Integer inputs with per-feature scales 1–2 (the weights a_j differ), labels from a sparse teacher."""
    rng = np.random.default_rng(params["data_seed"])
    n, d = params["n"], params["d"]
    scale = rng.integers(1, 3, size=d)
    while True:
        X = rng.integers(-2, 3, size=(n, d)) * scale
        beta = np.zeros(d)
        beta[rng.choice(d, size=2, replace=False)] = rng.choice([-1.0, 1.0], size=2)
        if np.linalg.matrix_rank(X) == n and np.all(np.abs(X).sum(0) > 0) and np.any(X @ beta != 0):
            return X, X @ beta


@functools.lru_cache(maxsize=16)
def one_sample_trace(d: int):
    """sympy: tr ∇²ℓ for ℓ = ½(Σ_j u_j v_j x_j − y)², as coefficients of u_j² and v_j²;
    and the gap identity checked symbolically."""
    u = sp.symbols(f"u0:{d}", real=True)
    v = sp.symbols(f"v0:{d}", real=True)
    x = sp.symbols(f"x0:{d}", real=True)
    y = sp.Symbol("y", real=True)
    loss = (sum(u[j] * v[j] * x[j] for j in range(d)) - y) ** 2 / 2
    tr = sp.expand(sum(sp.diff(loss, w, 2) for w in u + v))
    closed = sum(x[j] ** 2 * (u[j] ** 2 + v[j] ** 2) for j in range(d))
    if sp.expand(tr - closed) != 0:
        raise AssertionError("tr ∇²ℓ is not Σ x_j² (u_j² + v_j²)")
    # the gap identity holds term by term: u² + v² − 2|uv| − (|u| − |v|)² = 0 for real u, v
    p, q = sp.symbols("p q", real=True)
    if sp.simplify(p**2 + q**2 - 2 * sp.Abs(p * q) - (sp.Abs(p) - sp.Abs(q)) ** 2) != 0:
        raise AssertionError("u² + v² − 2|uv| − (|u| − |v|)² does not simplify to 0")
    return True


def flattest(X, y, a):
    """min Σ a_j|β_j| s.t. Xβ = y (HiGHS); its value and a minimiser."""
    n, d = X.shape
    res = linprog(np.concatenate([a, a]), A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None), method="highs")
    if res.status != 0:
        raise Inconclusive(f"LP not solved: {res.message}")
    beta = res.x[:d] - res.x[d:]
    return float(np.dot(a, np.abs(beta))), beta


def setting(params):
    """Data, weights a_j (exact), η and the starting interpolant β_0 (deterministic in the draw)."""
    X, y = data(params)
    n, d = X.shape
    a_exact = [sp.Rational(int((X[:, j] ** 2).sum()), n) for j in range(d)]
    a = np.array([float(w) for w in a_exact])
    norm_min, beta_min = flattest(X.astype(float), y.astype(float), a)
    if norm_min <= 0:
        raise Inconclusive("the labels are zero: the flattest interpolant is 0")
    eta = params["c"] / norm_min
    # a sharper interpolant along a random null-space direction: η·‖β_0‖_{1,a} = max(s0, c)
    rng = np.random.default_rng([params["data_seed"], 2])
    null = np.linalg.svd(X.astype(float))[2][n:]
    direction = rng.normal(size=null.shape[0]) @ null
    target = max(params["s0"], params["c"]) / eta
    lo, hi = 0.0, 1.0
    while np.dot(a, np.abs(beta_min + hi * direction)) < target:
        hi *= 2
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.dot(a, np.abs(beta_min + mid * direction)) < target else (lo, mid)
    beta0 = beta_min + hi * direction
    return X, y, a_exact, a, norm_min, eta, beta0


def derive(params):
    one_sample_trace(params["d"])
    X, y, a_exact, a, norm_min, eta, _ = setting(params)
    return {"weights": a, "factor": 2.0, "trace_bound": 2.0 / eta, "norm_bound": 1.0 / eta, "norm_min": norm_min,
            "eta": eta}


def start(params, eta, beta0, a):
    rng = np.random.default_rng([params["data_seed"], 3])
    u = np.sqrt(np.abs(beta0))
    v = np.where(beta0 >= 0, 1.0, -1.0) * np.sqrt(np.abs(beta0))
    if params["init"] == "unbalanced":  # the same β_0, |u| ≠ |v|
        k = rng.uniform(0.8, 1.25, size=len(u))
        u, v = u * k, v / k
    return u + KICK * rng.normal(size=len(u)), v + KICK * rng.normal(size=len(u))


def sgd_runs(X, y, counts, u, v, eta, picks, full, steps=STEPS):
    """SGD (batch size 1; full-batch GD where ``full``) on diagonal networks, every
    draw at once in numpy (tiny arrays: numpy's per-operation cost is a fraction
    of torch's).  X (B, n, d) zero-padded, picks (B, steps) sample indices.
    Stops early once every draw has converged (loss ≤ CONVERGED/100) or diverged.
    Returns (u, v, alive)."""
    B = X.shape[0]
    rows = np.arange(B)
    alive = np.ones(B, dtype=bool)
    n_f = counts.astype(float)[:, None]
    eta = eta[:, None]
    for t in range(steps):
        i = picks[:, t]
        xi = X[rows, i]                                                  # (B, d)
        z = ((xi * u * v).sum(-1) - y[rows, i])[:, None] * xi
        if full.any():
            res = np.einsum("bnd,bd->bn", X, u * v) - y
            z = np.where(full[:, None], np.einsum("bn,bnd->bd", res, X) / n_f, z)
        step = eta * z * alive[:, None]
        u, v = u - step * v, v - step * u
        if (t + 1) % CHECK_EVERY == 0:
            with np.errstate(all="ignore"):
                bad = ~np.isfinite(u).all(-1) | (np.abs(u).max(-1) > BLOWUP) | (np.abs(v).max(-1) > BLOWUP)
                alive &= ~bad
                u[~alive], v[~alive] = 0.0, 0.0
                loss = 0.5 * ((np.einsum("bnd,bd->bn", X, u * v) - y) ** 2).sum(-1) / n_f[:, 0]
            if not (alive & ~(loss <= CONVERGED / 100)).any():
                break
    return u, v, alive


def simulate_batch(params_list, ctx):
    B = len(params_list)
    n_max = max(p["n"] for p in params_list)
    d_max = max(p["d"] for p in params_list)
    X = np.zeros((B, n_max, d_max))
    y = np.zeros((B, n_max))
    u = np.zeros((B, d_max))
    v = np.zeros_like(u)
    eta = np.zeros(B)
    counts = np.array([p["n"] for p in params_list])
    full = np.array([bool(p.get("full_batch")) for p in params_list])
    for b, p in enumerate(params_list):
        Xb, yb, _, a, _, e, beta0 = setting(p)
        u0, v0 = start(p, e, beta0, a)
        X[b, : p["n"], : p["d"]], y[b, : p["n"]] = Xb, yb
        u[b, : p["d"]], v[b, : p["d"]] = u0, v0
        eta[b] = e
    # the sampled indices, from each draw's own generator
    steps = STEPS_LARGE if ctx.large else STEPS
    picks = np.stack([torch.randint(0, 2**62, (steps,), generator=g).numpy() for g in ctx.generators()])
    u, v, alive = sgd_runs(X, y, counts, u, v, eta, picks % counts[:, None], full, steps)
    out = []
    for b, p in enumerate(params_list):
        d, n = p["d"], p["n"]
        Xb, yb = ctx.tensor(X[b, :n, :d]), ctx.tensor(y[b, :n])
        ub, vb = ctx.tensor(u[b, :d]), ctx.tensor(v[b, :d])
        if not alive[b]:
            out.append(undecided(d, "SGD diverged: no minimum reached"))
            continue
        loss = float(0.5 * ((Xb @ (ub * vb) - yb) ** 2).mean())
        if not loss <= CONVERGED:
            out.append(undecided(d, f"SGD did not converge in {steps} steps (loss {loss:.1e})"))
            continue
        for _ in range(20):  # Gauss–Newton to the nearest interpolant (moves θ by O(√loss))
            res = Xb @ (ub * vb) - yb
            if float(0.5 * (res**2).mean()) <= POLISHED:
                break
            J = torch.cat([Xb * vb, Xb * ub], 1)
            c = torch.linalg.lstsq(J @ J.T, -res[:, None]).solution[:, 0]
            zz = Xb.T @ c
            ub, vb = ub + vb * zz, vb + ub * zz
        theta = torch.cat([ub, vb])

        def loss_fn(th, Xb=Xb, yb=yb, d=d):
            return 0.5 * ((Xb @ (th[:d] * th[d:]) - yb) ** 2).mean()

        final = float(loss_fn(theta))
        if not final <= POLISHED:
            out.append(undecided(d, f"no interpolant reached: loss {final:.1e}"))
            continue
        H = dense_hessian(loss_fn, theta)
        un, vn = ub.cpu().numpy(), vb.cpu().numpy()
        out.append({"u": un, "v": vn, "beta": un * vn, "trace": float(torch.trace(H)),
                    "lambda_max": float(torch.linalg.eigvalsh(H)[-1]), "loss": final, "status": "converged"})
    stability_premise(params_list, out, X, counts, eta, full, ctx)
    return out


def stability_premise(params_list, out, X, counts, eta, full, ctx):
    """Is the minimum reached linearly stable for the algorithm that reached it?  SGD:
    the second moment of linearised SGD at θ∞ (per-sample gradients g_i = (v⊙x_i,
    u⊙x_i)), averaged exactly over the index and propagated 2^30 steps, must not
    grow (mean-square); GD: η·λ_max(H) ≤ 2.  Adds ``stable`` to each observation."""
    done = [b for b, o in enumerate(out) if o["status"] == "converged"]
    for o in out:
        o["stable"] = False
    if not done:
        return
    n_max, d_max = X.shape[1], X.shape[2]
    G = np.zeros((len(done), n_max, 2 * d_max))
    for k, b in enumerate(done):
        d, u, v = params_list[b]["d"], out[b]["u"], out[b]["v"]
        G[k, :, :d], G[k, :, d_max:d_max + d] = X[b, :, :d] * v, X[b, :, :d] * u
    Gr = span_coordinates(ctx.tensor(G))
    r = Gr.shape[-1]
    L = averaged_moment_map(Gr, counts[done], ctx.tensor(eta[done])[:, None], 1)
    m0 = (torch.eye(r, dtype=ctx.dtype, device=ctx.device) / r).reshape(1, 1, r * r).expand(len(done), 1, -1)
    ms_grows = moment_grows(L, m0, 30)[:, 0].cpu().numpy()
    for k, b in enumerate(done):
        if full[b]:
            out[b]["stable"] = bool(eta[b] * out[b]["lambda_max"] <= 2 * (1 + 1e-12))
        else:
            out[b]["stable"] = not bool(ms_grows[k])


def undecided(d: int, why: str) -> dict:
    """A draw SGD did not bring to a minimum: NaN observations (every check is
    undecidable there), with the reason.  (simulate_batch cannot raise
    Inconclusive for one draw of a batch.)"""
    nan = np.full(d, np.nan)
    return {"u": nan, "v": nan, "beta": nan, "trace": math.nan, "lambda_max": math.nan, "loss": math.nan,
            "status": why, "stable": False}


def simulate(params, ctx):
    got = simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]
    if got["status"] != "converged":
        raise Inconclusive(got["status"])
    return got


def closed_trace(pred, obs, params):
    return float(np.dot(pred["weights"], obs["u"] ** 2 + obs["v"] ** 2))


def weighted_norm(pred, obs, params):
    return float(np.dot(pred["weights"], np.abs(obs["u"] * obs["v"])))


def balance_gap(pred, obs, params):
    return float(np.dot(pred["weights"], (np.abs(obs["u"]) - np.abs(obs["v"])) ** 2))


def trace_minus_norm(pred, obs, params):
    return obs["trace"] - pred["factor"] * weighted_norm(pred, obs, params)


def given_stable(check: Check) -> Check:
    """The theorem's hypothesis: the check applies where the minimum reached is
    linearly stable for the algorithm that reached it; elsewhere it is
    undecidable, with that reason (SGD can settle at minima that are only
    almost-surely stable, η > η_c there; see stability.probabilistic)."""
    def fn(pred, obs, params, ctx):
        if obs["status"] == "converged" and not obs["stable"]:
            return Evidence(check.name, None, math.nan, None, None, None,
                            "hypothesis not met: the minimum reached is not mean-square stable at η")
        return check.fn(pred, obs, params, ctx)

    return Check(check.name, fn, check.description + " (at linearly stable minima)", check.bound_sides)


CHECK_TRACE = "SGD's minimum is stable: tr(H) ≤ 2/η"
CHECK_NORM = "SGD's solution: ‖β‖_{1,a} ≤ 1/η"

claim = Claim(
    id="stability.diag_net_trace_norm",
    title="Diagonal linear networks: SGD's minimum has tr(H) ≤ 2/η, hence ‖u ⊙ v‖_{1,a} ≤ 1/η",
    statement=("For f(x) = ⟨u ⊙ v, x⟩ with square loss, an interpolating minimum that SGD (batch size 1, "
               "step η) converges to and that is linearly (mean-square) stable satisfies η·tr(∇²L) ≤ 2, and "
               "tr(∇²L) = "
               "Σ_j a_j(u_j² + v_j²) ≥ 2‖β‖_{1,a} with a_j = (1/n)Σ_i x_ij², equality iff |u| = |v|; hence "
               "‖β‖_{1,a} ≤ 1/η: a large step forces a small weighted ℓ1 norm.  (Started at a sharper "
               "minimum, SGD leaves it; GD, constrained only by λ_max ≤ 2/η, need not.)"),
    math=sp.Le(sp.Symbol("‖β‖_{1,a}"), sp.Rational(1, 2) * sp.Symbol("tr_H")) & sp.Le(
        sp.Symbol("tr_H"), 2 / sp.Symbol("eta", positive=True)),
    source=Source("The Implicit Regularization of Dynamical Stability in Stochastic Gradient Descent",
                  "Lei Wu, Weijie J. Su", 2023, "seed 004",
                  note=("Square loss, batch size 1.  The trace bound is a property of mean-square (linearly) "
                        "stable minima; SGD sometimes settles at minima that are only almost-surely stable "
                        "(~9 % of the draws here), where the bound need not hold (η·tr(H)/2 = 1.002 seen once): "
                        "those draws, and those where SGD reaches no minimum, are undecidable, not passes.")),
    assumptions=AssumptionSpace([
        Int("d", 3, 7, description="features = width of the diagonal network"),
        Int("n", 1, "d - 1", description="samples (n < d: a manifold of interpolants)"),
        Float("c", 0.2, 0.8,
              description="η·min{‖β‖_{1,a} : Xβ = y}: how close the flattest interpolant is to the bound"),
        Float("s0", 0.4, 1.25, description="η·‖β_0‖_{1,a} of the starting interpolant (> 1: too sharp to be stable)"),
        Choice("init", ["balanced", "unbalanced"], description="|u_0| = |v_0| or not (same β_0)"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    inconclusive_fraction=0.35,
    checks=[
        given_stable(at_most(CHECK_TRACE, "trace", "trace_bound", rtol=SLACK)),
        given_stable(at_most(CHECK_NORM, weighted_norm, "norm_bound", rtol=SLACK)),
        close("tr(H) = Σ a_j (u_j² + v_j²) at SGD's minimum", closed_trace, "trace", rtol=1e-9, atol=1e-12),
        close("tr(H) − 2‖β‖_{1,a} = Σ a_j(|u_j| − |v_j|)²", trace_minus_norm, balance_gap, rtol=1e-7, atol=1e-9),
        at_least("‖β‖_{1,a} ≥ the flattest interpolant's (LP)", weighted_norm, "norm_min", rtol=1e-7),
    ],
    mutants=[
        Mutant("unweighted ℓ1 norm", lambda p, pred: {**pred, "weights": np.ones_like(pred["weights"])},
               "tr(H) = Σ (u_j² + v_j²), ignoring the data"),
        Mutant("factor 1", lambda p, pred: {**pred, "factor": 1.0}, "tr(H) ≥ ‖β‖_{1,a} as the tight bound"),
        Mutant("trace bound 1/η", lambda p, pred: {**pred, "trace_bound": 1.0 / pred["eta"]},
               "a wrong constant in the stability bound"),
        Mutant("norm bound 1/(2η)", lambda p, pred: {**pred, "norm_bound": 0.5 / pred["eta"]},
               "the trace bound taken for the norm: ‖β‖_{1,a} ≤ tr(H)/4"),
    ],
    breaks=[
        Break("full-batch GD", lambda p: {**p, "full_batch": True} if p["s0"] > 1 else None,
              ("GD's stability constrains only λ_max(H) ≤ 2/η: started at a minimum with η·tr(H)/2 > 1 it "
               "stays there"), expect=[CHECK_TRACE, CHECK_NORM]),
    ],
    regimes={"escape: SGD starts at a minimum too sharp to be stable": "s0 > 1.05",
             "unbalanced start": "init == 'unbalanced'",
             "flattest interpolant near the bound (c ≥ 0.6)": "c >= 0.6"},
    # the bounds are inequalities SGD approaches only to within a few per cent (measured 3 % on the
    # draws of design seed 21, not judged here); the identities are exact
    resolution={"weights": 1e-3, "factor": 1e-3, "trace_bound": 0.03, "norm_bound": 0.03, "norm_min": 0.01},
    plots=[
        Plot("η·tr(H)/2 at SGD's minimum against the start's", [
            Series("bound", lambda pr, ob, pa: pa["s0"], lambda pr, ob, pa: 1.0, role="theory", style="hline"),
            Series("SGD's minimum", lambda pr, ob, pa: max(pa["s0"], pa["c"]),
                   lambda pr, ob, pa: pr["eta"] * ob["trace"] / 2, style="points"),
        ], xlabel="η·tr(H)/2 at the start (balanced)", ylabel="η·tr(H)/2 at the minimum SGD reaches",
             over="examples"),
        Plot("tr(H) against 2‖β‖_{1,a}", [
            Series("tr(H) = 2‖β‖_{1,a}", lambda pr, ob, pa: 2 * weighted_norm(pr, ob, pa),
                   lambda pr, ob, pa: 2 * weighted_norm(pr, ob, pa), role="theory", style="line"),
            Series("trained networks", lambda pr, ob, pa: 2 * weighted_norm(pr, ob, pa), "observation.trace",
                   style="points"),
        ], xlabel="2 Σ a_j |u_j v_j|", ylabel="tr(∇²L)", over="examples"),
    ],
)
