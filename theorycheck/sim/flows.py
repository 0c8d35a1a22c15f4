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


__all__ = ["euler_step", "rk4_step", "INTEGRATORS", "order_of", "integrate", "drift_table",
           "gradient_field", "heavy_ball_field", "with_momentum"]
