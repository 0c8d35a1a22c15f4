"""Binary logistic loss: excess zero-one risk ≤ ψ⁻¹(excess logistic risk),
ψ(t) = ((1+t)/2)ln(1+t) + ((1−t)/2)ln(1−t).

Setting: a finite input space of M bins x_j with masses w_j and conditional
probabilities η_j = P(y = +1 | x_j) = (1 + s_j t_j)/2 (margin t_j = |2η_j − 1|,
sign s_j).  The hypothesis class is every score function (one free score h_j per
bin: minimizability gaps are zero).  The pointwise statement is the calibration
inequality C_η(h) − C_η* ≥ ψ(|2η − 1|) for every score h on the wrong side of 0;
integrated over x with Jensen (ψ convex, increasing) it gives the stated bound.

Exact side: sympy derives ψ as the infimum of the excess conditional logistic
risk over wrong-signed scores (stationary point, convexity, slope at 0), checks
the closed form against it to 40 digits, and tabulates it (per bin and on a
grid for ψ⁻¹).

Simulation: per-bin scores trained by minibatch SGD on labels sampled from η_j
(or, in the deterministic limit, GD on the population risk), started on the
wrong side of 0 so that every trajectory crosses the decision boundary: the
iterate just before a crossing is the near-tight configuration (score → 0⁻)
that resolves ψ.  The excess risks of every iterate are exact expectations over
the conditional probabilities (no Monte Carlo error): per bin, the smallest
excess logistic risk of a wrong-signed iterate; integrated, the excess 0-1 and
logistic risks at 32 log-spaced checkpoints and at the last step where every
bin is still wrong (the tight point of the equal-margin family).

Resolution: the pointwise check resolves ψ (psi_bins) to 0.1 % on the plus side
(a ψ too large is refuted; a smaller ψ is a weaker, true bound); the integrated
check resolves the tabulated ψ to 0.1 % through the population-gradient,
equal-margin draws (with sampled labels the bins cross at different times and
Jensen's gap leaves it at 3–10 %)."""
import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Float, Int, Mutant, Plot, Seed, Series, Source,
                         at_least, at_most)

from ._calibration import T_GRID, draw_generators, psi, psi_derivation, psi_inverse

T_MAX = 2000          # SGD steps at most (crossing of the slowest bin: ≈ 2·init/(lr·t))
BLOCK = 128           # steps per block of random numbers (same blocks batched and alone); draws retire
                      # from the batch at block boundaries after their own horizon
CHECKPOINTS = 32


def scenario(params):
    """Bins, masses, margins, signs and wrong-side initial scores from the draw's data seed."""
    rng = np.random.default_rng(params["data_seed"])
    M = params["bins"]
    w = rng.dirichlet(np.ones(M))
    s = np.where(rng.random(M) < 0.5, -1.0, 1.0)
    u = rng.random(M)
    if params["margins"] == "equal":
        t = np.full(M, params["t_min"])
    else:
        t = params["t_min"] + (params["t_max"] - params["t_min"]) * u
    eta = (1 + s * t) / 2
    spread = 0.0 if params["margins"] == "equal" else 0.8  # the tight family starts every bin alike
    h0 = -s * params["init"] * (1 - spread * rng.random(M))
    return w, s, t, eta, h0


def steps_for(params) -> int:
    return int(min(T_MAX, np.ceil(2.5 * params["init"] / (params["lr"] * params["t_min"])) + 100))


def derive(params):
    d = psi_derivation()
    if d["stationary_residual"] != 0 or d["closed_vs_infimum"] > 1e-30 or d["psi_at_1"] != sp.log(2):
        raise AssertionError(f"derivation of ψ failed: {d}")
    _, _, t, _, _ = scenario(params)
    return {"psi_bins": psi(t), "psi_grid": psi(T_GRID), "t_bins": t}


def _losses(kind):
    """(gradient of the minibatch mean loss in h given the fraction f of positive labels,
    excess conditional risk given η) of the training loss."""
    nf = torch.nn.functional

    def grad_logistic(h, f):  # −f·σ(−h) + (1 − f)·σ(h)
        return torch.sigmoid(h) - f

    def excess_logistic(eta, h, bayes):  # η·softplus(−h) + (1 − η)·softplus(h) − H(η)
        return nf.softplus(h) - eta * h - bayes

    def grad_brier(h, f):  # mean of (σ(h) − y)², y ∈ {0, 1}
        p = torch.sigmoid(h)
        return 2 * (p - f) * p * (1 - p)

    def excess_brier(eta, h, bayes):
        return (torch.sigmoid(h) - eta) ** 2

    return (grad_brier, excess_brier) if kind == "brier" else (grad_logistic, excess_logistic)


def simulate_batch(params_list, ctx):
    B = len(params_list)
    dev, dt = ctx.device, ctx.dtype
    gens = draw_generators(ctx, B)
    Mx = max(p["bins"] for p in params_list)
    W, S, Tm, ETA, H = (torch.zeros(B, Mx, dtype=dt, device=dev) for _ in range(5))
    for i, p in enumerate(params_list):
        w, s, t, eta, h0 = scenario(p)
        M = p["bins"]
        W[i, :M], S[i, :M], Tm[i, :M], ETA[i, :M], H[i, :M] = (ctx.tensor(a) for a in (w, s, t, eta, h0))
        S[i, M:], ETA[i, M:], H[i, M:] = 1.0, 0.75, -1.0  # padding: zero mass, always wrong (never crosses)
    WT = W * Tm
    steps = [steps_for(p) for p in params_list]
    T = max(steps)
    # per-step learning rate, 0 after a draw's own horizon (its scores freeze: minima and paths unchanged)
    lr = ctx.tensor([p["lr"] for p in params_list])
    horizon = torch.tensor(steps, device=dev)
    kinds = {p.get("loss", "logistic") for p in params_list}
    if len(kinds) > 1:
        raise ValueError("one loss per batch")
    grad, excess = _losses(kinds.pop())
    bayes = -(torch.special.xlogy(ETA, ETA) + torch.special.xlogy(1 - ETA, 1 - ETA))
    bound = [p.get("score_bound") for p in params_list]
    clip = None
    floor = torch.zeros_like(H)
    if any(b is not None for b in bound):
        clip = ctx.tensor([b if b is not None else np.inf for b in bound])[:, None]
        H = torch.maximum(torch.minimum(H, clip), -clip)
        # the best score inside the class: the Bayes score clipped to the bound
        h_star = torch.log(ETA / (1 - ETA))
        floor = excess(ETA, torch.maximum(torch.minimum(h_star, clip), -clip), bayes)
    min_wrong = torch.full((B, Mx), np.inf, dtype=dt, device=dev)
    path01 = torch.full((T + 1, B), np.nan, dtype=dt, device=dev)
    pathlog = torch.full((T + 1, B), np.nan, dtype=dt, device=dev)
    allwrong = torch.zeros(T + 1, B, dtype=torch.bool, device=dev)
    inf = torch.tensor(np.inf, dtype=dt, device=dev)
    idx = torch.arange(B, device=dev)  # draws still training (a draw retires at its own horizon)
    a = {"H": H, "S": S, "ETA": ETA, "W": W, "WT": WT, "bayes": bayes, "floor": floor, "mw": min_wrong,
         "lr": lr[:, None], "clip": clip}
    fr = None
    for step in range(T + 1):
        j = step % BLOCK
        if j == 0 and step > 0:  # retire finished draws: the batch shrinks to the slow ones
            keep = horizon[idx] >= step
            if not bool(keep.all()):
                min_wrong[idx], H[idx] = a["mw"], a["H"]
                idx = idx[keep]
                a = {k: (v[keep] if v is not None else None) for k, v in a.items()}
        exc = excess(a["ETA"], a["H"], a["bayes"]) - a["floor"]
        right = a["H"] * a["S"] > 0
        a["mw"] = torch.minimum(a["mw"], torch.where(right, inf, exc))
        path01[step, idx] = (a["WT"] * ~right).sum(1)
        pathlog[step, idx] = (a["W"] * exc).sum(1)
        allwrong[step, idx] = ~right.any(1)
        if step == T:
            break
        if j == 0:  # the next block of label fractions, drawn per draw from its own generator
            fr = torch.zeros(BLOCK, len(idx), Mx, dtype=dt, device=dev)
            for r, i in enumerate(idx.tolist()):
                M, b = params_list[i]["bins"], float(params_list[i]["batch"])
                if params_list[i]["labels"] == "population":  # the exact risk's gradient: no sampling
                    fr[:, r, :M] = ETA[i, :M]
                    continue
                cnt = torch.full((BLOCK, M), b, dtype=dt, device=dev)
                fr[:, r, :M] = torch.binomial(cnt, ETA[i, :M].expand(BLOCK, M).contiguous(), generator=gens[i]) / b
            lrs = a["lr"].T * ((step + torch.arange(BLOCK, device=dev)[:, None]) < horizon[idx][None, :])
        a["H"] = a["H"] - lrs[j][:, None] * grad(a["H"], fr[j])
        if a["clip"] is not None:
            a["H"] = torch.maximum(torch.minimum(a["H"], a["clip"]), -a["clip"])
    min_wrong[idx] = a["mw"]
    H[idx] = a["H"]
    out = []
    for i, p in enumerate(params_list):
        M, Ti = p["bins"], steps[i]
        ck = set(np.round(np.geomspace(1, Ti + 1, CHECKPOINTS)).astype(int) - 1)
        aw = allwrong[: Ti + 1, i].cpu().numpy()
        last_all_wrong = int(np.argmin(aw)) - 1 if not aw.all() else Ti
        ck = np.array(sorted(ck | {max(last_all_wrong, 0)}))
        out.append({"min_wrong_excess": min_wrong[i, :M].cpu().numpy(), "excess01": path01[ck, i].cpu().numpy(),
                    "excess_log": pathlog[ck, i].cpu().numpy(), "checkpoints": ck,
                    "last_all_wrong_step": last_all_wrong,
                    "crossed_fraction": float(((H[i, :M] * S[i, :M]) > 0).double().mean()), "steps": Ti})
    return out


def simulate(params, ctx):
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


def psi_inverse_of_observed(pred, obs, params):
    """ψ⁻¹ (from the predicted table) at the observed excess logistic risks."""
    return psi_inverse(obs["excess_log"], pred["psi_grid"])


def _psi_plus_quartic(t):
    return psi(t) + np.asarray(t) ** 4 / 12


claim = Claim(
    id="losses.logistic_calibration",
    title="Logistic loss: excess 0-1 risk ≤ ψ⁻¹(excess logistic risk)",
    statement=("For binary classification with the logistic loss φ(v) = ln(1 + e^{−v}) over all measurable "
               "scores (zero minimizability gaps), every score h satisfies R₀₁(h) − R₀₁* ≤ ψ⁻¹(R_φ(h) − R_φ*) with "
               "ψ(t) = ((1+t)/2)ln(1+t) + ((1−t)/2)ln(1−t); pointwise, a score with the wrong sign at x has "
               "excess conditional logistic risk ≥ ψ(|2η(x) − 1|), and ψ is the largest such function "
               "(attained by scores tending to 0 from the wrong side)."),
    math=sp.Le(sp.Symbol("R_01(h) - R_01^*"),
               sp.Function("psi^{-1}")(sp.Symbol("R_phi(h) - R_phi^*"))),
    source=Source("Cross-Entropy Loss Functions: Theoretical Analysis and Applications",
                  "Anqi Mao, Mehryar Mohri, Yutao Zhong", 2023, "seed 001",
                  note=("Also in seed 003.  The binary case of the paper's comp-sum H-consistency bounds with the "
                        "complete hypothesis set (gaps 0), with the exact calibration function ψ (the "
                        "paper's multi-class bound uses its quadratic lower bound t²/2, i.e. √(2·excess)).  "
                        "The score class here is every function of a finite input space (a free score per "
                        "bin)."),
                  ),
    assumptions=AssumptionSpace([
        Int("bins", 8, 64, description="size M of the finite input space"),
        Choice("margins", ["equal", "spread"], description="all bins at margin t_min (the tight family), or "
                                                          "margins uniform in [t_min, t_max]"),
        Float("t_min", 0.03, 0.95, log=True, description="smallest margin |2η − 1|"),
        Float("t_max", "t_min", 0.995, description="largest margin (spread)"),
        Float("lr", 0.03, 0.5, log=True, description="SGD step size"),
        Int("batch", 1, 16, description="labels per bin per SGD step"),
        Choice("labels", ["sampled", "population"], description="minibatch labels sampled from η, or the "
               "population gradient (GD on the exact conditional risk: the deterministic limit)"),
        Float("init", 0.1, 2.0, log=True, description="scale of the wrong-signed initial scores"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        # round-off only: float64 risks near ties keep ≥ 12 digits; float32 about 6
        at_least("pointwise: wrong-signed excess ≥ ψ(|2η−1|)", "min_wrong_excess", "psi_bins",
                 rtol={"float64": 1e-10, "float32": 1e-5}, margin={"float64": 1e-13, "float32": 1e-7}),
        at_most("excess 0-1 ≤ ψ⁻¹(excess logistic)", "excess01", psi_inverse_of_observed,
                rtol={"float64": 1e-9, "float32": 1e-4}, margin={"float64": 1e-12, "float32": 1e-6}),
    ],
    mutants=[
        Mutant("linear bound: excess 0-1 ≤ excess logistic",
               lambda p, pred: {**pred, "psi_bins": pred["t_bins"], "psi_grid": T_GRID.copy()},
               "ψ(t) = t: the calibration function of the hinge loss, not of the logistic loss"),
        Mutant("quadratic constant 1: ψ(t) = t²",
               lambda p, pred: {**pred, "psi_bins": pred["t_bins"] ** 2, "psi_grid": T_GRID ** 2},
               "a wrong constant in the quadratic behaviour (the true ψ is t²/2 + t⁴/12 + …)"),
        Mutant("near-miss: quartic coefficient doubled",
               lambda p, pred: {**pred, "psi_bins": _psi_plus_quartic(pred["t_bins"]),
                                "psi_grid": _psi_plus_quartic(T_GRID)},
               "ψ(t) + t⁴/12, i.e. series t²/2 + t⁴/6 + …: wrong only at the fourth order"),
    ],
    breaks=[
        Break("bounded scores |h| ≤ 0.1, excess against the best bounded score",
              lambda p: {**p, "score_bound": 0.1},
              "a restricted class with a nonzero minimizability gap: the gap-free inequality fails",
              expect=["pointwise: wrong-signed excess ≥ ψ(|2η−1|)"]),
        Break("Brier loss (σ(h) − y)² in place of the logistic loss", lambda p: {**p, "loss": "brier"},
              "its calibration function is t²/4 < ψ(t): ψ belongs to the logistic loss",
              expect=["pointwise: wrong-signed excess ≥ ψ(|2η−1|)"]),
    ],
    regimes={
        "near tie (t_min < 0.1)": "t_min < 0.1",
        "confident bins (t_max > 0.8, spread)": "t_max > 0.8 and margins == 'spread'",
        "tight family (equal margins)": "margins == 'equal'",
        "at most two labels per step": "batch <= 2 and labels == 'sampled'",
        "population gradient, equal margins (the tight limit)": "labels == 'population' and margins == 'equal'",
    },
    resolution={"psi_bins": {"plus": 0.003}, "psi_grid": {"plus": 0.003},
                "t_bins": "read by no check (used by the linear mutant only)"},
    plots=[
        Plot("excess 0-1 risk against excess logistic risk along training", [
            Series("ψ⁻¹ (sympy)", lambda pred, obs, p: np.sort(obs["excess_log"]),
                   lambda pred, obs, p: psi_inverse(np.sort(obs["excess_log"]), pred["psi_grid"]), role="theory"),
            Series("SGD checkpoints", "observation.excess_log", "observation.excess01", style="points"),
        ], xlabel="excess logistic risk", ylabel="excess 0-1 risk"),
        Plot("smallest wrong-signed excess per bin vs ψ(t)", [
            Series("ψ(t)", "prediction.t_bins", "prediction.psi_bins", role="theory", style="points"),
            Series("SGD", "prediction.t_bins", "observation.min_wrong_excess", style="points"),
        ], xlabel="margin |2η − 1|", ylabel="excess conditional logistic risk", xlog=True, ylog=True),
    ],
)
