"""Hessian toolkit on a flat parameter vector: Hessian-vector products (double
backward through a gradient graph built once; torch.func variants for
composition), the top eigenvalues by Lanczos or power iteration with a
convergence report, Hutchinson's trace with block probes, an optional Krylov
deflation and a stopping rule on its standard error, and the exact dense
Hessian for small models.

Everything takes ``loss(theta) -> scalar`` of one flat 1-D tensor; use
:func:`flat_loss` to turn an ``nn.Module`` + criterion + data into one.

Host synchronisation: :func:`lanczos` keeps its recurrence (α, β, the basis)
on the parameters' device and reads it back only every ``check_every``
iterations (every iteration on CPU, where reading back costs nothing);
:func:`hutchinson_trace` reads back once per block of probes."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.func import functional_call, grad, hessian, vjp, vmap

DENSE_LIMIT = 4096  # refuse a dense Hessian beyond this many parameters
BREAKDOWN_RTOL = 1e-12  # β below this × ‖T‖: the Krylov space is invariant, its Ritz values exact


def flat_loss(module: torch.nn.Module, criterion, inputs, targets):
    """``(loss(theta), theta0)`` for a module's parameters flattened into one vector."""
    names = [n for n, _ in module.named_parameters()]
    shapes = [p.shape for _, p in module.named_parameters()]
    sizes = [p.numel() for _, p in module.named_parameters()]
    theta0 = torch.cat([p.detach().reshape(-1) for _, p in module.named_parameters()])

    def loss(theta):
        chunks = torch.split(theta, sizes)
        params = {n: c.reshape(s) for n, c, s in zip(names, chunks, shapes)}
        return criterion(functional_call(module, params, (inputs,)), targets)

    return loss, theta0


def hvp_fn(loss, theta: torch.Tensor, batched: bool = False):
    """v ↦ H(theta) v by double backward: the gradient graph is built once and
    reused by every product (k products cost one gradient plus k backward
    passes); no dense H.  ``batched=True`` returns V ↦ (H vᵢ)ᵢ for a stack of
    vectors (rows), one vmapped backward pass.

    (Measured on CPU against torch.func: ``vjp(grad(loss))`` reused is within a
    few per cent of this; ``jvp(grad(loss))`` recomputes the forward pass per
    product and, in torch 2.13, fails on ``nn.MSELoss`` with "ZeroTensors are
    immutable"; see benchmarks/bench_hessian.py.)"""
    th = theta.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(th), th, create_graph=True)

    def hv(v):
        return torch.autograd.grad(g, th, v, retain_graph=True)[0].detach()

    def hv_batched(V):
        return torch.autograd.grad(g, th, V, retain_graph=True, is_grads_batched=True)[0].detach()

    return hv_batched if batched else hv


def hvp_fn_func(loss, theta: torch.Tensor):
    """The same product through torch.func (vjp of grad): composable with vmap/jit."""
    _, vjp_of_grad = vjp(grad(loss), theta)
    return lambda v: vjp_of_grad(v)[0]


def dense_hessian(loss, theta: torch.Tensor, limit: int = DENSE_LIMIT) -> torch.Tensor:
    """The exact Hessian, symmetrised; only for small models."""
    if theta.numel() > limit:
        raise ValueError(f"dense Hessian of {theta.numel()} parameters refused (limit {limit})")
    eye = torch.eye(theta.numel(), dtype=theta.dtype, device=theta.device)
    H = hvp_fn(loss, theta, batched=True)(eye)  # all columns in one vmapped backward pass
    return (H + H.T) / 2


def dense_hessian_func(loss, theta: torch.Tensor) -> torch.Tensor:
    """The same through torch.func.hessian (forward-over-reverse), for cross-checks."""
    H = hessian(loss)(theta)
    return (H + H.T) / 2


@dataclass
class EigenReport:
    """Top eigenvalues with what it took to get them.  ``residuals`` are
    ‖Hv − λv‖ for each Ritz pair; ``converged`` means every residual is below
    ``tol``·|λ_1| (or, for :func:`lanczos` with ``value_tol``, every eigenvalue
    error estimate min(r, r²/gap) below ``value_tol``·|λ_1|).  ``history`` holds
    the top estimate at every convergence check."""

    values: torch.Tensor
    vectors: torch.Tensor  # columns
    residuals: list
    iterations: int
    hvps: int
    converged: bool
    method: str
    history: list = field(default_factory=list)


def _ritz(alphas: np.ndarray, betas: np.ndarray, k: int):
    """Ritz values (descending, the top k), their vectors in the Krylov basis,
    and all Ritz values, of the tridiagonal T with diagonal α and off-diagonal β."""
    m = len(alphas)
    T = np.diag(alphas)
    if m > 1:
        T += np.diag(betas[: m - 1], 1) + np.diag(betas[: m - 1], -1)
    theta_T, S = np.linalg.eigh(T)
    order = np.argsort(theta_T)[::-1][:k]
    return theta_T[order], S[:, order], theta_T


def lanczos(loss, theta: torch.Tensor, k: int = 1, max_iter: int = 100, tol: float = 1e-8,
            generator: torch.Generator | None = None, hv=None, start: torch.Tensor | None = None,
            *, value_tol: float | None = None, check_every: int | None = None) -> EigenReport:
    """The k algebraically largest eigenvalues by Lanczos with full
    reorthogonalisation (two classical Gram–Schmidt passes against the whole
    basis, as matrix products on the device).

    Convergence is checked every ``check_every`` iterations (default: every
    one on CPU, every 4 elsewhere, so a GPU run syncs with the host once per
    check, not per product): the Ritz residuals r_i = |β_m s_{m,i}| must be
    ≤ ``tol``·|λ_1|; with ``value_tol`` the run may stop earlier, once every
    eigenvalue error estimate min(r_i, r_i²/gap_i) (gap_i: distance to the
    nearest other Ritz value; Parlett's bound with the Ritz gap standing in for
    the true one) is ≤ ``value_tol``·|λ_1| — accurate eigenvalues need only
    about the square root of the residual.  ``start`` warm-starts from a
    vector (e.g. the previous top eigenvector)."""
    hv = hv or hvp_fn(loss, theta)
    n = theta.numel()
    m_max = min(max_iter, n)
    dev, dt = theta.device, theta.dtype
    every = check_every or (1 if dev.type == "cpu" else 4)
    q = start.detach().to(dev, dt).clone() if start is not None else torch.randn(
        n, generator=generator, dtype=dt, device=dev)
    Q = torch.empty(min(m_max + 1, 32), n, dtype=dt, device=dev)  # basis as rows, grown by doubling
    Q[0] = q / q.norm()
    ab = torch.empty(2, m_max, dtype=dt, device=dev)  # α and β, read back at checks only
    history = []
    m = 0
    while True:
        if m + 1 >= Q.shape[0]:
            Q = torch.cat([Q, torch.empty(min(Q.shape[0], m_max + 1 - Q.shape[0]), n, dtype=dt, device=dev)])
        w = hv(Q[m])
        ab[0, m] = torch.dot(w, Q[m])
        basis = Q[: m + 1]
        w = w - (basis @ w) @ basis
        w = w - (basis @ w) @ basis  # twice is enough (Kahan)
        b = w.norm()
        ab[1, m] = b
        Q[m + 1] = w / b
        m += 1
        if m % every and m < m_max:
            continue
        host = ab[:, :m].double().cpu().numpy()  # the only host sync
        alphas, betas = host[0], host[1]
        scale_T = max(float(np.abs(alphas).max() + np.abs(betas).max()), 1e-300)
        tiny = np.nonzero(betas <= BREAKDOWN_RTOL * scale_T)[0]
        breakdown = len(tiny) > 0
        if breakdown:  # invariant Krylov space after step j + 1: its Ritz values are eigenvalues
            m = int(tiny[0]) + 1
            alphas, betas = alphas[:m], betas[:m]
        vals, S_k, all_vals = _ritz(alphas, betas, k)
        res = [float(abs(betas[m - 1] * S_k[-1, i])) for i in range(S_k.shape[1])]
        history.append(float(vals[0]))
        scale = max(float(np.abs(vals).max()), 1e-300)
        enough = len(vals) >= min(k, n)
        done = enough and max(res) <= tol * scale
        if not done and enough and value_tol is not None:
            bounds = []
            for i, v in enumerate(vals):
                others = np.delete(all_vals, np.nonzero(all_vals == v)[0][:1])
                gap = float(np.abs(others - v).min()) if len(others) else 0.0
                bounds.append(min(res[i], res[i] ** 2 / gap) if gap > 0 else res[i])
            done = max(bounds) <= value_tol * scale
        if done or breakdown or m >= m_max:
            vecs = Q[:m].T @ torch.as_tensor(S_k, dtype=dt, device=dev)
            converged = done or breakdown or m == n
            return EigenReport(torch.as_tensor(vals.copy(), dtype=dt, device=dev), vecs, res, m, m,
                               bool(converged), "lanczos", history)


def power_iteration(loss, theta: torch.Tensor, max_iter: int = 500, tol: float = 1e-8,
                    generator: torch.Generator | None = None, hv=None) -> EigenReport:
    """The eigenvalue of largest magnitude by power iteration; converged when
    the residual ‖Hv − λv‖ ≤ tol·|λ|."""
    hv = hv or hvp_fn(loss, theta)
    v = torch.randn(theta.numel(), generator=generator, dtype=theta.dtype, device=theta.device)
    v = v / v.norm()
    history = []
    lam, res = math.nan, math.inf
    for it in range(1, max_iter + 1):
        w = hv(v)
        lam = float(torch.dot(w, v))
        res = float((w - lam * v).norm())
        history.append(lam)
        if res <= tol * max(abs(lam), 1e-300):
            return EigenReport(torch.tensor([lam]), v[:, None], [res], it, it, True, "power", history)
        v = w / w.norm()
    return EigenReport(torch.tensor([lam]), v[:, None], [res], max_iter, max_iter, False, "power", history)


@dataclass
class TraceEstimate:
    """``value`` ± ``stderr`` from ``samples`` probes; ``hvps`` counts every
    Hessian-vector product (probes plus the ``deflated`` Krylov vectors)."""

    value: float
    stderr: float
    samples: int
    hvps: int = 0
    deflated: int = 0


def _krylov_basis(hv, theta: torch.Tensor, steps: int, generator):
    """``steps`` Lanczos vectors (rows, orthonormal) and tr(QᵀHQ) = Σ α."""
    n = theta.numel()
    Q = torch.empty(steps, n, dtype=theta.dtype, device=theta.device)
    q = torch.randn(n, generator=generator, dtype=theta.dtype, device=theta.device)
    Q[0] = q / q.norm()
    alphas = torch.empty(steps, dtype=theta.dtype, device=theta.device)
    for m in range(steps):
        w = hv(Q[m])
        alphas[m] = torch.dot(w, Q[m])
        if m + 1 < steps:
            basis = Q[: m + 1]
            w = w - (basis @ w) @ basis
            w = w - (basis @ w) @ basis
            Q[m + 1] = w / w.norm()
    return Q, alphas.sum()


def hutchinson_trace(loss, theta: torch.Tensor, samples: int = 100, batch: int = 50,
                     generator: torch.Generator | None = None, hv=None, *,
                     target_stderr: float | None = None, target_rel_stderr: float | None = None,
                     deflate: int = 0, min_samples: int = 16) -> TraceEstimate:
    """tr(H) ≈ mean of zᵀHz over Rademacher z, with its standard error
    (sample std / √samples).  Probes go through the Hessian in blocks of
    ``batch`` (one vmapped backward pass each).

    ``samples`` probes are used, or, with ``target_stderr`` (absolute) or
    ``target_rel_stderr`` (relative to |estimate|), blocks are drawn until the
    standard error is at most the target (at least ``min_samples`` probes,
    at most ``samples``).

    ``deflate = k > 0`` first builds k orthonormal Krylov (Lanczos) vectors Q,
    whose part of the trace, tr(QᵀHQ), is exact, and applies Hutchinson to the
    rest: tr(H) = tr(QᵀHQ) + E[wᵀHw], w = (I − QQᵀ)z — unbiased, with the
    standard error of the remainder only (Q is drawn independently of the
    probes).  The Krylov space holds the extreme eigen-directions, which carry
    much of ‖H‖_F², so fewer probes reach a given standard error (the idea of
    Hutch++, Meyer et al. 2021, with a Krylov instead of a sketched range)."""
    if hv is None:
        batched = hvp_fn(loss, theta, batched=True)
        single = None if deflate == 0 else hvp_fn(loss, theta)
    else:
        batched, single = vmap(hv), hv
    offset = torch.zeros((), dtype=theta.dtype, device=theta.device)
    Q = None
    if deflate > 0:
        Q, offset = _krylov_basis(single, theta, min(deflate, theta.numel()), generator)
    target = target_stderr is not None or target_rel_stderr is not None
    quads = []
    done = 0
    while done < samples:
        b = min(batch, samples - done)
        z = torch.randint(0, 2, (b, theta.numel()), generator=generator, device=theta.device)
        z = (2 * z - 1).to(theta.dtype)
        if Q is not None:
            z = z - (z @ Q.T) @ Q
        quads.append((batched(z) * z).sum(1))
        done += b
        if target and done >= min_samples:
            q = torch.cat(quads)
            host = torch.stack([q.mean() + offset, q.std(unbiased=True)]).cpu()  # one sync per block
            se = float(host[1]) / math.sqrt(done)
            goal = min(target_stderr if target_stderr is not None else math.inf,
                       target_rel_stderr * abs(float(host[0])) if target_rel_stderr is not None else math.inf)
            if se <= goal:
                break
    q = torch.cat(quads)
    std = float(q.std(unbiased=True)) if q.numel() > 1 else math.inf
    k = 0 if Q is None else Q.shape[0]
    return TraceEstimate(float(q.mean() + offset), std / math.sqrt(q.numel()), int(q.numel()),
                         int(q.numel()) + k, k)
