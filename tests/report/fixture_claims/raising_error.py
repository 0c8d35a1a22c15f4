"""Fixture (error): the derivation raises."""
from theorycheck import AssumptionSpace, Claim, Int, Source, close


def derive(params):
    return {"x": 1 / (params["n"] - params["n"])}


claim = Claim(
    id="fixture.raising",
    title="A derivation that divides by zero",
    statement="derive() raises, so the claim is an error.",
    source=Source("Fixture", "A. Fixture", 2000, "seed 000"),
    assumptions=AssumptionSpace([Int("n", 1, 9)], constraints=["n >= 1"]),
    derive=derive,
    simulate=lambda params, ctx: {"x": 0.0},
    checks=[close("x", "x", "x")],
)
