"""Gradient descent on quadratics, batched over step sizes (one tensor program
for a whole sweep of η), with heavy-ball momentum and weight decay as options
for assumption breaks."""
from __future__ import annotations

import math

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


# ---- batched over draws: thresholds located by running GD -------------------------------------

def quadratic_grows(H: torch.Tensor, w0: torch.Tensor, etas: torch.Tensor, log2_steps: int = 30,
                    momentum=0.0, weight_decay=0.0) -> torch.Tensor:
    """Whether GD on ½wᵀHw from w0 ends farther from the minimum than it started
    after 2^log2_steps steps, for every draw b and step etas[b, g] at once.

    H: (B, p, p), w0: (B, p), etas: (B, G); momentum / weight_decay: numbers or
    one per draw.  The iterates are exact (binary powering of the batched
    2p×2p companion matrix of the heavy-ball recursion w_{t+1} = w_t −
    η(H + λI)w_t + β(w_t − w_{t−1}), w_{−1} = w_0); overflow (inf / NaN)
    counts as growth.  Returns (B, G) booleans."""
    B, p, _ = H.shape
    G = etas.shape[1]
    dt, dev = H.dtype, H.device
    beta = torch.as_tensor(momentum, dtype=dt, device=dev).reshape(-1, 1, 1, 1).expand(B, 1, 1, 1)
    lam = torch.as_tensor(weight_decay, dtype=dt, device=dev).reshape(-1, 1, 1, 1).expand(B, 1, 1, 1)
    eye = torch.eye(p, dtype=dt, device=dev)
    Hd = (H[:, None] + lam * eye)                                         # (B, 1, p, p)
    top = (1 + beta) * eye - etas[:, :, None, None] * Hd                  # (B, G, p, p)
    A = torch.cat([torch.cat([top, (-beta * eye).expand_as(top)], 3),
                   torch.cat([eye.expand_as(top), torch.zeros_like(top)], 3)], 2)
    state = torch.cat([w0, w0], 1)[:, None, :, None].expand(B, G, 2 * p, 1)
    for _ in range(log2_steps):
        A = A @ A
    end = (A @ state)[:, :, :p, 0].norm(dim=-1)
    return ~(end < w0.norm(dim=-1)[:, None])


def bracket_threshold(grows, lo: float, hi: float, batch: int, points: int = 32, rounds: int = 5,
                      dtype=torch.float64, device="cpu", interior: int | None = None):
    """The step where GD switches from approaching to leaving, for ``batch``
    draws at once, from the simulation alone: a geometric grid of ``points``
    steps per draw on [lo, hi], then ``rounds − 1`` narrowings around the first
    step that grows (growth assumed monotone in the step), each evaluating
    ``interior`` new steps strictly inside the current bracket (default
    ``points``; the ends are known already).  ``grows(etas)`` maps (batch, k)
    steps to booleans.  Returns (last stable step, first unstable step) per
    draw, tensors (batch,); inf / 0 where nothing grows / everything grows."""
    interior = points if interior is None else interior
    idx = torch.arange(batch, device=device)
    frac = torch.linspace(0, 1, points, dtype=dtype, device=device)
    etas = torch.exp(math.log(lo) + frac * math.log(hi / lo)).expand(batch, points)
    g = grows(etas)
    any_g = g.any(1)
    k = torch.where(any_g, g.double().argmax(1), torch.full((batch,), points, dtype=torch.long, device=device))
    unstable = torch.where(any_g, etas[idx, k.clamp(max=points - 1)], torch.full((batch,), math.inf, dtype=dtype,
                                                                                 device=device))
    stable = torch.where(k > 0, etas[idx, (k - 1).clamp(min=0)], torch.zeros(batch, dtype=dtype, device=device))
    ok = torch.isfinite(unstable) & (stable > 0)
    inner = torch.arange(1, interior + 1, dtype=dtype, device=device) / (interior + 1)
    for _ in range(rounds - 1):
        lo_t = torch.where(ok, stable, torch.ones_like(stable))
        hi_t = torch.where(ok, unstable, torch.ones_like(unstable))
        etas = torch.exp(torch.log(lo_t)[:, None] + inner[None, :] * torch.log(hi_t / lo_t)[:, None])
        g = grows(etas)
        any_g = g.any(1)
        k = torch.where(any_g, g.double().argmax(1), torch.full((batch,), interior, dtype=torch.long, device=device))
        new_un = torch.where(any_g, etas[idx, k.clamp(max=interior - 1)], hi_t)
        new_st = torch.where(k > 0, etas[idx, (k - 1).clamp(min=0)], lo_t)
        unstable = torch.where(ok, new_un, unstable)
        stable = torch.where(ok, new_st, stable)
    return stable, unstable


def mlp_mse_batched(X: torch.Tensor, y: torch.Tensor, widths: list[int]):
    """A tanh MLP with square loss, one data set per draw: X (B, n, d), y (B, n, o).
    Returns ``(loss, n_params)``: loss(theta) maps parameters (B, E, P) — E
    networks per draw — to losses (B, E).  The same function as
    :func:`mlp_mse` (tanh written as 2σ(2x) − 1) for every draw."""
    sizes = [X.shape[-1], *widths, y.shape[-1]]
    shapes = [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]
    total = sum(o * i + o for o, i in shapes)

    def loss(theta):
        B, E = theta.shape[:2]
        h, k = X[:, None], 0                                               # (B, 1, n, d)
        for layer, (o, i) in enumerate(shapes):
            W = theta[..., k:k + o * i].reshape(B, E, o, i)
            b = theta[..., k + o * i:k + o * i + o]
            k += o * i + o
            h = h @ W.transpose(-1, -2) + b[..., None, :]                  # (B, E, n, o)
            if layer < len(shapes) - 1:
                h = 2 * torch.sigmoid(2 * h) - 1
        return 0.5 * ((h - y[:, None]) ** 2).mean(dim=(-1, -2))

    return loss, total


def tanh_net_grad(X: torch.Tensor, y: torch.Tensor, width: int):
    """The gradient of :func:`mlp_mse_batched` for one hidden layer (d → width → o),
    written out by hand (backpropagation in a few batched products: several
    times faster than autograd for these tiny networks).  theta (B, E, P) -> (B, E, P)."""
    d, o, n = X.shape[-1], y.shape[-1], X.shape[-2]
    k1, k2, k3 = width * d, width * d + width, width * d + width + o * width

    def grad(theta):
        B, E = theta.shape[:2]
        W1, b1 = theta[..., :k1].reshape(B, E, width, d), theta[..., k1:k2]
        W2, b2 = theta[..., k2:k3].reshape(B, E, o, width), theta[..., k3:]
        h = 2 * torch.sigmoid(2 * (X[:, None] @ W1.transpose(-1, -2) + b1[..., None, :])) - 1   # (B, E, n, w)
        r = (h @ W2.transpose(-1, -2) + b2[..., None, :] - y[:, None]) / (n * o)                 # (B, E, n, o)
        delta = (r @ W2) * (1 - h * h)                                                            # (B, E, n, w)
        return torch.cat([(delta.transpose(-1, -2) @ X[:, None]).reshape(B, E, -1), delta.sum(-2),
                          (r.transpose(-1, -2) @ h).reshape(B, E, -1), r.sum(-2)], -1)

    return grad


def gd_batched_draws(loss, theta0: torch.Tensor, etas: torch.Tensor, steps: int, momentum=0.0,
                     weight_decay=0.0, record=None, grad=None) -> torch.Tensor:
    """GD for B draws × E steps at once: theta0 (B, E, P), etas (B, E); ``loss``
    maps (B, E, P) to (B, E) (as :func:`mlp_mse_batched`).  One backward pass
    per step serves every network (or ``grad(theta)``, a hand-written gradient,
    when given).  ``record(theta) -> tensor`` is stacked at t = 0..steps when
    given (else only the end is returned)."""
    th = theta0.detach().clone()
    prev = th.clone()
    eta = etas[..., None]
    beta = torch.as_tensor(momentum, dtype=th.dtype, device=th.device).reshape(-1, 1, 1)
    lam = torch.as_tensor(weight_decay, dtype=th.dtype, device=th.device).reshape(-1, 1, 1)
    seen = [record(th)] if record else None
    for _ in range(steps):
        if grad is not None:
            g = grad(th)
        else:
            x = th.requires_grad_(True)
            (g,) = torch.autograd.grad(loss(x).sum(), x)
        with torch.no_grad():
            nxt = th - eta * (g + lam * th) + beta * (th - prev)
        prev, th = th.detach(), nxt
        if record:
            seen.append(record(th))
    return torch.stack(seen) if record else th


def tanh_mlp_grad(X: torch.Tensor, y: torch.Tensor, widths: list[int]):
    """The gradient of :func:`mlp_mse_batched` for any depth, by backpropagation
    written out (a few batched products per layer; several times cheaper than
    autograd for tiny networks).  X (B, n, d), y (B, n, o); returns
    grad(theta (B, E, P)) -> (loss (B, E), gradient (B, E, P))."""
    sizes = [X.shape[-1], *widths, y.shape[-1]]
    shapes = [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]
    n, o = X.shape[-2], y.shape[-1]

    def grad(theta):
        B, E = theta.shape[:2]
        Ws, hs, k = [], [X[:, None].expand(B, E, -1, -1)], 0
        for layer, (out_, in_) in enumerate(shapes):
            W = theta[..., k:k + out_ * in_].reshape(B, E, out_, in_)
            b = theta[..., k + out_ * in_:k + out_ * in_ + out_]
            k += out_ * in_ + out_
            Ws.append(W)
            pre = hs[-1] @ W.transpose(-1, -2) + b[..., None, :]
            hs.append(2 * torch.sigmoid(2 * pre) - 1 if layer < len(shapes) - 1 else pre)
        diff = hs[-1] - y[:, None]
        loss = 0.5 * (diff**2).mean(dim=(-1, -2))
        delta = diff / (n * o)                                               # dL/d(output)
        parts = []
        for layer in range(len(shapes) - 1, -1, -1):
            if layer < len(shapes) - 1:
                delta = delta * (1 - hs[layer + 1] ** 2)                     # through tanh
            parts.append(delta.sum(-2))                                      # bias
            parts.append((delta.transpose(-1, -2) @ hs[layer]).reshape(B, E, -1))  # weight
            if layer > 0:
                delta = delta @ Ws[layer]
        return loss, torch.cat(parts[::-1], -1)

    return grad


def batched_top_eigen(hvp, V0: torch.Tensor, iters: int = 12):
    """The top Hessian eigenvalue of many independent networks at once, by Lanczos
    with full reorthogonalisation (two Gram–Schmidt passes), every network's
    recurrence run in parallel.  ``hvp(V)`` maps (N, P) directions to (N, P)
    Hessian–vector products (block-diagonal over networks); V0 (N, P) is the
    start (e.g. the previous top eigenvector: a warm start).  Returns (top Ritz
    value (N,), its Ritz vector (N, P), the residual bound |β_m s_m| (N,))."""
    q = V0 / V0.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    Q, alphas, betas = [q], [], []
    for m in range(iters):
        w = hvp(Q[m])
        alphas.append((w * Q[m]).sum(-1))
        basis = torch.stack(Q)                                               # (m + 1, N, P)
        for _ in range(2):
            w = w - torch.einsum("mn,mnp->np", torch.einsum("mnp,np->mn", basis, w), basis)
        b = w.norm(dim=-1)
        betas.append(b)
        Q.append(w / b.clamp_min(1e-300)[:, None])
    a = torch.stack(alphas, 1)
    off = torch.stack(betas[:-1], 1)
    T = torch.diag_embed(a) + torch.diag_embed(off, 1) + torch.diag_embed(off, -1)
    vals, S = torch.linalg.eigh(T)
    vec = torch.einsum("mnp,nm->np", torch.stack(Q[:iters]), S[:, :, -1])
    return vals[:, -1], vec, (betas[-1] * S[:, -1, -1]).abs()
