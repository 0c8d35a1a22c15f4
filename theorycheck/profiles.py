"""Run profiles: how hard to look.  quick = CI on 2 CPU cores; full = more
examples and larger sizes; gpu = batched sweeps of thousands of draws."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    examples: int          # hypothesis examples for the claim itself
    mutant_examples: int   # examples searched per mutant (observations reused when possible)
    break_examples: int    # examples searched per assumption break
    sweep: int             # batched random draws (claims with simulate_batch)
    budget_s: float        # soft time budget per claim: past it no new example starts
    min_examples: int      # fewer examples than this (budget spent) is inconclusive
    shrink_breaks: bool    # shrink the example that shows a break (costs time)
    size: str              # "small" | "large": claims may scale their problem sizes


PROFILES = {
    "quick": Profile("quick", examples=10, mutant_examples=10, break_examples=6, sweep=0,
                     budget_s=90.0, min_examples=3, shrink_breaks=False, size="small"),
    "full": Profile("full", examples=60, mutant_examples=40, break_examples=25, sweep=256,
                    budget_s=900.0, min_examples=10, shrink_breaks=True, size="large"),
    "gpu": Profile("gpu", examples=40, mutant_examples=40, break_examples=20, sweep=4096,
                   budget_s=900.0, min_examples=10, shrink_breaks=True, size="large"),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r} (choose from {', '.join(PROFILES)})") from None
