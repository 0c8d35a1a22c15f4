"""Our Hessian toolkit against PyHessian: top eigenvalue and Hutchinson trace
on MLPs of growing size, same process, same device, same data.

    python benchmarks/bench_hessian.py [--device cpu|cuda] [--probes 100]

Top eigenvalue: both to a relative tolerance of 1e-4 (ours: Lanczos Ritz
residual; PyHessian: change between power iterates).  Trace: the same number of
Rademacher probes (ours batched through vmap)."""
import argparse
import time

import torch

from theorycheck.sim.hessian import flat_loss, hutchinson_trace, lanczos


def timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    import pyhessian

    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--widths", default="16,64,256,1024")
    args = ap.parse_args()
    torch.set_default_dtype(torch.float64)  # PyHessian draws probes with the default dtype
    dev = args.device
    print(f"device {dev}, float64, trace probes {args.probes}")
    print(f"{'params':>9} {'eig ours':>9} {'eig PyH':>9} {'ratio':>6} {'tr ours':>9} {'tr PyH':>9} {'ratio':>6}")
    for width in [int(w) for w in args.widths.split(",")]:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(10, width), torch.nn.Tanh(), torch.nn.Linear(width, width),
                                  torch.nn.Tanh(), torch.nn.Linear(width, 1)).to(dev)
        x = torch.randn(256, 10, device=dev)
        y = torch.sin(x.sum(1, keepdim=True))
        crit = torch.nn.MSELoss()
        loss, theta = flat_loss(net, crit, x, y)
        gen = torch.Generator(device=dev).manual_seed(0)
        t_eig, rep = timed(lambda: lanczos(loss, theta, k=1, tol=1e-4, generator=gen))
        t_tr, _ = timed(lambda: hutchinson_trace(loss, theta, samples=args.probes, generator=gen))

        def ph_eig():
            return pyhessian.hessian(net, crit, data=(x, y), cuda=dev.startswith("cuda")).eigenvalues(
                maxIter=1000, tol=1e-4)

        def ph_tr():
            return pyhessian.hessian(net, crit, data=(x, y), cuda=dev.startswith("cuda")).trace(
                maxIter=args.probes, tol=float("-inf"))  # never stop early

        t_peig, (pe, _) = timed(ph_eig)
        t_ptr, _ = timed(ph_tr)
        n = theta.numel()
        print(f"{n:>9} {t_eig:>8.3f}s {t_peig:>8.3f}s {t_peig / t_eig:>5.1f}x "
              f"{t_tr:>8.3f}s {t_ptr:>8.3f}s {t_ptr / t_tr:>5.1f}x   "
              f"(λ ours {float(rep.values[0]):.5g} in {rep.hvps} hvps, PyH {pe[0]:.5g})")


if __name__ == "__main__":
    main()
