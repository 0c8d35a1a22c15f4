"""The two-layer linear model of the catapult paper: f(x) = m^(−1/2)·vᵀu·x on one example,
target 0.  The exact side (sympy: the recursions for f and λ, the lazy-phase expansion) and
GD on (u, v) ∈ R^{2m} for many draws at once (bucketed by width, finished draws retired).

Dimensionless variables: a = ηλ (λ = x²(‖u‖² + ‖v‖²)/m) and b = η²x²f²/m (the loss in units
of its natural O(m) scale).  GD on the square loss gives exactly
    f' = f(1 − a + b),   a' = a − b(4 − a),   b' = b(1 − a + b)²."""
from __future__ import annotations

import functools
import math

import sympy as sp
import torch

from theorycheck.sim.context import derive_seed

TRACE = 64          # steps of (f, λ) kept per draw for the recursion check and the plots
CHECK_EVERY = 16    # steps between convergence / divergence certificates (host syncs)
DIVERGED_B = 1e10   # b = η²x²f²/m above this: the loss is 10¹⁰ times its O(m) scale
PRECISION = 1e-7    # a converged run's remaining shift of ηλ, relative to b₀ (lazy-shift draws)


def draw_generators(ctx, n: int) -> list[torch.Generator]:
    if ctx.seeds:
        return ctx.generators()
    return [ctx.with_seed(derive_seed(ctx.seed, "draw", i)).generator() for i in range(n)]


# ---- exact side ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def recursions():
    """One GD step on ½f² in terms of the invariants p = u·v, s = ‖u‖² + ‖v‖² (u' = u − c v,
    v' = v − c u, c = η f x/√m): sympy checks that f and λ follow the closed recursions.
    Returns the recursions as sympy expressions in (f, lam, eta, x, m)."""
    f, lam, eta, x, m, p, s = sp.symbols("f lambda eta x m p s", real=True)
    c = eta * f * x / sp.sqrt(m)
    p1 = p - c * s + c**2 * p                     # u'·v'
    s1 = s * (1 + c**2) - 4 * c * p               # ‖u'‖² + ‖v'‖²
    f_of = lambda pp: x * pp / sp.sqrt(m)
    lam_of = lambda ss: x**2 * ss / m
    subs = {p: f * sp.sqrt(m) / x, s: lam * m / x**2}
    f_next = sp.simplify(f_of(p1).subs(subs))
    lam_next = sp.simplify(lam_of(s1).subs(subs))
    F = f * (1 - eta * lam + eta**2 * x**2 * f**2 / m)
    G = lam + (eta * x**2 * f**2 / m) * (eta * lam - 4)
    assert sp.simplify(f_next - F) == 0 and sp.simplify(lam_next - G) == 0
    return F, G, (f, lam, eta, x, m)


@functools.lru_cache(maxsize=1)
def lazy_expansion():
    """The lazy phase (a₀ < 2, b₀ → 0): a₀ − a_∞ = b₀·(4 − a₀)/(a₀(2 − a₀))·(1 + K(a₀)·b₀ + …).
    First order: b_t = b₀ r^{2t}, r = 1 − a₀, so Σ b_t(4 − a_t) → b₀(4 − a₀)/(1 − r²).
    Second order: a_t = a₀ − b₀(4 − a₀)S_t, S_t = (1 − r^{2t})/(1 − r²), and
    b_t = b₀ r^{2t} + b₀²γ_t with γ_{t+1} = r²γ_t + 2r·r^{2t}((4 − a₀)S_t + r^{2t});
    the geometric sums close in sympy.  Returns (limit, K) as functions of a."""
    a = sp.Symbol("a", positive=True)
    r = 1 - a
    rho = r**2
    sum_b = 1 / (1 - rho)                                   # Σ r^{2t}
    sum_bS = (1 / (1 - rho) - 1 / (1 - rho**2)) / (1 - rho)  # Σ r^{2t} S_t
    sum_f = (4 - a) * sum_bS + 1 / (1 - rho**2)             # Σ r^{2t}((4 − a)S_t + r^{2t})
    sum_g = 2 * r * sum_f / (1 - rho)                       # Σ γ_t
    limit = sp.simplify((4 - a) * sum_b)
    assert sp.simplify(limit - (4 - a) / (a * (2 - a))) == 0
    K = sp.factor(sp.simplify((1 - rho) * (sum_g + sum_bS)))
    return sp.lambdify(a, limit), sp.lambdify(a, K), K


# ---- simulation ---------------------------------------------------------------------------
def simulate_draws(draws, ctx, steps: int):
    """GD on (u, v) for every draw.  ``draws``: dicts with m, a0 (target ηλ₀), x, init_scale,
    loss ('square' | 'logistic') and a generator.  Draws of the same width and loss run as one
    tensor program; a draw leaves the batch when certified converged or diverged.
    Returns one observation dict per draw."""
    out = [None] * len(draws)
    buckets = {}
    for i, d in enumerate(draws):
        buckets.setdefault((d["m"], d["loss"]), []).append(i)
    for (m, loss), idx in buckets.items():
        res = _run_bucket([draws[i] for i in idx], m, loss, ctx, steps)
        for i, r in zip(idx, res):
            out[i] = r
    return out


def _run_bucket(ds, m, loss, ctx, steps):
    dt, dev = ctx.dtype, ctx.device
    B = len(ds)
    u = torch.empty(B, m, dtype=dt, device=dev)
    v = torch.empty(B, m, dtype=dt, device=dev)
    for j, d in enumerate(ds):
        z = torch.randn(2, m, generator=d["generator"], dtype=dt, device=dev) * d["init_scale"]
        u[j], v[j] = z[0], z[1]
    x = torch.tensor([d["x"] for d in ds], dtype=dt, device=dev)
    sq = math.sqrt(m)
    lam0 = x * x * ((u * u).sum(1) + (v * v).sum(1)) / m
    f0 = x * (u * v).sum(1) / sq
    if loss == "square":
        curv = torch.ones_like(f0)
    else:  # logistic loss on a positive example: ℓ''(f₀) = σ(f₀)σ(−f₀)
        curv = torch.sigmoid(f0) * torch.sigmoid(-f0)
    eta = torch.tensor([d["a0"] for d in ds], dtype=dt, device=dev) / (lam0 * curv)
    b0 = eta**2 * x**2 * f0**2 / m
    a0_all = eta * lam0 * curv
    floor_f = 1e-10 * lam0 * sq / x.abs()
    loss0 = 0.5 * f0**2 if loss == "square" else torch.nn.functional.softplus(-f0)

    n_tr = min(TRACE, steps) + 1
    f_tr = torch.full((B, n_tr), float("nan"), dtype=dt, device=dev)
    l_tr = torch.full((B, n_tr), float("nan"), dtype=dt, device=dev)
    peak_b = b0.clone()
    rose = torch.zeros(B, dtype=torch.bool, device=dev)
    status = ["running"] * B
    a_inf = [float("nan")] * B
    a_low = [float("nan")] * B
    final_loss = [float("nan")] * B
    stopped = [steps] * B

    def loss_of(f):
        return 0.5 * f * f if loss == "square" else torch.nn.functional.softplus(-f)

    # the state of the draws still running (retired draws write theirs back)
    active = torch.arange(B, device=dev)
    ua, va, xa, ea = u, v, x, eta
    step_c = (ea * xa / sq)[:, None]            # c = η·dℓ/df·x/√m
    b_c = ea**2 * xa**2 / m                     # b = η²x²f²/m
    rose_a, peak_a, floor_a = rose.clone(), peak_b.clone(), floor_f.clone()
    f = f0.clone()
    prev_loss = loss0.clone()
    for t in range(steps + 1):
        if t < n_tr:
            lam = xa * xa * ((ua * ua).sum(1) + (va * va).sum(1)) / m
            f_tr[active, t] = f
            l_tr[active, t] = lam
        if t % CHECK_EVERY == 0 or t == steps:
            lam = xa * xa * ((ua * ua).sum(1) + (va * va).sum(1)) / m
            a = ea * lam
            b = b_c * f * f
            cur_loss = loss_of(f)
            done, rest = _certify(a, b, a0_all[active], b0[active], cur_loss, loss0[active], loss,
                                  final=(t == steps))
            if t < n_tr - 1:
                done[done == 1] = 0   # keep the first steps for the recursion check
            if bool((done != 0).any()):
                keep = done == 0
                gone = torch.nonzero(~keep).flatten()
                rose[active[gone]] = rose_a[gone]
                peak_b[active[gone]] = peak_a[gone]
                for j in gone.tolist():
                    i = int(active[j])
                    status[i] = {1: "converged", 2: "diverged", 3: "undecided"}[int(done[j])]
                    a_inf[i] = float(a[j])
                    a_low[i] = float(a[j] - rest[j])
                    final_loss[i] = float(cur_loss[j])
                    stopped[i] = t
                (active, ua, va, xa, ea, f, prev_loss, step_c, b_c, rose_a, peak_a, floor_a) = (
                    x_[keep] for x_ in (active, ua, va, xa, ea, f, prev_loss, step_c, b_c, rose_a, peak_a, floor_a))
                if active.numel() == 0:
                    break
        if t == steps:
            break
        c = step_c * (f if loss == "square" else -torch.sigmoid(-f))[:, None]     # η·dℓ/df·x/√m
        ua, va = torch.addcmul(ua, c, va, value=-1.0), torch.addcmul(va, c, ua, value=-1.0)
        f = xa * (ua * va).sum(1) / sq
        cur = loss_of(f)
        # a rise counts only above the round-off of f = x·u·v/√m (≈ 1e-16·λ√m/x): a converged
        # run sits at that floor and jitters there
        rose_a |= (cur > prev_loss * (1 + 1e-9)) & (f.abs() > floor_a)
        peak_a = torch.fmax(peak_a, b_c * f * f)    # fmax: a NaN (overflow) keeps the peak seen so far
        prev_loss = cur
    if active.numel():
        rose[active] = rose_a
        peak_b[active] = peak_a

    out = []
    for j, _d in enumerate(ds):
        out.append({"m": m, "a0": float(eta[j] * lam0[j] * curv[j]), "b0": float(b0[j]),
                    "eta": float(eta[j]), "status": status[j], "rose": bool(rose[j]),
                    "peak_b": float(peak_b[j]), "a_inf": a_inf[j], "a_inf_low": a_low[j],
                    "final_loss": final_loss[j],
                    "steps": stopped[j], "f_trace": f_tr[j].cpu().numpy(), "lam_trace": l_tr[j].cpu().numpy()})
    return out


def _certify(a, b, a0, b0, cur_loss, loss0, loss, final):
    """0 running, 1 converged, 2 diverged, 3 undecided (the step budget ran out).
    Square loss, converged: 0 < a − b < 2 (every later step shrinks the loss) and the
    remaining shift of a, at most 4b/(1 − ρ) with ρ = max((1 − a + b)², (1 − a/2 + b)²)
    (valid while a stays above a/2, which the same bound then guarantees), is below a/2
    and below the precision the draw needs (see below).  Also returns that bound.
    Diverged: b > 10¹⁰ or not finite (logistic: not finite).  Logistic loss (no finite minimiser, the loss decays
    like 1/t once small): converged when the loss is below 10⁻⁴ of its start.  Nothing is
    certified before the trace of the first steps is complete."""
    done = torch.zeros_like(a, dtype=torch.long)
    if loss == "square":
        bad = ~torch.isfinite(a) | ~torch.isfinite(b) | (b > DIVERGED_B)
        rho = torch.maximum((1 - a + b) ** 2, (1 - a / 2 + b) ** 2)
        rest = 4 * b / torch.clamp(1 - rho, min=1e-300)
        # the lazy shift (a₀ − a_∞)/b₀ is compared only where s = b₀/(a₀(2 − a₀))² ≤ 0.05 and
        # a₀ < 2: there the run goes on until ηλ_∞ is known to 1e-7·b₀; elsewhere the
        # certificate only needs to bound ηλ_∞ (to within a/2, and below 2 when a < 2)
        precise = (a0 < 2) & (b0 <= 0.05 * (a0 * (2 - a0)) ** 2)
        need = torch.where(precise, PRECISION * b0, torch.minimum(a / 2, torch.clamp(2 - a, min=0) / 2))
        ok = (a - b > 0) & (a - b < 2) & (rho < 1) & (rest <= a / 2) & (rest <= need)
    else:
        bad = ~torch.isfinite(a) | ~torch.isfinite(cur_loss)   # b has no meaning without a minimiser
        ok = torch.isfinite(cur_loss) & (cur_loss <= 1e-4 * loss0)
        rest = torch.zeros_like(a)
    done[ok] = 1
    done[bad] = 2
    if final:
        done[done == 0] = 3
    return done, rest
