"""The Z-loss and its gradient flow in logit space (batched, masked), and the
sympy derivation of its shift / scale invariance and covariance.

Z-loss (de Brébisson & Vincent 2016): for logits o ∈ R^K and target c,
z_c = (o_c − μ)/σ with μ the mean and σ the (population) standard deviation
of the logits, ℓ = (1/a)·softplus(a(b − z_c)).  Losses here are sums over N
samples, each with its own free logit vector (a "training set" in logit space);
tensors are (B, N, K) with masks for padded samples (N) and classes (K).
"""
from __future__ import annotations

import functools

import sympy as sp
import torch

nf = torch.nn.functional


@functools.lru_cache(maxsize=1)
def derivation() -> dict:
    """For every number of classes K at once, through the statistics the loss
    depends on (S1 = Σo, S2 = Σo², o_c; a spherical-family loss), with the
    variance V = S2/K − (S1/K)² > 0:

    * z_c(αo + β1) − z_c(o) simplifies to 0 for α > 0 (any β): the loss, a
      function of z_c, is invariant;
    * ∂z_c/∂o_k at αo + β1 divided by its value at o simplifies to 1/α: the
      gradient scales by 1/α (the same follows from differentiating the
      invariance);
    * õ(t) = α·o(t/τ) + β1 solves the gradient flow of the loss from αo(0) + β1
      iff α/τ = 1/α: τ = α² (GD: step η at the scaled logits = step η/α²)."""
    K, V, al = sp.symbols("K V alpha", positive=True)
    S1, oc, ok, beta, tau, delta = sp.symbols("S1 o_c o_k beta tau delta", real=True)
    S1s, S2s, ocs = sp.symbols("S1s S2s ocs", real=True)

    def z(s1, s2, c):
        m = s1 / K
        return (c - m) / sp.sqrt(s2 / K - m**2)

    S2 = K * (V + (S1 / K) ** 2)
    scaled = {S1s: al * S1 + K * beta, S2s: sp.expand(al**2 * S2 + 2 * al * beta * S1 + K * beta**2),
              ocs: al * oc + beta}
    plain = {S1s: S1, S2s: S2, ocs: oc}
    zs = z(S1s, S2s, ocs)
    invariance = sp.simplify(zs.subs(scaled) - zs.subs(plain))
    dz = sp.diff(zs, S1s) + sp.diff(zs, S2s) * 2 * ok + sp.diff(zs, ocs) * delta  # δ = [k = c]
    grad_factor = sp.simplify(dz.subs(scaled).subs(ok, al * ok + beta) / dz.subs(plain))
    # d/dt[α·o(t/τ) + β1] = (α/τ)·ȯ(t/τ) = −(α/τ)∇L(o) must equal −∇L(αo + β1) = −grad_factor·∇L(o)
    time_scale = sp.solve(sp.Eq(al / tau, grad_factor), tau)
    return {"invariance": invariance, "grad_factor": grad_factor, "time_scale": time_scale, "alpha": al}


def zloss_and_grad(o, target, kmask, nmask, a, b, kind="zloss", eps=0.0):
    """Per-sample losses (B, N) and the gradient (B, N, K) of Σ_samples loss.

    o: (B, N, K); target: (B, N) long; kmask: (B, 1, K) 1 for real classes;
    nmask: (B, N) 1 for real samples; a, b: (B, 1).  kind "zloss" (eps > 0 puts
    eps under the square root of the variance: a common "stabilised" variant),
    or "ce" (log-softmax cross-entropy)."""
    Kf = kmask.sum(-1, keepdim=True)
    onehot = nf.one_hot(target, o.shape[-1]).to(o.dtype)
    if kind == "ce":
        masked = o.masked_fill(kmask == 0, -torch.inf)
        lse = torch.logsumexp(masked, -1)
        loss = (lse - (o * onehot).sum(-1)) * nmask
        grad = (torch.softmax(masked, -1) - onehot) * nmask[..., None]
        return loss, grad
    mu = (o * kmask).sum(-1, keepdim=True) / Kf
    d = (o - mu) * kmask
    var = (d * d).sum(-1, keepdim=True) / Kf
    sig = torch.sqrt(var + eps)
    dc = (d * onehot).sum(-1, keepdim=True)
    z = dc / sig
    u = a[..., None] * (b[..., None] - z)
    loss = (nf.softplus(u) / a[..., None]).squeeze(-1) * nmask
    dl_dz = -torch.sigmoid(u)                                   # ℓ'(z)
    dz_do = (onehot - kmask / Kf) / sig - dc * d / (Kf * sig**3)  # ∂z_c/∂o_k
    grad = dl_dz * dz_do * kmask * nmask[..., None]
    return loss, grad


def rk4_flow(o, h, steps, fn):
    """RK4 on do/dt = −∇L(o) with per-draw step h (B,), ``steps`` steps.
    Returns states (steps+1, B, N, K), total losses (steps+1, B) and
    dL/dt = −‖∇L‖² (steps+1, B)."""
    hh = h[:, None, None]
    states, losses, rates = [o], [], []
    for k in range(steps + 1):
        loss, g = fn(o)
        losses.append(loss.sum(-1))
        rates.append(-(g * g).sum((-1, -2)))
        if k == steps:
            break
        k1 = -g
        k2 = -fn(o + hh / 2 * k1)[1]
        k3 = -fn(o + hh / 2 * k2)[1]
        k4 = -fn(o + hh * k3)[1]
        o = o + hh / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        states.append(o)
    return torch.stack(states), torch.stack(losses), torch.stack(rates)


def rk4_step(o, dt, fn):
    """One RK4 step of per-(draw, point) length dt (shape broadcastable to o[..., :1, :1])."""
    k1 = -fn(o)[1]
    k2 = -fn(o + dt / 2 * k1)[1]
    k3 = -fn(o + dt / 2 * k2)[1]
    k4 = -fn(o + dt * k3)[1]
    return o + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
