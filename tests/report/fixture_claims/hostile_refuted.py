"""Fixture (refuted): the false claim x² ≥ x on [0, 2], with hostile strings
in its title and in a parameter, so the report must escape what claims and
results say."""
import sympy as sp

from theorycheck import AssumptionSpace, Choice, Claim, Float, Mutant, Plot, Series, Source, at_least

HOSTILE = "<script>alert(1)</script>"
x_ = sp.Symbol("x")


claim = Claim(
    id="fixture.hostile",
    title=f"{HOSTILE} squares dominate: x² ≥ x",
    statement=f"For every x in [0, 2], x² ≥ x. <b>not bold</b> {HOSTILE}",
    math=sp.Ge(x_**2, x_),
    source=Source(f"On squares {HOSTILE}", "<img src=x onerror=alert(2)>", 2024, "seed 000"),
    assumptions=AssumptionSpace([Float("x", 0.0, 2.0), Choice("label", [HOSTILE, "plain"])]),
    derive=lambda params: {"x": params["x"]},  # the claimed lower bound of x²
    simulate=lambda params, ctx: {"square": params["x"] * params["x"]},
    checks=[at_least("x² ≥ x", "square", "x")],
    mutants=[Mutant(f"bound raised by 3 {HOSTILE}", lambda p, pred: {"x": pred["x"] + 3})],
    plots=[Plot(f"x² against x {HOSTILE}", [
        Series("x (claimed bound)", "params.x", "prediction.x", role="theory", style="points"),
        Series(f"x² {HOSTILE}", "params.x", "observation.square", style="points")],
        over="examples")],
)
