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
