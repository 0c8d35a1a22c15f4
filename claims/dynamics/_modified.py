"""Backward error analysis of GD and shuffled SGD: the exact coefficient (sympy) and the batched
simulations (GD / SGD ladders, RK4 flows of L + κR for a grid of κ) of ``dynamics.modified_loss``.

Loss families, each a mean of m minibatch losses L̂_k (GD runs on L = (1/m)Σ L̂_k):
  quadratic  L̂_k = ½(θ − b_k)ᵀA_k(θ − b_k), θ ∈ R⁴, A_k with condition number `cond`
  poly2d     L̂_k = x⁴/4 + y⁴/4 + Σ_{1≤i+j≤3} a^k_ij xⁱyʲ  (non-convex, coercive; a^k = a + 0.3·ξ_k,
             cubic coefficients ≤ 0.4)
  mlp        ½·mean over batch k of (vᵀtanh(Wx + c) − y)², 2 → 3 → 1 (12 parameters), 12 points
  logistic   mean over batch k of log(1 + e^{−y xᵀθ}) + ½ρ‖θ‖², θ ∈ R³
Every family gives per-minibatch gradients and Hessian-vector products in closed form (checked
against autograd in the tests), batched over rows."""
from __future__ import annotations

import functools
import itertools

import numpy as np
import sympy as sp

H_MAX_EXP, H_MIN_EXP = 4, 7            # the ladder h = 2^-4 … 2^-7 (quick); down to 2^-9 with ctx.large
MOD_MAX_EXP = 5                        # errors against the modified flows for h ≤ 2^-5
FLOW_STEPS_PER_UNIT = 64               # RK4 steps per unit time for the flows (error ≲ 3e-7, tested)
N_KAPPA = 7                            # Chebyshev–Lobatto nodes in κ ∈ [0, κ_max]
KAPPA_MAX = 0.6 * 2.0 ** -MOD_MAX_EXP  # covers c·h for c ≤ 0.6 and every h ≤ 2^-5
M_MAX = 4                              # minibatches are padded to 4 (weight 0)
MLP_HIDDEN, MLP_POINTS = 3, 12
MONOMIALS = [(1, 0), (0, 1), (2, 0), (1, 1), (0, 2), (3, 0), (2, 1), (1, 2), (0, 3)]


def ladder(ctx) -> np.ndarray:
    lo = H_MIN_EXP + (2 if getattr(ctx, "large", False) else 0)
    return 2.0 ** -np.arange(H_MAX_EXP, lo + 1)


def horizon(params) -> float:
    """T rounded to a multiple of m·2^-4, so that every h of the ladder fits whole epochs."""
    unit = params["m"] * 2.0 ** -H_MAX_EXP
    return max(1, round(params["T"] / unit)) * unit


def kappa_nodes() -> np.ndarray:
    j = np.arange(N_KAPPA)
    return KAPPA_MAX * (1 - np.cos(np.pi * j / (N_KAPPA - 1))) / 2


def interpolate(nodes: np.ndarray, values: np.ndarray, x: float) -> np.ndarray:
    """Barycentric (Chebyshev–Lobatto weights) interpolation of values (N, p) at x."""
    N = len(nodes)
    w = np.array([(-1.0) ** j * (0.5 if j in (0, N - 1) else 1.0) for j in range(N)])
    diff = x - nodes
    hit = np.flatnonzero(diff == 0)
    if hit.size:
        return values[hit[0]]
    q = w / diff
    return (q[:, None] * values).sum(0) / q.sum()


def derivative_at_zero(nodes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """d/dκ of the interpolating polynomial at κ = nodes[0] = 0 (differentiation matrix row)."""
    N = len(nodes)
    c = np.array([(2.0 if j in (0, N - 1) else 1.0) * (-1.0) ** j for j in range(N)])
    row = np.zeros(N)
    for j in range(1, N):
        row[j] = c[0] / c[j] / (nodes[0] - nodes[j])
    row[0] = -row[1:].sum()
    return row @ values


# ---- exact side -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def coefficient() -> dict:
    """sympy, backward error analysis.  For the flow of F = −∇L − c·h·∇R, its time-h map is
    θ + hF₀ + h²(F₁ + ½DF₀F₀) + O(h³) (F₀ = −∇L, F₁ = −c∇R).
    GD (R = ‖∇L‖²): one step θ − h∇L has no h² term, so −c∇‖∇L‖² + ½∇²L∇L = 0, solved for c
    on a generic bivariate polynomial: c = 1/4 is the only solution; the h³ terms differ.
    Shuffled SGD, m = 2, 3, 4 (R = (1/m)Σ‖∇L̂_k‖², one epoch = m steps = time m·h): the mean over
    the m! orderings of the epoch map against the flow's time-mh map, on univariate minibatch
    polynomials: again c = 1/4."""
    x, y, h, c = sp.symbols("x y h c")
    th = sp.Matrix([x, y])

    def grad(L):
        return sp.Matrix([sp.diff(L, x), sp.diff(L, y)])

    def D(F):
        return F.jacobian(th)

    L = x**4 / 4 + y**4 / 4 + x**2 * y - 2 * x * y**2 / 3 + x * y / 2 + y / 3  # generic, non-convex
    g = grad(L)
    F0, F1 = -g, -c * grad((g.T * g)[0])
    # the flow's time-h map: θ + hF₀ + h²(F₁ + ½DF₀F₀) + h³(½(DF₀F₁ + DF₁F₀) + ⅙D(DF₀F₀)F₀) + O(h⁴);
    # one GD step θ − h∇L = θ + hF₀ has no h², h³ terms
    h2 = F1 + D(F0) * F0 / 2
    eqs = [e for comp in h2 for e in sp.Poly(sp.expand(comp), x, y).coeffs()]
    sol_gd = sp.solve(eqs, c, dict=True)
    assert sol_gd == [{c: sp.Rational(1, 4)}]
    # the h³ terms do not match (shown on a univariate slice L(z) = z⁴/4 + z³/3 + z)
    z = sp.Symbol("z")
    f0 = -sp.diff(z**4 / 4 + z**3 / 3 + z, z)
    f1 = -sp.Rational(1, 4) * sp.diff(f0**2, z)
    h3 = (sp.diff(f0, z) * f1 + sp.diff(f1, z) * f0) / 2 + sp.diff(sp.diff(f0, z) * f0, z) * f0 / 6
    assert sp.expand(h3) != 0

    sgd = {}
    for m in (2, 3, 4):  # univariate minibatch losses (Dg commutes, the h² equation is the same kind)
        gs = [sp.diff(z**4 / 4 + (k + 1) * z**3 / 5 - k * z**2 / 7 + (k - 1) * z / 3, z) for k in range(m)]
        dg = [sp.diff(gk, z) for gk in gs]
        # one epoch in order π to O(h²): z − hΣg + h²Σ_{i<j} g′_{π_j} g_{π_i}; mean over the m! orders
        perms = list(itertools.permutations(range(m)))
        h2_sgd = sum(sum(dg[pm[j]] * gs[pm[i]] for j in range(m) for i in range(j)) for pm in perms) / len(perms)
        gbar = sum(gs) / m
        R = sum(gk**2 for gk in gs) / m
        # flow of −∇(L̄ + c h R) over τ = m h: the h² coefficient is −m c R′ + (m²/2) L̄″ L̄′
        h2_flow = -m * c * sp.diff(R, z) + sp.Rational(m * m, 2) * sp.diff(gbar, z) * gbar
        eqs = sp.Poly(sp.expand(h2_flow - h2_sgd), z).coeffs()
        sgd[m] = sp.solve(eqs, c, dict=True)
        assert sgd[m] == [{c: sp.Rational(1, 4)}]
    return {"c": sp.Rational(1, 4), "gd": sol_gd, "sgd": sgd}


# ---- loss families (batched, closed-form derivatives) -------------------------------------------

def _pick(t, slot):
    """The minibatch axis (1) of a per-row array, all slots or the row's own slot."""
    if slot is None:
        return t
    return t[np.arange(t.shape[0]), slot][:, None]


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class Quadratic:
    def __init__(self, A, b):
        self.A, self.b = A, b  # (R, M, p, p), (R, M, p)

    def grads(self, th, slot=None):
        A, b = _pick(self.A, slot), _pick(self.b, slot)
        return (A @ (th[:, None, :] - b)[..., None])[..., 0]

    def hvps(self, th, V):
        return (self.A @ V[..., None])[..., 0]


class Poly2d:
    """Coefficient matrices over the monomials xⁱyʲ (i, j ≤ 3) of ∂x, ∂y, ∂xx, ∂xy, ∂yy, from a."""

    def __init__(self, a):
        R, M, _ = a.shape
        C = np.zeros((R, M, 5, 4, 4))  # (gx, gy, hxx, hxy, hyy)
        for q, (i, j) in enumerate(MONOMIALS):
            if i:
                C[:, :, 0, i - 1, j] += a[..., q] * i
            if j:
                C[:, :, 1, i, j - 1] += a[..., q] * j
            if i >= 2:
                C[:, :, 2, i - 2, j] += a[..., q] * i * (i - 1)
            if i and j:
                C[:, :, 3, i - 1, j - 1] += a[..., q] * i * j
            if j >= 2:
                C[:, :, 4, i, j - 2] += a[..., q] * j * (j - 1)
        C[:, :, 0, 3, 0] += 1.0  # x⁴/4 → x³
        C[:, :, 1, 0, 3] += 1.0
        C[:, :, 2, 2, 0] += 3.0  # → 3x²
        C[:, :, 4, 0, 2] += 3.0
        self.C = C

    @staticmethod
    def _eval(th, C):
        x, y = th[:, 0], th[:, 1]
        px = np.stack([np.ones_like(x), x, x * x, x * x * x], 1)
        py = np.stack([np.ones_like(y), y, y * y, y * y * y], 1)
        return np.einsum("rmkij,ri,rj->rmk", C, px, py)

    def grads(self, th, slot=None):
        return self._eval(th, _pick(self.C[:, :, :2], slot))

    def hvps(self, th, V):
        h = self._eval(th, self.C[:, :, 2:])
        vx, vy = V[..., 0], V[..., 1]
        return np.stack([h[..., 0] * vx + h[..., 1] * vy, h[..., 1] * vx + h[..., 2] * vy], -1)


class MLP:
    """f(x) = vᵀtanh(Wx + c), x ∈ R²; θ = (W (3×2) row-major, c (3), v (3))."""

    def __init__(self, X, Y):
        self.X, self.Y = X, Y  # (R, M, nb, 2), (R, M, nb)

    @staticmethod
    def split(th):
        R, H = th.shape[0], MLP_HIDDEN
        W = th[:, : 2 * H].reshape(R, 1, 1, H, 2)
        return W[..., 0], W[..., 1], th[:, 2 * H: 3 * H].reshape(R, 1, 1, H), th[:, 3 * H:].reshape(R, 1, 1, H)

    @staticmethod
    def _pack(d, X, last):
        R, M = d.shape[:2]
        gW = np.einsum("rmnh,rmnd->rmhd", d, X).reshape(R, M, -1)
        return np.concatenate([gW, d.sum(2), last], -1) / X.shape[2]

    def grads(self, th, slot=None):
        X, Y = _pick(self.X, slot), _pick(self.Y, slot)
        W0, W1, c, v = self.split(th)
        a = np.tanh(X[..., 0:1] * W0 + X[..., 1:2] * W1 + c)   # (R, M, nb, H)
        r = (a * v).sum(-1, keepdims=True) - Y[..., None]       # (R, M, nb, 1)
        return self._pack(r * v * (1 - a * a), X, (r * a).sum(2))

    def hvps(self, th, V):
        X, Y = self.X, self.Y
        W0, W1, c, v = self.split(th)
        H = MLP_HIDDEN
        R, M = V.shape[:2]
        dW = V[..., : 2 * H].reshape(R, M, 1, H, 2)
        dc = V[..., 2 * H: 3 * H].reshape(R, M, 1, H)
        dv = V[..., 3 * H:].reshape(R, M, 1, H)
        x0, x1 = X[..., 0:1], X[..., 1:2]
        a = np.tanh(x0 * W0 + x1 * W1 + c)
        r = (a * v).sum(-1, keepdims=True) - Y[..., None]
        s = 1 - a * a
        Ra = s * (x0 * dW[..., 0] + x1 * dW[..., 1] + dc)        # R{a}
        Rr = (dv * a).sum(-1, keepdims=True) + (v * Ra).sum(-1, keepdims=True)
        dR = Rr * v * s + r * (dv * s - 2 * v * a * Ra)          # R{δ}
        return self._pack(dR, X, (Rr * a + r * Ra).sum(2))


class Logistic:
    def __init__(self, X, Y, rho):
        self.X, self.Y, self.rho = X, Y, rho  # (R, M, nb, p), (R, M, nb), (R, 1, 1)

    def grads(self, th, slot=None):
        X, Y = _pick(self.X, slot), _pick(self.Y, slot)
        z = Y * np.einsum("rmnp,rp->rmn", X, th)
        return np.einsum("rmn,rmnp->rmp", -Y * _sigmoid(-z), X) / X.shape[2] + self.rho * th[:, None, :]

    def hvps(self, th, V):
        z = self.Y * np.einsum("rmnp,rp->rmn", self.X, th)
        s = _sigmoid(z)
        xv = np.einsum("rmnp,rmp->rmn", self.X, V)
        return np.einsum("rmn,rmnp->rmp", s * (1 - s) * xv, self.X) / self.X.shape[2] + self.rho * V


DIMS = {"quadratic": 4, "poly2d": 2, "mlp": 3 * MLP_HIDDEN + 3, "logistic": 3}


def problem(params) -> dict:
    """The draw's minibatch losses (padded to M_MAX slots; weight w_k = 1/m on the real ones, 0 on
    the padding) and starting point, from data_seed (numpy)."""
    rng = np.random.default_rng(params["data_seed"])
    m, fam = params["m"], params["loss"]
    p = DIMS[fam]
    if fam == "quadratic":
        A = np.empty((m, p, p))
        for k in range(m):
            q, _ = np.linalg.qr(rng.standard_normal((p, p)))
            eig = params["cond"] ** -np.linspace(0, 1, p) * rng.uniform(0.8, 1.2, p)
            A[k] = (q * eig) @ q.T
        out = {"A": A, "b": rng.standard_normal((m, p)), "theta0": rng.standard_normal(p)}
    elif fam == "poly2d":
        # minibatch polynomials: a shared part and their own; cubic terms ≤ 0.4 keep the minima within
        # |θ| ≲ 2 (curvature ≲ 12 along the paths: h·λ ≤ 0.75 on the whole ladder)
        scale = np.array([1.0 if i + j < 3 else 0.4 for i, j in MONOMIALS])
        base = rng.uniform(-1, 1, len(MONOMIALS)) * scale
        out = {"a": base + 0.3 * scale * rng.uniform(-1, 1, (m, len(MONOMIALS))), "theta0": rng.uniform(-1, 1, 2)}
    elif fam == "mlp":
        X = rng.standard_normal((MLP_POINTS, 2))
        Y = np.sin(2 * X[:, 0]) * np.cos(X[:, 1])
        per = MLP_POINTS // M_MAX                      # 3 points per minibatch, m·3 points in all
        idx = rng.permutation(MLP_POINTS)[: per * m].reshape(m, per)
        out = {"X": X[idx], "Y": Y[idx], "theta0": rng.standard_normal(p) * 0.8}
    else:
        n = 4 * m * 3
        X = rng.standard_normal((n, p))
        Y = np.sign(X @ rng.standard_normal(p) + 0.5 * rng.standard_normal(n))
        idx = np.arange(n).reshape(m, -1)
        out = {"X": X[idx], "Y": Y[idx], "rho": 0.005 * params["cond"] ** 0.5, "theta0": rng.standard_normal(p)}
    for key in ("A", "b", "a", "X", "Y"):
        if key in out:  # pad the minibatch axis with copies of batch 0 (weight 0)
            pad = np.repeat(out[key][:1], M_MAX - m, axis=0)
            out[key] = np.concatenate([out[key], pad], axis=0)
    out["w"] = np.r_[np.full(m, 1.0 / m), np.zeros(M_MAX - m)]
    return out


def family(fam: str, probs: list, rows_per: int):
    """A batched family over len(probs)·rows_per rows (each problem repeated rows_per times)."""
    def stack(key):
        return np.repeat(np.stack([pr[key] for pr in probs]), rows_per, axis=0)

    if fam == "quadratic":
        return Quadratic(stack("A"), stack("b"))
    if fam == "poly2d":
        return Poly2d(stack("a"))
    if fam == "mlp":
        return MLP(stack("X"), stack("Y"))
    return Logistic(stack("X"), stack("Y"), np.repeat([pr["rho"] for pr in probs], rows_per)[:, None, None])


# ---- processes (numpy: the problems have ≤ 12 parameters, so the cost is per operation, and a
# numpy operation costs a fraction of a torch one on the CPU) ------------------------------------

def gd_ladder(fam, w, th0, hs, Ts):
    """GD on L = Σ_k w_k L̂_k for T/h steps, each h of the ladder; rows: draws (own T each)."""
    out = []
    for h in hs:
        n = np.round(Ts / h).astype(int)[:, None]
        th = th0.copy()
        for t in range(int(n.max())):
            th = np.where(n > t, th - h * (w[..., None] * fam.grads(th)).sum(1), th)
        out.append(th)
    return np.stack(out, 1)


def sgd_ladder(fam, ms, th0, hs, Ts):
    """Shuffled SGD, step h per minibatch, epochs of m steps, with the m! orderings of every epoch
    averaged (the averaged epoch map; equal to E[θ] over independent reshuffles up to O(h³) over a
    fixed T).  Draws with m < 4 run on 4 slots whose padded batches do nothing: the 24 orderings
    of 4 slots give every ordering of the m real batches equally often.  fam has 24 rows per draw
    (draw-major); th0 (draws, p)."""
    perms = np.array(list(itertools.permutations(range(M_MAX))))
    P = perms.shape[0]
    R, p = th0.shape
    order = np.tile(perms, (R, 1))                                   # (R·P, 4)
    real = np.repeat(ms, P)[:, None] > np.arange(M_MAX)
    rows = np.arange(R * P)
    out = []
    for h in hs:
        epochs = np.repeat(np.round(Ts / (ms * h)).astype(int), P)[:, None]
        th = np.repeat(th0, P, axis=0)
        for e in range(int(epochs.max())):
            start = th
            for j in range(M_MAX):
                k = order[:, j]
                live = real[rows, k][:, None] & (epochs > e)
                th = np.where(live, th - h * fam.grads(th, k)[:, 0], th)
            th = np.repeat(th.reshape(R, P, p).mean(1), P, axis=0)
            th = np.where(epochs > e, th, start)
        out.append(th.reshape(R, P, p)[:, 0])
    return np.stack(out, 1)


def flow_field(fam, w, kappa, sgd_ref):
    """θ' = −∇L − κ∇R with L = Σ w_k L̂_k: R = ‖∇L‖² (GD's modifier, ∇R = 2Σ w_k H_k∇L) or, on rows
    with sgd_ref, R = Σ w_k‖∇L̂_k‖² (SGD's, ∇R = 2Σ w_k H_k∇L̂_k)."""

    def F(th):
        G = fam.grads(th)
        g = (w[..., None] * G).sum(1)
        V = np.where(sgd_ref[:, None, None], G, g[:, None, :])
        return -g - kappa * 2 * (w[..., None] * fam.hvps(th, V)).sum(1)

    return F


def rk4_rows(F, th, Trow, steps: int):
    dt = Trow / steps
    for _ in range(steps):
        k1 = F(th)
        k2 = F(th + 0.5 * dt * k1)
        k3 = F(th + 0.5 * dt * k2)
        k4 = F(th + dt * k3)
        th = th + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return th
