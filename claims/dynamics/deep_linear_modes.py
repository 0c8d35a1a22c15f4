"""Saxe, McClelland & Ganguli: exact learning dynamics of a two-layer linear network.

Setting.  y = W2 W1 x, loss (1/2n)‖Y − W2 W1 X‖², whitened inputs (XXᵀ/n = I),
Σ_yx = YXᵀ/n = U S Vᵀ.  Balanced, decoupled small initialisation
W1 = O diag(√u0) Vᵀ, W2 = U diag(√u0) Oᵀ (O a random orthogonal matrix of the hidden
layer).  Under gradient flow (τ = 1) every mode strength u_i = U_iᵀ W2 W1 V_i obeys
u' = 2u(s_i − u); the exact side solves this ODE with sympy ``dsolve`` and the
half-time t½ = ln(s/u0 − 1)/(2s) with ``solve``.

Simulation: the full matrix gradient flow of the loss (not the mode ODE), RK4 with
2·s_max·h ≤ 0.4, every draw of a sweep in one batched tensor program (shapes
zero-padded: padded rows and columns get no gradient and stay 0).  Observed: mode
strengths on a time grid, the largest off-diagonal entry of Uᵀ W2 W1 V (the modes must
stay decoupled), and each mode's half-time located on the RK4 grid by cubic Hermite
interpolation with the flow's own du/dt.
"""
import functools

import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Claim, Float, Int, Mutant, Plot, Seed, Series, Source, at_most,
                         close)

GRID = 32            # time grid of the comparison: GRID + 1 points on [0, T]
RATE_STEP = 0.4      # RK4 step: 2·s_max·h ≤ RATE_STEP (measured global error ≤ 5e-5 relative)
t, s, u0 = sp.symbols("t s u_0", positive=True)
u = sp.Function("u")


@functools.lru_cache(maxsize=1)
def exact_solution():
    """(u(t), t½) as sympy expressions: dsolve of u' = 2u(s − u), u(0) = u0, and the time u = s/2."""
    sol = sp.dsolve(sp.Eq(u(t).diff(t), 2 * u(t) * (s - u(t))), u(t), ics={u(0): u0}, hint="Bernoulli")
    x = sp.Symbol("x", positive=True)  # x = e^{2st}: the half-time equation is linear in x
    root = sp.solve(sp.Eq(sol.rhs.subs(sp.exp(2 * s * t), x), s / 2), x)
    assert len(root) == 1, root
    return sol.rhs, sp.log(root[0]) / (2 * s)


@functools.lru_cache(maxsize=1)
def _numeric():
    expr, th = exact_solution()
    return sp.lambdify((t, s, u0), expr, "numpy"), sp.lambdify((s, u0), th, "numpy")


def spectrum(p):
    """Singular values of Σ_yx (geometric from s_top down to s_top/spread), initial strength, horizon."""
    k = min(p["d_in"], p["d_out"])
    sv = p["s_top"] * p["spread"] ** (-np.arange(k) / (k - 1))
    u_init = p["u0_rel"] * sv[-1]
    horizon = (np.log(1 / p["u0_rel"]) + 3) / sv[-1]  # ≈ twice the slowest half-time; from params only
    return sv, u_init, horizon


def data(p):
    """Whitened inputs X (XXᵀ/n = I, or Σ_xx = C for the correlated-inputs break) and Y = U S Vᵀ X."""
    rng = np.random.default_rng(p["data_seed"])
    d_in, d_out, n = p["d_in"], p["d_out"], p["d_in"] + 3
    sv, _, _ = spectrum(p)
    k = len(sv)
    U = np.linalg.qr(rng.normal(size=(d_out, d_out)))[0][:, :k]
    V = np.linalg.qr(rng.normal(size=(d_in, d_in)))[0][:, :k]
    Q = np.linalg.qr(rng.normal(size=(n, d_in)))[0].T  # orthonormal rows
    X = np.sqrt(n) * Q
    if p.get("input_corr"):
        C = np.eye(d_in) + p["input_corr"] * (np.ones((d_in, d_in)) - np.eye(d_in))
        X = np.linalg.cholesky(C) @ X
    Y = U @ np.diag(sv) @ V.T @ X
    return X, Y, U, V


def derive(params):
    u_fn, th_fn = _numeric()
    sv, u_init, horizon = spectrum(params)
    times = np.linspace(0, horizon, GRID + 1)
    return {"u": u_fn(times[None, :], sv[:, None], u_init), "t_half": th_fn(sv, u_init),
            "times": times, "decoupling_tol": 1e-9}


def simulate(params, ctx):
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


def cells(p):
    """RK4 steps per grid cell: 2·s_max·h ≤ RATE_STEP (a function of the draw alone)."""
    sv, _, horizon = spectrum(p)
    return int(np.ceil(2 * sv[0] * horizon / GRID / RATE_STEP))


def simulate_batch(params_list, ctx):
    """Draws bucketed by their number of RK4 steps (so a draw's trajectory does not depend on its batch)."""
    out = [None] * len(params_list)
    for c in sorted({cells(p) for p in params_list}):
        idx = [i for i, p in enumerate(params_list) if cells(p) == c]
        sub = _flow_batch([params_list[i] for i in idx], ctx.with_seeds([ctx.seeds[i] for i in idx]), c)
        for i, o in zip(idx, sub):
            out[i] = o
    return out


def _flow_batch(params_list, ctx, steps_per_cell):
    B = len(params_list)
    di, do = max(p["d_in"] for p in params_list), max(p["d_out"] for p in params_list)
    r, k = max(p["r"] for p in params_list), min(di, do)
    z = lambda *shape: torch.zeros(B, *shape, dtype=ctx.dtype, device=ctx.device)  # noqa: E731
    Sxx, Syx, W1, W2, U, V = z(di, di), z(do, di), z(r, di), z(do, r), z(do, k), z(di, k)
    h, s_half = z(), z(k)
    for b, (p, g) in enumerate(zip(params_list, ctx.generators())):
        X, Y, Ub, Vb = (ctx.tensor(a) for a in data(p))
        sv, u_init, horizon = spectrum(p)
        kb, rb, n = len(sv), p["r"], X.shape[1]
        Sxx[b, :p["d_in"], :p["d_in"]] = X @ X.T / n
        Syx[b, :p["d_out"], :p["d_in"]] = Y @ X.T / n
        U[b, :p["d_out"], :kb], V[b, :p["d_in"], :kb] = Ub, Vb
        s_half[b, :kb] = ctx.tensor(sv) / 2
        rot = torch.linalg.qr(torch.randn(rb, rb, generator=g, dtype=ctx.dtype, device=ctx.device))[0]
        a = np.sqrt(u_init) * p.get("unbalance", 1.0)  # balanced: a = b = √u0
        if p.get("random_init"):  # small Gaussian init with the same product scale, not decoupled
            kw = dict(generator=g, dtype=ctx.dtype, device=ctx.device)
            W1[b, :rb, :p["d_in"]] = torch.randn(rb, p["d_in"], **kw) * a / np.sqrt(rb)
            W2[b, :p["d_out"], :rb] = torch.randn(p["d_out"], rb, **kw) * a / np.sqrt(rb)
        else:
            W1[b, :rb, :p["d_in"]] = a * rot[:, :kb] @ Vb.T
            W2[b, :p["d_out"], :rb] = (u_init / a) * Ub @ rot[:, :kb].T
        h[b] = horizon
    h = h / (GRID * steps_per_cell)

    def flow(W1, W2):  # −∇L: the gradient of (1/2n)‖Y − W2W1X‖² through Σ_yx, Σ_xx
        E = Syx - W2 @ W1 @ Sxx
        return W2.transpose(1, 2) @ E, E @ W1.transpose(1, 2)

    def modes(W1, W2, d1, d2):
        M = U.transpose(1, 2) @ (W2 @ W1) @ V
        dM = U.transpose(1, 2) @ (d2 @ W1 + W2 @ d1) @ V
        return M, dM.diagonal(dim1=1, dim2=2)

    hh = h[:, None, None]
    traj, slope = [], []
    offdiag = torch.zeros(B, dtype=ctx.dtype, device=ctx.device)
    for step in range(GRID * steps_per_cell + 1):
        a1, b1 = flow(W1, W2)
        M, dm = modes(W1, W2, a1, b1)
        diag = M.diagonal(dim1=1, dim2=2)
        traj.append(diag)
        slope.append(dm)
        offdiag = torch.maximum(offdiag, (M - torch.diag_embed(diag)).abs().amax(dim=(1, 2)))
        if step == GRID * steps_per_cell:
            break
        a2, b2 = flow(W1 + hh / 2 * a1, W2 + hh / 2 * b1)
        a3, b3 = flow(W1 + hh / 2 * a2, W2 + hh / 2 * b2)
        a4, b4 = flow(W1 + hh * a3, W2 + hh * b3)
        W1 = W1 + hh / 6 * (a1 + 2 * a2 + 2 * a3 + a4)
        W2 = W2 + hh / 6 * (b1 + 2 * b2 + 2 * b3 + b4)
    traj, slope = torch.stack(traj, -1), torch.stack(slope, -1)  # (B, k, steps + 1)
    t_half = half_times(traj, slope, h, s_half)
    out = []
    for b, p in enumerate(params_list):
        kb = min(p["d_in"], p["d_out"])
        smax = float(2 * s_half[b, 0])
        out.append({"u_obs": traj[b, :kb, ::steps_per_cell].cpu().numpy(),
                    "t_half_obs": t_half[b, :kb].cpu().numpy(),
                    "offdiag": float(offdiag[b]) / smax, "times": np.linspace(0, float(h[b]) * GRID * steps_per_cell,
                                                                             GRID + 1)})
    return out


def half_times(traj, slope, h, level):
    """First time each trajectory crosses ``level`` (cubic Hermite on the RK4 grid, bisection); NaN if never."""
    above = traj >= level[..., None]
    j = torch.argmax(above.int(), dim=-1).clamp(min=1)  # first index at or above the level
    never = ~above.any(-1) | above[..., 0]
    take = lambda a, i: a.gather(-1, i[..., None]).squeeze(-1)  # noqa: E731
    ya, yb, da, db = take(traj, j - 1), take(traj, j), take(slope, j - 1), take(slope, j)
    hb = h[:, None]
    lo, hi = torch.zeros_like(ya), torch.ones_like(ya)
    for _ in range(50):
        th = (lo + hi) / 2
        h00, h10 = 2 * th**3 - 3 * th**2 + 1, th**3 - 2 * th**2 + th
        h01, h11 = -2 * th**3 + 3 * th**2, th**3 - th**2
        val = h00 * ya + h10 * hb * da + h01 * yb + h11 * hb * db
        lo, hi = torch.where(val < level, th, lo), torch.where(val < level, hi, th)
    t_cross = ((j - 1) + (lo + hi) / 2) * hb
    return torch.where(never, torch.full_like(t_cross, float("nan")), t_cross)


def _mutant(p, pred, u_of, th_of):
    sv, u_init, _ = spectrum(p)
    return {**pred, "u": u_of(pred["times"][None, :], sv[:, None], u_init), "t_half": th_of(sv, u_init)}


claim = Claim(
    id="dynamics.deep_linear_modes",
    title="Exact mode dynamics of a two-layer linear network (Saxe et al.)",
    statement=("For y = W2 W1 x trained by gradient flow on the square loss with whitened inputs and a balanced, "
               "decoupled small initialisation (W1 = O diag(√u0) Vᵀ, W2 = U diag(√u0) Oᵀ, Σ_yx = U S Vᵀ), "
               "the network stays decoupled (Uᵀ W2 W1 V diagonal) and every mode strength follows "
               "u(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/u0): a sigmoidal transition at "
               "t½ = τ/(2s)·ln(s/u0 − 1)."),
    math=lambda: sp.Eq(u(t), exact_solution()[0]),
    source=Source("Exact solutions to the nonlinear dynamics of learning in deep linear neural networks",
                  "Andrew M. Saxe, James L. McClelland, Surya Ganguli", 2014, "seed 004",
                  note=("The exact solution holds for decoupled initial conditions; the claim states that "
                        "assumption explicitly (a small random Gaussian init only approximately follows it: "
                        "a break below).  τ = 1 (time in units of the inverse learning rate).")),
    assumptions=AssumptionSpace([
        Int("d_in", 2, 5, description="input dimension"),
        Int("d_out", 2, 5, description="output dimension"),
        Int("r", "min(d_in, d_out)", "min(d_in, d_out) + 2", description="hidden width ≥ rank of Σ_yx"),
        Float("s_top", 0.5, 3.0, log=True, description="largest singular value of Σ_yx"),
        Float("spread", 1.0, 4.0, description="s_max / s_min (singular values geometric in between)"),
        Float("u0_rel", 1e-3, 0.2, log=True, description="initial mode strength u0 as a fraction of s_min"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        close("mode trajectories follow the sympy solution", "u", "u_obs", rtol=1e-4, atol=0),
        close("half-times t½ = ln(s/u0 − 1)/(2s)", "t_half", "t_half_obs", rtol=1e-4, atol=0),
        at_most("modes stay decoupled", "offdiag", "decoupling_tol"),
    ],
    mutants=[
        Mutant("shallow dynamics u' = s − u", lambda p, pred: _mutant(
            p, pred, lambda tt, sv, a: sv - (sv - a) * np.exp(-tt), lambda sv, a: np.log(2 * (sv - a) / sv)),
            "the linear-regression (one-layer) solution: exponential, no plateau"),
        Mutant("rate s instead of 2s", lambda p, pred: _mutant(
            p, pred, lambda tt, sv, a: sv * np.exp(sv * tt) / (np.exp(sv * tt) - 1 + sv / a),
            lambda sv, a: np.log(sv / a - 1) / sv), "a wrong exponent: e^{st/τ}"),
        Mutant("near-miss: t½ = ln(s/u0)/(2s)", lambda p, pred: {
            **pred, "t_half": np.log(spectrum(p)[0] / spectrum(p)[1]) / (2 * spectrum(p)[0])},
            "drops the −1: indistinguishable at tiny u0, wrong when u0 is a sizeable fraction of s"),
    ],
    breaks=[
        Break("unbalanced init (W1 ×2, W2 ×½)", lambda p: {**p, "unbalance": 2.0},
              "same initial product, but a ≠ b: a² − b² ≠ 0 is conserved and changes the ODE",
              expect=["mode trajectories follow the sympy solution"]),
        Break("correlated inputs (Σ_xx ≠ I)", lambda p: {**p, "input_corr": 0.3},
              "without whitening the modes of Σ_yx are not the modes of the flow",
              expect=["modes stay decoupled", "mode trajectories follow the sympy solution"]),
        Break("small random Gaussian init", lambda p: {**p, "random_init": True},
              "not decoupled: modes interact before they align",
              expect=["modes stay decoupled", "mode trajectories follow the sympy solution"]),
    ],
    regimes={"long plateau (u0 ≤ s_min/100)": "u0_rel <= 0.01",
             "start near saturation (u0 ≥ s_min/20)": "u0_rel >= 0.05",
             "modes learned in sequence (s_max ≥ 2.5 s_min)": "spread >= 2.5",
             "extra hidden units (r > rank)": "r > min(d_in, d_out)"},
    resolution={"u": 0.001, "t_half": 0.001,
                "decoupling_tol": "a numerical floor (1e-9 relative), not a prediction of the theorem",
                "times": "the comparison grid, not a prediction"},
    plots=[
        Plot("mode strengths: sympy solution vs matrix gradient flow", [
            Series("u(t), theory", "prediction.times", lambda pr, ob, pa: pr["u"][0], role="theory"),
            Series("u(t), flow", "observation.times", lambda pr, ob, pa: ob["u_obs"][0], style="points"),
            Series("slowest mode, theory", "prediction.times", lambda pr, ob, pa: pr["u"][-1], role="theory"),
            Series("slowest mode, flow", "observation.times", lambda pr, ob, pa: ob["u_obs"][-1], style="points"),
        ], xlabel="t / τ", ylabel="mode strength u"),
        Plot("half-time: theory vs simulation", [
            Series("t½ (sympy)", lambda pr, ob, pa: pr["t_half"][0], lambda pr, ob, pa: pr["t_half"][0],
                   role="theory", style="line"),
            Series("flow", lambda pr, ob, pa: pr["t_half"][0], lambda pr, ob, pa: ob["t_half_obs"][0],
                   style="points"),
        ], xlabel="t½ predicted", ylabel="t½ observed", xlog=True, ylog=True, over="examples"),
    ],
)
