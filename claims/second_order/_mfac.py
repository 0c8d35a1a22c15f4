"""M-FAC's inverse-Fisher-vector product (Frantar, Kurtic, Alistarh 2021).

F = λI + (1/m) Σ_k g_k g_kᵀ.  Sherman–Morrison applied m times:

    F⁻¹x = x/λ − Σ_k v_k (v_kᵀx) / (m + g_kᵀv_k),   v_k = F_{k−1}⁻¹ g_k,   F_0 = λI,

where each v_k is itself computed by the same recursion over the earlier v_j.
Precomputation (all v_k and denominators): O(d m²); one product: two (m × d)
matrix–vector products, O(d m).  Two implementations: the paper's m × m
coefficient table from the Gram matrix (numpy, :func:`ihvp`, the derive side)
and the v_k built in R^d (torch, batched, :func:`mfac_vectors`, the simulation).  Everything is
batched over draws: gradients are zero-padded to (B, M, D); a zero gradient adds nothing to F and
contributes v = 0, so padding changes no draw's result (the true m of each
draw enters the denominators and the 1/m weight).
"""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp
import torch
from torch.overrides import TorchFunctionMode


def problem(params) -> tuple[np.ndarray, float, np.ndarray]:
    """(G, λ, x) of a draw: m gradients in R^d (rows of G) with norms spread
    over 10^{±norm_spread/2}, λ relative to the mean ‖g‖²/m, and a query x in
    span(g) plus noise."""
    rng = np.random.default_rng(params["data_seed"])
    d, m = params["d"], params["m"]
    G = rng.standard_normal((m, d))
    G *= 10.0 ** (params["norm_spread"] * (rng.random((m, 1)) - 0.5))
    lam = params["lam_rel"] * float(np.mean(np.sum(G**2, axis=1))) / m
    x = G.T @ rng.standard_normal(m) + 0.1 * np.sqrt(np.mean(np.sum(G**2, axis=1)) / d) * rng.standard_normal(d)
    return G, lam, x


def mfac_vectors(G: torch.Tensor, lam: torch.Tensor, m: torch.Tensor, den_scale: float = 1.0,
                 den_offset: float = 0.0):
    """v_k and the denominators den_k = den_scale·m + den_offset + g_kᵀv_k for
    a batch: G (B, M, D), lam (B,), m (B,) true numbers of gradients.  The
    scale / offset are the formula's constants (1, 0); mutants change them."""
    B, M, D = G.shape
    V = torch.zeros_like(G)
    den = torch.ones(B, M, dtype=G.dtype, device=G.device)
    for k in range(M):
        g = G[:, k]
        v = g / lam[:, None]
        if k:
            Vk = V[:, :k]
            coef = (Vk @ g[:, :, None]).squeeze(-1) / den[:, :k]
            v = v - (coef[:, None, :] @ Vk).squeeze(1)
        V[:, k] = v
        den[:, k] = den_scale * m + den_offset + (g * v).sum(-1)
    return V, den


def mfac_apply(V: torch.Tensor, den: torch.Tensor, lam: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """F⁻¹x for a batch: x (B, D) -> (B, D); two (m × d) products per draw."""
    c = (V @ x[:, :, None]).squeeze(-1) / den
    return x / lam[:, None] - (c[:, None, :] @ V).squeeze(1)


def ihvp(G: np.ndarray, lam: float, x: np.ndarray, den_scale: float = 1.0, den_offset: float = 0.0) -> np.ndarray:
    """The recursion for one draw as the paper computes it: an m × m table of
    coefficients from the Gram matrix K = GGᵀ (v_k = Σ_l C_kl g_l, so
    v_jᵀg_k = (C K)_jk), then F⁻¹x = x/λ − Gᵀ Cᵀ diag(1/den) C (Gx).  numpy,
    float64; a different implementation from :func:`mfac_vectors` (which
    builds the v_k in R^d)."""
    m = G.shape[0]
    K = G @ G.T
    C = np.zeros((m, m))
    den = np.zeros(m)
    for k in range(m):
        c = np.zeros(m)
        c[k] = 1.0 / lam
        if k:
            c -= (C[:k] @ K[:, k] / den[:k]) @ C[:k]
        C[k] = c
        den[k] = den_scale * m + den_offset + c @ K[:, k]
    return x / lam - G.T @ (C.T @ ((C @ (G @ x)) / den))


class _MatmulWork(TorchFunctionMode):
    """Counts the multiply–add work of matrix products (2·k per output entry)."""

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "")
        if name in ("matmul", "__matmul__", "__rmatmul__", "mm", "bmm"):
            a = args[1] if name == "__rmatmul__" else args[0]
            self.flops += 2 * a.shape[-1] * out.numel()
        return out


def matmul_flops(fn, *shapes) -> int:
    """Matrix-product work of ``fn`` on zero tensors of the given shapes (O(d)
    elementwise work is not counted).  Deterministic: a statement about
    operation counts, not about the clock."""
    args = [torch.zeros(s, dtype=torch.float64) for s in shapes]
    with _MatmulWork() as counter:
        fn(*args)
    return counter.flops


def cost_exponents(d: int, m: int) -> dict:
    """Log-log slopes of the matrix-product work of one product F⁻¹x (in d and
    in m) and of the precomputation (in d), between a size and four times it."""
    def query(d_, m_):
        return matmul_flops(mfac_apply, (1, m_, d_), (1, m_), (1,), (1, d_))

    def pre(d_, m_):
        return matmul_flops(mfac_vectors, (1, m_, d_), (1,), (1,))

    m_pre = 2  # the first gradient needs no products; the second shows the d-dependence
    return {"query_exp_d": float(np.log(query(4 * d, m) / query(d, m)) / np.log(4)),
            "query_exp_m": float(np.log(query(d, 4 * m) / query(d, m)) / np.log(4)),
            "pre_exp_d": float(np.log(pre(4 * d, m_pre) / pre(d, m_pre)) / np.log(4))}


@functools.lru_cache(maxsize=1)
def symbolic_identity() -> bool:
    """sympy, one Sherman–Morrison step (the recursion is m of them): for a
    symbolic symmetric invertible B (2×2), A = B⁻¹, symbolic g and m,
    (A + ggᵀ/m)(B − vvᵀ/(m + gᵀv)) − I with v = Bg cancels to 0.  (In any
    dimension the residual is g vᵀ·(1/m − 1/(m+q) − q/(m(m+q))), q = gᵀBg.)"""
    m = sp.Symbol("m", positive=True)
    b = sp.symbols("b0:3")
    B = sp.Matrix([[b[0], b[1]], [b[1], b[2]]])
    g = sp.Matrix(sp.symbols("g0:2"))
    v = B * g
    residual = (B.inv() + g * g.T / m) * (B - v * v.T / (m + (g.T * v)[0])) - sp.eye(2)
    q = sp.Symbol("q", positive=True)
    scalar = sp.cancel(1 / m - 1 / (m + q) - q / (m * (m + q)))
    return bool(all(sp.cancel(e) == 0 for e in residual) and scalar == 0)


def buckets(sizes, chunk: int = 32):
    """Indices grouped by size (sorted), ``chunk`` at a time: padding inside a
    group stays small."""
    order = np.argsort(np.asarray(sizes), kind="stable")
    return [order[i:i + chunk].tolist() for i in range(0, len(order), chunk)]
