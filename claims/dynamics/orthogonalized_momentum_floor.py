"""Orthogonalised momentum at a constant step: a stationary floor of E‖∇f‖², lowered by a
smaller step — the narrowed statement rescuing published.fismo_rate.

Optimiser: the FISMO re-implementation of ``theorycheck.sim.orthomomentum`` (EMA Kronecker
Fisher factors A, B; Δ = −A^{−½} polar(A^{−½}MB^{−½}) B^{−½} at unit RMS η), on the 2×2 tanh
matrix regression there, minibatch gradients with replacement, started in the teacher's basin.

Why a floor: every step has RMS exactly η, so the iterate cannot settle; with minibatch noise
the momentum's direction is noisy and only its bias pulls towards the minimum (a linear-response
picture: drift ∝ η·signal/noise, step variance ∝ η²), which balances at a stationary spread —
E‖∇f‖² tends to a positive floor(η, B), and T·E‖∇f‖² grows linearly.  A larger batch reduces the
noise of M, but the unit-RMS step keeps its size: the floor falls by less than the 1/B of an
unnormalised method (momentum SGD: floor ∝ ησ²/B), and even B = ∞ leaves a limit cycle of size
O(η).  A smaller step lowers it.

Narrowed from CLAIMS-2's 'E‖∇f‖² ≤ C₁/(ηT) + floor(η, B) with floor → 0 as η → 0 or B → ∞':
B → ∞ at fixed η does NOT remove the floor for a normalised update (unit-RMS steps never
shrink; full-batch runs keep a positive floor while momentum SGD converges), so the B half is
not claimed; the floor's exact dependence on B (measured ≈ B^{−½} at η ≤ 0.05, saturating at
larger η) is reported in the note, not graded.

Exact side: the stationary ratio 1 (a floor) and the claimed direction (halving η lowers it).
Simulation: per draw two configurations (η, B) and (η/2, B), 4 chains each, 800 steps;
‖∇f‖² every 5 steps; window means over [100, 200], [400, 800] and the floor over [200, 800]
with batch-means standard errors (``late_windows``).  Three-valued z-tests: a draw passes when the ratio is inside
the claimed range at 3 SE, is refuted when it is outside at the Bonferroni z of the run's draws × 2 checks
(family-wise 1 %, at least 3: ≈ 4.0 in quick, 4.4 in full, 4.7 in gpu), and is undecidable in between (never a
pass)."""
import functools

import numpy as np
import sympy as sp

from theorycheck import Break, Check, Claim, Mutant, Plot, Series, Source, holds
from theorycheck.sim.orthomomentum import STEPS, EVERY, configs_run, late_windows, space
from theorycheck.stats import family_z

CHAINS = 4
# Refutation at Bonferroni over the run's draws × 2 checks (the false alarms of a true claim); a pass only needs
# the ratio inside at 3 SE (the former level: a pass is not a family of alarms, and undecidable draws, ~25 % in
# quick, are never passes), so the quick run decides the same draws as before.
Z = family_z(per_draw=2, at_least=3.0)
Z_PASS = 3.0
CONFIGS = [(1.0, 1.0), (0.5, 1.0)]


@functools.lru_cache(maxsize=1)
def one_over_t_ratio():
    t = sp.Symbol("t", positive=True)
    mean = lambda a, b: sp.integrate(1 / t, (t, a, b)) / (b - a)
    return float(sp.simplify(mean(400, 800) / mean(100, 200)))


def derive(params):
    """E ∝ t^{−a} gives the window-mean ratio E[400, 800]/E[100, 200] = r(a); a floor gives 1, the
    O(1/T) reading r(1) = (ln 2/400)/(ln 2/100) = ¼ (sympy).  Claimed: slower decay than 1/T, r > r(1)
    (a floor reached after a transient, or approached more slowly than 1/T)."""
    r1 = one_over_t_ratio()
    return {"stationary_range": np.array([r1, np.inf]), "step_ratio_range": np.array([0.0, 1.0])}


def _observe(runs):
    base, small = (late_windows(g, CHAINS) for g in runs)
    (e1, s1), (e2, s2), (eb, sb) = base
    return {"E_first": e1, "E_first_se": s1, "E_second": e2, "E_second_se": s2,
            "floor": eb, "floor_se": sb, "floor_half_eta": small[2][0], "floor_half_eta_se": small[2][1],
            "gradnorm2": runs[0].mean(0), "t": np.arange(0, STEPS, EVERY)}


def simulate_batch(params_list, ctx):
    return [_observe(r) for r in configs_run(params_list, CONFIGS, CHAINS)]


def simulate(params, ctx):
    return simulate_batch([params], ctx)[0]


def _ratio(num, num_se, den, den_se):
    r = num / den
    return r, r * np.sqrt((num_se / num) ** 2 + (den_se / den) ** 2)


def _inside(r, se, lo, hi, z):
    """r strictly inside (lo, hi) at Z_PASS standard errors: True; outside at z (≥ Z_PASS): False; else
    undecidable."""
    if r - Z_PASS * se > lo and r + Z_PASS * se < hi:
        return True
    if r + z * se < lo or r - z * se > hi:
        return False
    return None


def _stationary(pred, obs, params, ctx):
    lo, hi = pred["stationary_range"]
    r = _ratio(obs["E_second"], obs["E_second_se"], obs["E_first"], obs["E_first_se"])
    return _inside(*r, lo, hi, Z(ctx))


def _step(pred, obs, params, ctx):
    lo, hi = pred["step_ratio_range"]
    r = _ratio(obs["floor_half_eta"], obs["floor_half_eta_se"], obs["floor"], obs["floor_se"])
    return _inside(*r, lo, hi, Z(ctx))


def _holds_in_run(name, decide):
    """``holds`` whose verdict also reads the run's context (its Bonferroni z)."""
    def fn(pred, obs, params, ctx):
        return holds(name, lambda p, o, pa: decide(p, o, pa, ctx)).fn(pred, obs, params, ctx)
    return Check(name, fn, holds(name, lambda *a: None).description)


CHECK_STAT = "E decays slower than 1/T: E[400, 800]/E[100, 200] > ¼ (passed at 3 SE, refuted at Bonferroni z)"
CHECK_ETA = ("step ÷2 lowers the floor: floor(η/2)/floor(η) in the claimed range (passed at 3 SE, refuted at "
             "Bonferroni z)")

claim = Claim(
    id="dynamics.orthogonalized_momentum_floor",
    title="Orthogonalised momentum at a constant step: a stationary E‖∇f‖² floor that a smaller step lowers",
    statement=("For the orthogonalised-momentum update under a Kronecker-factored Fisher metric (unit-RMS steps of "
               "size η, fixed minibatch B) on a smooth nonconvex regression, E‖∇f(W_t)‖² reaches a stationary "
               "floor after a transient, so T·E‖∇f‖² grows (linearly, once the floor is reached) instead of staying "
               "bounded; halving η lowers the floor."),
    math=sp.Eq(sp.Symbol(r"\lim_{T\to\infty}\mathbb{E}\|\nabla f(W_T)\|^2"), sp.Symbol(r"\phi(\eta, B) > 0")),
    source=Source("FISMO: Fisher-Structured Momentum-Orthogonalized Optimizer (narrowed)", "three authors (seed 001)",
                  2026, "seed 001",
                  note=("Rescues published.fismo_rate (seed 001 line 135); the algorithm is re-implemented from the "
                        "abstract.  Narrowed from CLAIMS-2 ('floor → 0 as η → 0 or B → ∞'): for a unit-RMS update "
                        "B → ∞ at fixed η leaves a limit-cycle floor (full-batch runs stay at E‖∇f‖² > 0 while "
                        "momentum SGD converges), so only the η half is claimed.  Measured, not graded: floor "
                        "ratios ≈ 0.5–0.6 for B ×4 at η ≤ 0.1 (≈ B^{−½}), ≈ 0.55–0.6 for η ÷ 2 at B ≥ 4; at B = 1 "
                        "and larger η the floor saturates (2.2e-2, 2.5e-2, 2.9e-2 at η = 0.05, 0.1, 0.2).")),
    assumptions=space(batches=(8, 16)),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    checks=[_holds_in_run(CHECK_STAT, _stationary), _holds_in_run(CHECK_ETA, _step)],
    mutants=[
        Mutant("O(1/T) decay (the published reading)", lambda p, pred: {
            **pred, "stationary_range": np.array([0.2, 0.3])},
               "structural: E ∝ 1/T gives the window-mean ratio ¼"),
        Mutant("near-miss: the floor does not depend on η", lambda p, pred: {
            **pred, "step_ratio_range": np.array([0.9, 1.1])}, "a floor set by the noise alone"),
    ],
    breaks=[
        Break("decaying step η·0.995^t", lambda p: {**p, "decay": True},
              "not a constant step: the update shrinks and E‖∇f‖² keeps falling", expect=[CHECK_STAT]),
    ],
    regimes={"B = 8": "batch == 8", "B = 16": "batch == 16", "η ≤ 0.07": "eta <= 0.07", "η > 0.07": "eta > 0.07"},
    resolution={"stationary_range": "an interval claimed (slower than 1/T), not a constant; the O(1/T) "
                                    "mutant marks what is resolved",
                "step_ratio_range": "a direction claimed (below 1), not a constant"},
    draws=24,
    draws_note="each draw runs 2 configurations × 4 chains × 800 optimiser steps",
    inconclusive_fraction=0.3,
    notes=("Up to ~20 % of draws are undecidable at 3 SE with 4 chains (heavy-tailed window means: occasional "
           "excursions of ‖∇f‖²); an undecidable draw is never counted as a pass, so the allowed share is 0.3."),
    plots=[
        Plot("‖∇f‖² along the run at (η, B) (chain mean)", [
            Series("‖∇f(W_t)‖²", "observation.t", "observation.gradnorm2"),
        ], xlabel="t", ylabel="‖∇f‖²", ylog=True),
    ],
)
