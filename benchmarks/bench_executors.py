"""What isolation and distribution cost: the same claims, the same options,
run by each executor in turn in this process, with wall times and ratios
against the first executor named.

    python benchmarks/bench_executors.py [PATHS] [--executors inline local ray] [--jobs 1] [--sweep N]

``inline`` runs claims in this process (no isolation), ``local`` in one
forked worker per claim, ``ray`` as Ray tasks (a local Ray with ``--jobs``
CPUs, started and shut down inside its timing).  The records of every
executor are compared (ignoring durations): they must be the same.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from theorycheck.api import run
from theorycheck.runner import RunOptions

ROOT = Path(__file__).resolve().parents[1]


def _strip(x):
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k != "duration_s"}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", default=[str(ROOT / "claims")])
    ap.add_argument("--executors", nargs="+", default=["inline", "local"])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--sweep", type=int, default=None)
    ap.add_argument("--search", type=int, default=None)
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    options = RunOptions(jobs=args.jobs, sweep=args.sweep, search=args.search, failures_path=None)
    base, first = None, None
    print(f"jobs {args.jobs}; sweep {args.sweep or 'profile'}; paths {' '.join(args.paths)}")
    print(f"{'executor':8} {'claims':>6} {'wall s':>8} {'× ' + args.executors[0]:>10}  same records")
    for name in args.executors:
        t0 = time.perf_counter()
        records, failures = run(args.paths, options, executor=name, only=args.only)
        wall = time.perf_counter() - t0
        stripped = {r["id"]: _strip(r) for r in records}
        if base is None:
            base, first = stripped, wall
        same = "—" if stripped is base else ("yes" if stripped == base else
                                             "NO: " + ", ".join(k for k in base if stripped.get(k) != base[k]))
        print(f"{name:8} {len(records):>6} {wall:>8.1f} {wall / first:>9.2f}×  {same}", flush=True)


if __name__ == "__main__":
    main()
