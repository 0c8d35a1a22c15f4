"""torch side of a claim: device / dtype / seed context and reusable simulations."""
from .context import SimContext, derive_seed, resolve_device

__all__ = ["SimContext", "derive_seed", "resolve_device"]
