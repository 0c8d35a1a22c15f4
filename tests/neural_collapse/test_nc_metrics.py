"""NC1–NC4 metrics on hand-built collapsed and non-collapsed features."""
import math

import pytest
import torch

from theorycheck.sim.collapse import (class_means, cosine_gram, equinorm, etf_gram, mm, nc1, nc1_relative, nc2_etf,
                                      nc3, nc4, nc_metrics, within_class_rms)
from theorycheck.sim.ufm import labels_from_counts


def etf_means(K, d, scale=2.0):
    """Columns of a simplex ETF in R^d (d ≥ K), scaled."""
    U = torch.linalg.qr(torch.randn(d, K, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))[0]
    return scale * (U @ (torch.eye(K, dtype=torch.float64) - 1.0 / K)) * math.sqrt(K / (K - 1))


@pytest.fixture
def collapsed():
    K, d, n = 4, 6, 3
    labels = labels_from_counts([n] * K)
    M = etf_means(K, d)
    H = M[:, labels]
    W = M.T.clone()
    return K, labels, M, H, W


def test_etf_means_have_the_etf_gram(collapsed):
    K, labels, M, H, W = collapsed
    assert torch.allclose(cosine_gram(M), etf_gram(K), atol=1e-12)


def test_collapsed_features_score_zero(collapsed):
    K, labels, M, H, W = collapsed
    assert torch.allclose(class_means(H, labels, K), M, atol=1e-12)
    m = nc_metrics(W, H, labels, K)
    for key in ("nc1", "nc1_relative", "nc2", "nc3", "nc4", "equinorm"):
        assert float(m[key]) < 1e-10, key
    assert float(within_class_rms(H, labels, K)) < 1e-12


def test_noise_breaks_nc1_and_not_the_means_geometry(collapsed):
    K, labels, M, H, W = collapsed
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(H.shape, dtype=H.dtype, generator=g)
    noise = noise - class_means(noise, labels, K)[:, labels]  # keep the class means
    Hn = H + 0.5 * noise
    assert float(nc1(Hn, labels, K)) > 0.01
    assert float(nc1_relative(Hn, labels, K)) > 0.05
    assert float(within_class_rms(Hn, labels, K)) > 0.1
    assert float(nc2_etf(class_means(Hn, labels, K))) < 1e-10


def test_orthogonal_means_are_not_an_etf():
    K = 3
    M = torch.eye(K, dtype=torch.float64)
    # centred orthogonal frame *is* an ETF; an uncentred one shifted off the centre is not
    assert float(nc2_etf(M)) < 1e-12
    M2 = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    assert float(nc2_etf(M2)) > 0.1
    assert float(equinorm(M2)) > 0.3


def test_nc3_and_nc4_detect_a_mismatched_classifier(collapsed):
    K, labels, M, H, W = collapsed
    perm = W[[1, 2, 3, 0]]
    assert float(nc3(perm, M)) > 1.0
    assert float(nc4(perm, H, labels, K)) == 1.0  # every sample goes to the wrong class
    assert float(nc4(W, H, labels, K)) == 0.0


def test_metrics_are_batched(collapsed):
    K, labels, M, H, W = collapsed
    Hb = torch.stack([H, H + 0.3 * torch.randn(H.shape, dtype=H.dtype, generator=torch.Generator().manual_seed(2))])
    Wb = torch.stack([W, W])
    m = nc_metrics(Wb, Hb, labels, K)
    for key, v in m.items():
        assert v.shape == (2,), key
    assert float(m["nc1"][0]) < 1e-10 < float(m["nc1"][1])


def test_imbalanced_class_means():
    labels = labels_from_counts([3, 1])
    H = torch.tensor([[1.0, 2.0, 3.0, 10.0]], dtype=torch.float64)
    assert torch.allclose(class_means(H, labels, 2), torch.tensor([[2.0, 10.0]], dtype=torch.float64))


def test_mm_matches_matmul():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(2, 3, 4, dtype=torch.float64, generator=g)
    b = torch.randn(2, 4, 5, dtype=torch.float64, generator=g)
    assert torch.allclose(mm(a, b), a @ b, atol=1e-12)


def test_diverged_run_gives_nan_not_an_exception(collapsed):
    K, labels, M, H, W = collapsed
    Hb = torch.stack([H, torch.full_like(H, float("nan"))])
    v = nc1(Hb, labels, K)
    assert float(v[0]) < 1e-10 and math.isnan(float(v[1]))
