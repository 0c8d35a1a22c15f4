"""Mirror descent with ψ(w) = ‖w‖_p^p/p on separable data converges in direction to the ℓp
max-margin classifier w*_p = argmin{‖w‖_p : y_i x_iᵀw ≥ 1}.

Exact side: w*_p from the dual max_{α≥0} Σα − ‖Zᵀα‖_q^q/q (Z the rows y_i x_iᵀ, 1/p + 1/q = 1),
Newton with an active set (cvxpy with pnorm, status optimal, as the fallback that finds the
support set), certified by weak duality: relative duality gap ≤ 1e-9 or the draw is
inconclusive.  The same for the mutants' ℓ_{1.1p} and ℓ2 solutions.
Simulation: mirror descent ∇ψ(w_{t+1}) = ∇ψ(w_t) − η∇L(w_t) from w = 0 with normalised steps
(L = log Σ_i exp(−y_i x_iᵀw), η = 1), all draws in one tensor program.

Checks, all valid at any number of steps T:
* no iterate beats the max margin: min_i y_i x_iᵀw/‖w‖_p ≤ γ*_p for the best iterate (optimality);
* the direction: w̃ = w/min_i y_i x_iᵀw (the iterate with the best ℓp-normalised margin so far,
  rescaled) is feasible, so first-order optimality of w*_p and uniform convexity of the ℓp norm
  (p ≤ 2: ½‖·‖_p² is (p − 1)-strongly convex; p ≥ 2: Σ|b|^p − |a|^p − p|a|^{p−2}a(b − a) ≥
  c_p‖b − a‖_p^p) give ‖w̃ − w*_p‖_p ≤ R(‖w̃‖_p, ‖w*_p‖_p), which tends to 0 with the margin gap.
  The predicted w*_p must be feasible and the iterate must lie in that ball; a wrong direction
  with a smaller ℓp margin (the mutants) is refuted once MD's margin passes it;
* MD never stalls short of the max margin: while the margin gap is open its direction keeps
  moving (an exponentially tailed loss has no stationary point, and a direction that stops is
  a KKT direction).

Narrowed: T = 2000 normalised steps in quick (20000 with ctx.large) instead of 10⁵.  MD's
normalised margin oscillates from step to step and, for p ≥ 3, converges like t^(−(q−1)) (gaps
up to 0.17 at T = 2000 for p = 4), so the entry's 1 − cos ≤ 1e-6 at the end is replaced by the
certified ball, whose radius at T = 2000 refutes the ℓ_{1.1p} near-miss on about half of the
p < 2 draws and few p ≥ 3 ones.  The entry's check (ii), the paper's fixed step on the logistic
loss graded as a trend, is left out: its direction error decays like 1/log t and not
monotonically (a calibration draw sat at 1 − cos = 0.0127 from t = 250 to 5000 and was 0.0128
at t = 20000; "closer to w*_p than to every mutant" held on 73 % of draws at t = 4000), so no
per-draw finite-T statement of it is honest.  The space is
n ≤ 10, d ≤ 2n + 4 (cost).  Single draws run the same arithmetic in numpy; MD's trajectory is
sensitive to round-off (padding changes summation order), so batched and single runs agree in
their conclusions and to ~1e-3 in the margins, not bitwise.  The squared-loss break is
detectable only where w*_p is not an interpolant: where every point is a support vector the
min-ℓp interpolant *is* w*_p (the overparameterised coincidence of the seed's talk, line 73)."""
import numpy as np
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Choice, Claim, Int, Mutant, Plot, Seed, Series, Source, at_most,
                         holds)
from theorycheck.checks import Check
from theorycheck.verdict import Evidence

from ._mirror import ball_radius, cosine_gap, data, max_margin, mirror_descent, mirror_descent_single



def steps_for(ctx):
    return 20000 if ctx.large else 2000


def _key(params):
    return params["n"], params["d"], params["redundant"], params["data_seed"]


def derive(params):
    w, gamma, gap = max_margin(*_key(params), float(params["p"]))
    return {"w_star": np.array(w), "gamma": gamma, "duality_gap": gap}


def _mutant(params, pred, p_other):
    w, gamma, gap = max_margin(*_key(params), float(p_other))
    return {**pred, "w_star": np.array(w), "gamma": gamma, "duality_gap": gap}


def simulate_batch(params_list, ctx):
    T = steps_for(ctx)
    cps = [T // 8, T // 4, T // 2, T]
    rows = [(i, 2 if p.get("loss") == "square" else 0) for i, p in enumerate(params_list)]   # (draw, mode)
    Zs = [data(*_key(p)) for p in params_list]
    N = max(z.shape[0] for z in Zs)
    D = max(z.shape[1] for z in Zs)
    R = len(rows)
    Z = torch.zeros(R, N, D, dtype=ctx.dtype, device=ctx.device)
    mask = torch.zeros(R, N, dtype=torch.bool, device=ctx.device)
    for r, (i, _) in enumerate(rows):
        z = Zs[i]
        Z[r, : z.shape[0], : z.shape[1]] = ctx.tensor(np.array(z))
        mask[r, : z.shape[0]] = True
    P = ctx.tensor([float(params_list[i]["p"]) for i, _ in rows])
    modes = torch.tensor([m for _, m in rows], device=ctx.device)
    if R == 1 and ctx.device == "cpu":   # a single draw: numpy is ~10× cheaper per step at this size
        W, Wb, G = mirror_descent_single(Zs[0], float(params_list[0]["p"]), rows[0][1], T, cps)
    else:
        W, Wb, G = (x.cpu().numpy() for x in mirror_descent(Z, mask, P, modes, T, cps))
    out = [dict() for _ in params_list]
    for r, (i, _mode) in enumerate(rows):
        z = Zs[i]
        ws = W[:, r, : z.shape[1]]
        out[i].update({
            "steps": np.array(cps), "w_last": ws[-1],
            "direction_change": cosine_gap(ws[-2], ws[-1]),   # 1 − cos(w_{T/2}, w_T)
            "w_md": Wb[-1, r, : z.shape[1]],        # the best iterate by ℓp-normalised margin up to T
            "margin_T": float(G[-1, r]),             # its margin min_i z_i·w/‖w‖_p
            "margins": G[:, r],                      # best margin so far at the checkpoints
        })
    return out


def simulate(params, ctx):
    return simulate_batch([params], ctx.with_seeds([ctx.seed]))[0]


# ---- checks -------------------------------------------------------------------------------
def _direction(name):
    def fn(pred, obs, params, ctx):
        p = float(params["p"])
        z = data(*_key(params))
        ws = np.asarray(pred["w_star"], dtype=float)
        feas = float((z @ ws).min())
        if not feas >= 1 - 1e-9:
            return Evidence(name, False, feas - 1, "feasible w*", feas, 1e-9,
                            f"the predicted w* is not feasible: min margin {feas:.6g} < 1", used=float("inf"))
        w = np.asarray(obs["w_md"], dtype=float)
        m = float((z @ w).min())
        if not (np.all(np.isfinite(w)) and m > 0):
            return Evidence(name, None, float("nan"), None, None, None, "the iterate does not separate the data")
        wt = w / m
        nw, ns = float(np.linalg.norm(wt, p)), float(np.linalg.norm(ws, p))
        # the predicted ŵ is certified only to a relative duality gap: ‖w*‖_p^p ≥ (1 − gap)‖ŵ‖_p^p,
        # so ‖w̃ − ŵ‖ ≤ R(‖w̃‖, ‖w*‖) + R(‖ŵ‖, ‖w*‖) with the lower bound for ‖w*‖ (R grows as it falls)
        gap = max(float(pred.get("duality_gap", 0.0)), 1e-15)
        ns_low = ns * (1 - gap) ** (1 / p)
        radius = ball_radius(nw, ns_low, p) + ball_radius(ns, ns_low, p)
        dist = float(np.linalg.norm(wt - ws, p))
        if not np.isfinite(radius):
            return Evidence(name, False, -1.0, ns, nw, None,
                            f"MD's iterate has a larger ℓp margin than the predicted optimum "
                            f"(‖w̃‖_p = {nw:.9g} < ‖w*‖_p = {ns:.9g})", used=float("inf"))
        allowed = radius * (1 + 1e-9) + 1e-12 * ns
        used = dist / allowed
        return Evidence(name, bool(dist <= allowed), 1 - used, ns, dist, allowed,
                        f"‖w̃ − w*‖_p = {dist:.3g} ≤ certified radius {radius:.3g} "
                        f"(margin gap {1 - ns / nw:.2e}, 1 − cos = {cosine_gap(wt, ws):.2e})", used=used)

    return Check(name, fn, "the rescaled MD iterate lies in the ball around w*_p certified by its margin gap")


def margin_gaps(pred, obs, params):
    """1 − ‖w*_p‖_p/‖w̃_t‖_p (best iterate so far) at the checkpoints."""
    ns = float(np.linalg.norm(np.asarray(pred["w_star"], dtype=float), float(params["p"])))
    return 1 - np.asarray(obs["margins"]) * ns


def never_stalls(pred, obs, params):
    """With an exponentially tailed loss the gradient never vanishes and a direction that
    stops moving is a max-margin direction (KKT); so while the margin gap is open, MD's
    direction keeps moving: 1 − cos(w_{T/2}, w_T) > 1e-13 unless the gap is below 1e-6."""
    gap = float(margin_gaps(pred, obs, params)[-1])
    return bool(obs["direction_change"] > 1e-13 or gap <= 1e-6)


DIRECTION = "MD direction → w*_p (certified ball around the predicted ℓp max-margin solution)"
STALLS = "MD's direction keeps moving while the margin gap is open"
claim = Claim(
    id="dynamics.mirror_descent_margin",
    title="Mirror descent with ‖w‖_p^p/p converges in direction to the ℓp max-margin classifier",
    statement=("On linearly separable data (rows y_i x_i), mirror descent ∇ψ(w_{t+1}) = ∇ψ(w_t) − η_t∇L(w_t) with "
               "ψ(w) = ‖w‖_p^p/p (p > 1, ∇ψ(w) = sign(w)|w|^{p−1}) on an exponentially tailed loss converges in "
               "direction to the ℓp max-margin classifier argmin{‖w‖_p : y_i x_iᵀw ≥ 1}: its ℓp-normalised margin "
               "tends to the maximum and w_t/‖w_t‖ → w*_p/‖w*_p‖."),
    math=sp.Eq(sp.Symbol("lim w_t/||w_t||"), sp.Symbol("argmin{||w||_p : y_i x_i^T w >= 1}")),
    source=Source("Mirror Descent Maximizes Generalized Margin and Can Be Implemented Efficiently",
                  "Haoyuan Sun, Kwangjun Ahn, Christos Thrampoulidis, Navid Azizan", 2022, "seed 002",
                  note=("Seed 002, line 90.  T = 2000 normalised MD steps in quick (not 10⁵); directional "
                        "closeness certified by an ℓp uniform-convexity ball from the margin gap instead of "
                        "1 − cos ≤ 1e-6; the fixed-step logistic trend (ii) left out (1/log t, not monotone "
                        "per draw); exact side "
                        "by a certified dual Newton solve with cvxpy as fallback (cvxpy alone: ~25 ms × 3 "
                        "solves per draw); n ≤ 10, d ≤ 2n + 4.")),
    assumptions=AssumptionSpace([
        Int("n", 4, 10, description="points"),
        Int("d", "n + 2", "2 * n + 4", description="dimension (d > n: separable, mutants distinguishable)"),
        Choice("p", [1.25, 1.5, 3.0, 4.0], description="potential exponent"),
        Int("redundant", 0, 3, description="extra points Σc_j y_j x_j with Σc_j ≥ 1.5: never support vectors"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        at_most("no MD iterate beats the ℓp max margin", "margin_T", "gamma", rtol=1e-7),   # γ̂ certified to ≤ 1e-9/p
        _direction(DIRECTION),
        holds(STALLS, never_stalls),
    ],
    mutants=[
        Mutant("near-miss: the ℓ_{1.1p} max-margin direction", lambda p, pred: _mutant(p, pred, 1.1 * float(p["p"])),
               "the max-margin classifier of a 10 % larger exponent"),
        Mutant("the ℓ2 max-margin direction", lambda p, pred: _mutant(p, pred, 2.0),
               "gradient descent's implicit bias in place of the mirror map's"),
    ],
    breaks=[
        Break("squared loss on ±1 labels", lambda p: {**p, "loss": "square"},
              "MD then converges (linearly) to the min-ℓp interpolant, or a least-squares point with redundant "
              "points, and stops there with the margin gap open, unless every point is a support vector "
              "(then that interpolant is w*_p)", expect=[STALLS]),
    ],
    regimes={
        "p = 1.25": "p == 1.25", "p = 1.5": "p == 1.5", "p = 3": "p == 3", "p = 4": "p == 4",
        "d ≥ 2n (strongly overparameterised)": "d >= 2 * n",
        "some points not support vectors": "redundant >= 1",
    },
    # w_star: a scaled-up w* is refuted through the simulation (its ℓp norm exceeds MD's margin-1 iterate
    # plus the certified radius); a scaled-down one is infeasible, which the exact side alone shows
    resolution={"gamma": 0.01, "w_star": {"plus": 0.01},
                "duality_gap": "the certificate of the exact solve: widens the certified ball, not a prediction"},
    plots=[
        Plot("MD's ℓp margin gap along the run", [
            Series("1 − ‖w*‖_p/‖w̃_t‖_p", "observation.steps", margin_gaps),
        ], xlabel="step", ylabel="margin gap", xlog=True, ylog=True),
        Plot("MD iterate vs w*_p (coordinates, margin 1)", [
            Series("w*_p", "prediction.w_star", "prediction.w_star", role="theory", style="line"),
            Series("MD", "prediction.w_star",
                   lambda pred, obs, p: np.asarray(obs["w_md"]) / (data(*_key(p)) @ np.asarray(obs["w_md"])).min(),
                   style="points"),
        ], xlabel="w*_p coordinate", ylabel="MD coordinate"),
    ],
)
