"""Cross-check of the Hessian toolkit against the peer library PyHessian on
the same model and data: top eigenvalue and trace agree within the errors each
side states (power-iteration tolerance; Hutchinson standard errors); and,
when installed, against curvlinops (products and scipy's eigsh)."""
import math

import pytest
import torch

pyhessian = pytest.importorskip("pyhessian")

from theorycheck.sim.hessian import dense_hessian, flat_loss, hutchinson_trace, hvp_fn, lanczos  # noqa: E402


@pytest.fixture
def float64_default():
    # PyHessian draws its probes with the default dtype; match the model's.
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def model_and_data(seed):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    x = torch.randn(64, 4, dtype=torch.float64)
    y = torch.sin(x.sum(1, keepdim=True))
    return net, x, y


@pytest.mark.parametrize("seed", [0, 1])
def test_top_eigenvalue_and_trace_agree_with_pyhessian(seed, float64_default):
    net, x, y = model_and_data(seed)
    crit = torch.nn.MSELoss()
    loss, theta = flat_loss(net, crit, x, y)
    ev = torch.linalg.eigvalsh(dense_hessian(loss, theta))
    assert float(ev[-1]) > abs(float(ev[0])), "power iteration needs the top eigenvalue to be the largest in size"

    ours = lanczos(loss, theta, k=1, tol=1e-10, generator=torch.Generator().manual_seed(seed))
    assert ours.converged

    torch.manual_seed(100 + seed)
    ph = pyhessian.hessian(net, crit, data=(x, y), cuda=False)
    tol = 1e-7
    (theirs,), _ = ph.eigenvalues(maxIter=5000, tol=tol)
    # PyHessian stops when consecutive Rayleigh quotients differ by < tol (relative);
    # with the spectral gap g = 1 - λ2/λ1 its error is at most ~tol/g.
    gap = 1 - float(ev[-2]) / float(ev[-1])
    assert math.isclose(float(ours.values[0]), theirs, rel_tol=10 * tol / gap)
    assert math.isclose(float(ours.values[0]), float(ev[-1]), rel_tol=1e-8)

    samples = ph.trace(maxIter=400, tol=float("-inf"))  # -inf: never stops early, uses all 400 probes
    t_theirs = sum(samples) / len(samples)
    se_theirs = torch.tensor(samples).std().item() / math.sqrt(len(samples))
    t_ours = hutchinson_trace(loss, theta, samples=400, generator=torch.Generator().manual_seed(seed))
    exact = float(ev.sum())
    combined = math.hypot(se_theirs, t_ours.stderr)
    assert abs(t_ours.value - t_theirs) <= 4 * combined
    assert abs(t_ours.value - exact) <= 4 * t_ours.stderr
    assert abs(t_theirs - exact) <= 4 * se_theirs


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.script in curvlinops' dependencies
def test_products_and_top_eigenvalue_agree_with_curvlinops():
    """The second peer, curvlinops (optional: ``pip install curvlinops-for-pytorch``,
    see README): same Hessian-vector products, same top eigenvalue from scipy's eigsh."""
    curvlinops = pytest.importorskip("curvlinops")
    from scipy.sparse.linalg import eigsh

    net, x, y = model_and_data(2)
    crit = torch.nn.MSELoss()
    loss, theta = flat_loss(net, crit, x, y)
    H = curvlinops.HessianLinearOperator(net, crit, list(net.parameters()), [(x, y)])
    V = torch.randn(3, theta.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ours = hvp_fn(loss, theta, batched=True)(V)
    assert torch.allclose(ours, (H @ V.T).T, rtol=1e-10, atol=1e-12)
    (theirs,) = eigsh(H.to_scipy(), k=1, which="LA", tol=1e-12, return_eigenvectors=False)
    rep = lanczos(loss, theta, k=1, tol=1e-12, generator=torch.Generator().manual_seed(0))
    assert math.isclose(float(rep.values[0]), float(theirs), rel_tol=1e-9)
