"""Network helpers of theorycheck.sim.descent: batched GD agrees with plain GD,
the MLP loss agrees with an nn.Module, Newton training yields a certificate."""
import torch

from theorycheck.sim.descent import gd_batched, gd_path, minimum_by_newton, mlp_mse
from theorycheck.sim.hessian import dense_hessian, dense_hessian_func


def problem(seed=0, width=3):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(40, 2, generator=g, dtype=torch.float64)
    y = torch.sin(2 * X[:, :1]) + 0.1 * torch.randn(40, 1, generator=g, dtype=torch.float64)
    loss, n, init = mlp_mse(X, y, [width])
    return X, y, loss, n, init(g)


def test_mlp_loss_matches_module():
    X, y, loss, n, theta = problem()
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)).double()
    with torch.no_grad():
        k = 0
        for layer in (net[0], net[2]):
            o, i = layer.weight.shape
            layer.weight.copy_(theta[k:k + o * i].reshape(o, i))
            layer.bias.copy_(theta[k + o * i:k + o * i + o])
            k += o * i + o
    want = 0.5 * ((net(X) - y) ** 2).mean()
    assert torch.allclose(loss(theta), want, rtol=1e-13)
    assert torch.allclose(loss(torch.stack([theta, theta]))[1], want, rtol=1e-13)


def test_gd_batched_matches_gd_path():
    _, _, loss, _, theta = problem(1)
    end, _, _ = gd_path(loss, theta, 0.3, 50)
    path = gd_batched(loss, theta, torch.tensor([0.1, 0.3], dtype=torch.float64), 50)
    assert torch.allclose(path[-1, 1], end, rtol=1e-12, atol=1e-14)


def test_dense_hessians_agree():
    _, _, loss, _, theta = problem(2)
    assert torch.allclose(dense_hessian(loss, theta), dense_hessian_func(loss, theta), rtol=1e-10, atol=1e-12)


def test_newton_certifies_a_strict_minimum():
    _, _, mse, _, theta = problem(3)

    def loss(t):
        return mse(t) + 1e-3 * (t**2).sum(-1)

    theta, cert = minimum_by_newton(loss, theta)
    assert cert["certified"], cert
    assert cert["grad_norm"] <= 1e-12 and cert["lambda_min"] > 0
