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
SADDLE_TOL = 1e-7  # smallest / largest Hessian eigenvalue below -SADDLE_TOL marks a saddle


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
    min_eig: torch.Tensor | None = None  # (B,) smallest/largest Hessian eigenvalue: < 0 means a saddle

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
          polish_iters: int = 300, grad_tol: float = 1e-9, record_every: int = 0, newton_iters: int = 5,
          record: Callable[[list[torch.Tensor]], dict] | None = None) -> Trained:
    """GD for ``gd_steps`` (recording ``record(params)`` every
    ``record_every`` steps), then L-BFGS until every problem's gradient norm
    is below ``grad_tol`` or ``polish_iters`` iterations are spent, then a few
    Newton steps (L-BFGS stalls along the nearly flat directions that small
    weight decay leaves; Newton does not)."""
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
    # a restart that GD blew up (step too large for its scale) goes to L-BFGS from its start
    with torch.no_grad():
        blown = ~torch.isfinite(loss(params))
    if bool(blown.any()):
        params = [torch.where(blown.view(-1, *[1] * (p.dim() - 1)), p0.detach(), p) for p, p0 in zip(params, params0)]
    params = _lbfgs(loss, params, polish_iters, grad_tol)
    params, min_eig = newton_polish(loss, params, newton_iters, grad_tol=grad_tol)
    values, grads = gradient(loss, params)
    norms = grad_norms(grads)
    converged = torch.isfinite(values) & (norms <= grad_tol)
    if min_eig is not None:  # a strict saddle is stationary but not a minimum: not converged
        converged = converged & (min_eig > -SADDLE_TOL)
    hist = {k: torch.stack(v, dim=-1) if k != "step" else torch.tensor(v) for k, v in history.items()}
    return Trained(params, values, norms, converged, hist, min_eig)


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


def newton_polish(loss: Loss, params: list[torch.Tensor], iters: int, rel_floor: float = 1e-11,
                  grad_tol: float = 0.0) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """Newton steps on each problem of the batch, with the exact Hessian.

    The Hessian of a UFM is singular along its symmetries (rotations of the
    features), so the step uses only eigen-directions with curvature above
    ``rel_floor``·(largest curvature) (directions of negative curvature are
    left alone, so the step never heads for a saddle).  A step that raises a
    problem's loss is undone.  Returns the parameters and each problem's smallest Hessian
    eigenvalue relative to its largest (a second-order certificate), or None when every
    problem already had a gradient norm ≤ ``grad_tol`` (no Hessian needed:
    the exact Hessian is the expensive part)."""
    if iters <= 0:
        return params, None
    B = params[0].shape[0]
    sizes = [p[0].numel() for p in params]

    def stack(ps):  # (B, P): each problem's parameters side by side
        return torch.cat([p.reshape(B, -1) for p in ps], dim=1)

    def unstack(x):
        out, at = [], 0
        for p, k in zip(params, sizes):
            out.append(x[:, at:at + k].reshape(x.shape[:1] + p.shape[1:]))
            at += k
        return out

    def one(xb):  # the loss of one problem, as a batch of one
        return loss(unstack(xb[None])).sum()

    x = stack(params).detach()
    min_eig = None
    for it in range(iters + 1):
        with torch.enable_grad():
            g = torch.func.vmap(torch.func.grad(one))(x)            # (B, P)
            if bool((g.norm(dim=1) <= grad_tol).all()):
                return unstack(x), min_eig
            Hb = torch.func.vmap(torch.func.hessian(one))(x)        # (B, P, P)
        evals, evecs = torch.linalg.eigh(Hb)
        top = evals.abs().amax(dim=1, keepdim=True)
        min_eig = evals[:, 0] / top[:, 0].clamp_min(1e-300)  # relative to the largest curvature
        if it == iters:
            break
        keep = evals > rel_floor * top
        coeff = torch.where(keep, (evecs.transpose(1, 2) @ g[:, :, None]).squeeze(-1) / evals.where(keep, 1.0), 0.0)
        step = (evecs @ coeff[:, :, None]).squeeze(-1)  # negative-curvature directions are left alone
        before = loss(unstack(x)).detach()
        x_new = x - step
        after = loss(unstack(x_new)).detach()
        ok = after <= before + 1e-13 * (1 + before.abs())
        x = torch.where(ok[:, None], x_new, x)
    return unstack(x), min_eig


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
        eig = "" if result.min_eig is None else f", smallest Hessian eigenvalues {result.min_eig.tolist()}"
        raise Inconclusive(f"no convergence: smallest gradient norm {worst:.2e} over "
                           f"{ok.numel()} restart(s){eig}")
    masked = torch.where(ok, result.loss, torch.full_like(result.loss, float("inf")))
    best = int(masked.argmin())
    pending = (~ok) & torch.isfinite(result.loss) & (result.loss < result.loss[best] - loss_tol)
    if bool(pending.any()):
        raise Inconclusive("no convergence: an uncertified restart is below the best certified one "
                           f"({float(result.loss[pending].min()):.10g} < {float(result.loss[best]):.10g})")
    return best



# ---- whole experiments: restarts, certificate, best point ---------------------

@dataclass
class Fit:
    """The best certified restart of a UFM fit, unbatched, with GD history."""
    params: list[torch.Tensor]
    loss: float
    grad_norm: float
    labels: torch.Tensor
    history: dict          # step + recorded metrics of the best restart along GD
    restart_losses: list[float]
    min_eig: float | None = None  # smallest Hessian eigenvalue at the best restart


def _fit(loss, params0, labels, *, lr, gd_steps, polish_iters, grad_tol, loss_tol, record_every, record):
    res = train(loss, params0, lr=lr, gd_steps=gd_steps, polish_iters=polish_iters, grad_tol=grad_tol,
                record_every=record_every, record=record)
    best = best_converged(res, loss_tol)
    hist = {k: (v if k == "step" else v[best]) for k, v in res.history.items()}
    return Fit(res.select(best), float(res.loss[best]), float(res.grad_norm[best]), labels, hist,
               [float(v) for v in res.loss], None if res.min_eig is None else float(res.min_eig[best]))


def fit_ce_ufm(counts: Sequence[int], d: int, lam_w: float, lam_h: float, lam_b: float, *, restarts: int,
               generator: torch.Generator, dtype=torch.float64, device="cpu", gd_steps: int = 60,
               lr: float = 0.5, polish_iters: int = 200, grad_tol: float = 1e-8, record_every: int = 5) -> Fit:
    """Cross-entropy UFM (W, H, b) from ``restarts`` random inits."""
    from .collapse import nc_metrics
    K, labels = len(counts), labels_from_counts(counts, device)
    N = labels.numel()
    lr = min(lr, 1.0 / (1.0 + max(lam_w, lam_h, lam_b)))  # GD is unstable past 2/curvature
    kw = {"generator": generator, "dtype": dtype, "device": device}
    W = torch.randn(restarts, K, d, **kw) / d ** 0.5
    H = torch.randn(restarts, d, N, **kw) / d ** 0.5
    b = torch.zeros(restarts, K, dtype=dtype, device=device)
    loss = lambda ps: ce_loss(ps[0], ps[1], ps[2], labels, K, lam_w, lam_h, lam_b)  # noqa: E731
    record = lambda ps: nc_metrics(ps[0], ps[1], labels, K, ps[2])  # noqa: E731
    return _fit(loss, [W, H, b], labels, lr=lr, gd_steps=gd_steps, polish_iters=polish_iters,
                grad_tol=grad_tol, loss_tol=1e-9, record_every=record_every, record=record)


def fit_mse_ufm(counts: Sequence[int], d: int, lams: Sequence[float], lam_h: float, *, restarts: int,
                generator: torch.Generator, bias: bool = False, init_scales: Sequence[float] | None = None,
                dtype=torch.float64, device="cpu", gd_steps: int = 60, lr: float = 0.2,
                polish_iters: int = 200, grad_tol: float = 1e-8, record_every: int = 5) -> Fit:
    """Bias-free (or, as an assumption break, biased) MSE UFM with weight
    factors W_1 (d×d) … W_{L−1} (K×d), first layer first, from random inits.
    ``init_scales`` (one per restart) spread the restarts over scales: for
    L ≥ 3 factors the origin is a local minimum, so small inits can stall there."""
    from .collapse import nc_metrics
    K, labels = len(counts), labels_from_counts(counts, device)
    N = labels.numel()
    lr = min(lr, 1.0 / (1.0 + max([lam_h, *lams])))  # GD is unstable past 2/curvature; decay adds λ to it
    kw = {"generator": generator, "dtype": dtype, "device": device}
    scales = torch.as_tensor(list(init_scales) if init_scales is not None else [1.0] * restarts,
                             dtype=dtype, device=device)
    R = scales.numel()
    shapes = [(d, d)] * (len(lams) - 1) + [(K, d)]
    factors = [torch.randn(R, *s, **kw) / d ** 0.5 * scales[:, None, None] for s in shapes]
    H = torch.randn(R, d, N, **kw) / d ** 0.5 * scales[:, None, None]
    params0 = factors + [H] + ([torch.zeros(R, K, dtype=dtype, device=device)] if bias else [])
    nf = len(factors)

    def loss(ps):
        return mse_loss(ps[:nf], ps[nf], labels, K, lams, lam_h, ps[nf + 1] if bias else None)

    def record(ps):
        Wprod = ps[0]
        for Wj in ps[1:nf]:
            Wprod = mm(Wj, Wprod)
        return nc_metrics(Wprod, ps[nf], labels, K, ps[nf + 1] if bias else None)

    return _fit(loss, params0, labels, lr=lr, gd_steps=gd_steps, polish_iters=polish_iters,
                grad_tol=grad_tol, loss_tol=1e-9, record_every=record_every, record=record)


def only_at_global_minimum(check, trained_loss: str = "loss", minimum: str = "loss", rtol: float = 1e-7):
    """Wrap a check of the *shape* of a minimiser so that it counts only when
    the trained point reached the derived minimum loss.  Non-convex training
    (deep linear UFMs: s = 0 and mixed per-class points are local minima) can
    stop at a worse certified point; that is not a counterexample (DESIGN.md),
    so the wrapped check is then undecidable instead of failed.  The robust
    direction stays a plain check: no trained loss below the derived minimum."""
    import math

    from ..checks import Check, as_float
    from ..verdict import Evidence

    def fn(pred, obs, params, ctx):
        got, best = as_float(obs[trained_loss]), as_float(pred[minimum])
        if got > best + rtol * (1 + abs(best)):
            return Evidence(check.name, None, math.nan, best, got, rtol,
                            f"training stopped at a worse certified point (loss {got:.10g} > {best:.10g})")
        return check(pred, obs, params, ctx)

    return Check(check.name, fn, check.description + " (at the derived minimum)")


__all__ = ["labels_from_counts", "ce_loss", "mse_loss", "scl_loss", "Trained", "gradient", "grad_norms", "train",
           "Fit", "fit_ce_ufm", "fit_mse_ufm", "only_at_global_minimum",
           "project_sphere", "train_on_sphere", "best_converged"]
