"""Training unconstrained-features models (UFM), many problems in one tensor program.

A *problem* is one UFM to train: its class counts, feature dimension, weight
decays (and for deep linear UFMs its number of weight layers).  Problems of a
batch may differ in every size: they are zero-padded to the largest K, d, N
(and number of layers), with masks that make each padded problem *exactly*
the original one — padded samples carry no loss, padded classes get −∞
logits (cross-entropy) or no target (MSE), padded feature dimensions and
classes start at 0 and receive exactly zero gradient, and missing layers of a
shallower deep-linear problem are frozen identities.  So a problem trains the
same whether it is alone or in a batch (the tests compare both).

Losses come with analytic gradients (no autograd on the hot path: the
problems are tiny and a training run is thousands of small tensor operations,
so what costs is the number of operations, not their size; products are
``torch.bmm``, the cheapest batched product at these sizes).

Training is a batched L-BFGS (:func:`lbfgs`; for the sphere-constrained
contrastive problem, spectral projected gradient, :func:`spg`) with its own
memory, step and line search per problem (problems never share curvature
information or step sizes), so a problem's iterates do not depend on the
other problems of its batch; once at most half of a batch is still moving,
the finished problems leave the tensors (``take``), so a few slow problems
do not keep paying for the whole batch.  A problem stops once its
certificate — the gradient norm, or for a constrained problem the norm of
the projected-gradient map — is ≤ ``grad_tol``.  A problem without a
certificate is *not converged*; :class:`BestCertified` turns that into an
undecidable draw instead of a pass or a fail (DESIGN.md: a non-convex run
that did not converge, or landed at a worse point, is not a
counterexample).  For deep linear problems :meth:`MSEProblems.escape` adds
back a direction of the product that training left at zero (a local
minimum for three or more factors), which a caller trains and keeps only
if it ends lower.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch

from ..verdict import Inconclusive
from .collapse import mm

NEG = -1e300  # logit of a padded class: exp underflows to exactly 0


# ---- data ----------------------------------------------------------------------

def labels_from_counts(counts: Sequence[int], device="cpu") -> torch.Tensor:
    """Sample labels, class k repeated n_k times."""
    return torch.cat([torch.full((int(n),), k, dtype=torch.long, device=device) for k, n in enumerate(counts)])


@dataclass
class Layout:
    """Padded shapes of a batch of problems (leading dimension B)."""
    K: int
    d: int
    N: int
    cls: torch.Tensor      # (B, K) real classes
    dim: torch.Tensor      # (B, d) real feature dimensions
    smp: torch.Tensor      # (B, N) real samples
    labels: torch.Tensor   # (B, N) labels (0 for padded samples)
    Y: torch.Tensor        # (B, K, N) one-hot targets of real samples
    n_real: torch.Tensor   # (B,) number of real samples
    counts: list           # per problem, its class counts
    dims: list             # per problem, its feature dimension

    @property
    def B(self) -> int:
        return self.cls.shape[0]

    def take(self, idx: torch.Tensor) -> "Layout":
        """The problems ``idx`` (same padded sizes)."""
        rows = idx.tolist()
        return Layout(self.K, self.d, self.N, self.cls[idx], self.dim[idx], self.smp[idx], self.labels[idx],
                      self.Y[idx], self.n_real[idx], [self.counts[i] for i in rows], [self.dims[i] for i in rows])


def layout(counts_list: Sequence[Sequence[int]], dims: Sequence[int], dtype=torch.float64, device="cpu") -> Layout:
    B = len(counts_list)
    K = max(len(c) for c in counts_list)
    N = max(sum(int(n) for n in c) for c in counts_list)
    d = max(int(x) for x in dims)
    cls = torch.zeros(B, K, dtype=torch.bool, device=device)
    dim = torch.zeros(B, d, dtype=torch.bool, device=device)
    smp = torch.zeros(B, N, dtype=torch.bool, device=device)
    labels = torch.zeros(B, N, dtype=torch.long, device=device)
    for i, (c, di) in enumerate(zip(counts_list, dims)):
        cls[i, : len(c)] = True
        dim[i, : int(di)] = True
        lab = labels_from_counts(c, device)
        smp[i, : lab.numel()] = True
        labels[i, : lab.numel()] = lab
    Y = torch.nn.functional.one_hot(labels, K).transpose(1, 2).to(dtype) * smp[:, None, :].to(dtype)
    n_real = smp.sum(dim=1).to(dtype)
    return Layout(K, d, N, cls, dim, smp, labels, Y, n_real, [list(map(int, c)) for c in counts_list],
                  [int(x) for x in dims])


# ---- flat parameter vectors -------------------------------------------------------

class Packing:
    """Several parameter tensors of a batch side by side in one (B, P) vector."""

    def __init__(self, shapes: Sequence[tuple]):
        self.shapes = [tuple(s) for s in shapes]
        self.sizes = [int(torch.Size(s).numel()) for s in self.shapes]
        self.P = sum(self.sizes)

    def split(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, at = [], 0
        for s, k in zip(self.shapes, self.sizes):
            out.append(x[:, at:at + k].reshape(x.shape[0], *s))
            at += k
        return out

    def join(self, parts: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat([p.reshape(p.shape[0], -1) for p in parts], dim=1)


def _take(problem, idx: torch.Tensor):
    """A shallow copy of ``problem`` restricted to the problems ``idx``: every
    per-problem tensor (leading dimension B), list of such tensors and list of
    B entries is indexed; everything else (packing, sizes) is shared."""
    B = problem.lay.B
    out = object.__new__(type(problem))
    rows = idx.tolist()
    for k, v in vars(problem).items():
        if k == "lay":
            v = v.take(idx)
        elif isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == B:
            v = v[idx]
        elif isinstance(v, list) and len(v) == B and not all(isinstance(t, torch.Tensor) for t in v):
            v = [v[i] for i in rows]
        elif isinstance(v, list) and v and all(isinstance(t, torch.Tensor) and t.shape[0] == B for t in v):
            v = [t[idx] for t in v]
        setattr(out, k, v)
    return out


class _Batch:
    """Problems of a batch: ``take(idx)`` restricts to some of them (L-BFGS
    drops converged problems that way, so stragglers do not keep paying for
    the whole batch)."""

    lay: Layout

    def take(self, idx: torch.Tensor):
        return _take(self, idx)


def _col(v, B, dtype, device) -> torch.Tensor:
    return torch.as_tensor(v, dtype=dtype, device=device).reshape(B)


# ---- cross-entropy UFM (W, H, b) ----------------------------------------------------

class CEProblems(_Batch):
    """(1/N)Σ_i CE(W h_i + b, y_i) + λ_W/2‖W‖² + λ_H/2‖H‖² + λ_b/2‖b‖², per problem."""

    def __init__(self, lay: Layout, lam_w, lam_h, lam_b):
        self.lay = lay
        dt, dev = lay.Y.dtype, lay.Y.device
        self.lam_w, self.lam_h, self.lam_b = (_col(v, lay.B, dt, dev) for v in (lam_w, lam_h, lam_b))
        self.pack = Packing([(lay.K, lay.d), (lay.d, lay.N), (lay.K,)])
        self.mask = self.pack.join([lay.cls[:, :, None] & lay.dim[:, None, :],
                                    lay.dim[:, :, None] & lay.smp[:, None, :], lay.cls]).to(dt)
        self._cls_fill = ~lay.cls[:, :, None]
        self._w = lay.smp.to(dt) / lay.n_real[:, None]
        # weight decay of every entry of x (one vector: the regulariser and its gradient in two operations)
        self.decay = self.pack.join([self.lam_w[:, None, None].expand(-1, lay.K, lay.d),
                                     self.lam_h[:, None, None].expand(-1, lay.d, lay.N),
                                     self.lam_b[:, None].expand(-1, lay.K)]) * self.mask

    def logits(self, W, H, b):
        return (torch.bmm(W, H) + b[:, :, None]).masked_fill(self._cls_fill, NEG)

    def value_and_grad(self, x: torch.Tensor):
        W, H, b = self.pack.split(x)
        Z = self.logits(W, H, b)
        lse = torch.logsumexp(Z, dim=1)                                   # (B, N)
        true = (Z * self.lay.Y).sum(dim=1)
        dx = self.decay * x
        f = ((lse - true) * self._w).sum(dim=1) + 0.5 * (dx * x).sum(dim=1)
        G = (torch.exp(Z - lse[:, None, :]) - self.lay.Y) * self._w[:, None, :]   # (B, K, N)
        g = self.pack.join([torch.bmm(G, H.transpose(1, 2)), torch.bmm(W.transpose(1, 2), G), G.sum(dim=2)])
        return f, g * self.mask + dx

    def init(self, gens: Sequence[torch.Generator], restarts: int, scales: Sequence[float]) -> torch.Tensor:
        """``restarts`` random starts per generator (problem i·R + r uses gens[i]):
        entries N(0, 1/d)·scale drawn at the problem's own sizes, then padded."""
        lay = self.lay
        dt, dev = lay.Y.dtype, lay.Y.device
        W = torch.zeros(lay.B, lay.K, lay.d, dtype=dt, device=dev)
        H = torch.zeros(lay.B, lay.d, lay.N, dtype=dt, device=dev)
        for i, g in enumerate(gens):
            for r in range(restarts):
                j = i * restarts + r
                K, d, N = len(lay.counts[j]), lay.dims[j], sum(lay.counts[j])
                s = scales[r % len(scales)] / d ** 0.5
                W[j, :K, :d] = s * torch.randn(K, d, generator=g, dtype=dt, device=dev)
                H[j, :d, :N] = s * torch.randn(d, N, generator=g, dtype=dt, device=dev)
        return self.pack.join([W, H, torch.zeros(lay.B, lay.K, dtype=dt, device=dev)])


# ---- MSE UFM with L − 1 weight layers (deep linear), optional bias --------------------

class MSEProblems(_Batch):
    """(1/2N)‖W_M⋯W_1 H (+ b1ᵀ) − Y‖² + Σ_j λ_j/2‖W_j‖² + λ_H/2‖H‖², per problem.

    ``lams[i]`` lists problem i's weight decays from the first layer (next to
    H) to the classifier.  Problems with fewer layers than the batch's most get
    frozen identity layers (no gradient, no decay) right after H.  ``bias[i]``
    adds an unregularised bias to problem i (an assumption break)."""

    def __init__(self, lay: Layout, lams: Sequence[Sequence[float]], lam_h, bias: Sequence[bool] | None = None):
        self.lay = lay
        B, dt, dev = lay.B, lay.Y.dtype, lay.Y.device
        self.M = max(len(x) for x in lams)
        self.nlayers = [len(x) for x in lams]
        self.lam_h = _col(lam_h, B, dt, dev)
        lam = torch.zeros(B, self.M, dtype=dt, device=dev)
        live = torch.zeros(B, self.M, dtype=torch.bool, device=dev)
        for i, x in enumerate(lams):
            off = self.M - len(x)
            lam[i, off:] = torch.as_tensor(list(x), dtype=dt, device=dev)
            live[i, off:] = True
        self.lam, self.live = lam, live
        self.bias = torch.as_tensor([bool(v) for v in (bias or [False] * B)], device=dev)
        shapes = [(lay.d, lay.d)] * (self.M - 1) + [(lay.K, lay.d), (lay.d, lay.N), (lay.K,)]
        self.pack = Packing(shapes)
        dd = lay.dim[:, :, None] & lay.dim[:, None, :]
        masks = [dd & live[:, j, None, None] for j in range(self.M - 1)]
        masks += [lay.cls[:, :, None] & lay.dim[:, None, :], lay.dim[:, :, None] & lay.smp[:, None, :],
                  lay.cls & self.bias[:, None]]
        self.mask = self.pack.join(masks).to(dt)
        eye = torch.diag_embed(lay.dim.to(dt))
        self.frozen = [torch.where(live[:, j, None, None], torch.zeros_like(eye), eye) for j in range(self.M - 1)]
        self._w = lay.smp.to(dt) / lay.n_real[:, None]
        # weight decay of every entry of x (0 on frozen layers and the bias): one vector, so the
        # regulariser and its gradient cost two operations
        self.decay = self.pack.join([lam[:, j, None, None].expand(-1, *shape)
                                     for j, shape in enumerate(shapes[:self.M])]
                                    + [self.lam_h[:, None, None].expand(-1, lay.d, lay.N),
                                       torch.zeros(B, lay.K, dtype=dt, device=dev)]) * self.mask

    def parts(self, x):
        """(factors W_1 … W_{M−1}, classifier; H; b) with frozen identities filled in."""
        ps = self.pack.split(x)
        Ws = [ps[j] + self.frozen[j] for j in range(self.M - 1)] + [ps[self.M - 1]]
        return Ws, ps[self.M], ps[self.M + 1]

    def value_and_grad(self, x: torch.Tensor):
        Ws, H, b = self.parts(x)
        Zs = [H]
        for Wj in Ws:
            Zs.append(torch.bmm(Wj, Zs[-1]))
        r = Zs[-1] + b[:, :, None] - self.lay.Y
        delta = r * self._w[:, None, :]                       # residual / N on real samples
        dx = self.decay * x
        f = 0.5 * (r * delta).flatten(1).sum(dim=1) + 0.5 * (dx * x).sum(dim=1)
        gb = delta.sum(dim=2)
        grads = [None] * self.M
        for j in range(self.M - 1, -1, -1):
            grads[j] = torch.bmm(delta, Zs[j].transpose(1, 2))
            delta = torch.bmm(Ws[j].transpose(1, 2), delta)
        return f, self.pack.join([*grads, delta, gb]) * self.mask + dx

    def init(self, gens: Sequence[torch.Generator], restarts: int, scales: Sequence[float]) -> torch.Tensor:
        """Random starts: every factor Haar-orthogonal (rows of the classifier
        orthonormal) and H with unit-norm random columns (no class structure),
        all at scale ``scales[r]``, drawn at the problem's own sizes (problem
        i·R + r uses gens[i]).  The origin, a stationary point, is not a
        start: a caller evaluates it directly."""
        lay = self.lay
        dt, dev = lay.Y.dtype, lay.Y.device
        parts = [torch.zeros(lay.B, *s, dtype=dt, device=dev) for s in self.pack.shapes]
        for i, g in enumerate(gens):
            for r in range(restarts):
                j = i * restarts + r
                K, d, N = len(lay.counts[j]), lay.dims[j], sum(lay.counts[j])
                s = float(scales[r % len(scales)])
                nl = self.nlayers[j]
                for k in range(self.M - nl, self.M - 1):
                    parts[k][j, :d, :d] = s * _haar(d, d, g, dt, dev)
                parts[self.M - 1][j, :K, :d] = s * _haar(K, d, g, dt, dev)
                Hj = torch.randn(d, N, generator=g, dtype=dt, device=dev)
                parts[self.M][j, :d, :N] = s * Hj / Hj.norm(dim=0, keepdim=True)
        return self.pack.join(parts)

    def activations(self, x: torch.Tensor):
        """(factors, H, b, [Z_0 = H, Z_1, …, Z_{M−1}] the features after each hidden layer, product W⋯W H)."""
        Ws, H, b = self.parts(x)
        Zs = [H]
        for Wj in Ws[:-1]:
            Zs.append(torch.bmm(Wj, Zs[-1]))
        return Ws, H, b, Zs, torch.bmm(Ws[-1], Zs[-1])

    def residual_direction_unused(self, x: torch.Tensor, rtol: float = 1e-6) -> torch.Tensor:
        """(B,) bool: the top left singular vector u of the residual Y − W⋯W H − b1ᵀ
        is (numerically) outside the product's range, ‖Pᵀu‖ ≤ rtol·σ_1(residual)
        — a direction the data asks for and the network does not produce at
        all: the case where an escape move can help."""
        lay = self.lay
        _, _, b, _, Pr = self.activations(x)
        R = (lay.Y - Pr - b[:, :, None]) * lay.smp[:, None, :]
        U, S, _ = torch.linalg.svd(R, full_matrices=False)
        used = mm(U[:, None, :, 0], Pr).flatten(1).norm(dim=1)
        return (used <= rtol * S[:, 0]) & (S[:, 0] > 0)

    def escape(self, x: torch.Tensor, rhos: Sequence[float]) -> torch.Tensor:
        """Escape moves from the points ``x`` (B, P): for each ρ, x plus one new
        rank-one path through every factor along the top singular pair (σ, u, v)
        of the residual Y − W⋯W H − b1ᵀ: H += a_H q_0 vᵀ, W_j += a_j q_j q_{j−1}ᵀ,
        classifier += a_c u q_{M−1}ᵀ, where q_j is the unit direction of layer j's
        features with the least energy (orthogonal to them when the layer is
        not full) and the a's are balanced (λa² equal over the factors) with
        product ρσ.  Returns (B·len(rhos), P), problem-major.

        Why: for three or more factors a direction of the product at zero is a
        local minimum (the data term is of order a^L there, the weight decay of
        order a²), so descent cannot revive a direction that passed through
        zero on the way; adding it back at a finite size lets L-BFGS find out
        whether the loss is lower with it.  The move uses only the residual
        and the current features, nothing a theorem predicts; a caller keeps
        a move only if it trains to a lower certified loss."""
        lay = self.lay
        B, dt = x.shape[0], x.dtype
        Ws, H, b, Zs, Pr = self.activations(x)
        R = (lay.Y - Pr - b[:, :, None]) * lay.smp[:, None, :]
        U, S, Vh = torch.linalg.svd(R, full_matrices=False)
        u, s1, v = U[:, :, 0], S[:, 0], Vh[:, 0, :]
        pad = torch.diag_embed((~lay.dim).to(dt)) * (1.0 + max(float(Z.abs().max()) for Z in Zs) ** 2) * 1e3
        qs = []
        for j, Z in enumerate(Zs):
            _, vecs = torch.linalg.eigh(torch.bmm(Z, Z.transpose(1, 2)) + pad)
            q = vecs[:, :, 0]
            if j > 0:   # a frozen identity layer passes the direction through
                q = torch.where(self.live[:, j - 1, None], q, qs[-1])
            qs.append(q)
        alive = torch.cat([torch.ones(B, 1, dtype=torch.bool, device=x.device), self.live], dim=1)  # H, W_1, …
        lams = torch.where(alive, torch.cat([self.lam_h[:, None], self.lam], dim=1), 1.0)
        L = alive.sum(dim=1).to(dt)
        loglam = (torch.log(lams) * alive).sum(dim=1)
        parts = self.pack.split(x)
        out = []
        for rho in rhos:
            logtau = (2 * torch.log((rho * s1).clamp_min(1e-300)) + loglam) / L
            a = torch.exp(0.5 * (logtau[:, None] - torch.log(lams))) * alive      # (B, M + 1)
            new = list(parts)
            for j in range(self.M - 1):
                new[j] = parts[j] + a[:, j + 1, None, None] * qs[j + 1][:, :, None] * qs[j][:, None, :]
            new[self.M - 1] = parts[self.M - 1] + a[:, self.M, None, None] * u[:, :, None] * qs[-1][:, None, :]
            new[self.M] = parts[self.M] + a[:, 0, None, None] * qs[0][:, :, None] * v[:, None, :]
            out.append(self.pack.join(new) * self.mask)
        return torch.stack(out, dim=1).reshape(B * len(rhos), -1)


def _haar(m: int, n: int, g, dt, dev) -> torch.Tensor:
    """An m×n matrix with orthonormal rows (m ≤ n) or columns (m > n), Haar distributed."""
    A = torch.randn(max(m, n), min(m, n), generator=g, dtype=dt, device=dev)
    Q, R = torch.linalg.qr(A)
    Q = Q * torch.sign(torch.diagonal(R))[None, :]
    return Q.T if m <= n else Q


# ---- batched L-BFGS -------------------------------------------------------------------

@dataclass
class Trained:
    x: torch.Tensor                  # (B, P) final parameters
    loss: torch.Tensor               # (B,)
    grad_norm: torch.Tensor          # (B,) the convergence certificate
    converged: torch.Tensor          # (B,) bool: grad_norm ≤ grad_tol
    iters: int                       # iterations of the longest-running problem
    history: dict = field(default_factory=dict)  # "iter": list, "loss": (B, T) (a stopped problem keeps its value)


def lbfgs(problem, x0: torch.Tensor, *, grad_tol: float = 1e-10, max_iter: int = 2000, memory: int = 6,
          record_every: int = 0, compact: bool = True) -> Trained:
    """Minimise every problem of the batch: f, g = problem.value_and_grad(x), x (B, P).

    Per problem: the L-BFGS two-loop direction from its own last ``memory``
    curvature pairs (pairs with sᵀy ≤ 0 are skipped), a fallback to −g when
    that is not a descent direction, and one trial step per iteration of
    length t·d: accepted if it satisfies Armijo's condition (or, once the
    loss changes only at round-off, if it lowers the gradient norm); a
    rejected trial leaves the problem where it is and quarters its t, an
    accepted one doubles it (up to the unit step).  This is backtracking
    spread over iterations: every iteration costs exactly one evaluation of
    the whole batch, and a problem that needs a short step does not hold up
    the others.  A problem whose gradient norm is ≤ ``grad_tol`` stops moving
    (that norm is its certificate); one whose t underflows stalls and keeps
    its uncertified point.  With ``compact`` (and a problem with ``take``),
    once at most half the batch is still moving the others are dropped from
    the tensors (their state is final), so a few slow problems do not keep
    paying for the whole batch; every problem's iterates are the same as
    without compaction (problems never interact)."""
    x = x0.clone()
    B, P = x.shape
    dt, dev = x.dtype, x.device
    fg = problem.value_and_grad if hasattr(problem, "value_and_grad") else problem
    can_take = compact and hasattr(problem, "take")
    f, g = fg(x)
    # final state of every problem (rows of dropped problems are written when they are dropped)
    X, F, G = x.clone(), f.clone(), g.clone()
    rows = torch.arange(B, device=dev)          # original index of each row still in the tensors
    S = torch.zeros(memory, B, P, dtype=dt, device=dev)
    Yh = torch.zeros(memory, B, P, dtype=dt, device=dev)
    rho = torch.zeros(memory, B, dtype=dt, device=dev)
    gamma = torch.ones(B, dtype=dt, device=dev)
    scale = torch.ones(B, dtype=dt, device=dev)
    first = torch.ones(B, dtype=torch.bool, device=dev)
    slot = 0
    hist: dict = {"iter": [], "loss": []}
    it = 0
    for it in range(max_iter + 1):
        gn = g.norm(dim=1)
        active = (gn > grad_tol) & torch.isfinite(f) & (scale > 1e-14)
        if record_every and it % record_every == 0:
            hist["iter"].append(it)
            F[rows] = f
            hist["loss"].append(F.clone())
        if it == max_iter:
            break
        if it % 8 == 0:
            n_active = int(active.sum())
            if n_active == 0:
                break
            if can_take and 2 * n_active <= rows.numel() and rows.numel() > 4:
                keep = active.nonzero().squeeze(1)
                done = (~active).nonzero().squeeze(1)
                X[rows[done]], F[rows[done]], G[rows[done]] = x[done], f[done], g[done]
                rows = rows[keep]
                fg = problem.take(rows).value_and_grad
                x, f, g, gn, active = x[keep], f[keep], g[keep], gn[keep], active[keep]
                S, Yh, rho = S[:, keep], Yh[:, keep], rho[:, keep]
                gamma, scale, first = gamma[keep], scale[keep], first[keep]
        # two-loop recursion, newest pair first
        q = g
        alphas = []
        for k in range(memory):
            j = (slot - 1 - k) % memory
            a = rho[j] * torch.linalg.vecdot(S[j], q)
            q = torch.addcmul(q, a[:, None], Yh[j], value=-1.0)
            alphas.append((j, a))
        r = gamma[:, None] * q
        for j, a in reversed(alphas):
            bta = rho[j] * torch.linalg.vecdot(Yh[j], r)
            r = torch.addcmul(r, (a - bta)[:, None], S[j])
        slope = -torch.linalg.vecdot(g, r)
        bad = ~(slope < 0)                      # also NaN: fall back to steepest descent
        d = torch.where(bad[:, None], -g, -r)
        slope = torch.where(bad, -gn * gn, slope)
        t = scale * torch.where(first | bad, torch.clamp(1.0 / gn.clamp_min(1e-300), max=1.0), 1.0)
        t = torch.where(active, t, 0.0)
        xt = torch.addcmul(x, t[:, None], d)
        ft, gt = fg(xt)
        armijo = ft <= f + 1e-4 * t * slope
        flat = (ft <= f + 1e-13 * f.abs().clamp_min(1.0)) & (gt.norm(dim=1) < gn)
        ok = active & torch.isfinite(ft) & (armijo | flat)
        s = xt - x
        y = gt - g
        sy = torch.linalg.vecdot(s, y)
        yy = torch.linalg.vecdot(y, y)
        good = ok & (sy > 1e-16 * (s.norm(dim=1) * y.norm(dim=1)).clamp_min(1e-300))
        # every problem writes the slot; a pair that is not good gets ρ = 0, which removes it
        # from both loops of the recursion (a = 0, and its S-column is added with weight a − β = 0)
        S[slot] = s
        Yh[slot] = y
        rho[slot] = torch.where(good, 1.0 / torch.where(good, sy, 1.0), 0.0)
        gamma = torch.where(good, sy / torch.where(good, yy, 1.0), gamma)
        slot = (slot + 1) % memory
        scale = torch.where(ok, torch.clamp(2 * scale, max=1.0), torch.where(active, scale / 4, scale))
        first = first & ~ok
        x = torch.where(ok[:, None], xt, x)
        f = torch.where(ok, ft, f)
        g = torch.where(ok[:, None], gt, g)
    X[rows], F[rows], G[rows] = x, f, g
    gn = G.norm(dim=1)
    converged = torch.isfinite(F) & (gn <= grad_tol)
    if hist["loss"]:
        hist["loss"] = torch.stack(hist["loss"], dim=1)
    return Trained(X, F, gn, converged, it, hist)


# ---- candidates -> one certified point per draw ---------------------------------------

class BestCertified:
    """The running best certified candidate of each of B draws, over any number
    of batches of candidates (restarts, the origin, escape moves …).

    ``x[i]``, ``loss[i]``, ``cert[i]`` hold draw i's lowest-loss certified
    candidate; :meth:`choice` says per draw whether it may be measured (True)
    or an :class:`Inconclusive` saying why not: no candidate certified, or an
    uncertified candidate
    already below the best certified one by more than ``loss_tol`` (relative;
    it might be heading somewhere better).  DESIGN.md: a non-convex run that
    did not converge, or landed at a worse point, is not a counterexample."""

    def __init__(self, B: int, loss_tol: float = 1e-9, dtype=torch.float64, device="cpu"):
        self.loss_tol = loss_tol
        self.loss = torch.full((B,), math.inf, dtype=dtype, device=device)
        self.cert = torch.full((B,), math.inf, dtype=dtype, device=device)
        self.x: torch.Tensor | None = None
        self.source = [""] * B
        self.history: list = [None] * B      # (iterations, loss along) of the run that produced the best
        self.low_uncertified = torch.full((B,), math.inf, dtype=dtype, device=device)
        self.min_cert = torch.full((B,), math.inf, dtype=dtype, device=device)
        self.tried = [0] * B

    def offer(self, draws: torch.Tensor, res: Trained, source: str):
        """Candidates ``res``: C consecutive entries for each of ``draws`` (distinct draw indices)."""
        draws = draws.to(self.loss.device)
        n = draws.numel()
        C = res.loss.shape[0] // n
        x = res.x.reshape(n * C, -1)
        loss, cert, ok = res.loss.reshape(n, C), res.grad_norm.reshape(n, C), res.converged.reshape(n, C)
        if self.x is None:
            self.x = torch.zeros(self.loss.shape[0], x.shape[1], dtype=x.dtype, device=x.device)
        inf = torch.full_like(loss, math.inf)
        best = torch.where(ok, loss, inf).min(dim=1)
        row = torch.arange(n, device=draws.device) * C + best.indices
        better = best.values < self.loss[draws]
        self.loss[draws] = torch.where(better, best.values, self.loss[draws])
        self.cert[draws] = torch.where(better, res.grad_norm[row], self.cert[draws])
        self.x[draws] = torch.where(better[:, None], x[row], self.x[draws])
        finite_cert = torch.nan_to_num(cert, nan=math.inf).min(dim=1).values
        self.min_cert[draws] = torch.minimum(self.min_cert[draws], finite_cert)
        unc = torch.where(~ok & torch.isfinite(loss), loss, inf).min(dim=1).values
        self.low_uncertified[draws] = torch.minimum(self.low_uncertified[draws], unc)
        hist = res.history
        for j, i in enumerate(draws.tolist()):
            self.tried[i] += C
            if bool(better[j]):
                self.source[i] = source
                self.history[i] = ((hist["iter"], hist["loss"][int(row[j])]) if hist.get("iter") else None)

    def choice(self) -> list:
        """Per draw: True (its best certified candidate is ``x[i]``, ``loss[i]``) or an Inconclusive."""
        out = []
        for i in range(self.loss.shape[0]):
            best = float(self.loss[i])
            if not math.isfinite(best):
                out.append(Inconclusive(f"no convergence certificate: smallest certificate "
                                        f"{float(self.min_cert[i]):.2e} over {self.tried[i]} candidate(s)"))
            elif float(self.low_uncertified[i]) < best - self.loss_tol * (1 + abs(best)):
                out.append(Inconclusive("no convergence certificate: an uncertified candidate is below the best "
                                        f"certified one ({float(self.low_uncertified[i]):.10g} < {best:.10g})"))
            else:
                out.append(True)
        return out


# ---- supervised contrastive loss on the (non-negative) sphere ---------------------------

def scl_loss(H, labels, tau: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al.), full batch, summed over
    anchors: Σ_i −(1/|P(i)|) Σ_{p∈P(i)} log softmax_{a≠i}(h_i·h_a/τ)_p.
    Columns of H are assumed to have unit norm.  (Reference implementation,
    one label vector for the whole batch; :class:`SCLProblems` is the padded,
    analytic-gradient form used for training.)"""
    N = H.shape[-1]
    z = mm(H.transpose(-1, -2), H) / tau                       # (B, N, N)
    self_mask = torch.eye(N, dtype=torch.bool, device=H.device)
    z = z.masked_fill(self_mask, float("-inf"))
    log_prob = z - torch.logsumexp(z, dim=-1, keepdim=True)
    same = (labels[:, None] == labels[None, :]) & ~self_mask
    pos = same.to(H.dtype)
    per_anchor = -(log_prob.masked_fill(~same, 0.0) * pos).sum(dim=-1) / pos.sum(dim=-1)
    return per_anchor.sum(dim=-1)


class SCLProblems(_Batch):
    """The SCL of each problem's real samples, with its own temperature, over
    unit-norm feature columns, non-negative where ``nonnegative`` (a ReLU last
    layer); x (B, d·N) is H flattened.  Trained by :func:`spg`."""

    def __init__(self, lay: Layout, tau, nonnegative=None):
        self.lay = lay
        dt, dev = lay.Y.dtype, lay.Y.device
        self.tau = _col(tau, lay.B, dt, dev)
        self.nonneg = torch.as_tensor([bool(v) for v in (nonnegative or [True] * lay.B)], device=dev)
        self.pack = Packing([(lay.d, lay.N)])
        N = lay.N
        eye = torch.eye(N, dtype=torch.bool, device=dev)
        real = lay.smp[:, :, None] & lay.smp[:, None, :]
        self.others = real & ~eye                                       # a ≠ i, both real
        same = (lay.labels[:, :, None] == lay.labels[:, None, :]) & self.others
        cnt = same.sum(dim=2, keepdim=True).to(dt)
        self.pos = same.to(dt) / cnt.clamp_min(1.0)                     # 1/|P(i)| on positives
        self.anchor = lay.smp.to(dt) * (cnt.squeeze(2) > 0).to(dt)
        self.mask = (lay.dim[:, :, None] & lay.smp[:, None, :]).to(dt)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.lay.d, self.lay.N)

    def value_and_grad(self, x: torch.Tensor):
        """Loss and Euclidean gradient (the constraint is handled by :meth:`project`)."""
        H = self.features(x)
        z = torch.bmm(H.transpose(1, 2), H) / self.tau[:, None, None]
        z = z.masked_fill(~self.others, NEG)
        lse = torch.logsumexp(z, dim=2)                                  # (B, N)
        per = lse - (self.pos * z.masked_fill(~self.others, 0.0)).sum(dim=2)
        f = (per * self.anchor).sum(dim=1)
        G = (torch.exp(z - lse[:, :, None]) - self.pos) * self.anchor[:, :, None]   # dL/dz_ia
        gH = torch.bmm(H, G + G.transpose(1, 2)) / self.tau[:, None, None]
        return f, (gH * self.mask).flatten(1)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return project_sphere(self.features(x), self.nonneg, self.mask).flatten(1)

    def certificate(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """The projected-gradient map ‖x − P(x − τ∇f)‖/τ at a feasible x: zero
        exactly at a KKT point of the constrained problem."""
        step = self.tau[:, None]
        return (x - self.project(x - step * g)).norm(dim=1) / self.tau

    def init(self, gens: Sequence[torch.Generator], restarts: int, scales: Sequence[float]) -> torch.Tensor:
        """``restarts`` starts per generator (problem i·R + r uses gens[i]): |N(0, 1)|
        entries drawn at the problem's own sizes, columns normalised: a random
        point of the positive orthant, feasible with or without non-negativity
        (a break that drops it starts from the same point)."""
        lay = self.lay
        dt, dev = lay.Y.dtype, lay.Y.device
        H = torch.zeros(lay.B, lay.d, lay.N, dtype=dt, device=dev)
        for i, g in enumerate(gens):
            for r in range(restarts):
                j = i * restarts + r
                d, N = lay.dims[j], sum(lay.counts[j])
                H[j, :d, :N] = scales[r % len(scales)] * torch.randn(d, N, generator=g, dtype=dt, device=dev).abs()
        return self.project(H.flatten(1))


def project_sphere(H: torch.Tensor, nonnegative, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Columns onto the unit sphere (∩ the non-negative orthant where
    ``nonnegative``; a bool or a (B,) tensor).  Padded columns (mask 0) stay 0."""
    if isinstance(nonnegative, bool):
        if nonnegative:
            H = H.clamp_min(0.0)
    else:
        H = torch.where(nonnegative[:, None, None], H.clamp_min(0.0), H)
    out = H / H.norm(dim=-2, keepdim=True).clamp_min(1e-300)
    return out if mask is None else out * mask


def spg(problem, x0: torch.Tensor, *, grad_tol: float = 1e-9, max_iter: int = 2000, memory: int = 8,
        record_every: int = 0, compact: bool = True) -> Trained:
    """Spectral projected gradient (Birgin, Martínez & Raydan 2000) for every
    problem of the batch: x ← P(x − αλ∇f(x)) with λ the Barzilai–Borwein step
    sᵀs/sᵀy of the problem's last move (clipped to [1e-6, 1e6]·τ; τ before the
    first move) and a nonmonotone Armijo test against the largest of its last
    ``memory`` accepted losses; a rejected trial halves α and keeps x (one
    evaluation of the batch per iteration, as in :func:`lbfgs`).  A problem
    stops once ``problem.certificate`` (the projected-gradient map) is
    ≤ ``grad_tol``; that residual is its certificate.  ``problem`` needs
    value_and_grad, project, certificate, tau (and take for compaction)."""
    x = problem.project(x0)
    B, P = x.shape
    dt, dev = x.dtype, x.device
    prob = problem
    f, g = prob.value_and_grad(x)
    cert = prob.certificate(x, g)
    X, F, C = x.clone(), f.clone(), cert.clone()
    rows = torch.arange(B, device=dev)
    lam = prob.tau.clone()
    alpha = torch.ones(B, dtype=dt, device=dev)
    ref = f[None].repeat(memory, 1)                 # last accepted losses (nonmonotone reference)
    hist: dict = {"iter": [], "loss": []}
    it = 0
    for it in range(max_iter + 1):
        active = (cert > grad_tol) & torch.isfinite(f) & (alpha > 1e-12)
        if record_every and it % record_every == 0:
            hist["iter"].append(it)
            F[rows] = f
            hist["loss"].append(F.clone())
        if it == max_iter:
            break
        if it % 8 == 0:
            n_active = int(active.sum())
            if n_active == 0:
                break
            if compact and hasattr(problem, "take") and 2 * n_active <= rows.numel() and rows.numel() > 4:
                keep, done = active.nonzero().squeeze(1), (~active).nonzero().squeeze(1)
                X[rows[done]], F[rows[done]], C[rows[done]] = x[done], f[done], cert[done]
                rows = rows[keep]
                prob = problem.take(rows)
                x, f, g, cert, active = x[keep], f[keep], g[keep], cert[keep], active[keep]
                lam, alpha, ref = lam[keep], alpha[keep], ref[:, keep]
        xt = prob.project(x - (alpha * lam)[:, None] * g)
        ft, gt = prob.value_and_grad(xt)
        s = xt - x
        ok = active & torch.isfinite(ft) & (ft <= ref.max(dim=0).values + 1e-4 * torch.linalg.vecdot(g, s))
        y = gt - g
        sy = torch.linalg.vecdot(s, y)
        bb = torch.linalg.vecdot(s, s) / sy.where(sy > 0, torch.ones_like(sy))
        lam = torch.where(ok, torch.where(sy > 0, bb, 1e6 * prob.tau).clamp(1e-6 * prob.tau, 1e6 * prob.tau), lam)
        alpha = torch.where(ok, torch.ones_like(alpha), torch.where(active, alpha / 2, alpha))
        x = torch.where(ok[:, None], xt, x)
        f = torch.where(ok, ft, f)
        g = torch.where(ok[:, None], gt, g)
        ref = torch.where(ok[None], torch.cat([ref[1:], f[None]]), ref)
        cert = torch.where(ok, prob.certificate(x, g), cert)
    X[rows], F[rows], C[rows] = x, f, cert
    if hist["loss"]:
        hist["loss"] = torch.stack(hist["loss"], dim=1)
    return Trained(X, F, C, torch.isfinite(F) & (C <= grad_tol), it, hist)


__all__ = ["labels_from_counts", "Layout", "layout", "Packing", "CEProblems", "MSEProblems", "SCLProblems",
           "Trained", "lbfgs", "spg", "BestCertified", "scl_loss", "project_sphere", "NEG"]
