"""theorycheck: verify theorems of deep-learning theory by pairing an exact
derivation (sympy, cvxpy) with a torch simulation, across the assumptions."""
__version__ = "0.1.0"

from .checks import (Check, at_least, at_most, close, conserved, conserved_at_least, converges, diverges, holds,
                     mean_within, within_se)
from .claim import Break, Claim, ClaimDefinitionError, Mutant, Plot, Series, Source
from .sim.context import SimContext
from .space import AssumptionSpace, Choice, Float, Int, Seed
from .verdict import Inconclusive

__all__ = ["Claim", "Source", "Mutant", "Break", "Plot", "Series", "ClaimDefinitionError",
           "AssumptionSpace", "Int", "Float", "Choice", "Seed", "SimContext", "Inconclusive",
           "Check", "close", "at_most", "at_least", "holds", "conserved", "converges", "diverges",
           "mean_within", "within_se", "conserved_at_least", "__version__"]
