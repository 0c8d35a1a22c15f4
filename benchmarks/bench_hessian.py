"""Our Hessian toolkit against PyHessian and curvlinops at the same accuracy:
top eigenvalue and Hutchinson trace on MLPs, same process, same device, same
data, same thread count.

    python benchmarks/bench_hessian.py [--device cpu|cuda] [--widths 64,256] [--threads 1]
                                       [--eig-rtol 1e-6 1e-5] [--trace-rel-se 0.02] [--deflate 20]
                                       [--clock cpu|wall] [--repeats 1] [--skip-eig] [--skip-trace]

Times are process CPU time on CPU (robust on a shared machine; every method
runs in this process with ``--threads`` torch threads) and wall time on CUDA.

Peers: PyHessian (``pip install pyhessian``) and curvlinops
(``pip install curvlinops-for-pytorch``; on this project's pinned torch add
``--no-deps`` and its small dependencies, see README); a missing peer is
skipped with a message.

Top eigenvalue, time to ``--eig-rtol`` relative accuracy: the true value comes
from one long Lanczos run (Ritz residual ≤ 1e-13·λ, which bounds the error).
Each method runs with its own stopping rule at tolerances 1e-1, 1e-2, …; the
loosest one whose answer is within the accuracy is timed (ladder runs are not
counted).  Ours: Lanczos with the eigenvalue-error stop (``value_tol``);
PyHessian: power iteration stopped on the change between iterates;
curvlinops: ``HessianLinearOperator`` with scipy's ``eigsh`` (ARPACK,
implicitly restarted Lanczos, ``which='LA'``).  A second, bias-free power
iteration (ours) separates PyHessian's algorithm from its implementation:
PyHessian divides by ‖v‖ + 1e-6, which leaves a relative bias of about 2e-6.

Trace, time to a standard error of ``--trace-rel-se`` × |trace|: ours by
Hutchinson with Rademacher block probes, stopped on its standard error, plain
(N probes) and Krylov-deflated (``--deflate`` Lanczos vectors + M < N probes).
The peers' plain estimators have the same variance as our plain one, so they
get the N probes ours needed (PyHessian ``trace(maxIter=N, tol=-inf)``;
curvlinops ``hutchinson_trace`` in blocks of 50) and their own standard errors
are printed.  ``hvps`` columns count Hessian-vector products."""
import argparse
import math
import sys
import time

import numpy as np
import torch

from theorycheck.sim.hessian import flat_loss, hutchinson_trace, lanczos, power_iteration

LADDER = [10.0 ** -e for e in range(1, 13)]
PYH_PRODUCTS = [0]


def sync(dev):
    if dev.startswith("cuda"):
        torch.cuda.synchronize()


CLOCK = time.perf_counter


def timed(fn, dev, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        sync(dev)
        t0 = CLOCK()
        out = fn()
        sync(dev)
        best = min(best, CLOCK() - t0)
    return best, out


def peers():
    found = {}
    try:
        import pyhessian  # noqa: F401

        ph = sys.modules["pyhessian.hessian"]  # the module (the package exports the class)
        inner = ph.hessian_vector_product

        def counting(*a, **k):  # count PyHessian's products
            PYH_PRODUCTS[0] += 1
            return inner(*a, **k)

        ph.hessian_vector_product = counting
        found["PyHessian"] = ph
    except ImportError:
        print("PyHessian not installed (pip install pyhessian): skipped")
    try:
        import curvlinops
        found["curvlinops"] = curvlinops
    except ImportError:
        print("curvlinops not installed (pip install curvlinops-for-pytorch --no-deps; see README): skipped")
    return found


def ladder(run, truth, rtol, dev, repeat):
    """(time, products, rel. error, tolerance) of the loosest tolerance that is
    accurate; (nan, products, best error, nan) when the error stalls above rtol
    (two tolerances in a row without halving it)."""
    best, stalled = math.inf, 0
    for tol in LADDER:
        value, products = run(tol)
        err = abs(value - truth) / abs(truth)
        if err <= rtol:
            t, (value, products) = timed(lambda: run(tol), dev, repeat)
            return t, products, abs(value - truth) / abs(truth), tol
        stalled = stalled + 1 if err > best / 2 else 0
        best = min(best, err)
        if stalled >= 2:
            break
    return math.nan, products, best, math.nan


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--widths", default="64,256")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for every method (1: shared machines)")
    ap.add_argument("--eig-rtol", type=float, nargs="+", default=[1e-6, 1e-5])
    ap.add_argument("--clock", choices=["cpu", "wall"], default=None,
                    help="process CPU time (default on cpu: robust on a shared machine) or wall time")
    ap.add_argument("--trace-rel-se", type=float, default=0.02)
    ap.add_argument("--deflate", type=int, default=20)
    ap.add_argument("--batch", type=int, default=50, help="probes per block (ours)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--skip-trace", action="store_true")
    ap.add_argument("--skip-eig", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float64)  # PyHessian draws probes with the default dtype
    dev = args.device
    global CLOCK
    clock = args.clock or ("cpu" if dev == "cpu" else "wall")
    CLOCK = time.process_time if clock == "cpu" else time.perf_counter
    found = peers()
    print(f"device {dev}, float64, {args.threads} thread(s), {clock} time, best of {args.repeats}; "
          f"trace to rel. standard error {args.trace_rel_se:g}")
    eig_rows, tr_rows = [], []
    for width in [int(w) for w in args.widths.split(",")]:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(10, width), torch.nn.Tanh(), torch.nn.Linear(width, width),
                                  torch.nn.Tanh(), torch.nn.Linear(width, 1)).to(dev)
        x = torch.randn(256, 10, device=dev)
        y = torch.sin(x.sum(1, keepdim=True))
        crit = torch.nn.MSELoss()
        loss, theta = flat_loss(net, crit, x, y)
        n = theta.numel()
        ref = lanczos(loss, theta, k=1, tol=1e-13, max_iter=400, generator=torch.Generator(device=dev).manual_seed(1))
        truth = float(ref.values[0])
        print(f"\n{n} parameters: λ_max = {truth:.12g} (reference: {ref.hvps} products, "
              f"residual {ref.residuals[0]:.1e}, converged {ref.converged})")

        # ---------------------------------------------------------------- top eigenvalue
        runs = {}

        def ours(tol):
            rep = lanczos(loss, theta, k=1, tol=tol, value_tol=tol, max_iter=400,
                          generator=torch.Generator(device=dev).manual_seed(0))
            return float(rep.values[0]), rep.hvps

        def power(tol):  # PyHessian's algorithm with an exact normalisation
            rep = power_iteration(loss, theta, tol=tol, max_iter=20000,
                                  generator=torch.Generator(device=dev).manual_seed(0))
            return float(rep.values[0]), rep.hvps

        runs["ours (Lanczos)"] = ours
        runs["ours power iteration"] = power
        if "PyHessian" in found:
            ph = found["PyHessian"]
            count = PYH_PRODUCTS

            def pyh(tol):
                count[0] = 0
                torch.manual_seed(0)
                (val,), _ = ph.hessian(net, crit, data=(x, y), cuda=dev.startswith("cuda")).eigenvalues(
                    maxIter=20000, tol=tol)
                return val, count[0]

            runs["PyHessian (power)"] = pyh
        if "curvlinops" in found:
            from scipy.sparse.linalg import LinearOperator, eigsh

            cl = found["curvlinops"]

            def curv(tol):
                H = cl.HessianLinearOperator(net, crit, list(net.parameters()), [(x, y)],
                                             check_deterministic=False).to_scipy()
                count = [0]

                def mv(v):
                    count[0] += 1
                    return H @ v

                op = LinearOperator(H.shape, matvec=mv, dtype=np.float64)
                val = eigsh(op, k=1, which="LA", tol=tol, v0=np.random.default_rng(0).standard_normal(n),
                            return_eigenvectors=False)
                return float(val[0]), count[0]

            runs["curvlinops (eigsh)"] = curv
        for rtol in ([] if args.skip_eig else args.eig_rtol):
            res = {name: ladder(run, truth, rtol, dev, args.repeats) for name, run in runs.items()}
            t_ours = res["ours (Lanczos)"][0]
            for name, (t, prods, err, tol) in res.items():
                eig_rows.append((n, rtol, name, t, prods, err, tol, t / t_ours))

        if args.skip_trace:
            continue
        # ---------------------------------------------------------------- trace
        gen = torch.Generator(device=dev)
        big = 100000
        t_plain, plain = timed(lambda: hutchinson_trace(loss, theta, samples=big, batch=args.batch,
                                                        generator=gen.manual_seed(0),
                                                        target_rel_stderr=args.trace_rel_se), dev, args.repeats)
        t_defl, defl = timed(lambda: hutchinson_trace(loss, theta, samples=big, batch=args.batch,
                                                      generator=gen.manual_seed(0), deflate=args.deflate,
                                                      target_rel_stderr=args.trace_rel_se), dev, args.repeats)
        N = plain.samples
        rows = [("ours plain (block probes)", t_plain, plain.hvps, plain.value, plain.stderr),
                (f"ours deflated (k={defl.deflated})", t_defl, defl.hvps, defl.value, defl.stderr)]
        if "PyHessian" in found:
            ph = found["PyHessian"]

            def pyh_tr():
                torch.manual_seed(0)
                return ph.hessian(net, crit, data=(x, y), cuda=dev.startswith("cuda")).trace(maxIter=N,
                                                                                           tol=float("-inf"))

            t_ph, quads = timed(pyh_tr, dev, args.repeats)
            q = np.array(quads)
            rows.append(("PyHessian", t_ph, len(q), q.mean(), q.std(ddof=1) / math.sqrt(len(q))))
        if "curvlinops" in found:
            cl = found["curvlinops"]

            def curv_tr():
                torch.manual_seed(0)
                H = cl.HessianLinearOperator(net, crit, list(net.parameters()), [(x, y)],
                                             check_deterministic=False)
                sizes = [min(50, N - s) for s in range(0, N, 50)]
                return sizes, [float(cl.hutchinson_trace(H, s)) for s in sizes]

            t_cl, (sizes, means) = timed(curv_tr, dev, args.repeats)
            w = np.array(sizes, float)
            m = np.array(means)
            mean = float((w * m).sum() / w.sum())
            # standard error from the block means (weighted by block size)
            se = math.sqrt(float((w * (m - mean) ** 2).sum() / (len(m) - 1)) / w.sum()) if len(m) > 1 else math.nan
            rows.append(("curvlinops hutchinson_trace", t_cl, N, mean, se))
        for name, t, prods, val, se in rows:
            tr_rows.append((n, name, t, prods, val, se, t / t_defl, t / t_plain))

    if eig_rows:
        print_eig(eig_rows)
    if tr_rows:
        print_trace(tr_rows, args.trace_rel_se)
    print("\n× ours / × defl. / × plain: the method's time divided by ours (ratio > 1: ours is faster)")


def print_eig(eig_rows):
    print("\ntop eigenvalue, time to the target relative error (each method at its loosest accurate tolerance;"
          " 'not reached': its error stalls at 'rel err')")
    print(f"{'params':>8} {'target':>6} {'method':<22} {'time s':>8} {'hvps':>6} {'ms/hvp':>7} {'rel err':>8} "
          f"{'tol':>6} {'× ours':>7}")
    for n, rtol, name, t, prods, err, tol, ratio in eig_rows:
        if math.isnan(t):
            print(f"{n:>8} {rtol:>6.0e} {name:<22} {'not reached':>15} {'':>7} {err:>8.1e}")
            continue
        print(f"{n:>8} {rtol:>6.0e} {name:<22} {t:>8.3f} {prods:>6} {1e3 * t / max(prods, 1):>7.1f} {err:>8.1e} "
              f"{tol:>6.0e} {ratio:>6.2f}x")


def print_trace(tr_rows, rel_se):
    if tr_rows:
        print(f"\ntrace, time to standard error ≤ {rel_se:g}·|trace|")
        print(f"{'params':>8} {'method':<28} {'time s':>8} {'hvps':>6} {'ms/hvp':>7} {'trace':>9} {'std err':>8} "
              f"{'× defl.':>8} {'× plain':>8}")
        for n, name, t, prods, val, se, r_d, r_p in tr_rows:
            print(f"{n:>8} {name:<28} {t:>8.3f} {prods:>6} {1e3 * t / max(prods, 1):>7.1f} {val:>9.4g} {se:>8.3g} "
                  f"{r_d:>7.2f}x {r_p:>7.2f}x")


if __name__ == "__main__":
    main()
