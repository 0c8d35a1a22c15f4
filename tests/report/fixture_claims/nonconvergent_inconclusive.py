"""Fixture (inconclusive): the simulation never converges."""
import sympy as sp

from theorycheck import AssumptionSpace, Claim, Inconclusive, Int, Source, close


def simulate(params, ctx):
    raise Inconclusive(f"no convergence after {params['n']} iterations")


claim = Claim(
    id="fixture.nonconvergent",
    title="A fixed point reached by iteration",
    statement="The iteration converges to n.",
    math=sp.Eq(sp.Symbol("x_infty"), sp.Symbol("n")),
    source=Source("Fixture", "A. Fixture", 2000, "seed 000"),
    assumptions=AssumptionSpace([Int("n", 1, 9)]),
    derive=lambda params: {"x": params["n"]},
    simulate=simulate,
    checks=[close("limit equals n", "x", "x")],
)
