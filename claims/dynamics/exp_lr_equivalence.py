"""Li & Arora: for scale-invariant losses, weight decay is an exponentially growing learning rate.

L scale-invariant in each parameter group (L(c·w_g) = L(w) for c > 0, hence ∇L(cw) = ∇L(w)/c),
all groups sharing η and λ.  GD with weight decay, w_{t+1} = (1 − ηλ)w_t − η∇L(w_t), and GD
without it at the step η_t = η(1 − ηλ)^{−2t−1}, w̃_{t+1} = w̃_t − η_t∇L(w̃_t), w̃_0 = w_0, satisfy
w_t = (1 − ηλ)^t w̃_t for all t (also with a fixed minibatch order: every minibatch loss is
scale-invariant).

Exact side (sympy): the induction step.  With c_t the scale and G = ∇L(w̃_t), homogeneity gives
∇L(c_t w̃_t) = G/c_t, and (1 − ηλ)c_t w̃_t − ηG/c_t = c_{t+1}(w̃_t − η_t G) holds for all G iff
c_{t+1} = (1 − ηλ)c_t and η_t = η/(c_t c_{t+1}); with c_0 = 1, c_t = (1 − ηλ)^t and
η_t = η(1 − ηλ)^{−2t−1} (sympy solves for both).  The prediction is the schedule
η_t = η·q^{a·t + b} (q = 1 − ηλ, a = −2, b = −1), which the simulation runs, and the scale
c_t = q^t, which the check applies.

Simulation: both trainings in torch float64 from the same initialisation, on a per-neuron
weight-normalised ReLU network f(x) = Σ_j a_j relu(v_jᵀx/‖v_j‖) (fixed output layer a, every v_j
a scale-invariant group) with the logistic loss, full batch or a fixed cyclic minibatch order;
all draws in one array program (neurons zero-padded with a_j = 0; numpy float64: ≤ 41
parameters per draw, so the cost is per operation).  Check: ‖w_t − c_t w̃_t‖/‖w_t‖ ≤ 1e-11 for
every t inside the guard window.  Guard: the weight-decay run repeated from w_0 plus a random kick
of relative size 1e-12; the window ends 10 steps before that kick has grown 10-fold (or shrunk
10-fold, when the guard no longer probes): beyond it the growing effective step η/‖w‖² amplifies
round-off chaotically, and a deviation there is undecidable, not a refutation.

Departures from the entry (measured, and why).
* The entry's guard, w_0(1 + 1e-15), is a kick along w itself, a neutral direction of a
  scale-invariant loss, of ≈ 5 ulp: in the decay phase of a dead neuron rounding erased it (the
  guard's separation became exactly 0) while the two trainings had drifted 0.2 apart; its window
  never ended.  A random kick of 1e-12 probes the amplifying directions and is not rounded away.
* A window ending where the kick has grown 1000-fold (the entry's 1e-15 → 1e-12) admitted
  deviations up to 1.5e-10; the kick grows 10-fold only a few steps after a chaotic burst has
  already amplified the fresh round-off (measured: deviation 1e-15 → 2e-13 while the kick was
  still at 0.6×), so the window ends 10-fold and 10 steps earlier.  Over 768 draws the largest
  deviation inside the window was then below the 1e-11 of the entry.
* Horizon 1000 steps in quick (2000 with ctx.large); a window shorter than 10 steps is
  undecidable.
"""
import numpy as np
import sympy as sp

from theorycheck import AssumptionSpace, Break, Check, Choice, Claim, Float, Int, Mutant, Plot, Seed, Series, Source
from theorycheck.verdict import Evidence

DIM, POINTS = 5, 32
DEV_TOL = 1e-11       # ‖w_t − c_t w̃_t‖/‖w_t‖ inside the window
GUARD_EPS = 1e-12     # the guard run starts from w_0 + a random kick of relative size 1e-12 ...
GUARD_AMP = 10.0      # ... and the window ends where that kick has grown 10-fold (or shrunk 10-fold),
GUARD_MARGIN = 10     # minus 10 steps: a chaotic burst amplifies fresh round-off a few steps before the
                      # (older, partly contracted) kick shows it
MIN_WINDOW = 10


def horizon(ctx) -> int:
    return 2000 if getattr(ctx, "large", False) else 1000


_derivation = None


def induction():
    """sympy: solve the induction step for (c_{t+1}, η_t) and close the recursion."""
    global _derivation
    if _derivation is None:
        eta, lam, c_t, c_n, eta_t, t = sp.symbols("eta lambda c_t c_next eta_t t", positive=True)
        w, G = sp.symbols("w G")  # w̃_t and ∇L(w̃_t) (one coordinate: the identity is linear in both)
        lhs = (1 - eta * lam) * c_t * w - eta * G / c_t   # w_{t+1}, using ∇L(c_t w̃_t) = G/c_t
        rhs = c_n * (w - eta_t * G)                         # c_{t+1} w̃_{t+1}
        eqs = sp.Poly(sp.expand(lhs - rhs), w, G).coeffs()
        sol = sp.solve(eqs, [c_n, eta_t], dict=True)
        assert len(sol) == 1
        c_next, step = sol[0][c_n], sol[0][eta_t]
        assert sp.simplify(c_next - (1 - eta * lam) * c_t) == 0
        q = 1 - eta * lam
        closed = q ** t                                      # c_0 = 1, c_{t+1} = q c_t
        assert sp.simplify(closed.subs(t, t + 1) - q * closed) == 0
        schedule = sp.simplify(step.subs(c_t, closed))
        assert sp.simplify(schedule - eta * q ** (-2 * t - 1)) == 0
        _derivation = {"schedule": schedule, "scale": closed, "slope": -2, "offset": -1}
    return _derivation


def derive(params):
    d = induction()
    q = 1.0 - params["eta_lam"]
    return {"q": q, "lr_slope": d["slope"], "lr_offset": d["offset"]}


# ---- simulation (numpy float64: ≤ 41 parameters per draw, so the cost is per operation) ------------

def _data(params):
    rng = np.random.default_rng(params["data_seed"])
    X = rng.standard_normal((POINTS, DIM))
    teacher = rng.standard_normal(DIM)
    y = np.sign(X @ teacher + 0.3 * rng.standard_normal(POINTS))
    a = rng.choice([-1.0, 1.0], params["neurons"]) / np.sqrt(params["neurons"])
    return X, y, a


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def simulate_batch(params_list, ctx, predictions):
    """Rows (run-major): weight decay | guard (decay, from w_0 + a 1e-12 kick) | the predicted schedule
    η_t = η·q^{a t + b} without decay.  The deviation uses the predicted scale c_t = q^t (or the
    prediction's 'scale_base' where it states one)."""
    T = horizon(ctx)
    B = len(params_list)
    m_max = max(p["neurons"] for p in params_list)
    X = np.zeros((B, POINTS, DIM))
    Y = np.zeros((B, POINTS))
    A = np.zeros((B, m_max))
    V0 = np.zeros((B, m_max, DIM))
    V0[:, :, 0] = 1.0  # padded neurons: any non-zero v (a_j = 0: no gradient, excluded from the norms)
    kick = np.zeros((B, m_max, DIM))
    for b, (p, rng) in enumerate(zip(params_list, ctx.numpy_rngs())):
        X[b], Y[b], A[b, : p["neurons"]] = _data(p)
        V0[b, : p["neurons"]] = rng.standard_normal((p["neurons"], DIM))
        k = rng.standard_normal((p["neurons"], DIM))
        kick[b, : p["neurons"]] = GUARD_EPS * k / np.linalg.norm(k) * np.linalg.norm(V0[b, : p["neurons"]])
    real = (np.arange(m_max)[None, :] < np.array([p["neurons"] for p in params_list])[:, None]).astype(float)
    eta = np.array([p["eta"] for p in params_list])
    lam = np.array([p["eta_lam"] / p["eta"] for p in params_list])
    nb = np.array([p["batches"] for p in params_list])
    bias = np.array([1.0 if p.get("bias") else 0.0 for p in params_list])
    q = np.array([pr["q"] for pr in predictions])
    a_s = np.array([pr["lr_slope"] for pr in predictions], dtype=float)
    b_s = np.array([pr["lr_offset"] for pr in predictions], dtype=float)
    scale = np.array([pr.get("scale_base", pr["q"]) for pr in predictions])
    t3 = lambda a: np.concatenate([a] * 3)  # noqa: E731
    Xr, Yr, Ar, mask = t3(X), t3(Y), t3(A), t3(real)[..., None]
    V = t3(V0)
    V[B: 2 * B] += kick  # the guard: a random relative kick of 1e-12
    bv = np.zeros(3 * B)
    decayed = np.r_[np.ones(2 * B), np.zeros(B)]
    eta_r, keep, trainable = t3(eta), 1 - np.r_[eta * lam, eta * lam, np.zeros(B)], t3(bias)
    batch_of = np.arange(POINTS)[None, :] % t3(nb)[:, None]
    devs = np.full((T + 1, B), np.nan)
    seps = np.full((T + 1, B), np.nan)
    for t in range(T + 1):
        w = np.concatenate([(V * mask).reshape(3 * B, -1), bv[:, None]], 1)
        wd, wg, ws = w[:B], w[B: 2 * B], w[2 * B:]
        norm = np.linalg.norm(wd, axis=1)
        devs[t] = np.linalg.norm(wd - ws * (scale ** t)[:, None], axis=1) / norm
        seps[t] = np.linalg.norm(wg - wd, axis=1) / norm
        if t == T or (t % 50 == 0 and not np.any(_inside(seps[: t + 1]).all(0))):
            break  # every window has ended
        nv = np.linalg.norm(V, axis=2, keepdims=True)
        U = V / nv
        z = Xr @ U.transpose(0, 2, 1)                                          # (R, n, m)
        f = (np.maximum(z, 0) * Ar[:, None, :]).sum(-1) + bv[:, None]
        active = (batch_of == (t % t3(nb))[:, None]).astype(float)           # this step's minibatch
        s = -Yr * _sigmoid(-Yr * f) * active / active.sum(1, keepdims=True)  # ∂L/∂f_i
        Gu = ((z > 0) * (s[:, :, None] * Ar[:, None, :])).transpose(0, 2, 1) @ Xr  # ∂L/∂u_j (R, m, d)
        gV = (Gu - (Gu * U).sum(-1, keepdims=True) * U) / nv                  # ∂L/∂v_j (scale-invariant)
        gb = s.sum(1) * trainable
        step = np.where(decayed > 0, eta_r, eta_r * t3(q) ** (t3(a_s) * t + t3(b_s)))
        V = keep[:, None, None] * V - step[:, None, None] * gV
        bv = keep * bv - step * gb
    out = []
    inside = _inside(seps)
    for b in range(B):
        over = np.flatnonzero(~inside[:, b])
        window = max(0, int(over[0]) - GUARD_MARGIN) if over.size else T + 1
        out.append({"window": window, "max_dev_in_window": float(np.max(devs[:window, b])) if window else np.nan,
                    "deviation": devs[:, b], "separation": seps[:, b], "t": np.arange(T + 1), "T": T,
                    "q_used": float(q[b]), "scale_used": float(scale[b])})
    return out


def _inside(seps):
    """Steps whose guard separation is still within [kick/10, kick·1000] (NaN counts as outside)."""
    return (seps <= GUARD_EPS * GUARD_AMP) & (seps >= GUARD_EPS / 10)


def simulate(params, ctx, prediction):
    return simulate_batch([params], ctx.with_seeds([ctx.seed]), [prediction])[0]


def _equivalence(pred, obs, params, ctx):
    # the observation was simulated for this prediction's schedule and scale
    if obs["q_used"] != pred["q"] or obs["scale_used"] != pred.get("scale_base", pred["q"]):
        raise ValueError("observation simulated for another prediction")
    w = int(obs["window"])
    if w < MIN_WINDOW:
        return Evidence("", None, np.nan, DEV_TOL, None, DEV_TOL,
                        f"guard window of {w} steps: round-off already amplified, undecidable")
    d = float(obs["max_dev_in_window"])
    if not np.isfinite(d):
        return Evidence("", None, np.nan, DEV_TOL, d, DEV_TOL, "non-finite deviation")
    return Evidence("", d <= DEV_TOL, DEV_TOL - d, DEV_TOL, d, DEV_TOL,
                    f"max ‖w_t − c_t w̃_t‖/‖w_t‖ over the {w}-step window = {d:.2e}",
                    used=d / DEV_TOL)


CHECK = "w_t = (1 − ηλ)^t·w̃_t inside the guard window (rel. 1e-11)"

eta_s, lam_s, t_s = sp.symbols("eta lambda t", positive=True)
claim = Claim(
    id="dynamics.exp_lr_equivalence",
    title="Weight decay on scale-invariant losses = an exponentially growing learning rate",
    statement=("If L is scale-invariant in each parameter group (L(c·w_g) = L(w), c > 0) and all groups share η "
               "and λ, GD with weight decay w_{t+1} = (1 − ηλ)w_t − η∇L(w_t) and GD without decay at the step "
               "η_t = η(1 − ηλ)^{−2t−1} from the same start satisfy w_t = (1 − ηλ)^t·w̃_t for every t, with the full "
               "batch and with any fixed minibatch order."),
    math=sp.Eq(sp.Symbol("eta_t"), eta_s * (1 - eta_s * lam_s) ** (-2 * t_s - 1)),
    source=Source("An Exponential Learning Rate Schedule for Deep Learning", "Zhiyuan Li, Sanjeev Arora", 2020,
                  "seed 002",
                  note=("Seed 002, lines 251–253 (talk on normalised nets; the paper is listed there).  Exact in "
                        "exact arithmetic; in float64 it is checked inside the guard window, beyond which round-off "
                        "is amplified chaotically and a deviation is undecidable.  Guard: a random relative kick of "
                        "1e-12 (the entry's w_0(1 + 1e-15) is along the neutral direction w and was rounded away), "
                        "window ending 10 steps before the kick grows 10-fold.  Horizon 1000 steps in quick, 2000 "
                        "with ctx.large.")),
    assumptions=AssumptionSpace([
        Float("eta", 0.02, 0.5, log=True, description="learning rate"),
        Float("eta_lam", 4e-4, 0.05, log=True, description="ηλ (λ = ηλ/η)"),
        Int("neurons", 1, 8, description="hidden neurons = scale-invariant groups"),
        Choice("batches", [1, 2, 4], description="1: full batch; else a fixed cyclic minibatch order"),
        Seed("data_seed"),
    ]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[Check(CHECK, _equivalence, "max over the guard window of ‖w_t − c_t w̃_t‖/‖w_t‖ ≤ 1e-11, c_t = q^t")],
    mutants=[
        Mutant("near-miss: exponent −2t", lambda p, pred: {**pred, "lr_offset": 0},
               "η_t = η(1 − ηλ)^{−2t}: one factor of (1 − ηλ) short"),
        Mutant("no rescaling (c_t = 1)", lambda p, pred: {**pred, "scale_base": 1.0},
               "w_t = w̃_t: the runs compared without the factor (1 − ηλ)^t"),
        Mutant("exponent −t − 1", lambda p, pred: {**pred, "lr_slope": -1},
               "a learning rate growing like (1 − ηλ)^{−t}: the wrong power"),
    ],
    breaks=[
        Break("trainable output bias with weight decay", lambda p: {**p, "bias": True},
              "f(x) + b with b trained and decayed: L is not scale-invariant in b, so the decayed b is not a "
              "rescaled copy of the undecayed one", expect=[CHECK]),
    ],
    regimes={
        "one group (one neuron)": "neurons == 1",
        "many groups (≥ 4 neurons)": "neurons >= 4",
        "full batch": "batches == 1",
        "fixed minibatch order": "batches >= 2",
        "small ηλ ≤ 2e-3": "eta_lam <= 0.002",
        "large ηλ ≥ 0.02": "eta_lam >= 0.02",
    },
    resolution={"q": 0.001},
    plots=[
        Plot("deviation of the rescaled run and the guard's separation", [
            Series("‖w_t − c_t w̃_t‖/‖w_t‖", "observation.t", "observation.deviation"),
            Series("guard: decay run from w₀ + 1e-12 kick", "observation.t", "observation.separation"),
            Series("1e-11", None, lambda pr, ob, pa: DEV_TOL, role="theory", style="hline"),
        ], xlabel="step t", ylabel="relative distance", ylog=True),
        Plot("guard window against ηλ", [
            Series("window (steps)", "params.eta_lam", "observation.window", style="points"),
        ], xlabel="ηλ", ylabel="steps", xlog=True, ylog=True, over="examples"),
    ],
)
