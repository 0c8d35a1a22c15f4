"""Exact (sympy, QQ) vs numeric (torch autodiff) Lie-rank routes on two-layer
linear nets of growing size: time of each, and the largest size each finishes
within the time limit on this machine.

    python benchmarks/bench_lie_rank.py [--limit 60]

The exact route runs in a child process killed at the limit."""
import argparse
import multiprocessing as mp
import time

import numpy as np
import sympy as sp
import torch

from theorycheck.sim.conservation_nets import flat_linear_outputs
from theorycheck.symbolic.conservation import linear_net_fields
from theorycheck.symbolic.lie import exact_lie_rank, numeric_lie_rank

SIZES = [(2, 2, 2), (3, 3, 3), (4, 4, 4), (5, 5, 5), (6, 6, 6), (8, 8, 8), (10, 10, 10), (15, 15, 15),
         (20, 20, 20), (20, 25, 20), (25, 25, 25)]


def problem(d, r, k, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(-5, 6, size=(d + 1, d))
    D = r * (d + k)
    theta = rng.integers(1, 30, size=D) * rng.choice([-1, 1], size=D)
    return X, theta


def exact(d, r, k, out):
    X, theta = problem(d, r, k)
    fields, syms = linear_net_fields(d, r, k, X.tolist())
    out.put(exact_lie_rank(fields, syms, [sp.Rational(int(v), 7) for v in theta]).laws)


def numeric(d, r, k):
    X, theta = problem(d, r, k)
    res = numeric_lie_rank(flat_linear_outputs(d, r, k, torch.tensor(X, dtype=torch.float64)),
                           torch.tensor(theta / 7.0), X.shape[0] * k, generator=torch.Generator().manual_seed(0))
    return res.laws, res.gap


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=float, default=60.0)
    args = ap.parse_args()
    print(f"torch threads: {torch.get_num_threads()}, limit {args.limit:g} s")
    print(f"{'(d,r,k)':>12} {'D':>5} {'known':>6} {'exact s':>9} {'exact':>6} {'numeric s':>10} {'numeric':>8} "
          f"{'gap':>9}")
    best = {"exact": None, "numeric": None}
    alive = {"exact": True, "numeric": True}
    for d, r, k in SIZES:
        D, m = r * (d + k), d + k
        known = r * (r + 1) // 2 if r <= m else r * m - m * (m - 1) // 2
        te, le = "-", "-"
        if alive["exact"]:
            q = mp.Queue()
            p = mp.Process(target=exact, args=(d, r, k, q))
            t0 = time.perf_counter()
            p.start()
            p.join(args.limit)
            if p.is_alive():
                p.terminate()
                p.join()
                alive["exact"], te = False, f">{args.limit:g}"
            else:
                te, le = f"{time.perf_counter() - t0:.2f}", q.get()
                best["exact"] = (d, r, k, D)
        tn, ln, gap = "-", "-", float("nan")
        if alive["numeric"]:
            t0 = time.perf_counter()
            ln, gap = numeric(d, r, k)
            el = time.perf_counter() - t0
            tn = f"{el:.2f}"
            if el <= args.limit:
                best["numeric"] = (d, r, k, D)
            else:
                alive["numeric"] = False
        print(f"{str((d, r, k)):>12} {D:>5} {known:>6} {te:>9} {str(le):>6} {tn:>10} {str(ln):>8} {gap:>9.1e}",
              flush=True)
        if not any(alive.values()):
            break
    for route, b in best.items():
        print(f"largest size within {args.limit:g} s, {route}: (d,r,k) = {b[:3] if b else None}, "
              f"D = {b[3] if b else 0}")


if __name__ == "__main__":
    main()
