"""GD from zero on under-determined least squares converges to the
minimum-norm interpolant (Gunasekar, Lee, Soudry & Srebro 2018, §2; Zhang et
al. 2017, §5).

Exact side, over the rationals: X ∈ ℤ^{n×d} (entries in −3…3, full row rank)
and y ∈ ℤ^n, ν = (XXᵀ)⁻¹y and w* = Xᵀν by exact elimination
(sympy DomainMatrix over ℚ).  w* is certified optimal for min ‖w‖² s.t.
Xw = y by its KKT conditions, checked exactly: Xw* = y and w* = Xᵀν lies in
the row space (the Lagrange condition of a convex program, so necessary and
sufficient).  The cvxpy program is the cross-check in the tests.

Simulation: plain GD w ← w − η(Xᵀ(Xw − y)/n) from w = 0, η = eta_frac/λ_max,
all draws zero-padded into one tensor program (padded rows have y = 0 and
padded columns start at 0 and get no gradient, so each draw follows exactly
its own trajectory); per-draw ``simulate`` is the same program for one draw.
The stop rule is a certificate, not a tolerance on the answer: on the row
space the loss is μ-strongly convex (μ the smallest eigenvalue of XXᵀ/n) and
GD never moves the null-space component, so ‖w_t − w_∞‖ ≤ ‖∇L(w_t)‖/μ; GD
stops once that bound is ≤ 1e-11·‖w_t‖ (else, after MAX_STEPS, the draw is
undecidable).  GD needs about (κ/eta_frac)·ln(1e11) steps, κ the condition
number of XXᵀ: the data are re-drawn (deterministically from data_seed)
until κ ≤ KAPPA_MAX, so that the quick profile stays within its budget; the
theorem itself has no such condition.

Breaks (the prediction is X⁺y of the unbroken draw): a random initial point
(GD keeps its null-space component: the limit is X⁺y + P_null w₀), weight
decay (a ridge solution, which does not interpolate), a diagonal
preconditioner (GD in another geometry: the limit is the interpolant of
least ‖·‖_{P⁻¹} norm — the point of Gunasekar et al.).
"""
from functools import lru_cache

import numpy as np
import sympy as sp
import torch
from sympy import QQ, ZZ
from sympy.polys.matrices import DomainMatrix

from theorycheck import (AssumptionSpace, Break, Claim, Float, Inconclusive, Int, Mutant, Plot, Seed, Series,
                         Source, close, holds)

MAX_STEPS = 40_000
CHECK_EVERY = 32          # steps between certificate checks (host syncs)
CERT_REL = 1e-11          # stop once ‖∇L‖/μ ≤ CERT_REL·‖w‖ (+ CERT_ABS)
CERT_ABS = 1e-14
KAPPA_MAX = 100.0         # condition number of XXᵀ accepted for a draw's data
ENTRY = 3                 # entries of X and y in −ENTRY … ENTRY


@lru_cache(maxsize=4096)
def _data(n, d, seed):
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        X = rng.integers(-ENTRY, ENTRY + 1, size=(n, d))
        y = rng.integers(-ENTRY, ENTRY + 1, size=n)
        ev = np.linalg.eigvalsh((X @ X.T).astype(float))
        if ev[0] > 1e-9 and ev[-1] / ev[0] <= KAPPA_MAX:
            X.flags.writeable = False
            y.flags.writeable = False
            return X, y
    raise Inconclusive("no well-conditioned integer X found in 1000 draws")


def data(params):
    """Integer X (n×d) of full row rank with κ(XXᵀ) ≤ KAPPA_MAX, and integer y:
    re-drawn from the draw's own generator until the conditions hold."""
    return _data(int(params["n"]), int(params["d"]), int(params["data_seed"]))


def exact_min_norm(X, y):
    """(w*, ν) over ℚ with w* = Xᵀν, XXᵀν = y; KKT checked exactly.  w* as a list of ℚ elements."""
    n, d = X.shape
    Xd = DomainMatrix([[ZZ(int(v)) for v in row] for row in X.tolist()], (n, d), ZZ).convert_to(QQ)
    yd = DomainMatrix([[QQ(int(v))] for v in y.tolist()], (n, 1), QQ)
    G = Xd * Xd.transpose()
    if G.rank() < n:
        raise Inconclusive("X is rank deficient")
    nu = G.lu_solve(yd)
    w = Xd.transpose() * nu
    if Xd * w != yd:  # primal feasibility, exactly (stationarity holds by construction: w = Xᵀν)
        raise Inconclusive("exact solve failed its KKT check")
    return [w[i, 0].element for i in range(d)], nu


def derive(params):
    X, y = data(params)
    w, _ = exact_min_norm(X, y)
    norm_sq = sum((v * v for v in w), QQ(0))     # exact, in ℚ
    return {"w_star": np.array([float(v) for v in w]), "norm_sq": float(norm_sq)}


def _pad(params_list, ctx):
    B = len(params_list)
    n_max = max(p["n"] for p in params_list)
    d_max = max(p["d"] for p in params_list)
    X = np.zeros((B, n_max, d_max))
    y = np.zeros((B, n_max))
    for b, p in enumerate(params_list):
        Xb, yb = data(p)
        X[b, : p["n"], : p["d"]] = Xb
        y[b, : p["n"]] = yb
    n = np.array([float(p["n"]) for p in params_list])
    return ctx.tensor(X), ctx.tensor(y), ctx.tensor(n)


def simulate_batch(params_list, ctx):
    """GD for every draw in one tensor program; draws retire once certified.

    One GD step is the affine map w ↦ w − ηP(Aw − b + λw) (A = XᵀX/n, b = Xᵀy/n;
    P = I and λ = 0 unless a break sets them), applied as one batched
    multiply-add per step.  Certificate: in v = P^{−1/2}w the step is plain GD
    on a quadratic whose Hessian S = P^{1/2}(A + λI)P^{1/2} is μ-strongly convex
    on the subspace GD moves in (μ its smallest non-zero eigenvalue), so
    ‖w_t − w_∞‖ ≤ √p_max·‖P^{1/2}∇L(w_t)‖/μ."""
    B = len(params_list)
    X, y, n = _pad(params_list, ctx)
    d_max = X.shape[2]
    eye = torch.eye(d_max, dtype=ctx.dtype, device=ctx.device)
    A = X.transpose(1, 2) @ X / n[:, None, None]
    b = X.transpose(1, 2) @ y[:, :, None] / n[:, None, None]
    wd = ctx.tensor([p.get("weight_decay", 0.0) for p in params_list])
    Hs = A + wd[:, None, None] * eye
    P = torch.ones(B, d_max, dtype=ctx.dtype, device=ctx.device)
    w = torch.zeros(B, d_max, 1, dtype=ctx.dtype, device=ctx.device)
    gens = ctx.generators()
    for i, p in enumerate(params_list):
        if p.get("init_scale"):
            w[i, : p["d"], 0] = p["init_scale"] * torch.randn(p["d"], generator=gens[i], dtype=ctx.dtype,
                                                             device=ctx.device)
        if p.get("precondition"):  # diagonal preconditioner with entries e^{U(−1, 1)}
            u = torch.rand(p["d"], generator=gens[i], dtype=ctx.dtype, device=ctx.device)
            P[i, : p["d"]] = torch.exp(2 * u - 1)
    sq = P.sqrt()
    ev = torch.linalg.eigvalsh(sq[:, :, None] * Hs * sq[:, None, :])
    lam_max = ev[:, -1]
    mu = torch.where(ev > 1e-9 * lam_max[:, None], ev, torch.full_like(ev, float("inf"))).amin(dim=1)
    eta = ctx.tensor([p["eta_frac"] for p in params_list]) / lam_max
    M = eye - eta[:, None, None] * P[:, :, None] * Hs     # the GD step map w ↦ M w + c
    c = eta[:, None, None] * P[:, :, None] * b
    bound = P.amax(dim=1).sqrt() / mu                     # ‖w − w_∞‖ ≤ bound·‖P^{1/2} g‖
    w_out = torch.full((B, d_max), float("nan"), dtype=ctx.dtype, device=ctx.device)
    steps = torch.full((B,), MAX_STEPS, dtype=torch.long, device=ctx.device)
    g_final = torch.full((B,), float("nan"), dtype=ctx.dtype, device=ctx.device)
    hist_t, hist_idx, hist_g = [], [], []
    active = torch.arange(B, device=ctx.device)
    Ma, ca, Ha, ba, sqa, bounda, wa = M, c, Hs, b, sq, bound, w
    for t in range(0, MAX_STEPS + 1, CHECK_EVERY):
        g = (torch.baddbmm(-ba, Ha, wa)).squeeze(-1)       # ∇L(w_t) = (A + λI)w − b
        gnorm = g.norm(dim=1)
        hist_t.append(t)
        hist_idx.append(active)
        hist_g.append(gnorm)
        wn = wa.squeeze(-1).norm(dim=1)
        done = ((bounda * (sqa * g).norm(dim=1) <= CERT_REL * wn + CERT_ABS) & torch.isfinite(gnorm)) | (t >= MAX_STEPS)
        if bool(done.any()):
            idx = active[done]
            w_out[idx], g_final[idx] = wa[done].squeeze(-1), gnorm[done]
            steps[idx] = t
            if t >= MAX_STEPS:
                w_out[idx] = float("nan")  # no certificate: undecidable
                break
            keep = ~done
            active, Ma, ca, Ha, ba, sqa, bounda, wa = (active[keep], Ma[keep], ca[keep], Ha[keep], ba[keep],
                                                       sqa[keep], bounda[keep], wa[keep])
            if active.numel() == 0:
                break
        for _ in range(CHECK_EVERY):
            wa = torch.baddbmm(ca, Ma, wa)
    hist = [[] for _ in range(B)]
    for t, idx, gn in zip(hist_t, hist_idx, hist_g):
        for i, v in zip(idx.tolist(), gn.tolist()):
            hist[i].append((t, v))
    out = []
    Xn, yn, wn = X.cpu().numpy(), y.cpu().numpy(), w_out.cpu().numpy()
    for i, p in enumerate(params_list):
        ni, di = p["n"], p["d"]
        wi = wn[i, :di]
        res = float(np.linalg.norm(Xn[i, :ni, :di] @ wi - yn[i, :ni]))
        h = np.array(hist[i]) if hist[i] else np.zeros((0, 2))
        out.append({"w_gd": wi, "norm_sq_gd": float(wi @ wi), "residual": res,
                    "y_norm": float(np.linalg.norm(yn[i, :ni])), "steps": int(steps[i]),
                    "grad_norm_final": float(g_final[i]), "checkpoints": h[:, 0], "grad_norm": h[:, 1]})
    return out


def simulate(params, ctx):
    """One draw through the same tensor program (equal up to round-off: padding changes the sums)."""
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


def interpolates(pred, obs, p):
    if not np.isfinite(obs["residual"]):
        return None
    return obs["residual"] <= 1e-8 * (1 + obs["y_norm"])


def _other_interpolant(params, w_star):
    X, _ = data(params)
    _, _, vt = np.linalg.svd(X.astype(float))
    null = vt[-1]  # d > n: a null-space direction exists
    return w_star + null * max(1.0, float(np.linalg.norm(w_star)))


def _ridge(params, lam):
    X, y = data(params)
    n, d = X.shape
    return np.linalg.solve(X.T @ X / n + lam * np.eye(d), X.T @ y / n)


def _with_w(pred, w):
    return {**pred, "w_star": w, "norm_sq": float(np.dot(w, w))}


claim = Claim(
    id="dynamics.gd_min_norm",
    title="GD from zero finds the minimum-norm interpolant",
    statement=("On under-determined least squares (n < d, X of full row rank), gradient descent on "
               "½‖Xw − y‖²/n started at w = 0 with a stable step (η·λ_max(XᵀX/n) < 2) converges to the "
               "minimum-norm solution of Xw = y, w* = X⁺y = argmin{‖w‖ : Xw = y}."),
    math=sp.Eq(sp.Symbol("w_infinity"), sp.Symbol("X") ** sp.Symbol("+") * sp.Symbol("y")),
    source=Source("Characterizing Implicit Bias in Terms of Optimization Geometry",
                  "Suriya Gunasekar, Jason Lee, Daniel Soudry, Nathan Srebro", 2018, "seed 002",
                  note=("ICML 2018, §2: for the squared loss, GD from w₀ converges to argmin ‖w − w₀‖ over the "
                        "interpolants (here w₀ = 0); also Zhang et al. 2017 ('Understanding deep learning "
                        "requires rethinking generalization', §5).  The implicit-bias talks of seed 002 build on "
                        "it.  Data are integer matrices with κ(XXᵀ) ≤ 100 so that the quick profile can run "
                        "GD to its certificate (a budget choice, not a hypothesis of the theorem).")),
    assumptions=AssumptionSpace([
        Int("n", 1, 6, description="samples"),
        Int("d", "n + 1", 12, description="dimension, d > n"),
        Float("eta_frac", 0.5, 1.9, description="η·λ_max(XᵀX/n) (stable: < 2; > 1 overshoots the top mode)"),
        Seed("data_seed"),
    ], constraints=["d > n"]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        close("GD limit = X⁺y (exact, over ℚ)", "w_star", "w_gd", rtol=1e-7, atol=1e-9),
        close("‖w_GD‖² = ‖X⁺y‖²", "norm_sq", "norm_sq_gd", rtol=1e-7, atol=1e-12),
        holds("GD interpolates: ‖Xw − y‖ ≤ 1e-8(1 + ‖y‖)", interpolates),
    ],
    resolution=1e-5,
    regimes={"GD overshoots the top mode (η·λ_max > 1)": "eta_frac > 1",
             "one-dimensional null space (d = n + 1)": "d == n + 1",
             "a single sample (n = 1)": "n == 1",
             "wide (d ≥ 2n, n ≥ 3)": "d >= 2 * n and n >= 3"},
    mutants=[
        Mutant("another interpolant", lambda p, pred: _with_w(pred, _other_interpolant(p, pred["w_star"])),
               "w* plus a null-space direction of X: still interpolates, not of minimum norm (structural)"),
        Mutant("ridge solution λ = 0.1", lambda p, pred: _with_w(pred, _ridge(p, 0.1)),
               "the ridge estimator in place of the min-norm one (structural)"),
        Mutant("half the min-norm solution", lambda p, pred: _with_w(pred, 0.5 * pred["w_star"]),
               "a wrong scale"),
    ],
    breaks=[
        Break("non-zero initialisation", lambda p: {**p, "init_scale": 1.0},
              "GD keeps the null-space component of w₀: converges to X⁺y + P_null w₀",
              expect=["GD limit = X⁺y (exact, over ℚ)", "‖w_GD‖² = ‖X⁺y‖²"]),
        Break("weight decay 0.05", lambda p: {**p, "weight_decay": 0.05},
              "converges to a ridge solution, which does not interpolate",
              expect=["GD interpolates: ‖Xw − y‖ ≤ 1e-8(1 + ‖y‖)", "GD limit = X⁺y (exact, over ℚ)"]),
        Break("diagonal preconditioner", lambda p: {**p, "precondition": True},
              "preconditioned GD converges to the interpolant of least ‖·‖_{P⁻¹} norm, another point",
              expect=["GD limit = X⁺y (exact, over ℚ)", "‖w_GD‖² = ‖X⁺y‖²"]),
    ],
    plots=[
        Plot("gradient norm along GD", [Series("‖∇L(w_t)‖", "observation.checkpoints", "observation.grad_norm")],
             xlabel="iteration", ylabel="‖gradient‖", ylog=True),
        Plot("GD limit vs min-norm solution (coordinates)", [
            Series("w* = X⁺y", "prediction.w_star", "prediction.w_star", role="theory", style="line"),
            Series("GD limit", "prediction.w_star", "observation.w_gd", style="points"),
        ], xlabel="w* coordinate (exact)", ylabel="GD coordinate"),
    ],
)
