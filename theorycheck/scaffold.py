"""``theorycheck new family.name``: a commented claim skeleton that runs.

The skeleton is a complete, true claim (gradient descent on ½·a·x² contracts
by |1 − ηa| per step when ηa < 2), so the first ``theorycheck run`` of it is
*confirmed*; every part a claim can have is there, commented, to be replaced
by the user's own theorem.  docs/writing-claims.md walks through the same
example from the statement on paper to this file.
"""
from __future__ import annotations

import re
from pathlib import Path

ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")

TEMPLATE = '''"""__TITLE__

The theorem on paper: gradient descent x_{t+1} = x_t − η·f'(x_t) on
f(x) = ½·a·x² multiplies x by (1 − ηa) at every step, so after T steps
x_T = (1 − ηa)^T·x_0, and it contracts towards the minimum 0 exactly when
|1 − ηa| < 1, i.e. when ηa < 2.

This file was written by `theorycheck new __ID__` as a starting point: it
runs and is confirmed as it stands.  Replace the theorem with yours, part by
part; docs/writing-claims.md explains each part.  Run it with

    theorycheck run __PATH__ --out reports/__NAME__
"""
import sympy as sp
import torch

from theorycheck import (AssumptionSpace, Break, Claim, Float, Mutant, Plot, Series, Source, at_most, close)

STEPS = 10  # GD steps the simulation takes

# symbols for the statement the report renders as MathML
eta_, a_, x0_, T_ = sp.symbols("eta a x_0 T", positive=True)


def exact(x):
    """A drawn float as the exact rational it prints as (0.37 -> 37/100)."""
    return sp.Rational(repr(float(x)))


# -- the exact side: what the theorem predicts, with exact mathematics (sympy) ---------------
def derive(params):
    """params -> the prediction (a dict).  Exact where possible: the drawn floats
    become rationals, so |1 − ηa| is computed without round-off.  Raise
    theorycheck.Inconclusive when a solver cannot certify its answer."""
    return {"factor": sp.Abs(1 - exact(params["eta"]) * exact(params["a"]))}


# -- the simulation: run the process the theorem talks about (torch) -------------------------
def simulate_batch(params_list, ctx):
    """Many draws in one tensor program: GD with autograd on ½·a·x² for every draw at
    once.  ctx gives device, dtype and one seed per draw (ctx.seeds) when a
    simulation needs randomness.  Returns one observation dict per draw."""
    a = ctx.tensor([p["a"] for p in params_list])
    eta = ctx.tensor([p["eta"] for p in params_list])
    momentum = ctx.tensor([p.get("momentum", 0.0) for p in params_list])  # only a break sets it
    x0 = ctx.tensor([p["x0"] for p in params_list])
    x, previous = x0.clone(), x0.clone()
    path = [x0.abs()]
    for _ in range(STEPS):
        x = x.detach().requires_grad_(True)
        loss = (0.5 * a * x**2).sum()
        (grad,) = torch.autograd.grad(loss, x)
        x, previous = (x - eta * grad + momentum * (x - previous)).detach(), x.detach()
        path.append(x.abs())
    path = torch.stack(path, 1)                       # |x_t| for every draw, t = 0..STEPS
    factor = (path[:, -1] / path[:, 0]) ** (1.0 / STEPS)  # the measured contraction per step
    return [{"factor": float(f), "path": p} for f, p in zip(factor, path)]


def simulate(params, ctx):
    """One draw (used for hypothesis's targeted draws and for shrinking)."""
    return simulate_batch([params], ctx)[0]


claim = Claim(
    id="__ID__",
    title="__TITLE__",
    statement="Gradient descent with step η on f(x) = ½·a·x² multiplies x by (1 − ηa) at every step, "
              "so it contracts towards the minimum by the factor |1 − ηa| < 1 whenever ηa < 2.",
    math=sp.Eq(sp.Symbol("x_T"), (1 - eta_ * a_) ** T_ * x0_),
    # where the theorem comes from; `note` says where the claim narrows the paper's statement
    source=Source("Your paper or textbook", "Its authors", 2025, abstracts="seed 000",
                  note="skeleton written by theorycheck new"),
    # the assumptions: typed parameters with ranges, and constraints between them
    assumptions=AssumptionSpace(
        [Float("eta", 0.05, 1.0, description="step size η"),
         Float("a", 0.5, 5.0, description="curvature a > 0"),
         Float("x0", 0.5, 2.0, description="starting point")],
        constraints=["eta * a < 2"]),
    derive=derive,
    simulate=simulate,
    simulate_batch=simulate_batch,
    # the checks: named comparisons with explicit tolerances (per dtype)
    checks=[
        close("contraction factor", "factor", "factor", rtol={"float64": 1e-9, "float32": 1e-4}, atol=1e-12),
        at_most("contracts (factor < 1)", "factor", lambda prediction, observation, params: 1.0),
    ],
    # wrong variants of the theorem: each must be refuted, or the claim is weak
    mutants=[
        Mutant("factor 1 − ηa/2", lambda params, pred: {"factor": abs(1 - params["eta"] * params["a"] / 2)},
               "the gradient of ½·a·x² taken as a·x/2"),
        Mutant("factor 1 − ηa without |·|", lambda params, pred: {"factor": 1 - params["eta"] * params["a"]},
               "forgets that GD oscillates when ηa > 1"),
    ],
    # departures from the assumptions under which the theorem must fail, and the check that must see it
    breaks=[Break("heavy-ball momentum 0.5", lambda params: {**params, "momentum": 0.5},
                  "momentum changes the contraction factor", expect=["contraction factor"])],
    # the parts of the space the statement is really about: each needs a quota of decided draws
    regimes={"oscillating (1 − ηa < 0)": "eta * a > 1"},
    # the finest relative error of the prediction the checks promise to see
    resolution=0.001,
    plots=[Plot("|x_t| along the run", [Series("|x_t|", None, "observation.path")],
                xlabel="step", ylabel="|x_t|", ylog=True),
           Plot("measured factor against |1 − ηa|", [
               Series("|1 − ηa|", "prediction.factor", "prediction.factor", role="theory"),
               Series("simulation", "prediction.factor", "observation.factor", style="points")],
               xlabel="|1 − ηa|", ylabel="measured factor", over="examples")],
)
'''


class ScaffoldError(ValueError):
    pass


def render(claim_id: str, path: str = "") -> str:
    family, name = claim_id.split(".", 1)
    title = f"{name.replace('_', ' ').capitalize()} (skeleton): GD on ½·a·x² contracts by |1 − ηa|"
    return (TEMPLATE.replace("__ID__", claim_id).replace("__TITLE__", title).replace("__NAME__", name)
            .replace("__PATH__", path or f"claims/{family}/{name}.py"))


def target(claim_id: str, root: str | Path = "claims") -> Path:
    family, name = claim_id.split(".", 1)
    return Path(root) / family / f"{name}.py"


def write(claim_id: str, root: str | Path = "claims", force: bool = False) -> Path:
    """Write the skeleton of ``claim_id`` to ``root/family/name.py``."""
    if not ID.match(claim_id):
        raise ScaffoldError(f"{claim_id!r} is not a claim id of the form family.name "
                            "(lower case letters, digits and _, e.g. stability.my_threshold)")
    path = target(claim_id, root)
    if path.exists() and not force:
        raise ScaffoldError(f"{path} exists (use --force to overwrite it)")
    if path.parent.exists() and not path.parent.is_dir():
        raise ScaffoldError(f"{path.parent} exists and is not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(claim_id, str(path)), encoding="utf-8")
    return path


__all__ = ["render", "write", "target", "ScaffoldError", "TEMPLATE"]
