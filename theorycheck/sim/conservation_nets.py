"""Small networks whose gradient flows conserve known quantities, batched over
draws (leading dimension E), plus their conserved quantities and losses.

Linear: f(x) = W2 W1 x.  Two-layer: f(x) = Σ_j a_j σ(u_jᵀx + b_j).  Deep MLP:
σ after every hidden layer, biases everywhere.  ``flat_*`` variants are
functions of one flat parameter vector (for Lie-rank computations).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

ACT = {"relu": torch.relu, "leaky_relu": lambda z: F.leaky_relu(z, 0.1), "tanh": torch.tanh,
       "linear": lambda z: z}


def loss_of_outputs(out: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean loss per draw.  out (E, n, k).  mse: y real (E, n, k); logistic: y ∈ ±1
    (E, n, k), softplus(−y f); cross_entropy: y class indices (E, n), stable
    log-sum-exp."""
    if kind == "mse":
        return 0.5 * ((out - y) ** 2).sum(-1).mean(-1)
    if kind == "logistic":
        return F.softplus(-y * out).sum(-1).mean(-1)
    if kind == "cross_entropy":
        lse = torch.logsumexp(out, dim=-1)
        return (lse - out.gather(-1, y.long().unsqueeze(-1)).squeeze(-1)).mean(-1)
    raise ValueError(f"unknown loss {kind!r}")


def make_targets(out_shape, kind: str, generator, dtype, device):
    E, n, k = out_shape
    if kind == "mse":
        return torch.randn(E, n, k, generator=generator, dtype=dtype, device=device)
    if kind == "logistic":
        return torch.randint(0, 2, (E, n, k), generator=generator, device=device).to(dtype) * 2 - 1
    return torch.randint(0, k, (E, n), generator=generator, device=device).to(dtype)


# ------------------------------------------------------------------ linear
def linear_outputs(state, X):
    W1, W2 = state
    return torch.einsum("ekr,erd,end->enk", W2, W1, X)


def balance_Q(state):
    W1, W2 = state[0], state[1]
    return W1 @ W1.transpose(-1, -2) - W2.transpose(-1, -2) @ W2


LINEAR_QUANTITIES = {
    "balance": balance_Q,
    "sum": lambda s: s[0] @ s[0].transpose(-1, -2) + s[1].transpose(-1, -2) @ s[1],
    "trace_w1": lambda s: (s[0] ** 2).sum((-1, -2))[..., None, None],
}


# ------------------------------------------------------------------ MLP
def mlp_outputs(state, X, activation: str):
    """state = (W_1, b_1, ..., W_L, b_L) with W_l (E, out, in), b_l (E, out)."""
    sigma = ACT[activation]
    h = X
    L = len(state) // 2
    for l in range(L):
        W, b = state[2 * l], state[2 * l + 1]
        h = torch.einsum("eoi,eni->eno", W, h) + b[:, None, :]
        if l < L - 1:
            h = sigma(h)
    return h


def neuron_balance(state):
    """Per hidden neuron: ‖incoming weights‖² + bias² − ‖outgoing weights‖²,
    concatenated over hidden layers, shape (E, hidden neurons)."""
    L = len(state) // 2
    out = []
    for l in range(L - 1):
        W, b, Wn = state[2 * l], state[2 * l + 1], state[2 * l + 2]
        out.append((W ** 2).sum(-1) + b ** 2 - (Wn ** 2).sum(-2))
    return torch.cat(out, dim=-1)


def mlp_init(E, sizes, generator, dtype, device, scale=1.0):
    state = []
    for i in range(len(sizes) - 1):
        state.append(scale * torch.randn(E, sizes[i + 1], sizes[i], generator=generator, dtype=dtype,
                                         device=device) / sizes[i] ** 0.5)
        state.append(scale * torch.randn(E, sizes[i + 1], generator=generator, dtype=dtype, device=device))
    return tuple(state)


# ---------------------------------------------------- flat maps for Lie ranks
def flat_linear_outputs(d, r, k, X):
    """θ (r·d + k·r,) ↦ vec(W2 W1 X) for data X (n, d)."""

    def phi(theta):
        W1 = theta[: r * d].reshape(r, d)
        W2 = theta[r * d:].reshape(k, r)
        return (X @ W1.T @ W2.T).reshape(-1)

    return phi


def flat_relu_outputs(d, r, k, X):
    """θ = (U (r, d), b (r), A (k, r)) ↦ vec(relu(XUᵀ + b) Aᵀ); a polynomial map on
    the activation region of θ (autodiff's ReLU'' = 0 matches it there)."""

    def phi(theta):
        U = theta[: r * d].reshape(r, d)
        b = theta[r * d: r * d + r]
        A = theta[r * d + r:].reshape(k, r)
        return (torch.relu(X @ U.T + b) @ A.T).reshape(-1)

    return phi


__all__ = ["ACT", "loss_of_outputs", "make_targets", "linear_outputs", "balance_Q", "LINEAR_QUANTITIES",
           "mlp_outputs", "neuron_balance", "mlp_init", "flat_linear_outputs", "flat_relu_outputs"]


# ------------------------------------------- one simulation of a linear net
def linear_flow_run(params, ctx, steps: dict, T=1.0, draws=2, trajectory_decays=(0.0,), plot_step=1 / 32):
    """Integrate the flow of a two-layer linear net (loss params["loss"], data
    from ctx's generator) with GD and RK4 at the step sizes ``steps[method]``, honouring
    params["weight_decay"] and params["momentum"] (heavy-ball mass).  Returns
    numpy arrays: Q0_<q> (E, r, r) and QT_<method>_<q> (steps, E, r, r) for every
    candidate quantity q, and ‖Q(t)‖_F along an RK4 trajectory for each decay in
    ``trajectory_decays`` (key Qnorm_path_wd<100λ>; the plot of Q with and without weight decay)."""
    from .flows import integrate, with_momentum

    g = ctx.generator()
    d, r, k, n = params["d"], params["r"], params["k"], params["n"]
    E, dt, dev = draws, ctx.dtype, ctx.device
    X = torch.randn(E, n, d, generator=g, dtype=dt, device=dev)
    y = make_targets((E, n, k), params["loss"], g, dt, dev)
    s = params.get("init_scale", 1.0)
    W1 = s * torch.randn(E, r, d, generator=g, dtype=dt, device=dev) / d ** 0.5
    W2 = s * torch.randn(E, k, r, generator=g, dtype=dt, device=dev) / r ** 0.5

    def loss(state):
        return loss_of_outputs(linear_outputs(state, X), y, params["loss"])

    wd, mom = params.get("weight_decay", 0.0), params.get("momentum", 0.0)
    field, start, theta_of = with_momentum(loss, wd, mom, (W1, W2))
    out = {"T": T, **{f"steps_{m}": list(h) for m, h in steps.items()}}
    for name, q in LINEAR_QUANTITIES.items():
        out[f"Q0_{name}"] = q((W1, W2)).cpu().numpy()
    for method, hs in steps.items():
        finals = [theta_of(integrate(field, start, T, h, method)) for h in hs]
        for name, q in LINEAR_QUANTITIES.items():
            out[f"QT_{method}_{name}"] = torch.stack([q(st) for st in finals]).cpu().numpy()
    for lam in trajectory_decays:
        f2, s2, th2 = with_momentum(loss, lam, mom, (W1, W2))
        _, path = integrate(f2, s2, T, plot_step, "rk4",
                            record=lambda st: balance_Q(th2(st))[0].norm())
        out[f"Qnorm_path_wd{round(100 * lam)}"] = path.cpu().numpy()
    out["t"] = [T * i / round(T / plot_step) for i in range(round(T / plot_step) + 1)]
    return out


# ------------------------------- check getters on a linear_flow_run observation
STEPS = {"gd": [1 / 16, 1 / 32, 1 / 64, 1 / 128], "rk4": [1 / 8, 1 / 16, 1 / 32, 1 / 64]}
FLOOR = 1e-10  # drifts below this count as round-off accumulated over the run (≤ 128 steps)


def drifts(method):
    """max over draws of ‖Q_h(T) − factor·Q(0)‖_F for the predicted quantity (a
    norm, not the largest entry: entries whose h^p and h^(p+1) error terms
    cancel at coarse steps would bend the log-log slope)."""
    def get(pred, obs, params):
        q = pred["quantity"]
        QT, Q0 = np.asarray(obs[f"QT_{method}_{q}"]), np.asarray(obs[f"Q0_{q}"])
        diff = (QT - pred["factor"] * Q0[None]).reshape(QT.shape[0], QT.shape[1], -1)
        return np.linalg.norm(diff, axis=2).max(axis=1)
    return get


def limit_gap(pred, obs, params):
    """|Q_0(T) − factor·Q(0)| / (1 + max|Q(0)|), with Q_0(T) the Richardson limit of
    the two finest RK4 runs: Q(h/2) + (Q(h/2) − Q(h))/15."""
    q = pred["quantity"]
    QT, Q0 = np.asarray(obs[f"QT_rk4_{q}"]), np.asarray(obs[f"Q0_{q}"])
    lim = QT[-1] + (QT[-1] - QT[-2]) / 15
    return float(np.abs(lim - pred["factor"] * Q0).max() / (1 + np.abs(Q0).max()))


def theory_line(method, order):
    def get(pred, obs, params):
        d = drifts(method)(pred, obs, params)
        h = np.asarray(obs[f"steps_{method}"])
        return d[-1] * (h / h[-1]) ** order
    return get




# ------------------------------------------------ one simulation of a ReLU MLP
def mlp_flow_run(params, ctx, steps, activations, T=1.0, draws=2):
    """GD (explicit Euler) on an MLP of sizes params["sizes"] for each activation
    in ``activations`` (same data, same initial weights), honouring
    params["weight_decay"] and params["momentum"].  Returns, per activation a,
    Qn0_<a> (E, hidden) and QnT_<a> (steps, E, hidden): the per-neuron balances."""
    from .flows import integrate, with_momentum

    g = ctx.generator()
    sizes, n, dt, dev = params["sizes"], params["n"], ctx.dtype, ctx.device
    X = params.get("input_scale", 2.0) * torch.randn(draws, n, sizes[0], generator=g, dtype=dt, device=dev)
    y = make_targets((draws, n, sizes[-1]), params["loss"], g, dt, dev)
    state0 = mlp_init(draws, sizes, g, dt, dev, scale=params.get("init_scale", 1.0))
    wd, mom = params.get("weight_decay", 0.0), params.get("momentum", 0.0)
    out = {"steps_gd": list(steps), "T": T}
    for act in activations:
        def loss(state, act=act):
            return loss_of_outputs(mlp_outputs(state, X, act), y, params["loss"])

        field, start, theta_of = with_momentum(loss, wd, mom, state0)
        out[f"Qn0_{act}"] = neuron_balance(state0).cpu().numpy()
        out[f"QnT_{act}"] = torch.stack([neuron_balance(theta_of(integrate(field, start, T, h, "gd")))
                                         for h in steps]).cpu().numpy()
    return out
