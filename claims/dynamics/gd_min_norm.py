"""GD from zero on under-determined least squares converges to the
minimum-norm interpolant.

Exact side: the convex program min ‖w‖² s.t. Xw = y in cvxpy (status must be
optimal), cross-checked against the pseudo-inverse computed by sympy over the
rationals (X and y are drawn with rational entries).  Simulation: plain GD on
½‖Xw − y‖²/n from w₀ = 0 with a step below 2/λ_max found numerically, run to
a gradient-norm certificate."""
import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Claim, Float, Inconclusive, Int, Mutant, Plot, Seed,
                         Series, Source, close, holds)
from theorycheck.symbolic.convex import solve

MAX_STEPS = 200_000
GRAD_TOL = 1e-12


def data(params):
    """Integer-valued X (n×d) and y: exact over the rationals, generic enough."""
    rng = np.random.default_rng(params["data_seed"])
    X = rng.integers(-3, 4, size=(params["n"], params["d"]))
    y = rng.integers(-3, 4, size=params["n"])
    return X, y


def derive(params):
    import cvxpy as cp

    X, y = data(params)
    Xs = sp.Matrix(X.tolist())
    if Xs.rank() < params["n"]:
        raise Inconclusive("X is rank deficient: no interpolant for generic y")
    w_exact = Xs.pinv() * sp.Matrix(y.tolist())  # rational min-norm solution
    w = cp.Variable(params["d"])
    problem = cp.Problem(cp.Minimize(cp.sum_squares(w)), [X @ w == y])
    solved = solve(problem)
    w_cvx = np.asarray(w.value, dtype=float)
    return {"w_star": np.array([float(v) for v in w_exact]), "w_cvxpy": w_cvx,
            "norm_sq": sp.nsimplify(sum(v**2 for v in w_exact)), "solver_status": solved.status}


def simulate(params, ctx):
    X, y = data(params)
    X, y = ctx.tensor(X), ctx.tensor(y)
    n = X.shape[0]
    lmax = float(torch.linalg.eigvalsh(X.T @ X / n).max())
    eta = params["eta_frac"] / lmax
    w = torch.zeros(X.shape[1], dtype=ctx.dtype, device=ctx.device)
    if params.get("init_scale", 0.0):
        w = params["init_scale"] * torch.randn(X.shape[1], generator=ctx.generator(), dtype=ctx.dtype,
                                               device=ctx.device)
    wd = params.get("weight_decay", 0.0)
    gnorm = []
    for t in range(MAX_STEPS):
        g = X.T @ (X @ w - y) / n + wd * w
        gn = float(g.norm())
        if t % 50 == 0:
            gnorm.append(gn)
        if not np.isfinite(gn):
            raise Inconclusive("GD overflowed")
        if gn < GRAD_TOL:
            break
        w = w - eta * g
    else:
        raise Inconclusive(f"no gradient-norm certificate after {MAX_STEPS} steps (‖g‖ = {gn:.2e})")
    return {"w_gd": w.cpu().numpy(), "residual": float((X @ w - y).norm()), "steps": t,
            "grad_norm": np.array(gnorm), "checkpoints": 50 * np.arange(len(gnorm))}


def simulate_batch(params_list, ctx):
    """All draws in one tensor program: X zero-padded to the largest (n, d).
    Padded rows (y = 0) add no gradient; padded columns start at 0 and get no
    gradient, so every draw follows exactly its own GD trajectory."""
    if any(p.get("init_scale") or p.get("weight_decay") for p in params_list):
        return [simulate(p, ctx) for p in params_list]  # breaks: the plain path
    B = len(params_list)
    n_max = max(p["n"] for p in params_list)
    d_max = max(p["d"] for p in params_list)
    X = torch.zeros(B, n_max, d_max, dtype=ctx.dtype, device=ctx.device)
    y = torch.zeros(B, n_max, dtype=ctx.dtype, device=ctx.device)
    n = torch.zeros(B, 1, dtype=ctx.dtype, device=ctx.device)
    for b, p in enumerate(params_list):
        Xb, yb = data(p)
        X[b, : p["n"], : p["d"]] = ctx.tensor(Xb)
        y[b, : p["n"]] = ctx.tensor(yb)
        n[b] = p["n"]
    XtX = X.transpose(1, 2) @ X / n[:, :, None]
    eta = ctx.tensor([p["eta_frac"] for p in params_list]) / torch.linalg.eigvalsh(XtX)[:, -1]
    w = torch.zeros(B, d_max, dtype=ctx.dtype, device=ctx.device)
    gn = torch.full((B,), float("inf"), dtype=ctx.dtype, device=ctx.device)
    steps = torch.full((B,), MAX_STEPS, dtype=torch.long, device=ctx.device)
    active = torch.arange(B, device=ctx.device)  # draws still iterating
    Xa, ya, na, ea, wa = X, y, n, eta[:, None], w.clone()
    for t in range(MAX_STEPS):
        g = (Xa.transpose(1, 2) @ ((Xa @ wa[:, :, None]).squeeze(-1) - ya)[:, :, None]).squeeze(-1) / na
        if t % 64 == 0:  # retire converged draws: the batch shrinks to the slow ones
            gnorm = g.norm(dim=1)
            conv = gnorm < GRAD_TOL
            if bool(conv.any()):
                idx = active[conv]
                w[idx], gn[idx], steps[idx] = wa[conv], gnorm[conv], t
                keep = ~conv
                active, Xa, ya, na, ea, wa, g = (active[keep], Xa[keep], ya[keep], na[keep], ea[keep],
                                                 wa[keep], g[keep])
                if active.numel() == 0:
                    break
        wa = wa - ea * g
    done = steps < MAX_STEPS
    out = []
    for b, p in enumerate(params_list):
        if not bool(done[b]):
            out.append({"w_gd": np.full(p["d"], np.nan), "residual": float("nan"), "steps": MAX_STEPS,
                        "grad_norm": np.array([float(gn[b])]), "checkpoints": np.array([MAX_STEPS])})
            continue
        wb = w[b, : p["d"]]
        Xb, yb = X[b, : p["n"], : p["d"]], y[b, : p["n"]]
        out.append({"w_gd": wb.cpu().numpy(), "residual": float((Xb @ wb - yb).norm()),
                    "steps": int(steps[b]), "grad_norm": np.array([float(gn[b])]),
                    "checkpoints": np.array([int(steps[b])])})
    return out


claim = Claim(
    id="dynamics.gd_min_norm",
    title="GD from zero finds the minimum-norm interpolant",
    statement=("On under-determined least squares (n < d, X of full row rank), gradient descent started "
               "at w = 0 with a stable step converges to the minimum-norm solution of Xw = y, "
               "w* = X⁺y = argmin{‖w‖ : Xw = y}."),
    math=sp.Eq(sp.Symbol("w_infinity"), sp.Symbol("X") ** sp.Symbol("+") * sp.Symbol("y")),
    source=Source("Exact solutions / implicit bias of gradient descent on least squares (folklore; "
                  "cf. the large-step and max-margin papers)", "classical (e.g. Gunasekar et al. 2018)", 2018,
                  "seed 003", note="Listed in CLAIMS.md under dynamics; the abstracts in seed 003 discuss "
                  "implicit bias of GD."),
    assumptions=AssumptionSpace([
        Int("n", 1, 5, description="samples"),
        Int("d", "n + 1", 9, description="dimension, d > n"),
        Float("eta_frac", 0.2, 1.8, description="step as a fraction of 1/λ_max(XᵀX/n) (stable: < 2)"),
        Seed("data_seed"),
    ], constraints=["d > n"]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        close("GD limit = X⁺y (sympy pseudo-inverse)", "w_star", "w_gd", rtol=1e-6, atol=1e-8),
        close("cvxpy optimum = X⁺y", "w_star", lambda pred, obs, p: pred["w_cvxpy"], rtol=1e-5, atol=1e-6),
        holds("interpolates", lambda pred, obs, p: obs["residual"] < 1e-8),
    ],
    mutants=[
        Mutant("any interpolant", lambda p, pred: {**pred, "w_star": _other_interpolant(p, pred["w_star"])},
               "w* plus a null-space direction of X: still interpolates, not minimum-norm"),
        Mutant("half the min-norm solution", lambda p, pred: {**pred, "w_star": 0.5 * pred["w_star"]},
               "a wrong scale"),
        Mutant("ridge solution λ = 0.1", lambda p, pred: {**pred, "w_star": _ridge(p, 0.1)},
               "the ridge estimator in place of the min-norm one"),
    ],
    breaks=[
        Break("non-zero initialisation", lambda p: {**p, "init_scale": 1.0},
              "GD keeps the null-space component of w₀: converges to w* + P_null w₀"),
        Break("weight decay 0.05", lambda p: {**p, "weight_decay": 0.05},
              "converges to a ridge solution, which does not interpolate"),
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


def _other_interpolant(params, w_star):
    X, _ = data(params)
    _, _, vt = np.linalg.svd(X.astype(float))
    null = vt[-1]  # d > n: a null-space direction exists
    return w_star + null * max(1.0, float(np.linalg.norm(w_star)))


def _ridge(params, lam):
    X, y = data(params)
    n, d = X.shape
    return np.linalg.solve(X.T @ X / n + lam * np.eye(d), X.T @ y / n)
