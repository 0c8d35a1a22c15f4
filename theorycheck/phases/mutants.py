"""Mutants: wrong variants of the prediction, evaluated on the claim's own
draws (cached observations).  A mutant is refuted only through a failing
check that reads the simulation; a failure of a check that compares
prediction values among themselves does not count."""
from __future__ import annotations

from ..verdict import ERROR, FAIL, INCONCLUSIVE, MUTANT_REFUTED, MUTANT_SURVIVED, PASS


def verdict(name: str, description: str, draws: list[dict]) -> dict:
    mine = [(d, d["mutants"][name]) for d in draws if name in (d.get("mutants") or {})]
    refuting = next(((d, m) for d, m in mine if m["status"] == FAIL), None)
    errors = [m for _, m in mine if m["status"] == ERROR]
    pred_only = [m for _, m in mine if m["status"] == "prediction-only"]
    decided = sum(m["status"] in (PASS, FAIL, "prediction-only") for _, m in mine)
    example = None
    if refuting is not None:
        d, m = refuting
        v, reason = MUTANT_REFUTED, m["reason"]
        example = {"params": d["params"], "seed": d["seed"], "source": d["source"], "checks": m.get("checks", [])}
    elif errors:
        v, reason = ERROR, errors[0]["reason"]
    elif decided:
        v = MUTANT_SURVIVED
        reason = (f"passed every check on {decided} draw(s)" if not pred_only else
                  f"refuted only by checks that do not read the simulation on {len(pred_only)} of {decided} "
                  "draw(s): " + pred_only[0]["reason"])
    else:
        bad = [m["reason"] for _, m in mine if m["status"] == INCONCLUSIVE]
        v, reason = INCONCLUSIVE, "not decided on any draw" + (f" ({bad[0]})" if bad else "")
    return {"name": name, "description": description, "verdict": v, "examples": len(mine),
            "decided": decided, "example": example, "reason": reason}
