"""Hessian toolkit on a flat parameter vector: Hessian-vector products with
torch.func (forward-over-reverse, never a dense Hessian unless asked), the
top eigenvalues by Lanczos or power iteration with a convergence report,
Hutchinson's trace with its standard error, and the exact dense Hessian for
small models.

Everything takes ``loss(theta) -> scalar`` of one flat 1-D tensor; use
:func:`flat_loss` to turn an ``nn.Module`` + criterion + data into one."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch.func import functional_call, grad, hessian, vjp, vmap

DENSE_LIMIT = 4096  # refuse a dense Hessian beyond this many parameters


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
    vectors (rows), one vmapped backward pass."""
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
    ``tol``·|λ_1|."""

    values: torch.Tensor
    vectors: torch.Tensor  # columns
    residuals: list
    iterations: int
    hvps: int
    converged: bool
    method: str
    history: list = field(default_factory=list)


def lanczos(loss, theta: torch.Tensor, k: int = 1, max_iter: int = 100, tol: float = 1e-8,
            generator: torch.Generator | None = None, hv=None, start: torch.Tensor | None = None) -> EigenReport:
    """The k algebraically largest eigenvalues by Lanczos with full
    reorthogonalisation.  Ritz residuals |β_m s_{m,i}| decide convergence.
    ``start`` warm-starts from a vector (e.g. the previous top eigenvector)."""
    hv = hv or hvp_fn(loss, theta)
    n = theta.numel()
    m_max = min(max_iter, n)
    q = start.clone() if start is not None else torch.randn(n, generator=generator, dtype=theta.dtype,
                                                            device=theta.device)
    q = q / q.norm()
    Q = [q]
    alphas, betas = [], []
    history = []
    vals = vecs = None
    res = []
    for m in range(1, m_max + 1):
        w = hv(Q[-1])
        a = torch.dot(w, Q[-1])
        alphas.append(a)
        Qm = torch.stack(Q, 1)
        w = w - Qm @ (Qm.T @ w)
        w = w - Qm @ (Qm.T @ w)  # twice is enough (Kahan)
        b = w.norm()
        T = torch.diag(torch.stack(alphas))
        if m > 1:
            off = torch.stack(betas)
            T = T + torch.diag(off, 1) + torch.diag(off, -1)
        theta_T, S = torch.linalg.eigh(T)
        order = torch.argsort(theta_T, descending=True)[:k]
        vals, S_k = theta_T[order], S[:, order]
        res = [float(abs(b * S_k[-1, i])) for i in range(S_k.shape[1])]
        history.append(float(vals[0]))
        scale = max(float(vals.abs().max()), 1e-300)
        done = len(vals) >= min(k, n) and max(res) <= tol * scale
        if done or m == m_max or float(b) <= 1e-300:
            vecs = Qm @ S_k
            converged = done or float(b) <= 1e-12 * scale or m == n
            return EigenReport(vals, vecs, res, m, m, bool(converged), "lanczos", history)
        betas.append(b)
        Q.append(w / b)
    raise AssertionError("unreachable")


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
    value: float
    stderr: float
    samples: int


def hutchinson_trace(loss, theta: torch.Tensor, samples: int = 100, batch: int = 50,
                     generator: torch.Generator | None = None, hv=None) -> TraceEstimate:
    """tr(H) ≈ mean of zᵀHz over Rademacher z, with its standard error
    (sample std / √samples).  Probes go through vmap in batches."""
    batched = vmap(hv) if hv is not None else hvp_fn(loss, theta, batched=True)
    quads = []
    left = samples
    while left > 0:
        b = min(batch, left)
        z = torch.randint(0, 2, (b, theta.numel()), generator=generator, device=theta.device)
        z = (2 * z - 1).to(theta.dtype)
        quads.append((batched(z) * z).sum(1))
        left -= b
    q = torch.cat(quads)
    std = float(q.std(unbiased=True)) if q.numel() > 1 else math.inf
    return TraceEstimate(float(q.mean()), std / math.sqrt(q.numel()), int(q.numel()))
