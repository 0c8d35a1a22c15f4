"""The bulk of a claim's evidence: a scrambled Sobol design over the
assumption space, evaluated in fixed chunks (batched through
``simulate_batch`` when the claim has one).  Chunks are fixed by (claim,
profile), so a draw's record does not depend on the executor or on --jobs."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from ..evaluate import Draw
from ..profiles import Profile, planned_sweep
from ..sim.context import derive_seed

# Evaluates chunks of draws (in this process, or as remote work units) and
# yields each chunk's compact batch in order; None for a chunk skipped because
# the budget was spent.
ChunkRunner = Callable[[list, bool], Iterator[dict | None]]


@dataclass
class SweepPlan:
    draws: list[dict]
    positions: list[int]   # place of each draw in the Sobol sequence (targeted draws continue after the last)
    design_seed: int
    chunk: int
    deep: int              # the first ``deep`` draws also re-simulate mutants / perturbations

    def chunks(self, source: str = "sweep") -> list[list[Draw]]:
        out = []
        for start in range(0, len(self.draws), self.chunk):
            out.append([Draw(dict(p), source, deep=start + i < self.deep)
                        for i, p in enumerate(self.draws[start:start + self.chunk])])
        return out

    @property
    def next_position(self) -> int:
        return (self.positions[-1] + 1) if self.positions else 0


def plan(claim, profile: Profile, seed: int) -> SweepPlan:
    n = planned_sweep(profile, claim.draws)
    design_seed = derive_seed(seed, claim.id, "design")
    points = claim.assumptions.design_points(n, design_seed)
    return SweepPlan([p for _, p in points], [i for i, _ in points], design_seed, profile.chunk,
                     profile.resim_draws)


def local_runner(evaluator, deadline: float) -> ChunkRunner:
    """Chunks evaluated one after the other in this process, until the deadline."""
    def run(chunks: list, batched: bool) -> Iterator[dict | None]:
        for chunk in chunks:
            if time.monotonic() > deadline:
                yield None
                continue
            yield evaluator.run(chunk, batched=batched).compact()
    return run


def evaluate(chunks: list, runner: ChunkRunner, batched: bool, say=None, label="sweep") -> tuple[list, list, bool]:
    """(draw records, resolution parts, budget spent) of the chunks."""
    draws, parts, spent = [], [], False
    done = 0
    total = sum(len(c) for c in chunks)
    for batch in runner(chunks, batched):
        if batch is None:
            spent = True
            continue
        draws += batch["draws"]
        parts.append(batch["resolution"])
        done += len(batch["draws"])
        if say:
            say(f"{label}: {done}/{total} draws")
    return draws, parts, spent


def all_draws(chunks: Iterable[list[Draw]]) -> list[Draw]:
    return [d for c in chunks for d in c]
