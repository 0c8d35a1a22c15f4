"""Gradient-flow integrators in torch, batched over draws.

A *field* maps a state (a tuple of tensors whose leading dimension is the
draw) to its time derivative, a tuple of the same shapes.  ``euler`` (plain
GD, order 1) and ``rk4`` (order 4) integrate it to a time T; ``drift_table``
runs one integrator at several step sizes and records the state at T, which
is what a conservation check needs (drift of Q vs the step).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

State = tuple
Field = Callable[[State], State]


def _axpy(state: State, h, rate: State) -> State:
    return tuple(s + h * r for s, r in zip(state, rate))


def euler_step(field: Field, state: State, h: float) -> State:
    """θ ← θ + h·F(θ): gradient descent when F = −∇L."""
    return _axpy(state, h, field(state))


def rk4_step(field: Field, state: State, h: float) -> State:
    k1 = field(state)
    k2 = field(_axpy(state, h / 2, k1))
    k3 = field(_axpy(state, h / 2, k2))
    k4 = field(_axpy(state, h, k3))
    return tuple(s + h / 6 * (a + 2 * b + 2 * c + d) for s, a, b, c, d in zip(state, k1, k2, k3, k4))


INTEGRATORS = {"gd": (euler_step, 1), "rk4": (rk4_step, 4)}


def order_of(method: str) -> int:
    return INTEGRATORS[method][1]


def integrate(field: Field, state: State, T: float, h: float, method: str = "rk4",
              record: Callable[[State], torch.Tensor] | None = None):
    """Integrate to time T with n = round(T/h) steps of size T/n.  With
    ``record``, also returns record(state) at every step (t = 0..T)."""
    step = INTEGRATORS[method][0]
    n = max(1, round(T / h))
    dt = T / n
    path = [record(state)] if record else None
    for _ in range(n):
        state = step(field, state, dt)
        if record:
            path.append(record(state))
    if record:
        return state, torch.stack(path)
    return state


def drift_table(field: Field, state0: State, T: float, steps: Sequence[float], method: str,
                quantity: Callable[[State], torch.Tensor]) -> torch.Tensor:
    """quantity(θ_h(T)) for each step h: shape (len(steps), draws, ...)."""
    return torch.stack([quantity(integrate(field, state0, T, h, method)) for h in steps])


def gradient_field(loss: Callable[[State], torch.Tensor], weight_decay: float = 0.0) -> Field:
    """F(θ) = −∇L(θ) − λθ.  ``loss`` returns one loss per draw; draws are
    independent, so the gradient of their sum is the per-draw gradient."""

    def field(state: State) -> State:
        with torch.enable_grad():
            xs = tuple(s.detach().requires_grad_(True) for s in state)
            grads = torch.autograd.grad(loss(xs).sum(), xs)
        return tuple(-g - weight_decay * s for g, s in zip(grads, state))

    return field


def heavy_ball_field(grad_field: Field, mass: float) -> Field:
    """The momentum (heavy-ball) flow m·θ'' + θ' = F(θ) as a first-order
    system on (θ, v): θ' = v, v' = (F(θ) − v)/m.  The state is θ's tensors
    followed by v's.  (The discrete heavy ball with a fixed β is, as h → 0,
    gradient flow with a rescaled time; the mass m is what survives the limit.)"""

    def field(state: State) -> State:
        half = len(state) // 2
        theta, v = state[:half], state[half:]
        f = grad_field(theta)
        return tuple(v) + tuple((fi - vi) / mass for fi, vi in zip(f, v))

    return field


def with_momentum(loss, weight_decay: float, momentum: float, state0: State):
    """The flow a simulation runs for ``params``: gradient flow, or the
    heavy-ball flow with mass ``momentum`` started at rest.  Returns
    (field, initial state, projection of a state to θ)."""
    grad = gradient_field(loss, weight_decay)
    if momentum <= 0:
        return grad, tuple(state0), lambda s: s
    n = len(state0)
    return (heavy_ball_field(grad, momentum), tuple(state0) + tuple(torch.zeros_like(s) for s in state0),
            lambda s: s[:n])


def integrate_ladder(field: Field, state0: State, T: float, steps: Sequence[float], method: str,
                     record: Callable[[State], torch.Tensor] | None = None):
    """Integrate to time T at every step size of ``steps`` at once, in one tensor program.

    The state's tensors get a new leading dimension, one lane per step size
    (``field`` must broadcast over leading dimensions).  Lane s takes
    n_s = round(T/h_s) steps of size T/n_s.  The lanes step together; a lane
    leaves the batch once its steps are done (lanes are processed in phases
    between consecutive step counts, so the work is Σ_s n_s lane-steps, not
    len(steps)·max n_s).  With ``record``, also returns record(state of the
    finest lane, with a leading lane dimension of 1) after every one of its
    steps (first row: the start).  Returns (final state with lanes first in the
    order of ``steps``, the per-lane step counts[, the record])."""
    step = INTEGRATORS[method][0]
    ns = [max(1, round(T / h)) for h in steps]
    order = sorted(range(len(ns)), key=lambda s: ns[s])  # coarse lanes finish first
    ref = state0[0]
    dt = torch.tensor([T / ns[s] for s in order], dtype=ref.dtype, device=ref.device)
    state = tuple(s.unsqueeze(0).expand(len(ns), *s.shape).clone() for s in state0)
    finals: list = [None] * len(ns)
    path = [record(tuple(s[-1:] for s in state))] if record else None
    done = 0
    for pos, lane in enumerate(order):
        todo = ns[lane] - done
        sub = tuple(s[pos:] for s in state)
        hs = [dt[pos:].view((-1,) + (1,) * (s.dim() - 1)) for s in sub]
        for _ in range(todo):
            sub = _ladder_step(step, field, sub, hs)
            if record:
                path.append(record(tuple(s[-1:] for s in sub)))
        done = ns[lane]
        finals[lane] = tuple(s[0] for s in sub)
        state = tuple(torch.cat([s[:pos], t]) for s, t in zip(state, sub)) if pos + 1 < len(ns) else sub
    final = tuple(torch.stack([f[i] for f in finals]) for i in range(len(state0)))
    if record:
        return final, ns, torch.stack(path)
    return final, ns


def _ladder_step(step, field, state, hs):
    """One step of ``step`` with a per-tensor (broadcast) step size."""
    if step is euler_step:
        return tuple(s + h * r for s, h, r in zip(state, hs, field(state)))
    k1 = field(state)
    k2 = field(tuple(s + h / 2 * r for s, h, r in zip(state, hs, k1)))
    k3 = field(tuple(s + h / 2 * r for s, h, r in zip(state, hs, k2)))
    k4 = field(tuple(s + h * r for s, h, r in zip(state, hs, k3)))
    return tuple(s + h / 6 * (a + 2 * b + 2 * c + d) for s, h, a, b, c, d in zip(state, hs, k1, k2, k3, k4))


def heavy_ball(grad_field: Field, mass: torch.Tensor) -> Field:
    """:func:`heavy_ball_field` with one mass per draw: ``mass`` has shape (B,)
    and every state tensor has shape (lanes, B, ...).  Draws of mass 0 follow
    the plain flow θ' = F(θ) (their velocity stays 0)."""

    def field(state: State) -> State:
        half = len(state) // 2
        theta, v = state[:half], state[half:]
        f = grad_field(theta)
        out_theta, out_v = [], []
        for fi, vi in zip(f, v):
            m = mass.view((1, -1) + (1,) * (vi.dim() - 2))
            moving = m > 0
            safe = torch.where(moving, m, torch.ones_like(m))
            out_theta.append(torch.where(moving, vi, fi))
            out_v.append(torch.where(moving, (fi - vi) / safe, torch.zeros_like(vi)))
        return tuple(out_theta) + tuple(out_v)

    return field


__all__ = ["euler_step", "rk4_step", "INTEGRATORS", "order_of", "integrate", "drift_table",
           "gradient_field", "heavy_ball_field", "with_momentum", "integrate_ladder", "heavy_ball"]
