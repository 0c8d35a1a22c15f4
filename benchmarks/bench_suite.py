"""Verification throughput per claim: batched vs per-draw, same draws, same process.

    python benchmarks/bench_suite.py [PATHS] [--only GLOB] [--draws 1024] [--per-draw 32]
                                     [--device auto|cpu|cuda] [--run]

For each claim: derive the predictions of ``--draws`` Sobol draws once (both
paths reuse them), then time the simulation + checks of all draws through
``simulate_batch`` in the profile's chunks, and of ``--per-draw`` of them
through ``simulate`` one at a time; print draws per second of both, their
ratio, and the share of the shared draws whose checks come out the same on
both paths (they must agree).  ``--run`` adds the claim's whole quick run
(sweep, search, regimes, shrinking, breaks, mutants, resolution): draws
decided, verdict and wall time.  Ratios are measured in one process against
each other, never against numbers from another machine.
"""
from __future__ import annotations

import argparse
import fnmatch
import math
import time
from pathlib import Path

import torch

from theorycheck.discovery import claim_files, load_claim
from theorycheck.evaluate import ClaimCodeError, Draw, Evaluator
from theorycheck.profiles import get_profile
from theorycheck.runner import RunOptions, assemble, context_of, run_claim
from theorycheck.sim.context import resolve_device

ROOT = Path(__file__).resolve().parents[1]


def agreement(ev, params, preds, a: list, b: list) -> float:
    """Share of draws whose checks come out the same (pass / fail / undecidable) on both paths."""
    same = total = 0
    for p, pred, x, y in zip(params, preds, a, b):
        if not isinstance(x, dict) or not isinstance(y, dict):
            same += isinstance(x, dict) == isinstance(y, dict)
            total += 1
            continue
        try:
            ex, _ = ev.check(pred, x, p)
            ey, _ = ev.check(pred, y, p)
        except ClaimCodeError:
            continue
        same += [e.passed for e in ex] == [e.passed for e in ey]
        total += 1
    return same / total if total else float("nan")


def throughput(claim, options, n: int, m: int) -> dict:
    ev = Evaluator(claim, context_of(options), options.seed)
    draws = claim.assumptions.design(n, seed=1)
    ready = []
    for p in draws:
        try:
            ev.prediction(p)
            ready.append(p)
        except ClaimCodeError:
            continue
    chunk = get_profile(options.profile).chunk
    preds = [ev.prediction(p) for p in ready]

    def timed(batched, params):
        t0 = time.perf_counter()
        obs = []
        for i in range(0, len(params), chunk if batched else 1):
            part = params[i:i + (chunk if batched else 1)]
            obs += ev.simulate([Draw(p) for p in part], preds[i:i + len(part)], batched)
        return time.perf_counter() - t0, obs

    t_single, single = timed(False, ready[:m])
    out = {"draws": len(ready), "single_rate": len(single) / t_single if t_single else math.nan}
    if claim.simulate_batch is None:
        out.update(batch_rate=None, ratio=None, agreement=None)
        return out
    t_batch, batch = timed(True, ready)
    out.update(batch_rate=len(batch) / t_batch if t_batch else math.nan,
               agreement=agreement(ev, ready[:m], preds[:m], batch[:m], single))
    out["ratio"] = out["batch_rate"] / out["single_rate"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", default=[str(ROOT / "claims")])
    ap.add_argument("--only", help="glob on claim ids")
    ap.add_argument("--draws", type=int, default=1024)
    ap.add_argument("--per-draw", type=int, default=32)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--run", action="store_true", help="also time each claim's whole quick run")
    args = ap.parse_args()
    torch.set_num_threads(1)
    device = resolve_device(args.device)
    options = RunOptions(device=device, failures_path=None)
    print(f"device {device}; {args.draws} draws batched, {args.per_draw} per draw; torch threads 1")
    head = f"{'claim':38} {'batched/s':>10} {'per-draw/s':>10} {'ratio':>7} {'same':>9}"
    print(head + (f" {'decided':>8} {'verdict':>12} {'run s':>6}" if args.run else ""))
    for f in claim_files(args.paths):
        try:
            claim = load_claim(f)
        except Exception as exc:  # a broken module is reported, the others still measured
            print(f"{f}: load error: {exc}")
            continue
        if args.only and not fnmatch.fnmatch(claim.id, args.only):
            continue
        t = throughput(claim, options, args.draws, args.per_draw)
        ratio = "—" if t["ratio"] is None else f"{t['ratio']:.1f}×"
        same = "—" if t["agreement"] is None else f"{t['agreement']:.0%}"
        line = f"{claim.id:38} {_fmt(t['batch_rate']):>10} {_fmt(t['single_rate']):>10} {ratio:>7} {same:>9}"
        if args.run:
            t0 = time.perf_counter()
            record = assemble(run_claim(claim, options), options)
            line += f" {record['decided']:>8} {record['verdict']:>12} {time.perf_counter() - t0:>6.1f}"
        print(line, flush=True)


def _fmt(rate) -> str:
    if rate is None or rate != rate:
        return "—"
    return f"{rate:.3g}"


if __name__ == "__main__":
    main()
