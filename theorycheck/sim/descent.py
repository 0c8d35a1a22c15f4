"""Gradient descent on quadratics, batched over step sizes (one tensor program
for a whole sweep of η), with heavy-ball momentum and weight decay as options
for assumption breaks."""
from __future__ import annotations

import torch


def gd_quadratic(H: torch.Tensor, w0: torch.Tensor, etas: torch.Tensor, steps: int,
                 momentum: float = 0.0, weight_decay: float = 0.0) -> torch.Tensor:
    """Run w ← w − η(H w + λ w) (+ β(w − w_prev)) for every η at once.

    Returns ‖w_t‖ for t = 0..steps, shape (steps + 1, len(etas)).  Overflow
    shows up as inf, which the checks read as divergence."""
    w = w0.expand(etas.shape[0], -1).clone()
    prev = w.clone()
    norms = [w.norm(dim=1)]
    eta = etas[:, None]
    with torch.no_grad():
        for _ in range(steps):
            grad = w @ H.T + weight_decay * w
            nxt = w - eta * grad + momentum * (w - prev)
            prev, w = w, nxt
            norms.append(w.norm(dim=1))
    return torch.stack(norms)


def gd_quadratic_final(H: torch.Tensor, w0: torch.Tensor, etas: torch.Tensor, steps: int,
                       momentum: float = 0.0, weight_decay: float = 0.0) -> torch.Tensor:
    """‖w_steps‖ for every η of the same recursion as :func:`gd_quadratic`, by
    binary powering of its (batched) 2p×2p companion matrix: the iterates are
    exact, in O(log steps) products.  Overflow shows up as inf or NaN."""
    p = H.shape[0]
    eye = torch.eye(p, dtype=H.dtype, device=H.device)
    top = (1 + momentum) * eye - etas[:, None, None] * (H + weight_decay * eye)
    A = torch.cat([torch.cat([top, (-momentum * eye).expand_as(top)], 2),
                   torch.cat([eye.expand_as(top), torch.zeros_like(top)], 2)], 1)
    state = torch.cat([w0, w0]).expand(etas.shape[0], -1)[..., None]
    k = steps
    while k:
        if k & 1:
            state = A @ state
        A = A @ A
        k >>= 1
    return state[:, :p, 0].norm(dim=1)


def empirical_threshold(H: torch.Tensor, w0: torch.Tensor, steps: int = 2000, lo: float = 1e-4,
                        hi: float = 1e4, rounds: int = 4, points: int = 64, **kwargs) -> float:
    """The step size where GD from w0 switches from shrinking to growing,
    found from the simulation alone: a geometric grid, refined ``rounds`` times."""
    def grows(etas):
        return ~(gd_quadratic_final(H, w0, etas, steps, **kwargs) < w0.norm())  # inf / NaN count as growth
    return refine_threshold(grows, lo, hi, rounds, points, H.dtype, H.device)


def refine_threshold(grows_at, lo: float, hi: float, rounds: int, points: int, dtype=torch.float64,
                     device="cpu") -> float:
    """The smallest step in [lo, hi] at which ``grows_at(etas) -> bool tensor``
    says the dynamics grow, assuming growth is monotone in the step: a
    geometric grid of ``points`` steps, narrowed ``rounds`` times around the
    switch.  inf when nothing grows."""
    for _ in range(rounds):
        etas = torch.logspace(float(torch.log10(torch.tensor(lo))), float(torch.log10(torch.tensor(hi))),
                              points, dtype=dtype, device=device)
        grows = grows_at(etas)
        if not grows.any():
            return float("inf")
        k = int(torch.nonzero(grows)[0])
        if k == 0:
            return float(etas[0])
        lo, hi = float(etas[k - 1]), float(etas[k])
    return (lo * hi) ** 0.5


def mlp_mse(X: torch.Tensor, y: torch.Tensor, widths: list[int]):
    """A tanh MLP with square loss as a pure function of one flat parameter
    vector (fast under autograd and torch.func; no module machinery).

    Returns ``(loss(theta), n_params, init(generator))``; init is the usual
    1/√fan-in Gaussian with zero biases."""
    sizes = [X.shape[1], *widths, y.shape[1]]
    shapes = [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]
    counts = [o * i + o for o, i in shapes]
    total = sum(counts)

    def loss(theta):
        # theta (P,) or a batch (E, P): one loss per parameter vector.  A single
        # vector goes through the batched path too: bmm is much faster here than
        # the BLAS mm path on a busy 2-core machine.
        if theta.dim() == 1:
            return batched_loss(theta[None])[0]
        return batched_loss(theta)

    def batched_loss(theta):
        batch = theta.shape[:-1]
        h, k = X, 0
        for layer, (o, i) in enumerate(shapes):
            W = theta[..., k:k + o * i].reshape(*batch, o, i)
            b = theta[..., k + o * i:k + o * i + o]
            k += o * i + o
            h = h @ W.transpose(-1, -2) + b[..., None, :]
            if layer < len(shapes) - 1:
                # tanh as 2σ(2x) − 1: the same function, but torch's float64 tanh
                # kernel is ~100× slower than sigmoid on CPU for these sizes
                h = 2 * torch.sigmoid(2 * h) - 1
        return 0.5 * ((h - y) ** 2).mean(dim=(-1, -2))

    def init(generator):
        parts = []
        for o, i in shapes:
            parts.append(torch.randn(o * i, generator=generator, dtype=X.dtype, device=X.device) / i**0.5)
            parts.append(torch.zeros(o, dtype=X.dtype, device=X.device))
        return torch.cat(parts)

    return loss, total, init


def gd_path(loss, theta: torch.Tensor, eta: float, steps: int, every: int = 0, probe=None,
            momentum: float = 0.0):
    """Full-batch GD (heavy-ball optional) with plain autograd; ``probe(theta)``
    is recorded every ``every`` steps.  Returns (theta, losses, [(step, probe)])."""
    prev = theta.detach().clone()
    theta = theta.detach().clone()
    losses, probes = [], []
    for t in range(steps + 1):
        if every and t % every == 0 and probe is not None:
            probes.append((t, probe(theta)))
        if t == steps:
            break
        th = theta.requires_grad_(True)
        L = loss(th)
        (g,) = torch.autograd.grad(L, th)
        losses.append(float(L.detach()))
        with torch.no_grad():
            nxt = theta - eta * g + momentum * (theta - prev)
        prev, theta = theta.detach(), nxt.detach()
    return theta, losses, probes


def gd_batched(loss, theta0: torch.Tensor, etas: torch.Tensor, steps: int, momentum: float = 0.0,
               weight_decay: float = 0.0) -> torch.Tensor:
    """GD on a general loss for every η at once: ``loss`` must map a batch of
    parameter vectors (E, P) to E losses (as :func:`mlp_mse` does); one
    backward pass per step serves the whole batch.  ``theta0`` is one start
    (P,) or one per η (E, P).  Returns θ_t for t = 0..steps, shape (steps + 1, E, P)."""
    th = theta0.detach().expand(etas.shape[0], -1).clone()
    prev = th.clone()
    path = [th]
    eta = etas[:, None]
    for _ in range(steps):
        x = th.requires_grad_(True)
        (g,) = torch.autograd.grad(loss(x).sum(), x)
        with torch.no_grad():
            nxt = th - eta * (g + weight_decay * th) + momentum * (th - prev)
        prev, th = th.detach(), nxt
        path.append(th)
    return torch.stack(path)


def minimum_by_newton(loss, theta: torch.Tensor, gd_steps: int = 300, eta: float = 0.2, newton_steps: int = 100,
                      grad_tol: float = 1e-12):
    """Train to a strict local minimum: GD, then Levenberg–Marquardt-damped
    Newton steps on the exact (dense, small-model) Hessian, accepted only when
    the loss decreases.  Returns (theta, certificate): final gradient norm, the
    Hessian's extreme eigenvalues, and ``certified`` = gradient norm ≤ grad_tol
    and H positive definite (λ_min > 1e-8·λ_max)."""
    from .hessian import dense_hessian

    theta, _, _ = gd_path(loss, theta, eta, gd_steps)
    g = torch.func.grad(loss)
    mu = 1e-3
    eye = torch.eye(theta.numel(), dtype=theta.dtype, device=theta.device)
    current = float(loss(theta))
    for _ in range(newton_steps):
        grad_t = g(theta)
        if float(grad_t.norm()) <= grad_tol:
            break
        H = dense_hessian(loss, theta)
        shift = max(0.0, -float(torch.linalg.eigvalsh(H)[0])) + mu
        cand = theta - torch.linalg.solve(H + shift * eye, grad_t)
        new = float(loss(cand))
        if new <= current:
            theta, current, mu = cand, new, max(mu / 4, 1e-14)
        else:
            mu *= 8
    H = dense_hessian(loss, theta)
    w = torch.linalg.eigvalsh(H)
    gn = float(g(theta).norm())
    cert = {"grad_norm": gn, "lambda_min": float(w[0]), "lambda_max": float(w[-1]),
            "certified": bool(gn <= grad_tol and float(w[0]) > 1e-8 * float(w[-1]))}
    return theta, cert
