"""How often the search finds what it should, over many seeds.

Runs the fixture claims of tests/fixtures/claim_modules/trust in this process
(the inline path: detection does not depend on isolation) and prints, per
fixture, the share of seeds with the right verdict; for the 2 % needle it
also compares the draws sources against plain uniform sampling with the same
number of draws (1 − 0.98^n).

    python benchmarks/detection_rates.py --seeds 20
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from theorycheck.discovery import load_claim
from theorycheck.runner import RunOptions, assemble, run_claim

TRUST = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "claim_modules" / "trust"

CASES = [  # fixture, wanted verdict, what it shows
    ("needle", "refuted", "false on 2 % of the space"),
    ("half_false", "refuted", "false on half the space"),
    ("nan_share", "inconclusive", "NaN on 40 % of the space: never confirmed"),
    ("loose_constant", "inconclusive", "constant 3 % off, checks at 5 %, promise 1 %"),
    ("wrong_reason_break", "inconclusive", "break caught only by a check it does not name"),
    ("unreachable_regime", "inconclusive", "a regime no draw reaches"),
    ("tight_constant", "confirmed", "a true claim: confirmed, promise met"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = range(args.seeds)
    print(f"{'fixture':22} {'wanted':13} {'rate':>7} {'s/run':>6}  what")
    for name, want, what in CASES:
        claim = load_claim(TRUST / f"{name}.py")
        t0 = time.monotonic()
        hits = 0
        for s in seeds:
            o = RunOptions(seed=s, failures_path=None)
            hits += assemble(run_claim(claim, o), o)["verdict"] == want
        print(f"{name:22} {want:13} {hits}/{len(seeds):<4} {(time.monotonic() - t0) / len(seeds):6.2f}  {what}")
    print("\nneedle (2 % of the space), found by each source alone vs uniform sampling with as many draws:")
    claim = load_claim(TRUST / "needle.py")
    for label, kw in (("sweep 32", dict(sweep=32, search=0)), ("sweep 128", dict(sweep=128, search=0)),
                      ("sweep 256 (quick)", dict(sweep=256, search=0)),
                      ("hypothesis 30", dict(sweep=1, search=30)), ("hypothesis 120", dict(sweep=1, search=120))):
        hits, n = 0, kw["sweep"] + kw["search"]
        for s in seeds:
            o = RunOptions(seed=s, failures_path=None, **kw)
            hits += assemble(run_claim(claim, o), o)["verdict"] == "refuted"
        print(f"  {label:20} {hits}/{len(seeds)}   uniform with {n} draws: {1 - 0.98 ** n:.0%}")


if __name__ == "__main__":
    main()
