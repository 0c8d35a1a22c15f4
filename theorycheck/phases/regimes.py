"""Regimes: the parts of the assumption space a statement is really about
(``Claim(regimes={"name": "condition over the parameters"})``).  Each needs
a quota of decided draws; when the sweep leaves one short, draws targeted at
it continue the same Sobol sequence, filtered by the condition."""
from __future__ import annotations

from ..evaluate import Draw
from ..space import Expr
from ..verdict import FAIL, PASS


def condition(text: str):
    expr = Expr(text)

    def holds(params: dict) -> bool:
        try:
            return bool(expr(params))
        except Exception:  # a condition that cannot be evaluated on a draw does not hold there
            return False
    return holds


def coverage(regimes: dict, draws: list[dict]) -> dict:
    """Per regime: how many claim draws fall in it and how many of those were decided."""
    out = {}
    for name, text in regimes.items():
        inside = condition(text)
        mine = [d for d in draws if inside(d["params"])]
        out[name] = {"condition": text, "drawn": len(mine),
                     "decided": sum(d["status"] in (PASS, FAIL) for d in mine)}
    return out


def targeted(claim, plan, quota: int, counts: dict, extra: int = 0) -> list[Draw]:
    """Draws for the regimes still short of their quota (up to twice the
    missing number, since some may be undecidable)."""
    space = claim.assumptions
    draws: list[Draw] = []
    skip = plan.next_position + extra
    for name, text in claim.regimes.items():
        missing = quota - counts.get(name, {}).get("decided", 0)
        if missing <= 0:
            continue
        points = space.design_points(2 * missing, plan.design_seed, skip=skip, where=condition(text))
        draws += [Draw(p, f"regime:{name}", deep=False) for _, p in points]
    return draws
