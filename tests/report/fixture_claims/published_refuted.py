"""Fixture (published statement, expected refuted): x³ ≥ x on [0, 3] is false
for 0 < x < 1; the report lists it under the published statements that fail as
stated, with its counterexample, the failure region and the rescue."""
import sympy as sp

from theorycheck import AssumptionSpace, Claim, Float, Source, at_least

x_ = sp.Symbol("x")

claim = Claim(
    id="fixture.published",
    title="Cubes dominate (as published): x³ ≥ x",
    statement="For every x in [0, 3], x³ ≥ x.",
    math=sp.Ge(x_**3, x_),
    source=Source("On cubes", "A. Fixture", 2001, "seed 000", note="false below 1: rescued by restricting x"),
    assumptions=AssumptionSpace([Float("x", 0.0, 3.0)]),
    derive=lambda params: {"x": params["x"]},
    simulate=lambda params, ctx: {"cube": params["x"] ** 3},
    checks=[at_least("x³ ≥ x", "cube", "x")],
    expected="refuted",
    rescue="fixture.geometric",
)
