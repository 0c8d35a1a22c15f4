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
    for li in range(L):
        W, b = state[2 * li], state[2 * li + 1]
        h = torch.einsum("eoi,eni->eno", W, h) + b[:, None, :]
        if li < L - 1:
            h = sigma(h)
    return h


def neuron_balance(state):
    """Per hidden neuron: ‖incoming weights‖² + bias² − ‖outgoing weights‖²,
    concatenated over hidden layers, shape (E, hidden neurons)."""
    L = len(state) // 2
    out = []
    for li in range(L - 1):
        W, b, Wn = state[2 * li], state[2 * li + 1], state[2 * li + 2]
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
           "mlp_outputs", "neuron_balance", "mlp_init", "flat_linear_outputs", "flat_relu_outputs",
           "linear_flow_batch", "mlp_flow_batch", "neuron_quantities", "replicas", "drifts", "limit_gap",
           "richardson", "median_replica", "replica_drifts", "FLOOR"]


# ------------------------------------------ batched simulation of linear nets
LOSSES = ("mse", "logistic", "cross_entropy")


def _linear_draw(params, generator, dtype, device):
    """One draw's data and initial weights, in a fixed order from its own generator."""
    d, r, k, n = params["d"], params["r"], params["k"], params["n"]
    X = torch.randn(n, d, generator=generator, dtype=dtype, device=device) / d ** 0.5  # ‖x‖² ≈ 1
    y = make_targets((1, n, k), params["loss"], generator, dtype, device)[0]
    s = params.get("init_scale", 1.0)
    W1 = s * torch.randn(r, d, generator=generator, dtype=dtype, device=device) / d ** 0.5
    W2 = s * torch.randn(k, r, generator=generator, dtype=dtype, device=device) / r ** 0.5
    return X, y, W1, W2


ENTRIES = 3  # independent drift entries per draw (see ``replicas``)


def replicas(laws: int) -> int:
    """Networks simulated per draw: 3 when the draw has fewer than ENTRIES scalar laws, else 1.

    The O(h^p) coefficient of one scalar law's drift is an integral of a
    difference (for a linear net with r = 1, ∫(‖∇_{W1}L‖² − ‖∇_{W2}L‖²)dt) that
    vanishes on a hypersurface of the parameters; near it the drift changes
    sign inside the step ladder and its log-log slope means nothing.  With
    several entries (a matrix law, several neurons) the drift norm has several
    such coefficients; with few, three independent networks (data and weights
    drawn one after the other from the draw's generator) are simulated and the
    check reads the one with the median slope (``median_replica``): one
    cancelled network does not decide the draw, while a quantity that is not
    conserved drifts in all three."""
    return 3 if laws < ENTRIES else 1


def linear_flow_batch(params_list, ctx, steps: dict, T: float = 1.0):
    """Gradient flow of two-layer linear nets f(x) = W2W1x, many draws and every
    step size of every integrator in one tensor program.

    Each draw simulates ``replicas(r(r+1)/2)`` networks (independent data and
    weights from its own generator).  Networks are zero-padded to the largest
    (n, d, r, k): padded samples carry weight 0, padded inputs are 0, padded
    hidden units and outputs start at 0 and get no gradient (their loss
    derivative is 0: MSE and logistic targets 0, cross-entropy logits masked to
    −inf), so each network follows exactly its own flow.  The gradient is
    written out: with G = ∂ℓ/∂(W2W1) (k×d), ∇_{W1}L = W2ᵀG, ∇_{W2}L = GW1ᵀ, plus
    λθ for weight decay λ; heavy-ball momentum (mass params["momentum"]) runs
    the second-order flow.  ``steps`` maps an integrator ("gd", "rk4") to its
    step sizes.  Returns one observation per draw: Q0_<q> (replicas×r×r),
    QT_<method>_<q> (steps×replicas×r×r) for each quantity q of
    LINEAR_QUANTITIES, steps_<method> (the sizes used, T/n), and ‖Q(t)‖_F of the
    first network along the finest RK4 run (t, Qnorm_path)."""
    from .flows import heavy_ball, integrate_ladder

    dt, dev = ctx.dtype, ctx.device
    owner = []  # network -> draw
    nets = []
    for b, (p, g) in enumerate(zip(params_list, ctx.generators())):
        for _ in range(replicas(p["r"] * (p["r"] + 1) // 2)):
            nets.append((p, _linear_draw(p, g, dt, dev)))
            owner.append(b)
    B = len(nets)
    N, D = max(p["n"] for p in params_list), max(p["d"] for p in params_list)
    R, K = max(p["r"] for p in params_list), max(p["k"] for p in params_list)
    X = torch.zeros(B, N, D, dtype=dt, device=dev)
    Y = torch.zeros(B, K, N, dtype=dt, device=dev)
    w = torch.zeros(B, 1, N, dtype=dt, device=dev)
    classes = torch.zeros(B, K, 1, dtype=torch.bool, device=dev)
    W1 = torch.zeros(B, R, D, dtype=dt, device=dev)
    W2 = torch.zeros(B, K, R, dtype=dt, device=dev)
    kind = torch.zeros(B, len(LOSSES), 1, 1, dtype=dt, device=dev)
    for b, (p, (Xb, yb, W1b, W2b)) in enumerate(nets):
        d, r, k, n = p["d"], p["r"], p["k"], p["n"]
        X[b, :n, :d], W1[b, :r, :d], W2[b, :k, :r] = Xb, W1b, W2b
        if p["loss"] == "cross_entropy":
            Y[b, :k, :n] = torch.nn.functional.one_hot(yb.long(), k).T.to(dt)
        else:
            Y[b, :k, :n] = yb.T
        w[b, 0, :n] = 1.0 / n
        classes[b, :k] = True
        kind[b, LOSSES.index(p["loss"])] = 1.0
    lam = ctx.tensor([p.get("weight_decay", 0.0) for p, _ in nets]).view(B, 1, 1)
    lam2 = ctx.tensor([0.0 if p.get("decay_first_layer_only") else p.get("weight_decay", 0.0)
                       for p, _ in nets]).view(B, 1, 1)
    mass = ctx.tensor([p.get("momentum", 0.0) for p, _ in nets])
    Xt = X.transpose(-1, -2)

    used = [LOSSES[i] for i in range(len(LOSSES)) if bool(kind[:, i].any())]

    def grad_field(state):
        A, C = state  # (S, B, R, D), (S, B, K, R)
        out = (C @ A) @ Xt  # (S, B, K, N)
        G = 0
        if "mse" in used:
            G = G + kind[:, 0] * (out - Y)
        if "logistic" in used:
            G = G + kind[:, 1] * (-Y * torch.sigmoid(-Y * out))
        if "cross_entropy" in used:
            # softmax over the real classes, written out (torch.softmax over a middle dimension
            # was measured at ~30 ms per call on a shared CPU)
            z = out.masked_fill(~classes, float("-inf"))
            e = torch.exp(z - z.amax(dim=-2, keepdim=True))
            G = G + kind[:, 2] * (e / e.sum(dim=-2, keepdim=True) - Y)
        GP = (G * w) @ X  # (S, B, K, D): ∂ℓ/∂(W2W1)
        return (-C.transpose(-1, -2) @ GP - lam * A, -GP @ A.transpose(-1, -2) - lam2 * C)

    momentum = bool((mass > 0).any())
    field = heavy_ball(grad_field, mass) if momentum else grad_field
    start = (W1, W2, torch.zeros_like(W1), torch.zeros_like(W2)) if momentum else (W1, W2)
    Q0 = {name: q((W1, W2)) for name, q in LINEAR_QUANTITIES.items()}
    finals, used_h, path = {}, {}, None
    for method, hs in steps.items():
        record = (lambda st: balance_Q(st[:2])[0].flatten(1).norm(dim=1)) if method == "rk4" else None
        got = integrate_ladder(field, start, T, hs, method, record=record)
        finals[method], used_h[method] = got[0][:2], np.array([T / n for n in got[1]])
        if record:
            path = got[2]
    QT = {(m, name): q(st) for m, st in finals.items() for name, q in LINEAR_QUANTITIES.items()}
    t = T * np.arange(path.shape[0]) / (path.shape[0] - 1) if path is not None else np.zeros(0)
    owner_t = torch.tensor(owner, device=dev)
    out = []
    for b, p in enumerate(params_list):
        r = p["r"]
        idx = torch.nonzero(owner_t == b).flatten()
        o = {"T": T, "t": t, "replicas": int(idx.numel()), **{f"steps_{m}": used_h[m] for m in steps}}
        for name in LINEAR_QUANTITIES:
            rr = 1 if name == "trace_w1" else r
            o[f"Q0_{name}"] = Q0[name][idx, :rr, :rr].cpu().numpy()
            for m in steps:
                o[f"QT_{m}_{name}"] = QT[(m, name)][:, idx, :rr, :rr].cpu().numpy()
        if path is not None:
            o["Qnorm_path"] = path[:, idx[0]].cpu().numpy()
        out.append(o)
    return out


# ------------------------------- check getters on a linear_flow_batch observation
FLOOR = 1e-12  # drifts below this count as round-off (accumulated over ≤ 128 steps: ~1e-14)


def replica_drifts(QT, Q0, factor=1.0) -> np.ndarray:
    """‖Q_h(T) − factor·Q(0)‖_F per step and replica: QT (steps, replicas, ...), Q0 (replicas, ...)."""
    QT, Q0 = np.asarray(QT, dtype=np.float64), np.asarray(Q0, dtype=np.float64)
    return np.linalg.norm((QT - factor * Q0[None]).reshape(QT.shape[0], QT.shape[1], -1), axis=2)


def median_replica(steps, per_replica: np.ndarray, floor: float = FLOOR) -> np.ndarray:
    """The drift curve (per step) of the replica whose log-log slope is the median
    (slopes over the points above ``floor``; a replica with fewer than two such
    points counts as the steepest).  One replica: its own curve."""
    k = per_replica.shape[1]
    if k == 1:
        return per_replica[:, 0]
    h = np.log(np.asarray(steps, dtype=np.float64))[:, None]
    keep = per_replica > floor
    y = np.log(np.where(keep, per_replica, 1.0))
    m = keep.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):  # least-squares slope per replica, kept points only
        hx = (h * keep).sum(0) / m
        hy = (y * keep).sum(0) / m
        slopes = (((h - hx) * (y - hy)) * keep).sum(0) / (((h - hx) ** 2) * keep).sum(0)
    slopes = np.where(m >= 2, slopes, np.inf)
    return per_replica[:, int(np.argsort(slopes, kind="stable")[(k - 1) // 2])]


def drifts(method):
    """Per step size: ‖Q_h(T) − e^{−ρT}Q(0)‖_F for the predicted quantity and rate ρ
    (a norm over the entries, not the largest entry), of the replica with the
    median slope (see ``replicas``: one replica whose O(h^p) coefficient happens
    to cancel does not decide the draw; a quantity that is not conserved drifts
    in every replica)."""
    def get(pred, obs, params):
        q = pred["quantity"]
        factor = np.exp(-float(pred["rate"]) * obs["T"])
        per = replica_drifts(obs[f"QT_{method}_{q}"], obs[f"Q0_{q}"], factor)
        return median_replica(obs[f"steps_{method}"], per)
    return get


def richardson(values, order, ratio=2.0):
    """The h → 0 limit of values at steps h_0 > h_1 > ... (ratio between
    consecutive steps), eliminating the h^order, h^(order+1), ... terms in turn
    (the Richardson table; len(values) − 1 terms)."""
    col = [np.asarray(v, dtype=np.float64) for v in values]
    p = order
    while len(col) > 1:
        f = ratio ** p
        col = [b + (b - a) / (f - 1) for a, b in zip(col[:-1], col[1:])]
        p += 1
    return col[0]


def limit_gap(pred, obs, params):
    """‖Q_0(T) − e^{−ρT}Q(0)‖_F / (1 + ‖Q(0)‖_F) over every replica, with Q_0(T) the
    Richardson limit of the three finest RK4 runs (h^4 and h^5 terms eliminated)."""
    q = pred["quantity"]
    factor = np.exp(-float(pred["rate"]) * obs["T"])
    QT, Q0 = np.asarray(obs[f"QT_rk4_{q}"]), np.asarray(obs[f"Q0_{q}"])
    lim = richardson(QT[-3:], 4)
    return float(np.linalg.norm(lim - factor * Q0) / (1 + np.linalg.norm(Q0)))


def theory_line(method, order):
    def get(pred, obs, params):
        d = drifts(method)(pred, obs, params)
        h = np.asarray(obs[f"steps_{method}"])
        return d[-1] * (h / h[-1]) ** order
    return get


# ------------------------------------------- batched simulation of ReLU MLPs
NEURON_QUANTITIES = ("balance", "no_bias", "sum")


def neuron_quantities(state):
    """Per hidden neuron (concatenated over hidden layers), for state = (W_1, b_1, …,
    W_L, b_L) with W_l (..., out, in), b_l (..., out): balance = ‖incoming weights‖² +
    bias² − ‖outgoing weights‖², no_bias = the same without the bias, sum = incoming +
    outgoing."""
    L = len(state) // 2
    parts = {q: [] for q in NEURON_QUANTITIES}
    for li in range(L - 1):
        W, b, Wn = state[2 * li], state[2 * li + 1], state[2 * li + 2]
        w_in, out = (W ** 2).sum(-1), (Wn ** 2).sum(-2)
        parts["balance"].append(w_in + b ** 2 - out)
        parts["no_bias"].append(w_in - out)
        parts["sum"].append(w_in + b ** 2 + out)
    return {q: torch.cat(v, dim=-1) for q, v in parts.items()}


def _mlp_draw(params, sizes, generator, dtype, device):
    n = params["n"]
    X = params.get("input_scale", 2.0) * torch.randn(n, sizes[0], generator=generator, dtype=dtype,
                                                     device=device) / sizes[0] ** 0.5
    y = make_targets((1, n, sizes[-1]), params["loss"], generator, dtype, device)[0]
    state = mlp_init(1, sizes, generator, dtype, device, scale=params.get("init_scale", 1.0))
    return X, y, [t[0] for t in state]


def mlp_flow_batch(params_list, ctx, steps, T: float = 1.0):
    """GD (explicit Euler) on MLPs f = W_L σ(… σ(W_1x + b_1) …) + b_L, many draws and
    every step size in one tensor program per depth; ``params["sizes"]`` gives the
    layer widths (draws of one call may differ in widths, not in depth).

    σ(z) = z for z > 0 and leak·z below (params["activation"] "relu": leak 0,
    "leaky_relu": params["leak"]), or tanh (params["activation"] == "tanh", the
    break).  The backward pass is written out (σ'(0) = leak: the law holds for
    any choice at the kink).  Loss: mean over samples of MSE or logistic; weight
    decay params["weight_decay"], heavy-ball momentum params["momentum"].  Each
    draw simulates ``replicas(hidden neurons)`` networks; widths are zero-padded
    (padded neurons have zero weights in and out: they stay 0 and change nothing).
    Returns per draw Q0_<q> (replicas × hidden) and QT_gd_<q> (steps × replicas ×
    hidden) for the per-neuron quantities of ``neuron_quantities``."""
    out = [None] * len(params_list)
    depths: dict = {}
    for i, p in enumerate(params_list):
        depths.setdefault(len(p["sizes"]), []).append(i)
    gens = ctx.generators()
    for idx in depths.values():
        got = _mlp_bucket([params_list[i] for i in idx], [gens[i] for i in idx], ctx, steps, T)
        for i, o in zip(idx, got):
            out[i] = o
    return out


def _mlp_bucket(params_list, gens, ctx, steps, T):
    from .flows import heavy_ball, integrate_ladder

    dt, dev = ctx.dtype, ctx.device
    nets, owner = [], []
    for b, (p, g) in enumerate(zip(params_list, gens)):
        hidden = sum(p["sizes"][1:-1])
        for _ in range(replicas(hidden)):
            nets.append((p, _mlp_draw(p, p["sizes"], g, dt, dev)))
            owner.append(b)
    B = len(nets)
    depth = len(params_list[0]["sizes"])
    S = [max(p["sizes"][li] for p in params_list) for li in range(depth)]
    N = max(p["n"] for p in params_list)
    X = torch.zeros(B, N, S[0], dtype=dt, device=dev)
    Y = torch.zeros(B, N, S[-1], dtype=dt, device=dev)
    w = torch.zeros(B, N, 1, dtype=dt, device=dev)
    state = [torch.zeros((B, S[li + 1], S[li]) if j == 0 else (B, S[li + 1]), dtype=dt, device=dev)
             for li in range(depth - 1) for j in range(2)]
    for b, (p, (Xb, yb, st)) in enumerate(nets):
        sz, n = p["sizes"], p["n"]
        X[b, :n, :sz[0]], Y[b, :n, :sz[-1]], w[b, :n] = Xb, yb, 1.0 / n
        for li in range(depth - 1):
            state[2 * li][b, :sz[li + 1], :sz[li]] = st[2 * li]
            state[2 * li + 1][b, :sz[li + 1]] = st[2 * li + 1]
    per = lambda f: ctx.tensor([f(p) for p, _ in nets])  # noqa: E731
    leak = per(lambda p: 0.0 if p["activation"] == "relu" else p.get("leak", 0.1)).view(B, 1, 1)
    tanh = per(lambda p: float(p["activation"] == "tanh")).view(B, 1, 1)
    logistic = per(lambda p: float(p["loss"] == "logistic")).view(B, 1, 1)
    lam = per(lambda p: p.get("weight_decay", 0.0))
    mass = per(lambda p: p.get("momentum", 0.0))
    any_tanh, any_log = bool(tanh.any()), bool(logistic.any())
    L = depth - 1

    def act(z):
        s = torch.where(z > 0, z, leak * z)
        ds = torch.where(z > 0, torch.ones_like(z), leak.expand_as(z))
        if any_tanh:
            t = torch.tanh(z)
            s, ds = torch.where(tanh > 0, t, s), torch.where(tanh > 0, 1 - t * t, ds)
        return s, ds

    def grad_field(st):
        hs, dss = [X], []
        for li in range(L):
            z = hs[-1] @ st[2 * li].transpose(-1, -2) + st[2 * li + 1].unsqueeze(-2)
            if li < L - 1:
                h, ds = act(z)
                hs.append(h)
                dss.append(ds)
        g = z - Y
        if any_log:
            g = torch.where(logistic > 0, -Y * torch.sigmoid(-Y * z), g)
        delta = g * w
        grads = [None] * (2 * L)
        for li in range(L - 1, -1, -1):
            grads[2 * li] = delta.transpose(-1, -2) @ hs[li]
            grads[2 * li + 1] = delta.sum(-2)
            if li > 0:
                delta = (delta @ st[2 * li]) * dss[li - 1]
        return tuple(-gr - lam.view((1, -1) + (1,) * (gr.dim() - 2)) * th for gr, th in zip(grads, st))

    momentum = bool((mass > 0).any())
    field = heavy_ball(grad_field, mass) if momentum else grad_field
    start = tuple(state) + tuple(torch.zeros_like(t) for t in state) if momentum else tuple(state)
    final, ns = integrate_ladder(field, start, T, steps, "gd")
    Q0, QT = neuron_quantities(tuple(state)), neuron_quantities(final[:len(state)])
    owner_t = torch.tensor(owner, device=dev)
    out = []
    for b, p in enumerate(params_list):
        idx = torch.nonzero(owner_t == b).flatten()
        cols = torch.cat([torch.arange(p["sizes"][li]) + sum(S[1:li]) for li in range(1, depth - 1)]).to(dev)
        o = {"T": T, "steps_gd": np.array([T / k for k in ns]), "replicas": int(idx.numel())}
        for q in NEURON_QUANTITIES:
            o[f"Q0_{q}"] = Q0[q][idx][:, cols].cpu().numpy()
            o[f"QT_gd_{q}"] = QT[q][:, idx][:, :, cols].cpu().numpy()
        out.append(o)
    return out
