"""Fixture (confirmed): Σ_{k≥0} r^k = 1/(1 − r) for |r| < 1.  Its plots carry
the awkward values the SVG plotter must survive: a scalar, a NaN, an
"<array of N>" placeholder and non-positive values on a log axis."""
import math

import sympy as sp
import torch

from theorycheck import AssumptionSpace, Break, Claim, Float, Mutant, Plot, Series, Source, close

TERMS = 4000
r_, k_ = sp.symbols("r k")


def derive(params):
    return {"sum": 1 / (1 - sp.nsimplify(params["r"]))}


def simulate(params, ctx):
    k = torch.arange(TERMS, dtype=ctx.dtype, device=ctx.device)
    partial = torch.cumsum(ctx.tensor(params["r"]) ** k, 0)
    return {"sum": float(partial[-1]), "partial": partial[:60], "steps": torch.arange(1, 61),
            "signed": partial[:60] - float(partial[-1])}


claim = Claim(
    id="fixture.geometric",
    title="Geometric series: Σ rᵏ = 1/(1 − r)",
    statement="For |r| < 1 the geometric series converges to 1/(1 − r).",
    math=sp.Eq(sp.Sum(r_**k_, (k_, 0, sp.oo)), 1 / (1 - r_)),
    source=Source("Elements of analysis (fixture)", "A. Fixture", 1900, "seed 000", note="report fixture"),
    assumptions=AssumptionSpace([Float("r", -0.9, 0.9, description="ratio, |r| < 1")]),
    derive=derive,
    simulate=simulate,
    checks=[close("partial sum matches 1/(1 − r)", "sum", "sum", rtol=1e-9, atol=1e-12)],
    mutants=[Mutant("1/(1 + r)", lambda p, pred: {"sum": 1 / (1 + sp.nsimplify(p["r"]))}, "wrong sign")],
    breaks=[Break("r = 1.05", lambda p: {**p, "r": 1.05}, "outside |r| < 1 the series diverges")],
    regimes={"alternating (r < 0)": "r < 0"},
    plots=[
        Plot("partial sums against the limit", [
            Series("partial sum", "observation.steps", "observation.partial"),
            Series("1/(1 − r)", None, "prediction.sum", role="theory", style="hline"),
            Series("placeholder", None, lambda pred, obs, p: "<array of 5000>"),
        ], xlabel="terms", ylabel="S_n"),
        Plot("log axis with non-positive values", [
            Series("partial − limit", "observation.steps", "observation.signed"),
            Series("a scalar", lambda pred, obs, p: 10.0, "observation.sum", role="theory", style="points"),
            Series("NaN", lambda pred, obs, p: [1.0, 2.0], lambda pred, obs, p: [math.nan, 1.0]),
        ], xlabel="terms", ylabel="error", ylog=True),
        Plot("theory against simulation", [
            Series("1/(1 − r)", "params.r", "prediction.sum", role="theory"),
            Series("simulation", "params.r", "observation.sum", style="points"),
            Series("r = 0", lambda pred, obs, p: 0.0, None, role="theory", style="vline"),
        ], xlabel="r", ylabel="sum", over="examples"),
    ],
)
