"""Run profiles: how hard to look, counted in draws.

quick = CI on 2 CPU cores (every claim decided on hundreds of draws);
full = a careful local run (thousands of draws, larger sizes); gpu = batched
sweeps of tens of thousands of draws in one tensor program."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    sweep: int            # space-filling (Sobol) draws per claim: the bulk of the evidence
    chunk: int            # draws per batched call / per work unit (fixed: records do not depend on executors)
    search: int           # hypothesis draws (edge cases, targeting) after the sweep
    resim_draws: int      # sweep draws on which mutants / perturbations are re-simulated (claims whose
                          # simulation reads the prediction); other claims reuse every cached observation
    break_draws: int      # broken draws per assumption break (stops at the first detection)
    regime_quota: int     # decided draws each declared regime needs
    shrink_evals: int     # draws spent shrinking a counterexample
    budget_s: float       # soft time budget per claim: past it no new work starts (then inconclusive)
    size: str             # "small" | "large": claims may scale their problem sizes

    @property
    def hard_timeout_s(self) -> float:
        """A claim still running after this is stopped and inconclusive."""
        return self.budget_s * 3 + 60


PROFILES = {
    "quick": Profile("quick", sweep=256, chunk=64, search=16, resim_draws=16, break_draws=32, regime_quota=8,
                     shrink_evals=40, budget_s=120.0, size="small"),
    "full": Profile("full", sweep=2048, chunk=256, search=64, resim_draws=64, break_draws=128, regime_quota=32,
                    shrink_evals=100, budget_s=1800.0, size="large"),
    "gpu": Profile("gpu", sweep=16384, chunk=4096, search=64, resim_draws=128, break_draws=512, regime_quota=128,
                   shrink_evals=100, budget_s=1800.0, size="large"),
}
QUICK_SWEEP = PROFILES["quick"].sweep


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r} (choose from {', '.join(PROFILES)})") from None


def planned_sweep(profile: Profile, declared: int | None) -> int:
    """A claim's sweep size: the profile's, or the claim's declared smaller count
    (stated for quick) scaled with the profile."""
    if not declared:
        return profile.sweep
    return max(1, min(profile.sweep, declared * profile.sweep // QUICK_SWEEP))
