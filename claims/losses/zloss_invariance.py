"""The Z-loss is invariant under shifts and positive scalings of the logits, and
so is its training dynamics up to a rescaling of time.

Z-loss: z_c = (o_c − μ(o))/σ(o), ℓ(o, c) = (1/a)·softplus(a(b − z_c)).  For α > 0
and any β: ℓ(αo + β1, c) = ℓ(o, c); hence ∇ℓ(αo + β1) = ∇ℓ(o)/α, and the
gradient flow in logit space from αo(0) + β1 is õ(t) = α·o(t/α²) + β1: the
scaled run follows the same path, α² times slower (GD: step η at the scaled
logits equals step η/α² at the plain ones).

Exact side (sympy, every K at once through the statistics Σo, Σo², o_c):
z_c(αo + β1) − z_c(o) = 0; the ratio of gradients 1/α; the time scale τ = α²
solved from the flow equation.

Simulation (torch, float64, batched over draws): N samples with free logit
vectors and targets (a training set in logit space) and the summed Z-loss.
(i) the loss and its gradient at the plain and at the shifted / scaled logits
(a direct evaluation: an identity check); (ii) the training dynamics: RK4
integration of the gradient flow from o(0) and, independently, from αo(0) + β1
with a deliberately mismatched step (ρ·α²·h, ρ ∈ [0.3, 0.9], the α² measured
from the logits' spread, not taken from the theory).  The time scale is
measured, not assumed: every scaled checkpoint's loss is located on the plain
run's loss curve (bracketing step, then Newton with one RK4 step from the
bracketing state), giving the matched plain time s_k; τ̂ is the least-squares
ratio of scaled to matched times, and the scaled state is compared with α·o(s_k)
+ β1.  With the loss strictly decreasing along the flow (dL/dt = −‖∇L‖²), the
matching is well posed.  Differentiating the invariance at α = 1, β = 0 gives
⟨∇ℓ, 1⟩ = 0 and ⟨∇ℓ, o⟩ = 0: the flow conserves each sample's logit mean and
spread, checked on the plain run (the cross-entropy break violates it).

Every sample starts at the same logit spread (the flow keeps it), so one RK4
step fits all samples; the tolerances are round-off (loss, gradient) and the RK4
accuracy at a relative step ≤ 0.04 (time scale, path, spread)."""
import dataclasses

import numpy as np
import sympy as sp
import torch

from theorycheck import AssumptionSpace, Break, Claim, Float, Int, Mutant, Plot, Seed, Series, Source, close

from ._zloss import derivation, rk4_flow, rk4_step, zloss_and_grad

STEPS = 48          # RK4 steps of each run
MATCHES = 8         # scaled checkpoints located on the plain run (the second half of the scaled run)
NEWTON = 5


def scenario(params):
    rng = np.random.default_rng(params["data_seed"])
    N, K = params["samples"], params["K"]
    x = rng.standard_normal((N, K))
    x = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)  # every sample at the same spread: the flow
    o0 = params["logit_scale"] * x + 3.0 * rng.standard_normal((N, 1))  # conserves it: one time scale for all
    target = rng.integers(0, K, size=N)
    beta = params["shift"] * rng.standard_normal(N)
    return o0, target, beta


def derive(params):
    d = derivation()
    if d["invariance"] != 0:
        raise AssertionError(f"invariance did not simplify to 0: {d['invariance']}")
    al = d["alpha"]
    alpha = params["alpha"]
    return {"loss_change": 0.0,
            "grad_factor": float(d["grad_factor"].subs(al, alpha)),
            "time_scale": float(d["time_scale"][0].subs(al, alpha)),
            "path_deviation": 0.0, "spread_drift": 0.0}


def _pad(params_list, ctx):
    B = len(params_list)
    Nx = max(p["samples"] for p in params_list)
    Kx = max(p["K"] for p in params_list)
    o = torch.zeros(B, Nx, Kx, dtype=ctx.dtype, device=ctx.device)
    tgt = torch.zeros(B, Nx, dtype=torch.long, device=ctx.device)
    kmask = torch.zeros(B, 1, Kx, dtype=ctx.dtype, device=ctx.device)
    nmask = torch.zeros(B, Nx, dtype=ctx.dtype, device=ctx.device)
    beta = torch.zeros(B, Nx, 1, dtype=ctx.dtype, device=ctx.device)
    for i, p in enumerate(params_list):
        o0, t, be = scenario(p)
        N, K = p["samples"], p["K"]
        o[i, :N, :K] = ctx.tensor(o0)
        o[i, N:, :K] = torch.arange(K, dtype=ctx.dtype, device=ctx.device)  # padded samples: masked out, but a finite z
        tgt[i, :N] = torch.as_tensor(t, device=ctx.device)
        kmask[i, 0, :K] = 1
        nmask[i, :N] = 1
        beta[i, :N, 0] = ctx.tensor(be)
    return o, tgt, kmask, nmask, beta


def simulate_batch(params_list, ctx):
    # float64 whatever the run's dtype: the checks compare equalities at round-off and RK4 accuracy
    ctx = dataclasses.replace(ctx, dtype=torch.float64)
    B = len(params_list)
    o, tgt, kmask, nmask, beta = _pad(params_list, ctx)
    col = lambda key, default=None: ctx.tensor([p.get(key, default) for p in params_list])[:, None]  # noqa: E731
    a, b = col("a"), col("b")
    alpha = col("alpha")
    sign = col("scale_sign", 1.0)
    kind = {p.get("loss", "zloss") for p in params_list}
    if len(kind) > 1:
        raise ValueError("one loss per batch")
    kind = kind.pop()
    eps = col("sigma_eps", 0.0)[..., None]

    def make_fn(rep):
        A, Bb, T_, KM, NM, E = (x.repeat_interleave(rep, 0) for x in (a, b, tgt, kmask, nmask, eps))
        return lambda x: zloss_and_grad(x, T_, KM, NM, A, Bb, kind, E)

    fn = make_fn(1)
    scale = (sign * alpha)[..., None]
    o_s = (scale * o + beta) * kmask  # the shifted / scaled logits (padding stays 0)

    # (i) the loss and its gradient at the two logit sets
    l0, g0 = fn(o)
    l1, g1 = fn(o_s)
    loss_change = ((l1 - l0).abs().amax(1) / l0.abs().amax(1).clamp_min(1e-300))
    c = (g1 * g0).sum((1, 2)) / (g0 * g0).sum((1, 2))
    resid = (g1 - c[:, None, None] * g0).norm(dim=(1, 2)) / g1.norm(dim=(1, 2))

    # (ii) the two gradient flows; the scaled run's step from the measured spread of its logits
    mask = kmask * nmask[..., None]

    def spread_of(x):  # Σ over real samples and classes of the centred squared logits
        return (((x - (x * kmask).sum(-1, keepdim=True) / kmask.sum(-1, keepdim=True)) * mask) ** 2).sum((1, 2))

    var0, var1 = spread_of(o), spread_of(o_s)
    nk = (nmask.sum(1) * kmask.sum((1, 2)))
    h = col("flow_time")[:, 0] * (var0 / nk) / STEPS
    hs = col("step_ratio")[:, 0] * h * var1 / var0
    S0, L0, R0 = rk4_flow(o, h, STEPS, fn)
    S1, L1, _ = rk4_flow(o_s, hs, STEPS, fn)

    # each sample's logit spread along the plain flow (conserved: ⟨∇ℓ, o⟩ = 0 by scale invariance, ⟨∇ℓ, 1⟩ = 0
    # by shift invariance)
    cen = (S0 - (S0 * kmask).sum(-1, keepdim=True) / kmask.sum(-1, keepdim=True)) * kmask
    sd = (cen * cen).sum(-1).sqrt() + (1 - nmask)  # (STEPS+1, B, N); padded samples at 1
    spread_drift = ((sd / sd[:1] - 1).abs() * nmask).amax((0, 2))

    ks = torch.linspace(STEPS // 2, STEPS, MATCHES, device=o.device).round().long()
    target = L1[ks].T  # (B, MATCHES): losses of the scaled checkpoints
    drop = (L0[0] - L0[-1]) / L0[0].abs()
    # the bracketing plain step: L0 decreasing -> count the plain losses above the target
    j = (L0.T[:, None, :] >= target[:, :, None]).sum(-1) - 1  # (B, MATCHES)
    inside = (j >= 0) & (j < STEPS)
    j = j.clamp(0, STEPS - 1)
    bi = torch.arange(B, device=o.device)[:, None].expand_as(j)
    oj = S0[j, bi]  # (B, MATCHES, N, K)
    Lj, Lj1 = L0[j, bi], L0[j + 1, bi]
    hb = h[:, None].expand_as(j)
    delta = hb * ((Lj - target) / (Lj - Lj1).clamp_min(1e-300)).clamp(0, 1)
    fnm = make_fn(MATCHES)
    flat = lambda x: x.reshape(B * MATCHES, *x.shape[2:])  # noqa: E731
    ojf, tf = flat(oj), target.reshape(-1)
    for _ in range(NEWTON):
        x = rk4_step(ojf, delta.reshape(-1)[:, None, None], fnm)
        lx, gx = fnm(x)
        f = lx.sum(-1) - tf
        delta = (delta.reshape(-1) + f / (gx * gx).sum((-1, -2)).clamp_min(1e-300)).reshape(B, MATCHES)
    x = rk4_step(ojf, delta.reshape(-1)[:, None, None], fnm).reshape(B, MATCHES, *o.shape[1:])
    s_plain = j * hb + delta                      # matched plain times
    t_scaled = ks[None, :].to(h.dtype) * hs[:, None]  # scaled times
    tau = (t_scaled * s_plain).sum(1) / (s_plain * s_plain).sum(1)
    spread = ((t_scaled / s_plain) / tau[:, None] - 1).abs().amax(1)
    back = (S1[ks].transpose(0, 1) - beta[:, None]) / scale[:, None]  # (õ − β)/α at the checkpoints
    dev = ((back - x) * mask[:, None]).norm(dim=(2, 3)) / (x * mask[:, None]).norm(dim=(2, 3))
    out = []
    for i in range(B):
        obs = {"loss_change": float(loss_change[i]), "grad_factor_fit": float(c[i]),
               "grad_residual": float(resid[i]), "time_scale_fit": float(tau[i]),
               "time_ratio_spread": float(spread[i]), "path_deviation": float(dev[i].max()),
               "spread_drift": float(spread_drift[i]),
               "loss_drop": float(drop[i]), "matched_inside": bool(inside[i].all()),
               "plain_times": s_plain[i].cpu().numpy(), "scaled_times": t_scaled[i].cpu().numpy(),
               "plain_loss": L0[:, i].cpu().numpy(), "plain_time": np.arange(STEPS + 1) * float(h[i]),
               "scaled_loss": L1[:, i].cpu().numpy(),
               "scaled_time": np.arange(STEPS + 1) * float(hs[i])}
        if not obs["matched_inside"] or not np.isfinite(obs["time_scale_fit"]):
            obs["time_scale_fit"] = float("nan")  # a scaled loss outside the plain run's range: undecidable
        out.append(obs)
    return out


def simulate(params, ctx):
    return simulate_batch([params], ctx)[0]


claim = Claim(
    id="losses.zloss_invariance",
    title="Z-loss: invariant under logit shift and scale; its gradient flow only changes speed",
    statement=("For logits o ∈ R^K and the Z-loss ℓ(o, c) = (1/a)·softplus(a(b − z_c)), "
               "z_c = (o_c − mean(o))/std(o): for every α > 0 and β ∈ R, ℓ(αo + β1, c) = ℓ(o, c); the gradient "
               "satisfies ∇ℓ(αo + β1) = ∇ℓ(o)/α; and the gradient flow in logit space started at αo(0) + β1 is "
               "α·o(t/α²) + β1 (the same trajectory, α² times slower).  The log-softmax is only shift invariant."),
    math=sp.Eq(sp.Function("ell")(sp.Symbol("alpha") * sp.Symbol("o") + sp.Symbol("beta")),
               sp.Function("ell")(sp.Symbol("o"))),
    source=Source("The Z-loss: a shift and scale invariant classification loss belonging to the Spherical Family",
                  "Alexandre de Brébisson, Pascal Vincent", 2016, "seed 003",
                  note=("The abstract states the invariance of the loss; the covariance of the gradient and the "
                        "time rescaling of the flow (τ = α²) are its consequences derived here, and the training "
                        "dynamics are checked in logit space (free logits per sample), where the invariance acts. "
                        "Scales α > 0 only: α < 0 flips z_c (a break).  K ≥ 3: with two classes z_c = ±1, so the "
                        "Z-loss is piecewise constant and its gradient vanishes (nothing to train).")),
    assumptions=AssumptionSpace([
        Int("K", 3, 12, description="number of classes (K = 2: z_c = ±1, the loss is piecewise constant)"),
        Int("samples", 1, 6, description="samples (free logit vectors) in the training set"),
        Float("alpha", 0.1, 10.0, log=True, description="logit scale α > 0"),
        Float("shift", 0.0, 5.0, description="size of the per-sample logit shifts β_i"),
        Float("a", 0.3, 5.0, log=True, description="Z-loss sharpness a"),
        Float("b", -1.0, 3.0, description="Z-loss location b"),
        Float("logit_scale", 0.1, 3.0, log=True, description="spread of the initial logits"),
        Float("flow_time", 0.3, 2.0, description="flow time of the plain run in units of the logit variance"),
        Float("step_ratio", 0.3, 0.9, description="ρ: the scaled run integrates ρ times the plain run's span"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[
        # round-off: the worst relative change seen at the corner of the space (α = 0.1, logit spread 0.1,
        # shifts of 5σ: z computed from nearly equal large logits) was 4e-13 in float64
        close("loss invariant under o → αo + β1", "loss_change", "loss_change", rtol=0,
              atol=2e-12),
        close("gradient at αo + β1 = gradient at o / α", "grad_factor", "grad_factor_fit",
              rtol=1e-10, atol=0),
        # RK4 with a relative step ≤ flow_time/STEPS ≈ 0.04 of the conserved logit variance: the two runs'
        # discretisation errors differ (mismatched steps); worst τ̂ error seen 2e-9 (seeds 0-2, corner draws)
        close("flow from αo + β1 runs α² slower (time scale from matched losses)", "time_scale",
              "time_scale_fit", rtol=1e-6, atol=0),
        close("scaled flow = α·(plain flow at matched time) + β1", "path_deviation", "path_deviation", rtol=0,
              atol=1e-7),
        close("the flow conserves each sample's logit spread", "spread_drift", "spread_drift", rtol=0,
              atol=1e-7),
    ],
    mutants=[
        Mutant("gradient unchanged by scaling", lambda p, pred: {**pred, "grad_factor": 1.0},
               "∇ℓ(αo + β) = ∇ℓ(o): reading invariance of the loss as invariance of its gradient"),
        Mutant("time scale α", lambda p, pred: {**pred, "time_scale": p["alpha"]},
               "a wrong exponent: the flow α times slower"),
        Mutant("near-miss: time scale 1.05·α²", lambda p, pred: {**pred, "time_scale": 1.05 * pred["time_scale"]},
               "a constant 5 % off"),
    ],
    breaks=[
        Break("log-softmax cross-entropy in place of the Z-loss", lambda p: {**p, "loss": "ce"},
              "only shift invariant: scaling the logits changes the loss",
              expect=["loss invariant under o → αo + β1"]),
        Break("negative scale −α", lambda p: {**p, "scale_sign": -1.0},
              "α < 0 flips z_c: the target's normalised score changes sign",
              expect=["loss invariant under o → αo + β1"]),
        Break("stabilised std √(σ² + 0.1)", lambda p: {**p, "sigma_eps": 0.1},
              "an ε under the square root (a common implementation) breaks scale invariance",
              expect=["loss invariant under o → αo + β1"]),
    ],
    regimes={
        "strong scaling (α > 3 or α < 1/3)": "alpha > 3 or alpha < 1/3",
        "three classes": "K == 3",
        "many classes (K ≥ 8)": "K >= 8",
        "large shifts (> 3)": "shift > 3",
    },
    resolution={"grad_factor": 0.001, "time_scale": 0.001, "loss_change": 0.001, "path_deviation": 0.001,
                "spread_drift": 0.001},
    plots=[
        Plot("loss along the two flows (scaled run's time divided by α²)", [
            Series("plain flow", "observation.plain_time", "observation.plain_loss"),
            Series("scaled flow, t/α²", lambda pred, obs, p: obs["scaled_time"] / pred["time_scale"],
                   "observation.scaled_loss", style="points"),
        ], xlabel="time of the plain flow", ylabel="Σ Z-loss"),
        Plot("measured time scale vs α²", [
            Series("α²", "prediction.time_scale", "prediction.time_scale", role="theory"),
            Series("matched losses", "prediction.time_scale", "observation.time_scale_fit", style="points"),
        ], xlabel="α² (sympy)", ylabel="τ̂ (simulation)", xlog=True, ylog=True, over="examples"),
    ],
)
