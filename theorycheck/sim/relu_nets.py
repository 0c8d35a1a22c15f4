"""Two-layer ReLU networks in torch: the regularised objective, and many
networks trained at once (batched over initialisations and widths).

Objective (no biases):  ½‖Σ_j (Xu_j)_+ α_j − y‖² + (β/2) Σ_j (‖u_j‖² + α_j²).

Runs of different widths share one tensor of the largest width; a 0/1 mask
switches the extra neurons off (they stay at zero, carry no gradient and add
nothing to the regulariser), so R runs cost one batched forward pass.

Escalation (:func:`train_with_escalation`): random-start training with a
standard :class:`Schedule`, and, only for the draws whose best run misses a
target, a stronger one (more random starts, more steps).  Runs are memoised
per (data, widths, seed, schedule), so a simulation repeated with other
targets trains nothing twice.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from .context import derive_seed

TINY = 1e-150  # flushed to zero during training (far below any objective resolution)


def relu_objective(X: torch.Tensor, y: torch.Tensor, U: torch.Tensor, alpha: torch.Tensor,
                   beta: float) -> torch.Tensor:
    """Objective of a batch of networks: U (..., m, d), alpha (..., m) -> (...)."""
    # a broadcast product, not a (batched) matmul: for these tiny shapes the
    # BLAS threads spin and stall badly when the CPU is shared
    hidden = torch.relu((U.unsqueeze(-2) * X).sum(-1))  # (..., m, n)
    fit = (alpha.unsqueeze(-1) * hidden).sum(-2)  # (..., n)
    loss = 0.5 * ((fit - y) ** 2).sum(-1)
    return loss + 0.5 * beta * ((U ** 2).sum((-1, -2)) + (alpha ** 2).sum(-1))


@dataclass
class TrainedRuns:
    widths: np.ndarray       # (R,) width of each run
    objective: np.ndarray    # (R,) final objective
    grad_norm: np.ndarray    # (R,) ‖∇‖ at the end (a stationarity certificate)
    history: np.ndarray      # (T, R) objective along training, sampled
    steps: np.ndarray        # (T,) the steps of the history


def regression_data(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian inputs and targets (rows in general position with probability 1)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal(n)


def train_relu_nets(X: torch.Tensor, y: torch.Tensor, beta: float, widths, restarts: int,
                    generator: torch.Generator, steps: int = 3000, lr: float = 0.02,
                    init_scale: float = 1.0, positive_output: bool = False,
                    record_every: int = 50, start=None, start_noise: float = 1e-3) -> TrainedRuns:
    """Adam on every (width, restart) pair at once, the step size decayed
    geometrically by 100× over the run so the last iterates settle.

    ``positive_output`` projects α onto α ≥ 0 after each step (a network
    class that the convex theorem does not cover: an assumption break).
    ``start = (U0, alpha0)`` (a network of width ≤ max(widths)) starts every run
    from it, zero-padded and perturbed by ``start_noise``, instead of at random."""
    widths = np.repeat(np.asarray(widths, dtype=int), restarts)
    R, m = len(widths), int(widths.max())
    d = X.shape[1]
    dev, dt = X.device, X.dtype
    mask = (torch.arange(m, device=dev)[None, :] < torch.as_tensor(widths, device=dev)[:, None]).to(dt)
    U = init_scale * torch.randn(R, m, d, generator=generator, device=dev, dtype=dt) / np.sqrt(d)
    w = torch.as_tensor(widths, device=dev, dtype=dt)
    alpha = init_scale * torch.randn(R, m, generator=generator, device=dev, dtype=dt) / w.sqrt()[:, None]
    if start is not None:
        U0, a0 = (torch.as_tensor(np.asarray(v), device=dev, dtype=dt) for v in start)
        k = min(U0.shape[0], m)
        base_U, base_a = torch.zeros(m, d, device=dev, dtype=dt), torch.zeros(m, device=dev, dtype=dt)
        base_U[:k], base_a[:k] = U0[:k], a0[:k]
        U = base_U + start_noise * U / init_scale
        alpha = base_a + start_noise * alpha * w.sqrt()[:, None] / init_scale
    U, alpha = U * mask[..., None], alpha * mask
    if positive_output:
        alpha = alpha.abs()
    U.requires_grad_(True)
    alpha.requires_grad_(True)
    flushed = torch.set_flush_denormal(True)  # restored below; subnormal arithmetic is ~100× slower
    try:
        return _train(X, y, beta, widths, mask, U, alpha, steps, lr, positive_output, record_every)
    finally:
        if flushed:
            torch.set_flush_denormal(False)


def _train(X, y, beta, widths, mask, U, alpha, steps, lr, positive_output, record_every) -> TrainedRuns:
    # Adam written out (β1 = 0.9, β2 = 0.999): torch.optim's first step imports
    # the compiler stack, seconds of start-up for a sub-second run.
    params = [U, alpha]
    m1 = [torch.zeros_like(p) for p in params]
    m2 = [torch.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    decay = 0.01 ** (1.0 / steps)
    Umask = mask[..., None]
    history, at = [], []
    for t in range(steps):
        obj = relu_objective(X, y, U * Umask, alpha * mask, beta)
        grads = torch.autograd.grad(obj.sum(), params)  # runs are independent: the sum's gradient is each run's
        step_size = lr * decay ** t
        with torch.no_grad():
            for p, g, a1, a2 in zip(params, grads, m1, m2):
                a1.mul_(b1).add_(g, alpha=1 - b1)
                a2.mul_(b2).addcmul_(g, g, value=1 - b2)
                # 1/√(v + ε²) in place of 1/(√v + ε): the same step where it matters; rsqrt
                # because torch.sqrt was measured to stall (ms per call) inside the run workers
                inv = torch.rsqrt(a2 / (1 - b2 ** (t + 1)) + eps * eps)
                p.addcmul_(a1, inv, value=-step_size / (1 - b1 ** (t + 1)))
            if positive_output:
                alpha.clamp_(min=0.0)
            if t % 64 == 0:  # weight decay shrinks dead neurons geometrically: subnormals are very slow
                U.masked_fill_(U.abs() < TINY, 0.0)
                alpha.masked_fill_(alpha.abs() < TINY, 0.0)
        if t % record_every == 0:
            history.append(obj.detach().cpu().numpy())
            at.append(t)
    Um, am = (U * mask[..., None]).detach().requires_grad_(True), (alpha * mask).detach().requires_grad_(True)
    final = relu_objective(X, y, Um, am, beta)
    final.sum().backward()
    gU, ga = Um.grad * mask[..., None], am.grad * mask
    if positive_output:  # projected gradient: a neuron pinned at α = 0 with ∂/∂α > 0 is stationary
        ga = torch.where((am.detach() <= 0) & (ga > 0), torch.zeros_like(ga), ga)
    gnorm = torch.sqrt((gU ** 2).sum((-1, -2)) + (ga ** 2).sum(-1))
    history.append(final.detach().cpu().numpy())
    at.append(steps)
    return TrainedRuns(widths, final.detach().cpu().numpy(), gnorm.cpu().numpy(),
                       np.array(history), np.array(at))


def train_relu_nets_batch(problems, widths, restarts: int, generators, steps: int = 800, lr: float = 0.1,
                          init_scale: float = 1.0, positive_output=None) -> list:
    """:func:`train_relu_nets` for many data sets at once, in one tensor program.

    ``problems``: (X (n_b, d_b), y (n_b), β_b) per draw; ``widths``: the widths of
    each draw (``restarts`` runs each); ``generators``: one per draw — a draw's
    initial weights are drawn from it exactly as :func:`train_relu_nets` draws
    them for that draw alone.  Runs are held as (draw, run, neuron): a draw's
    runs share its data, so the products with X are one matrix product per
    draw (tiny per-run matrix products cost ~1 µs each in a batched matmul).
    Data are zero-padded to the largest (n, d), runs to the most runs of a draw:
    a padded sample (x = 0, y = 0) adds nothing to the loss, padded input
    columns, neurons and runs start at 0 and get no gradient.  The gradient is
    written out and Adam updates one tensor θ = [U | α] per run (the same
    iteration as :func:`train_relu_nets`).  ``positive_output``: per draw, α
    projected onto α ≥ 0.  Returns one TrainedRuns per draw (history: the
    final objective only)."""
    dev, dt = problems[0][0].device, problems[0][0].dtype
    B = len(problems)
    N = max(int(X.shape[0]) for X, _, _ in problems)
    D = max(int(X.shape[1]) for X, _, _ in problems)
    per_w = [np.repeat(np.asarray(w, dtype=int), restarts) for w in widths]
    Rb = max(len(w) for w in per_w)
    M = max(int(w.max()) for w in per_w)
    Xb = torch.zeros(B, N, D, device=dev, dtype=dt)
    yb = torch.zeros(B, 1, N, device=dev, dtype=dt)
    beta = torch.zeros(B, 1, 1, device=dev, dtype=dt)
    theta = torch.zeros(B, Rb, M, D + 1, device=dev, dtype=dt)
    wid = np.zeros((B, Rb), dtype=int)  # a padded run has width 0
    pos = torch.zeros(B, 1, 1, device=dev, dtype=torch.bool)
    for b, ((X, y, bt), w, g) in enumerate(zip(problems, per_w, generators)):
        n, d, r, m = int(X.shape[0]), int(X.shape[1]), len(w), int(w.max())
        Xb[b, :n, :d], yb[b, 0, :n], beta[b] = X, y, float(bt)
        # per draw: the same random numbers as train_relu_nets
        Ub = init_scale * torch.randn(r, m, d, generator=g, device=dev, dtype=dt) / np.sqrt(d)
        wb = torch.as_tensor(w, device=dev, dtype=dt)
        ab = init_scale * torch.randn(r, m, generator=g, device=dev, dtype=dt) / wb.sqrt()[:, None]
        theta[b, :r, :m, :d], theta[b, :r, :m, D] = Ub, ab
        wid[b, :r] = w
        if positive_output is not None and positive_output[b]:
            pos[b] = True
    mask = (torch.arange(M, device=dev) < torch.as_tensor(wid, device=dev)[..., None]).to(dt)[..., None]
    theta[..., D:] = torch.where(pos[..., None], theta[..., D:].abs(), theta[..., D:])
    theta *= mask
    XT = Xb.transpose(1, 2).contiguous()
    bcol = beta[..., None]

    def grad(th):
        U, a = th[..., :D].reshape(B, Rb * M, D), th[..., D]
        pre = (U @ XT).view(B, Rb, M, N)
        H = torch.relu(pre)
        res = (a.unsqueeze(-1) * H).sum(-2) - yb  # (B, Rb, N)
        g_a = (H * res.unsqueeze(-2)).sum(-1)  # (B, Rb, M)
        G = (a.unsqueeze(-1) * (pre > 0)) * res.unsqueeze(-2)
        g_U = (G.view(B, Rb * M, N) @ Xb).view(B, Rb, M, D)
        return (torch.cat([g_U, g_a.unsqueeze(-1)], dim=-1) + bcol * th) * mask, res

    m1, m2 = torch.zeros_like(theta), torch.zeros_like(theta)
    b1, b2, eps = 0.9, 0.999, 1e-8
    decay = 0.01 ** (1.0 / steps)
    posm = pos[..., None].expand(B, Rb, M, 1)
    flushed = torch.set_flush_denormal(True)  # weight decay shrinks dead neurons into subnormals: ~100× slower
    try:
        for t in range(steps):
            g, _ = grad(theta)
            m1.mul_(b1).add_(g, alpha=1 - b1)
            m2.mul_(b2).addcmul_(g, g, value=1 - b2)
            inv = torch.rsqrt(m2 / (1 - b2 ** (t + 1)) + eps * eps)
            theta.addcmul_(m1, inv, value=-lr * decay ** t / (1 - b1 ** (t + 1)))
            if positive_output is not None:
                theta[..., D:] = torch.where(posm, theta[..., D:].clamp(min=0.0), theta[..., D:])
            if t % 64 == 0:
                theta.masked_fill_(theta.abs() < TINY, 0.0)
    finally:
        if flushed:
            torch.set_flush_denormal(False)
    g, res = grad(theta)
    Ut, at = theta[..., :D], theta[..., D]
    final = 0.5 * (res ** 2).sum(-1) + 0.5 * beta[..., 0] * ((Ut ** 2).sum((-1, -2)) + (at ** 2).sum(-1))
    ga = g[..., D]
    ga = torch.where(pos & (at <= 0) & (ga > 0), torch.zeros_like(ga), ga)  # projected gradient for α ≥ 0
    gnorm = torch.sqrt((g[..., :D] ** 2).sum((-1, -2)) + (ga ** 2).sum(-1))
    obj, gn = final.detach().cpu().numpy(), gnorm.cpu().numpy()
    out = []
    for b, w in enumerate(per_w):
        r = len(w)
        out.append(TrainedRuns(w, obj[b, :r], gn[b, :r], obj[b, :r][None], np.array([steps])))
    return out


@dataclass(frozen=True)
class Schedule:
    """One optimiser budget: ``restarts`` random starts per width, ``steps``
    Adam steps, step size ``lr`` decayed geometrically by 100× over the run."""

    restarts: int
    steps: int
    lr: float


@dataclass
class EscalatedRuns:
    """The runs of one draw: the standard ones, then (``escalated``) the
    stronger optimiser's; ``stage`` says which produced each run."""

    widths: np.ndarray     # (R,) width of each run
    objective: np.ndarray  # (R,) final objective
    stage: np.ndarray      # (R,) 0: standard schedule, 1: escalation
    escalated: bool


_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 4096


def clear_training_cache() -> None:
    _CACHE.clear()


def _cache_key(tag, seed, problem, widths, schedule, positive) -> tuple:
    X, y, beta = problem
    h = hashlib.sha1(np.ascontiguousarray(X.detach().cpu().numpy()).tobytes())
    h.update(np.ascontiguousarray(y.detach().cpu().numpy()).tobytes())
    return (tag, int(seed), h.hexdigest(), float(beta), tuple(int(w) for w in widths), schedule, bool(positive),
            str(X.dtype), str(X.device))


CHUNK_RUNS = 512  # runs trained in one tensor program: more spill out of the CPU caches (~1.5× slower per step)


def _trained(tag, problems, widths, seeds, schedule, positive, generator_of) -> list:
    """TrainedRuns per draw under one schedule, memoised: a draw's runs are a
    function of (its data, widths, seed, schedule) alone, so a simulation
    repeated with another prediction (mutants, perturbations) trains nothing
    twice.  The draws not in the cache are trained together, in chunks of at
    most CHUNK_RUNS runs (a draw's runs do not depend on its chunk)."""
    keys = [_cache_key(tag, s, p, w, schedule, q) for s, p, w, q in zip(seeds, problems, widths, positive)]
    todo = [i for i, k in enumerate(keys) if k not in _CACHE]
    per = max(1, CHUNK_RUNS // (schedule.restarts * max(len(w) for w in widths)))
    for start in range(0, len(todo), per):
        part = todo[start:start + per]
        runs = train_relu_nets_batch([problems[i] for i in part], [widths[i] for i in part], schedule.restarts,
                                     [generator_of(seeds[i], problems[i][0].device) for i in part],
                                     steps=schedule.steps, lr=schedule.lr,
                                     positive_output=[positive[i] for i in part] if any(positive) else None)
        for i, r in zip(part, runs):
            _CACHE[keys[i]] = r
    out = []
    for k in keys:
        _CACHE.move_to_end(k)
        out.append(_CACHE[k])
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return out


def _base_generator(seed, device):
    g = torch.Generator(device=device)
    g.manual_seed(int(seed) % 2**63)  # as SimContext.generator(): the draw's own random numbers
    return g


def _escalation_generator(seed, device):
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(int(seed), "relu_nets.escalation") % 2**63)
    return g


def train_with_escalation(problems, widths, seeds, thresholds, standard: Schedule, stronger: Schedule,
                          positive_output=None) -> list:
    """Random-start Adam on each draw (``standard``); the draws whose best run
    stays above their ``threshold`` are trained again, all together, with the
    ``stronger`` schedule (fresh random starts from a generator derived from
    the draw's seed), and their runs are added to the standard ones.

    A run stuck above the optimum is a statement about the optimiser, not the
    landscape: escalation spends more optimisation only where the standard
    budget did not reach the target.  Both schedules are deterministic in
    (data, widths, seed), so a draw gives the same runs batched or alone, and
    repeated calls (other thresholds) train nothing twice (memoised)."""
    B = len(problems)
    positive = [False] * B if positive_output is None else [bool(q) for q in positive_output]
    base = _trained("standard", problems, widths, seeds, standard, positive, _base_generator)
    over = [i for i in range(B) if not float(base[i].objective.min()) <= float(thresholds[i])]
    more = dict(zip(over, _trained("escalation", [problems[i] for i in over], [widths[i] for i in over],
                                   [seeds[i] for i in over], stronger, [positive[i] for i in over],
                                   _escalation_generator))) if over else {}
    out = []
    for i, r in enumerate(base):
        if i in more:
            e = more[i]
            out.append(EscalatedRuns(np.concatenate([r.widths, e.widths]), np.concatenate([r.objective, e.objective]),
                                     np.concatenate([np.zeros(len(r.widths), int), np.ones(len(e.widths), int)]),
                                     True))
        else:
            out.append(EscalatedRuns(r.widths.copy(), r.objective.copy(), np.zeros(len(r.widths), int), False))
    return out


__all__ = ["relu_objective", "train_relu_nets", "train_relu_nets_batch", "train_with_escalation", "Schedule",
           "EscalatedRuns", "clear_training_cache", "regression_data", "TrainedRuns"]


def data_assumptions():
    """The assumption parameters shared by the convex_relu claims: sizes small
    enough for exact pattern enumeration, and the weight decay β."""
    from ..space import Float, Int, Seed
    return [Int("n", 4, 8, description="number of samples"),
            Int("d", 2, 3, description="input dimension"),
            Float("beta", 0.05, 1.0, log=True, description="weight decay β"),
            Seed("data_seed")]
