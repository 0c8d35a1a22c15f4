"""How often the convex_relu claims escalate their training, and how close to
the certified optimum the best run ends, through the claims' own derive and
simulate_batch (so: the same schedules, seeds per draw, escalation rule).

    OMP_NUM_THREADS=1 python benchmarks/convex_relu_escalation.py claims/convex_relu/exact.py \\
        [--sobol 320] [--stress 320] [--corner 0] [--found RESULTS.json ...] [--sets 1] [--seed 0]

Groups of draws: a scrambled Sobol design over the claim's assumption space
(``--sobol``); a stress region where random-start training is hardest
(``--stress``: n ∈ {6, 7, 8}, d ∈ {2, 3}, β log-uniform in [0.05, 0.15]); its
corner (``--corner``: β = 0.05, d = 2, n ∈ {7, 8}, where the hypothesis search
goes); and the search / shrink / regime draws recorded in ``theorycheck run``
results (``--found``).  ``--sets``: simulation seed sets per group.

Per group: draws (certified optimum), escalated (best standard run above
(1 + GAP)·optimum), worst gap (best / optimum − 1) before escalation, among
escalated draws after it, and overall after it; draws failing the claim's
within-GAP check; draws whose best run lies below the optimum (by > 1e-6).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from theorycheck import Inconclusive
from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext, derive_seed


def groups_of(claim, args) -> dict:
    rng = np.random.default_rng(args.seed)
    out = {}
    if args.sobol:
        out["sobol"] = [dict(p) for _, p in claim.assumptions.design_points(args.sobol, 777 + args.seed)]
    if args.stress:
        out["stress"] = [{"n": int(rng.integers(6, 9)), "d": int(rng.integers(2, 4)),
                          "beta": float(np.exp(rng.uniform(np.log(0.05), np.log(0.15)))),
                          "data_seed": int(rng.integers(2**31))} for _ in range(args.stress)]
    if args.corner:
        out["corner"] = [{"n": int(rng.integers(7, 9)), "d": 2, "beta": 0.05, "data_seed": int(rng.integers(2**31))}
                         for _ in range(args.corner)]
    found = {}
    for path in args.found:
        for rec in json.load(open(path))["claims"]:
            if rec["id"] != claim.id:
                continue
            for d in rec["draws"]:
                if d["source"] in ("search", "shrink", "replay") or d["source"].startswith("regime"):
                    found[json.dumps(d["params"], sort_keys=True)] = d["params"]
    if found:
        out["found"] = list(found.values())
    return out


def measure(claim, draws, set_index, gap, chunk=64):
    keep, preds = [], []
    for p in draws:
        try:
            preds.append(claim.derive(p))
            keep.append(p)
        except Inconclusive:
            pass
    esc, std, best = [], [], []
    for s in range(0, len(keep), chunk):
        ps, qs = keep[s:s + chunk], preds[s:s + chunk]
        seeds = [derive_seed(set_index, claim.id, "escalation-benchmark", json.dumps(p, sort_keys=True)) for p in ps]
        for o in claim.simulate_batch(ps, SimContext(seed=seeds[0]).with_seeds(seeds), qs):
            esc.append(bool(o["escalated"]))
            std.append(o["standard_best"])
            best.append(o["best"])
    opt = np.array([q["optimum"] for q in preds])
    esc, before, after = np.array(esc), np.array(std) / opt - 1, np.array(best) / opt - 1
    return {"draws": len(keep), "escalated": int(esc.sum()), "rate": float(esc.mean()) if len(esc) else 0.0,
            "worst_before": float(before.max()), "worst_escalated": float(after[esc].max()) if esc.any() else None,
            "worst_after": float(after.max()), "failing": int((after > gap).sum()),
            "below_optimum": int((np.array(best) < opt * (1 - 1e-6)).sum()),
            "hardest": [keep[i] for i in np.argsort(-after)[:3] if esc[i]]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("claim")
    ap.add_argument("--sobol", type=int, default=320)
    ap.add_argument("--stress", type=int, default=320)
    ap.add_argument("--corner", type=int, default=0)
    ap.add_argument("--found", nargs="*", default=[])
    ap.add_argument("--sets", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    claim = load_claim(args.claim)
    gap = claim.simulate.__globals__["GAP"]  # the claim module's tolerance of its within-GAP check
    for name, draws in groups_of(claim, args).items():
        for k in range(args.sets):
            t = time.time()
            r = measure(claim, draws, k, gap)
            worst_esc = "—" if r["worst_escalated"] is None else f"{r['worst_escalated']:.2%}"
            print(f"{claim.id} {name:7s} set {k}: {r['draws']} draws, escalated {r['escalated']} ({r['rate']:.1%}); "
                  f"worst gap: before {r['worst_before']:.2%}, escalated after {worst_esc}, all after "
                  f"{r['worst_after']:.2%}; failing {r['failing']}; below optimum {r['below_optimum']} "
                  f"({time.time() - t:.0f} s)", flush=True)
            if r["failing"]:
                print("    hardest escalated:", json.dumps(r["hardest"]))


if __name__ == "__main__":
    main()
