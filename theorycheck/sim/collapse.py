"""Neural-collapse metrics NC1–NC4, batched over a leading dimension.

Conventions (the unconstrained-features literature): features ``H`` have
shape ``(..., d, N)`` (one column per sample), classifiers ``W`` have shape
``(..., K, d)`` (one row per class), ``labels`` is a length-N integer tensor
shared by the batch.  Every function accepts any number of leading batch
dimensions, so restarts and parameter draws are measured in one call.

- NC1 — within-class variability collapse: tr(Σ_W Σ_B^†) / K.
- NC2 — class means (centred at their mean) form a simplex ETF: distance
  between the normalised Gram of the means and the ETF Gram.
- NC3 — self-duality: ‖W/‖W‖ − Mᵀ/‖M‖‖_F.
- NC4 — share of samples where the classifier and the nearest class mean
  disagree.
"""
from __future__ import annotations

import torch


def mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched matrix product by broadcasting.  The matrices here are tiny
    (a few classes, a few dozen samples), where a threaded BLAS call costs
    milliseconds of thread hand-off on a busy 2-core machine and this costs
    microseconds."""
    return (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(dim=-2)


def one_hot(labels: torch.Tensor, K: int, dtype=torch.float64) -> torch.Tensor:
    """(K, N) indicator of class membership."""
    return torch.nn.functional.one_hot(labels.long(), K).T.to(dtype)


def class_counts(labels: torch.Tensor, K: int) -> torch.Tensor:
    return torch.bincount(labels.long(), minlength=K)


def class_means(H: torch.Tensor, labels: torch.Tensor, K: int) -> torch.Tensor:
    """Means of each class, shape (..., d, K)."""
    Y = one_hot(labels, K, H.dtype).to(H.device)
    counts = Y.sum(dim=1)
    return mm(H, Y.T) / counts


def gram(M: torch.Tensor) -> torch.Tensor:
    """Gram matrix of the columns of M: (..., K, K)."""
    return mm(M.transpose(-1, -2), M)


def cosine_gram(M: torch.Tensor, eps: float = 1e-300) -> torch.Tensor:
    """Gram matrix of the normalised columns of M (cosines between columns)."""
    norms = M.norm(dim=-2).clamp_min(eps)
    return gram(M) / (norms[..., :, None] * norms[..., None, :])


def etf_gram(K: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """Gram of a unit-norm simplex ETF: (K/(K−1))(I − 11ᵀ/K)."""
    eye = torch.eye(K, dtype=dtype, device=device)
    return K / (K - 1) * (eye - torch.ones(K, K, dtype=dtype, device=device) / K)


def centred(M: torch.Tensor) -> torch.Tensor:
    """Class means minus their (unweighted) average: the global mean for balanced classes."""
    return M - M.mean(dim=-1, keepdim=True)


def nc1(H: torch.Tensor, labels: torch.Tensor, K: int) -> torch.Tensor:
    """tr(Σ_W Σ_B^†)/K with Σ_W the within-class and Σ_B the between-class
    covariance (class means centred at the global mean).  0 = collapsed."""
    M = class_means(H, labels, K)
    N = H.shape[-1]
    within = H - M[..., labels.long()]
    sigma_w = mm(within, within.transpose(-1, -2)) / N
    global_mean = H.mean(dim=-1, keepdim=True)
    between = M - global_mean
    sigma_b = mm(between, between.transpose(-1, -2)) / K
    bad = ~torch.isfinite(sigma_b).flatten(-2).all(dim=-1)  # diverged runs: NaN, not an exception
    sigma_b = torch.where(bad[..., None, None], torch.zeros_like(sigma_b), sigma_b)
    return torch.where(bad, torch.full_like(bad, float("nan"), dtype=H.dtype), _nc1_trace(sigma_w, sigma_b, K))


def _nc1_trace(sigma_w, sigma_b, K):
    return (sigma_w * torch.linalg.pinv(sigma_b, hermitian=True).transpose(-1, -2)).sum(dim=(-1, -2)) / K


def nc1_relative(H: torch.Tensor, labels: torch.Tensor, K: int, eps: float = 1e-300) -> torch.Tensor:
    """‖H − M[labels]‖_F / ‖H‖_F: a pseudo-inverse-free NC1 that stays defined
    when class means vanish or are rank deficient."""
    M = class_means(H, labels, K)
    spread = (H - M[..., labels.long()]).flatten(-2).norm(dim=-1)
    return spread / H.flatten(-2).norm(dim=-1).clamp_min(eps)


def within_class_rms(H: torch.Tensor, labels: torch.Tensor, K: int) -> torch.Tensor:
    """RMS distance of features to their class mean: an absolute NC1 that stays
    meaningful when the features themselves shrink to zero."""
    M = class_means(H, labels, K)
    return (H - M[..., labels.long()]).flatten(-2).norm(dim=-1) / H.shape[-1] ** 0.5


def nc2_etf(M: torch.Tensor) -> torch.Tensor:
    """Frobenius distance between the cosine Gram of the centred means and the ETF Gram."""
    K = M.shape[-1]
    return (cosine_gram(centred(M)) - etf_gram(K, M.dtype, M.device)).flatten(-2).norm(dim=-1)


def equinorm(M: torch.Tensor, eps: float = 1e-300) -> torch.Tensor:
    """std/mean of the column norms (0 = all columns of equal length)."""
    n = M.norm(dim=-2)
    return n.std(dim=-1, unbiased=False) / n.mean(dim=-1).clamp_min(eps)


def nc3(W: torch.Tensor, M: torch.Tensor, eps: float = 1e-300) -> torch.Tensor:
    """‖W/‖W‖_F − Mᵀ/‖M‖_F‖_F for classifiers W (..., K, d) and means M (..., d, K)."""
    Wn = W / W.flatten(-2).norm(dim=-1).clamp_min(eps)[..., None, None]
    Mt = M.transpose(-1, -2)
    Mn = Mt / Mt.flatten(-2).norm(dim=-1).clamp_min(eps)[..., None, None]
    return (Wn - Mn).flatten(-2).norm(dim=-1)


def nc4(W: torch.Tensor, H: torch.Tensor, labels: torch.Tensor, K: int,
        b: torch.Tensor | None = None) -> torch.Tensor:
    """Share of samples where argmax of W h + b differs from the nearest class mean."""
    M = class_means(H, labels, K)
    logits = mm(W, H) + (b[..., :, None] if b is not None else 0.0)
    dist = ((H[..., :, None, :] - M[..., :, :, None]) ** 2).sum(dim=-3)  # (..., K, N)
    return (logits.argmax(dim=-2) != dist.argmin(dim=-2)).to(H.dtype).mean(dim=-1)


def nc_metrics(W: torch.Tensor, H: torch.Tensor, labels: torch.Tensor, K: int,
               b: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """All four metrics (plus the pinv-free NC1) at once, each of shape (...)."""
    M = class_means(H, labels, K)
    return {"nc1": nc1(H, labels, K), "nc1_relative": nc1_relative(H, labels, K), "nc2": nc2_etf(M),
            "nc3": nc3(W, M), "nc4": nc4(W, H, labels, K, b), "equinorm": equinorm(centred(M))}


__all__ = ["mm", "one_hot", "class_counts", "class_means", "gram", "cosine_gram", "etf_gram", "centred", "nc1",
           "nc1_relative", "within_class_rms", "nc2_etf", "equinorm", "nc3", "nc4", "nc_metrics"]
