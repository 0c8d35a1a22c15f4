"""Batched sweep vs one simulation at a time, same draws, same process.

    python benchmarks/bench_batched_sweep.py [--device auto|cpu|cuda] [--draws 64 256 1024]

Prints, for each sweep size, the time of `simulate` called per draw and of
one `simulate_batch` call over all draws (claim `dynamics.gd_min_norm`), the
ratio, and the largest disagreement between the two (they must agree)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from theorycheck.discovery import load_claim
from theorycheck.sim.context import SimContext, resolve_device

CLAIM = Path(__file__).resolve().parents[1] / "claims" / "dynamics" / "gd_min_norm.py"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--draws", type=int, nargs="+", default=[16, 64, 256])
    args = ap.parse_args()
    device = resolve_device(args.device)
    claim = load_claim(CLAIM)
    ctx = SimContext(device=device)
    print(f"device {device}; claim {claim.id}")
    print(f"{'draws':>6} {'sequential s':>13} {'batched s':>10} {'speed-up':>9} {'max |Δw|':>10}")
    for n in args.draws:
        draws = claim.assumptions.sample(n, seed=n)
        t0 = time.perf_counter()
        seq = [claim.simulate(p, ctx) for p in draws]
        t1 = time.perf_counter()
        bat = claim.simulate_batch(draws, ctx)
        t2 = time.perf_counter()
        diff = max(float(np.max(np.abs(a["w_gd"] - b["w_gd"]))) for a, b in zip(seq, bat))
        print(f"{n:>6} {t1 - t0:>13.3f} {t2 - t1:>10.3f} {(t1 - t0) / (t2 - t1):>8.1f}× {diff:>10.2e}")


if __name__ == "__main__":
    main()
