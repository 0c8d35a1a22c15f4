"""Time to the certified optimum of the convex ReLU program, theorycheck vs
pyscnn, for growing n (same machine, same data, same patterns).

    python benchmarks/bench_convex_relu.py [--d 3] [--ns 8 12 16 20 24] [--beta 0.1] [--al-max-n 12]
                                           [--growth-ns 8 12 16 24 32 48] [--lp-max-n 12] [--clock cpu|wall]

Times are process CPU time by default (robust on a shared machine; run with
OMP_NUM_THREADS=1 so no library spreads over threads), wall time with --clock wall.

Columns: patterns (exact count, checked against Cover's count), theorycheck
enumeration and solve times (cvxpy + Clarabel, with our dual certificate),
pyscnn's own cvxpy program (CVXPYSolver + ECOS) on our gates, the ratio
pyscnn / theorycheck (solve only, and total = our enumeration + solve), and,
for small n, pyscnn's default path ``optimize(formulation="relu")`` (sampled
gates, augmented Lagrangian) with its relative distance to the certified
optimum.  pyscnn's objective is (1/(2n))‖·‖² + λΣ‖·‖ with λ = β/n: its values
are multiplied by n.

A second table shows how exact enumeration grows with n (vertex enumeration,
O(n^{d−1}) lines; the older incremental-LP enumerator for n ≤ --lp-max-n),
with the local growth exponent log(t_n / t_prev) / log(n / n_prev).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from theorycheck.sim.relu_nets import regression_data
from theorycheck.symbolic.arrangements import cover_count, enumerate_patterns, enumerate_patterns_lp
from theorycheck.symbolic.group_lasso import solve_convex_relu


CLOCK = time.process_time  # CPU time of this process: robust on a shared machine (--clock wall for wall time)


def best_of(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = CLOCK()
        out = fn()
        times.append(CLOCK() - t)
    return min(times), out


def objective(X, y, beta, G, V, W):
    masks = (X @ G >= 0).T
    fit = (masks * (V @ X.T - W @ X.T)).sum(0)
    return 0.5 * float(np.sum((fit - y) ** 2)) + beta * float(np.linalg.norm(V, axis=1).sum()
                                                               + np.linalg.norm(W, axis=1).sum())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=3)
    ap.add_argument("--ns", type=int, nargs="+", default=[8, 12, 16, 20, 24])
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--al-max-n", type=int, default=12, help="run pyscnn's AL path up to this n (it is slow)")
    ap.add_argument("--growth-ns", type=int, nargs="*", default=[8, 12, 16, 24, 32, 48])
    ap.add_argument("--lp-max-n", type=int, default=12, help="time the incremental-LP enumerator up to this n")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    args = ap.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    try:
        from scnn.metrics import Metrics
        from scnn.models import ConvexReLU
        from scnn.optimize import optimize, optimize_model
        from scnn.regularizers import NeuronGL1
        from scnn.solvers import CVXPYSolver
    except ImportError:
        raise SystemExit("pyscnn is not installed (see .ci/run for the install commands)") from None

    print(f"d = {args.d}, beta = {args.beta}, best of {args.repeats}, {args.clock} time")
    header = (f"{'n':>4} {'patterns':>8} {'enum s':>8} {'ours s':>8} {'pyscnn-ecos s':>13} "
              f"{'ratio solve':>11} {'ratio total':>11} {'rel diff':>9} {'pyscnn-AL s':>11} {'AL rel err':>10}")
    print(header)
    for n in args.ns:
        X, y = regression_data(n, args.d, 1000 + n)
        t_enum, pats = best_of(lambda: enumerate_patterns(X), args.repeats)
        assert len(pats) == cover_count(n, np.linalg.matrix_rank(X))
        t_ours, sol = best_of(lambda: solve_convex_relu(X, y, args.beta, pats), args.repeats)

        def peer():
            model = ConvexReLU(pats.directions.T.copy())
            m, _ = optimize_model(model, CVXPYSolver(model, "ecos"), Metrics(), X, y,
                                  regularizer=NeuronGL1(args.beta / n), return_convex=True,
                                  unitize_data=False, dtype="float64")
            return m

        t_peer, m = best_of(peer, args.repeats)
        v_peer = objective(X, y, args.beta, m.G, m.parameters[0][0], m.parameters[1][0])
        al = ""
        if n <= args.al_max_n:
            def peer_al():
                mm, _ = optimize("relu", 2 * len(pats), X, y, regularizer=NeuronGL1(args.beta / n),
                                 return_convex=True, unitize_data=False, dtype="float64", seed=n)
                return mm
            t_al, mm = best_of(peer_al, 1)
            v_al = objective(X, y, args.beta, mm.G, mm.parameters[0][0], mm.parameters[1][0])
            al = f"{t_al:11.3f} {(v_al - sol.value) / sol.value:10.1e}"
        print(f"{n:4d} {len(pats):8d} {t_enum:8.3f} {t_ours:8.3f} {t_peer:13.3f} {t_peer / t_ours:11.2f} "
              f"{t_peer / (t_ours + t_enum):11.2f} {(v_peer - sol.value) / sol.value:9.1e} {al}", flush=True)

    if args.growth_ns:
        print(f"\nexact enumeration, d = {args.d}: growth with n (best of {args.repeats})")
        print(f"{'n':>4} {'patterns':>8} {'cover':>8} {'vertex ms':>10} {'exponent':>8} {'LP ms':>10} "
              f"{'LP / vertex':>11}")
        prev = None
        for n in args.growth_ns:
            X, _ = regression_data(n, args.d, 1000 + n)
            t, pats = best_of(lambda: enumerate_patterns(X), args.repeats)
            expo = f"{np.log(t / prev[1]) / np.log(n / prev[0]):8.2f}" if prev else f"{'':>8}"
            lp = ""
            if n <= args.lp_max_n:
                t_lp, ref = best_of(lambda: enumerate_patterns_lp(X), 1)
                assert {tuple(m) for m in ref.masks.tolist()} == {tuple(m) for m in pats.masks.tolist()}
                lp = f"{1e3 * t_lp:10.1f} {t_lp / t:11.0f}"
            print(f"{n:4d} {len(pats):8d} {cover_count(n, args.d):8d} {1e3 * t:10.2f} {expo} {lp}", flush=True)
            prev = (n, t)


if __name__ == "__main__":
    main()
