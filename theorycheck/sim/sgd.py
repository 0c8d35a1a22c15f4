"""SGD near a minimum, in torch: the second moment propagated exactly, the
mean-square threshold found from that propagation alone, and sampled
trajectories (which see the almost-sure behaviour, not the mean-square one).

Linearised SGD on least squares: δ ← (I − η H_B) δ, H_B the mean of B
per-sample Hessians drawn uniformly with replacement."""
from __future__ import annotations

import math

import torch


def second_moment_step(Hs: torch.Tensor, M: torch.Tensor, eta: float, batch: int = 1) -> torch.Tensor:
    """E[(I − ηH_B) M (I − ηH_B)] for a batch of matrices M (..., r, r), exactly:
    E[H_B M H_B] = (1/B)·mean_i H_i M H_i + (1 − 1/B)·H M H for draws with replacement."""
    H = Hs.mean(0)
    HMH = H @ M @ H
    per_sample = torch.einsum("nab,...bc,ncd->...ad", Hs, M, Hs) / Hs.shape[0]
    return M - eta * (H @ M + M @ H) + eta**2 * (per_sample / batch + (1 - 1 / batch) * HMH)


def step_matrix(Hs: torch.Tensor, eta: float, batch: int = 1) -> torch.Tensor:
    """The one-step map M ↦ E[...] as an r²×r² matrix, read off by pushing the
    r² basis matrices through :func:`second_moment_step`."""
    r = Hs.shape[1]
    basis = torch.eye(r * r, dtype=Hs.dtype, device=Hs.device).reshape(r * r, r, r)
    return second_moment_step(Hs, basis, eta, batch).reshape(r * r, r * r).T


def second_moment_at_powers(Hs: torch.Tensor, M0: torch.Tensor, eta: float, batch: int = 1,
                            doublings: int = 30) -> tuple[list[int], list[float]]:
    """log tr E[δ_t δ_tᵀ] at t = 1, 2, 4, …, 2^doublings, by repeated squaring
    of the step map (exact propagation; the log scale is carried separately so
    neither overflow nor underflow can occur)."""
    T = step_matrix(Hs, eta, batch)
    log_scale = 0.0
    m0 = M0.reshape(-1)
    ts, logs = [0], [math.log(float(torch.trace(M0)))]
    for k in range(doublings + 1):
        val = float(torch.trace((T @ m0).reshape(M0.shape)))
        ts.append(2**k)
        logs.append(log_scale + math.log(val) if val > 0 else -math.inf)
        T = T @ T
        log_scale *= 2
        nrm = float(T.abs().max())
        if not math.isfinite(nrm) or nrm == 0:
            break
        T = T / nrm
        log_scale += math.log(nrm)
    return ts, logs


def grows(Hs, M0, eta, batch=1, doublings=40) -> bool:
    ts, logs = second_moment_at_powers(Hs, M0, eta, batch, doublings)
    return logs[-1] > logs[0]


def simulated_threshold(Hs: torch.Tensor, M0: torch.Tensor, hi: float, batch: int = 1,
                        rtol: float = 1e-8, doublings: int = 36) -> float:
    """The step size where the propagated second moment switches from decaying
    to growing, by bisection on [0, hi] (hi must grow)."""
    if not grows(Hs, M0, hi, batch, doublings):
        return math.inf
    lo = 0.0
    while hi - lo > rtol * hi:
        mid = (lo + hi) / 2
        if grows(Hs, M0, mid, batch, doublings):
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def sgd_log_norms(G: torch.Tensor, delta0: torch.Tensor, eta: float, steps: int, chains: int,
                  batch: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """log‖δ_T‖ − log‖δ_0‖ for ``chains`` independent SGD trajectories on least
    squares with per-sample gradients G (n, r), H_i = g_i g_iᵀ.  Renormalised
    every step, so a trajectory can neither overflow nor underflow."""
    n = G.shape[0]
    d = delta0.expand(chains, -1).clone()
    log_norm = torch.zeros(chains, dtype=G.dtype, device=G.device)
    idx = torch.randint(0, n, (steps, chains, batch), generator=generator, device=G.device)
    for t in range(steps):
        g = G[idx[t]]                                  # (chains, B, r)
        coef = torch.einsum("cbr,cr->cb", g, d)        # g_jᵀ δ
        d = d - (eta / batch) * torch.einsum("cb,cbr->cr", coef, g)
        nrm = d.norm(dim=1).clamp_min(1e-300)
        log_norm += torch.log(nrm)
        d = d / nrm[:, None]
    return log_norm - torch.log(delta0.norm())


# ---- batched over draws (padded): the SGD update averaged exactly, and sampled SGD -------------

def span_coordinates(G: torch.Tensor, tol: float = 1e-10) -> torch.Tensor:
    """Per-sample gradients written in an orthonormal basis of their span: G (B, n, p)
    -> (B, n, r) with r = min(n, p); directions beyond a draw's rank are zero
    columns (every update leaves them alone)."""
    U, S, Vh = torch.linalg.svd(G, full_matrices=False)                 # Vh (B, r, p)
    keep = S > tol * S.amax(-1, keepdim=True).clamp_min(1e-300)
    return (G @ Vh.transpose(-1, -2)) * keep[:, None, :]


def averaged_moment_map(Gr: torch.Tensor, counts, eta: torch.Tensor, batch: int = 1) -> torch.Tensor:
    """The exact expectation of one SGD step on the second moment, as an r²×r²
    matrix per draw and step: mean over all index batches τ (drawn uniformly
    with replacement) of A_τ ⊗ A_τ, where A_τ = I − (η/B) Σ_j g_{τ_j} g_{τ_j}ᵀ is
    the SGD update read off by applying it to the identity's columns.  The
    batches are enumerated (n^B of them), not summarised by a formula.

    Gr: (B, n_max, r) (rows beyond counts[b] are padding), eta: (B, E).  Returns
    (B, E, r², r²) acting on row-major vec(M)."""
    Bn, n_max, r = Gr.shape
    dt, dev = Gr.dtype, Gr.device
    counts_t = torch.as_tensor(counts, device=dev)
    eye = torch.eye(r, dtype=dt, device=dev)
    tuples = torch.cartesian_prod(*[torch.arange(n_max, device=dev)] * batch).reshape(-1, batch)   # (K, B)
    valid = (tuples[None] < counts_t[:, None, None]).all(-1)                                          # (Bn, K)
    weight = valid.to(dt) / counts_t.to(dt)[:, None] ** batch
    g = Gr[:, tuples]                                                                                 # (Bn, K, B, r)
    Hb = torch.einsum("nkja,nkjb->nkab", g, g) / batch                                                # (Bn, K, r, r)
    out = torch.zeros(Bn, eta.shape[1], r * r, r * r, dtype=dt, device=dev)
    for k in range(tuples.shape[0]):  # one batch at a time: memory stays (Bn, E, r², r²)
        # the update on the identity's columns: I − η·H_τ·I
        A = eye - eta[:, :, None, None] * Hb[:, k, None]                                              # (Bn, E, r, r)
        kron = (A[..., :, None, :, None] * A[..., None, :, None, :]).reshape(Bn, -1, r * r, r * r)
        out = out + weight[:, k, None, None, None] * kron
    return out


def moment_grows(L: torch.Tensor, m0: torch.Tensor, log2_steps: int = 36) -> torch.Tensor:
    """Whether tr E[δ_t δ_tᵀ] after 2^log2_steps steps of the map L (…, r², r²)
    exceeds its start (m0 = vec(M_0), (…, r²)); repeated squaring with the
    scale carried in log space (no overflow, no underflow)."""
    r = int(round(m0.shape[-1] ** 0.5))
    diag = torch.arange(r, device=L.device) * (r + 1)
    T = L.clone()
    log_scale = torch.zeros(L.shape[:-2], dtype=L.dtype, device=L.device)
    for _ in range(log2_steps):
        T = T @ T
        nrm = T.abs().amax((-1, -2)).clamp_min(1e-300)
        T = T / nrm[..., None, None]
        log_scale = 2 * log_scale + torch.log(nrm)
    end = (T @ m0[..., None])[..., 0][..., diag].sum(-1)
    start = m0[..., diag].sum(-1)
    with torch.no_grad():
        logs = torch.where(end > 0, log_scale + torch.log(end.clamp_min(1e-300)), torch.full_like(end, -math.inf))
    return ~(logs <= torch.log(start))


def sampled_sq_norms(Gp: torch.Tensor, counts, delta0: torch.Tensor, etas: torch.Tensor, steps: int, chains: int,
                     generators, batch: int = 1) -> torch.Tensor:
    """‖δ_t‖² / ‖δ_0‖² for sampled SGD trajectories δ ← δ − (η/B) Σ_j g_{i_j}(g_{i_j}ᵀδ),
    indices uniform with replacement among a draw's own samples.

    Gp: (B, n_max, p) padded per-sample gradients, delta0: (B, p), etas: (B, E).
    Draw b's indices come from ``generators[b]`` alone.  Returns (B, E, steps + 1, chains)."""
    Bn, n_max, p = Gp.shape
    E = etas.shape[1]
    u = torch.stack([torch.rand(steps, E, chains, batch, generator=g, dtype=torch.float64, device=Gp.device)
                     for g in generators])                                                # (B, T, E, C, b)
    counts_t = torch.as_tensor(counts, device=Gp.device, dtype=torch.float64)
    idx = (u * counts_t[:, None, None, None, None]).long().clamp(max=n_max - 1)
    d = (delta0 / delta0.norm(dim=-1, keepdim=True))[:, None, None, :].expand(Bn, E, chains, p).clone()
    out = [torch.ones(Bn, E, chains, dtype=Gp.dtype, device=Gp.device)]
    bidx = torch.arange(Bn, device=Gp.device)[:, None, None, None]
    for t in range(steps):
        g = Gp[bidx, idx[:, t]]                                                           # (B, E, C, b, p)
        coef = (g * d[..., None, :]).sum(-1)                                              # g_jᵀ δ
        d = d - (etas[:, :, None, None] / batch) * (coef[..., None] * g).sum(-2)
        out.append((d * d).sum(-1))
    return torch.stack(out, 2)
