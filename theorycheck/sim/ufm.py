"""Training unconstrained-features models (UFM), batched over restarts / draws.

Every loss here maps parameters with a leading batch dimension B to a
vector of B losses; the B problems are independent, so the gradient of the
sum is the stack of their gradients and one tensor program trains all of
them.  Training is plain gradient descent (the dynamics the papers talk
about, recorded for plots) followed by an L-BFGS polish of the same
objective, and ends with a convergence certificate: the gradient norm of
each problem.  A problem whose certificate fails is *not converged*;
:func:`best_converged` turns that into :class:`Inconclusive` instead of a
pass or a fail (DESIGN.md: a non-convex run that did not converge, or landed
at a worse point, is not a counterexample).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from ..verdict import Inconclusive
from .collapse import mm, one_hot

Loss = Callable[[Sequence[torch.Tensor]], torch.Tensor]


# ---- data ----------------------------------------------------------------------

def labels_from_counts(counts: Sequence[int], device="cpu") -> torch.Tensor:
    """Sample labels, class k repeated n_k times."""
    return torch.cat([torch.full((int(n),), k, dtype=torch.long, device=device) for k, n in enumerate(counts)])


# ---- losses (each returns a (B,) vector) ------------------------------------

def ce_loss(W, H, b, labels, K: int, lam_w: float, lam_h: float, lam_b: float) -> torch.Tensor:
    """(1/N) Σ_i CE(W h_i + b, y_i) + λ_W/2‖W‖² + λ_H/2‖H‖² + λ_b/2‖b‖², stable log-sum-exp."""
    logits = mm(W, H) + b[..., :, None]                        # (B, K, N)
    true = logits.gather(-2, labels.view(1, 1, -1).expand(logits.shape[0], 1, -1)).squeeze(-2)
    ce = (torch.logsumexp(logits, dim=-2) - true).mean(dim=-1)
    return ce + 0.5 * (lam_w * _sq(W) + lam_h * _sq(H) + lam_b * (b ** 2).sum(dim=-1))


def mse_loss(factors: Sequence[torch.Tensor], H, labels, K: int, lams: Sequence[float], lam_h: float,
             b: torch.Tensor | None = None) -> torch.Tensor:
    """(1/2N)‖W_L⋯W_1 H (+ b1ᵀ) − Y‖² + Σ_j λ_j/2‖W_j‖² + λ_H/2‖H‖².

    ``factors`` are ordered from the first layer (next to H) to the
    classifier; an optional bias ``b`` (B, K) is unregularised."""
    Z = H
    for Wj in factors:
        Z = mm(Wj, Z)
    if b is not None:
        Z = Z + b[..., :, None]
    Y = one_hot(labels, K, H.dtype).to(H.device)
    N = H.shape[-1]
    loss = 0.5 * ((Z - Y) ** 2).flatten(-2).sum(dim=-1) / N + 0.5 * lam_h * _sq(H)
    for Wj, lam in zip(factors, lams):
        loss = loss + 0.5 * lam * _sq(Wj)
    return loss


def scl_loss(H, labels, tau: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al.), full batch, summed over
    anchors: Σ_i −(1/|P(i)|) Σ_{p∈P(i)} log softmax_{a≠i}(h_i·h_a/τ)_p.
    Columns of H are assumed to have unit norm."""
    N = H.shape[-1]
    z = mm(H.transpose(-1, -2), H) / tau                       # (B, N, N)
    self_mask = torch.eye(N, dtype=torch.bool, device=H.device)
    z = z.masked_fill(self_mask, float("-inf"))
    log_prob = z - torch.logsumexp(z, dim=-1, keepdim=True)
    same = (labels[:, None] == labels[None, :]) & ~self_mask
    pos = same.to(H.dtype)
    per_anchor = -(log_prob.masked_fill(~same, 0.0) * pos).sum(dim=-1) / pos.sum(dim=-1)
    return per_anchor.sum(dim=-1)


def _sq(x: torch.Tensor) -> torch.Tensor:
    return (x ** 2).flatten(1).sum(dim=-1)


# ---- training ---------------------------------------------------------------

@dataclass
class Trained:
    params: list[torch.Tensor]       # each with leading batch dimension B
    loss: torch.Tensor               # (B,)
    grad_norm: torch.Tensor          # (B,) convergence certificate
    converged: torch.Tensor          # (B,) bool
    history: dict = field(default_factory=dict)  # step -> recorded values along GD

    def select(self, i: int) -> list[torch.Tensor]:
        return [p[i] for p in self.params]


def gradient(loss: Loss, params: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    ps = [p.detach().requires_grad_(True) for p in params]
    with torch.enable_grad():
        values = loss(ps)
        grads = torch.autograd.grad(values.sum(), ps)
    return values.detach(), [g.detach() for g in grads]


def grad_norms(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.sqrt(sum((g ** 2).flatten(1).sum(dim=1) for g in grads))


def train(loss: Loss, params0: Sequence[torch.Tensor], *, lr: float, gd_steps: int,
          polish_iters: int = 300, grad_tol: float = 1e-9, record_every: int = 0,
          record: Callable[[list[torch.Tensor]], dict] | None = None) -> Trained:
    """GD for ``gd_steps`` (recording ``record(params)`` every
    ``record_every`` steps), then L-BFGS until every problem's gradient norm
    is below ``grad_tol`` or ``polish_iters`` iterations are spent."""
    params = [p.detach().clone() for p in params0]
    history: dict = {"step": []}
    for t in range(gd_steps + 1):
        if record is not None and record_every and (t % record_every == 0 or t == gd_steps):
            history["step"].append(t)
            for k, v in record(params).items():
                history.setdefault(k, []).append(v.detach())
        if t == gd_steps:
            break
        _, grads = gradient(loss, params)
        params = [p - lr * g for p, g in zip(params, grads)]
    params = _lbfgs(loss, params, polish_iters, grad_tol)
    values, grads = gradient(loss, params)
    norms = grad_norms(grads)
    converged = torch.isfinite(values) & (norms <= grad_tol)
    hist = {k: torch.stack(v, dim=-1) if k != "step" else torch.tensor(v) for k, v in history.items()}
    return Trained(params, values, norms, converged, hist)


def _lbfgs(loss: Loss, params: list[torch.Tensor], iters: int, grad_tol: float) -> list[torch.Tensor]:
    if iters <= 0:
        return params
    ps = [p.detach().clone().requires_grad_(True) for p in params]
    opt = torch.optim.LBFGS(ps, lr=1.0, max_iter=iters, max_eval=2 * iters, history_size=50,
                            tolerance_grad=grad_tol / 10, tolerance_change=0.0,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        value = loss(ps).sum()
        value.backward()
        return value

    with torch.enable_grad():
        opt.step(closure)
    return [p.detach() for p in ps]


def project_sphere(H: torch.Tensor, nonnegative: bool) -> torch.Tensor:
    """Columns onto the unit sphere (∩ the non-negative orthant when asked:
    for a column with a positive entry that is normalise(max(h, 0)))."""
    if nonnegative:
        H = H.clamp_min(0.0)
    return H / H.norm(dim=-2, keepdim=True).clamp_min(1e-300)


def train_on_sphere(loss: Loss, H0: torch.Tensor, *, nonnegative: bool, lr: float, steps: int,
                    grad_tol: float = 1e-9, record_every: int = 0,
                    record: Callable[[torch.Tensor], dict] | None = None) -> Trained:
    """Projected GD for features constrained to unit columns (and ≥ 0 for a
    ReLU last layer).  Certificate: the norm of the projected-gradient map
    ‖H − P(H − η∇)‖/η, zero exactly at a stationary point of the constrained
    problem."""
    H = project_sphere(H0.detach().clone(), nonnegative)
    history: dict = {"step": []}
    residual = torch.full(H.shape[:1], float("inf"), dtype=H.dtype, device=H.device)
    for t in range(steps + 1):
        values, (g,) = gradient(lambda ps: loss(ps[0]), [H])
        H_next = project_sphere(H - lr * g, nonnegative)
        residual = (H - H_next).flatten(1).norm(dim=1) / lr
        if record is not None and record_every and (t % record_every == 0 or t == steps):
            history["step"].append(t)
            for k, v in record(H).items():
                history.setdefault(k, []).append(v.detach())
        if bool((residual <= grad_tol).all()) or t == steps:
            break
        H = H_next
    converged = torch.isfinite(values) & (residual <= grad_tol)
    hist = {k: torch.stack(v, dim=-1) if k != "step" else torch.tensor(v) for k, v in history.items()}
    return Trained([H], values, residual, converged, hist)


def best_converged(result: Trained, loss_tol: float) -> int:
    """Index of the lowest-loss converged problem among restarts.  Raises
    :class:`Inconclusive` when none converged, or when a restart that did not
    converge already sits lower than the best certified one (it might be
    heading to a better point)."""
    ok = result.converged
    if not bool(ok.any()):
        worst = float(result.grad_norm.min())
        raise Inconclusive(f"no convergence: smallest gradient norm {worst:.2e} over "
                           f"{ok.numel()} restart(s)")
    masked = torch.where(ok, result.loss, torch.full_like(result.loss, float("inf")))
    best = int(masked.argmin())
    pending = (~ok) & torch.isfinite(result.loss) & (result.loss < result.loss[best] - loss_tol)
    if bool(pending.any()):
        raise Inconclusive("no convergence: an uncertified restart is below the best certified one "
                           f"({float(result.loss[pending].min()):.10g} < {float(result.loss[best]):.10g})")
    return best


__all__ = ["labels_from_counts", "ce_loss", "mse_loss", "scl_loss", "Trained", "gradient", "grad_norms", "train",
           "project_sphere", "train_on_sphere", "best_converged"]
