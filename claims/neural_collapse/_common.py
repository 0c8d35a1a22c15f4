"""Shared pieces of the neural-collapse claims: batched UFM fits (many draws,
each with several restarts, in one tensor program) and what is measured on
the best certified point of each draw.

A draw's *candidates* are every point its training produced: the random
restarts, for MSE problems the origin W = H = 0 (a stationary point: its
gradient is evaluated, not assumed) and, for deep problems, the points that
escape moves trained to (theorycheck.sim.ufm.MSEProblems.escape).  The draw
is measured at its lowest-loss certified candidate — gradient norm ≤ GRAD_TOL
(L-BFGS), or for the sphere-constrained contrastive problem the KKT residual
≤ 1e-9 (spectral projected gradient) — and it is undecidable when no
candidate is certified or when an uncertified one is already lower (it might
be heading somewhere better): theorycheck.sim.ufm.BestCertified."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from theorycheck.sim.collapse import class_means, mm, within_class_rms
from theorycheck.sim.ufm import BestCertified, CEProblems, MSEProblems, SCLProblems, Trained, layout, lbfgs, spg

GRAD_TOL = 1e-10      # certificate: gradient norm of the measured point
LOSS_TOL = 1e-9       # relative: an uncertified candidate this much below the best certified one blocks the draw
UNCERTIFIED = "uncertified"
ESCAPE_RHOS = (0.5, 0.75, 1.0)   # sizes of an escape path, as fractions of the residual's top singular value


@dataclass
class Point:
    """A draw's measured point: ``prob`` holds the draw's problem at row 0
    (padded sizes; ``prob.pack.split(x[None])`` gives its parameters)."""
    prob: object
    x: torch.Tensor
    loss: float
    grad_norm: float
    iterations: np.ndarray
    loss_along: np.ndarray
    source: str


def _restart_problems(problem_cls, specs, ctx, restarts, kw):
    counts = [s["counts"] for s in specs for _ in range(restarts)]
    dims = [s["d"] for s in specs for _ in range(restarts)]
    lay = layout(counts, dims, dtype=ctx.dtype, device=ctx.device)
    return problem_cls(lay, **{k: [v for v in vals for _ in range(restarts)] for k, vals in kw.items()})


def _fit(problem_cls, specs, ctx, *, restarts, scales, max_iter, grad_tol, record_every, optimizer=lbfgs,
         origin=False, escape_rounds=0, **kw):
    """Train every draw's ``restarts`` problems in one tensor program (padded
    to the chunk's largest sizes; L-BFGS drops converged problems as it goes),
    then the origin and escape moves where asked.
    Returns one Point or Inconclusive per draw."""
    B = len(specs)
    probR = _restart_problems(problem_cls, specs, ctx, restarts, kw)
    x0 = probR.init(ctx.generators(), restarts, scales)
    res = optimizer(probR, x0, grad_tol=grad_tol, max_iter=max_iter, record_every=record_every)
    best = BestCertified(B, LOSS_TOL, ctx.dtype, ctx.device)
    everyone = torch.arange(B, device=ctx.device)
    best.offer(everyone, res, "a random restart")
    # one row per draw, same padded sizes
    prob1 = probR.take(torch.arange(0, B * restarts, restarts, device=ctx.device))
    if origin:
        zero = torch.zeros(B, prob1.pack.P, dtype=ctx.dtype, device=ctx.device)
        f0, g0 = prob1.value_and_grad(zero)
        gn0 = g0.norm(dim=1)
        best.offer(everyone, Trained(zero, f0, gn0, torch.isfinite(f0) & (gn0 <= grad_tol), 0),
                   "the origin W = H = 0")
    todo = torch.isfinite(best.loss).nonzero().squeeze(1)
    for _ in range(escape_rounds):
        if todo.numel():
            todo = todo[prob1.take(todo).residual_direction_unused(best.x[todo])]
        if todo.numel() == 0:
            break
        E = len(ESCAPE_RHOS)
        cand = prob1.take(todo).escape(best.x[todo], ESCAPE_RHOS)
        res2 = lbfgs(prob1.take(todo.repeat_interleave(E)), cand, grad_tol=grad_tol, max_iter=max_iter,
                     record_every=record_every)
        before = best.loss[todo].clone()
        best.offer(todo, res2, "an escape move")
        todo = todo[best.loss[todo] < before - LOSS_TOL * (1 + before.abs())]   # improved: try once more
    out = []
    for i, ok in enumerate(best.choice()):
        if ok is not True:
            out.append(ok)
            continue
        it, along = best.history[i] if best.history[i] is not None else ([], torch.zeros(0))
        out.append(Point(prob1.take(torch.tensor([i], device=ctx.device)), best.x[i], float(best.loss[i]),
                         float(best.cert[i]), np.array(it), along.cpu().numpy(), best.source[i]))
    return out


def fit_ce(specs, ctx, restarts=2, scales=(1.0,), max_iter=1500, grad_tol=GRAD_TOL, record_every=5):
    """specs: dicts with counts, d, lam_w, lam_h, lam_b."""
    return _fit(CEProblems, specs, ctx, restarts=restarts, scales=scales, max_iter=max_iter, grad_tol=grad_tol,
                record_every=record_every, lam_w=[s["lam_w"] for s in specs], lam_h=[s["lam_h"] for s in specs],
                lam_b=[s["lam_b"] for s in specs])


def fit_mse(specs, ctx, restarts, scales, max_iter=3000, grad_tol=GRAD_TOL, record_every=5, origin=True,
            escape_rounds=0):
    """specs: dicts with counts, d, lams (first layer … classifier), lam_h, bias."""
    return _fit(MSEProblems, specs, ctx, restarts=restarts, scales=scales, max_iter=max_iter, grad_tol=grad_tol,
                record_every=record_every, origin=origin,
                escape_rounds=escape_rounds, lams=[s["lams"] for s in specs], lam_h=[s["lam_h"] for s in specs],
                bias=[s.get("bias", False) for s in specs])


def fit_scl(specs, ctx, restarts, scales=(1.0,), max_iter=3000, grad_tol=1e-9, record_every=5):
    """specs: dicts with counts, d, tau, nonnegative.  Trained by spectral
    projected gradient, certified by the constrained problem's
    projected-gradient map (KKT residual) ≤ grad_tol."""
    return _fit(SCLProblems, specs, ctx, restarts=restarts, scales=scales, max_iter=max_iter, grad_tol=grad_tol,
                record_every=record_every, optimizer=spg, tau=[s["tau"] for s in specs],
                nonnegative=[s.get("nonnegative", True) for s in specs])


def crop(t: torch.Tensor, *sizes) -> torch.Tensor:
    return t[tuple(slice(0, s) for s in sizes)]


def labels_of(counts, device):
    return torch.cat([torch.full((int(n),), k, dtype=torch.long, device=device) for k, n in enumerate(counts)])


def uncertified(reason: str, keys) -> dict:
    """The observation of a draw without a certified point: every measured
    value NaN (undecidable), and the reason, which the certificate check reports."""
    out = {k: math.nan for k in keys}
    out[UNCERTIFIED] = reason
    return out


def certificate(pred, obs, params):
    """True for a certified draw; None (undecidable) for an uncertified one."""
    return None if obs.get(UNCERTIFIED) else True


def mse_measurements(pt: Point, counts, d, nlayers) -> dict:
    """What an MSE draw's measured point shows: loss, per-class product scale
    (W_M⋯W_1 m_k)_k, the class-mean Gram after 0, 1, …, M−1 weight layers, the
    classifier Gram, NC1 (RMS distance of H's columns to their class means),
    the bias norm (0 unless a break adds one)."""
    prob = pt.prob
    K, N = len(counts), sum(counts)
    parts = prob.pack.split(pt.x[None])
    Mx = prob.M
    Ws = [crop(parts[j][0], d, d) for j in range(Mx - nlayers, Mx - 1)] + [crop(parts[Mx - 1][0], K, d)]
    H = crop(parts[Mx][0], d, N)
    bias = parts[Mx + 1][0, :K]
    labels = labels_of(counts, H.device)
    feats, grams = H, []
    for Wj in Ws[:-1]:
        Mj = class_means(feats, labels, K)
        grams.append(mm(Mj.T, Mj))
        feats = mm(Wj, feats)
    Mlast = class_means(feats, labels, K)
    grams.append(mm(Mlast.T, Mlast))
    prod = mm(Ws[-1], Mlast)
    return {"loss": pt.loss, "grad_norm": pt.grad_norm, "found_by": pt.source,
            "product": prod.cpu().numpy(), "product_scale": torch.diagonal(prod).cpu().numpy(),
            "layer_grams": torch.stack(grams).cpu().numpy(), "gram_w": mm(Ws[-1], Ws[-1].T).cpu().numpy(),
            "zeros": np.array([float(within_class_rms(H, labels, K)), float(bias.norm())]),
            "iterations": pt.iterations, "loss_along": pt.loss_along}


def nuclear_norm_optimum(counts, c) -> float:
    """min_Z (1/2N)‖Z − Y‖² + c‖Z‖_*, the convex problem the two-factor UFM is
    equivalent to, solved exactly by singular-value soft-thresholding
    (Z = U (S − Nc)₊ Vᵀ): an independent route to the two-factor minimum."""
    N = sum(counts)
    Y = np.zeros((len(counts), N))
    at = 0
    for k, n in enumerate(counts):
        Y[k, at:at + n] = 1.0
        at += n
    U, S, Vt = np.linalg.svd(Y, full_matrices=False)
    St = np.maximum(S - N * c, 0.0)
    Z = (U * St) @ Vt
    return float(((Z - Y) ** 2).sum() / (2 * N) + c * St.sum())


__all__ = ["Point", "fit_ce", "fit_mse", "fit_scl", "crop", "labels_of", "uncertified", "certificate",
           "mse_measurements", "nuclear_norm_optimum", "GRAD_TOL", "UNCERTIFIED", "class_means", "within_class_rms",
           "mm"]
