"""The context a simulation runs in: device, dtype, seed, budget, size."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch


def resolve_device(name: str = "auto") -> str:
    """``auto`` picks CUDA when present; ``cuda`` without CUDA is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError("--device cuda requested but CUDA is not available on this machine")
        return name
    raise ValueError(f"unknown device {name!r} (choose auto, cpu or cuda)")


def device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return "cpu"


def derive_seed(*parts) -> int:
    """A 63-bit seed from (global seed, claim id, role, canonical params ...):
    the same draw always gets the same seed, also when hypothesis replays it."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big") >> 1


@dataclass
class SimContext:
    """What a simulation may read: device, dtype, its seed(s), the budget and
    the profile's size hint.  ``simulate`` gets one ``seed``; ``simulate_batch``
    gets ``seeds``, one per draw of the batch, so that a draw's randomness does
    not depend on which other draws share its batch (``generators()``,
    ``randn(...)``): a batched draw and the same draw run alone see the same
    random numbers."""

    device: str = "cpu"
    dtype: torch.dtype = torch.float64
    seed: int = 0
    budget_s: float = 60.0
    size: str = "small"  # profile's size hint: "small" | "large"
    seeds: tuple = ()   # per-draw seeds of a batched call
    draws: int = 0      # claim draws this run plans (for Bonferroni levels: theorycheck.stats.family_z)
    _gen: torch.Generator | None = field(default=None, repr=False)

    def generator(self) -> torch.Generator:
        """A torch generator on the context's device, seeded from the example seed."""
        g = torch.Generator(device=self.device)
        g.manual_seed(self.seed % (2**63))
        return g

    def numpy_rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed % (2**63))

    def generators(self) -> list[torch.Generator]:
        """One generator per draw of a batched call, each seeded like ``generator()`` of that draw alone."""
        return [self.with_seed(s).generator() for s in self.seeds]

    def numpy_rngs(self) -> list[np.random.Generator]:
        return [np.random.default_rng(s % (2**63)) for s in self.seeds]

    def randn(self, *shape) -> torch.Tensor:
        """Standard normal numbers of ``shape`` per draw, stacked: (len(seeds), *shape)."""
        return torch.stack([torch.randn(*shape, generator=g, dtype=self.dtype, device=self.device)
                            for g in self.generators()])

    def tensor(self, x, dtype=None) -> torch.Tensor:
        return torch.as_tensor(x, dtype=dtype or self.dtype, device=self.device)

    def with_seed(self, seed: int) -> "SimContext":
        return SimContext(self.device, self.dtype, seed, self.budget_s, self.size, draws=self.draws)

    def with_seeds(self, seeds) -> "SimContext":
        """The context of a batched call: one seed per draw."""
        seeds = tuple(int(s) for s in seeds)
        return SimContext(self.device, self.dtype, seeds[0] if seeds else self.seed, self.budget_s, self.size,
                          seeds, draws=self.draws)

    @property
    def large(self) -> bool:
        return self.size == "large"
