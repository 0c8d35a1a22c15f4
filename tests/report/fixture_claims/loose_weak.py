"""Fixture (inconclusive, weak): a sample mean checked with a tolerance so
loose that a wrong mean (0.6 instead of 0.5) survives."""
import sympy as sp
import torch

from theorycheck import AssumptionSpace, Claim, Int, Mutant, Plot, Seed, Series, Source, close


def simulate(params, ctx):
    g = torch.Generator().manual_seed(params["data_seed"])
    samples = torch.rand(params["n"], generator=g, dtype=ctx.dtype)
    return {"mean": float(samples.mean()), "samples": samples}


claim = Claim(
    id="fixture.loose",
    title="The mean of uniform samples is 1/2",
    statement="The sample mean of n uniform(0, 1) draws is about 1/2.",
    math=sp.Eq(sp.Integral(sp.Symbol("u"), (sp.Symbol("u"), 0, 1)), sp.Rational(1, 2)),
    source=Source("Fixture", "A. Fixture", 2000, "seed 000"),
    assumptions=AssumptionSpace([Int("n", 200, 400), Seed("data_seed")]),
    derive=lambda params: {"mean": sp.Rational(1, 2)},
    simulate=simulate,
    checks=[close("mean ≈ 1/2 (far too loose)", "mean", "mean", rtol=0, atol=0.5)],
    mutants=[Mutant("mean 0.6", lambda p, pred: {"mean": 0.6}, "a wrong mean the loose check lets through"),
             Mutant("mean 5", lambda p, pred: {"mean": 5.0}, "a wrong mean any check refutes")],
    plots=[Plot("samples", [Series("samples", None, "observation.samples", style="points"),
                            Series("1/2", None, "prediction.mean", role="theory", style="hline")],
                xlabel="index", ylabel="u")],
)
