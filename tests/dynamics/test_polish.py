"""theorycheck.symbolic.polish: Newton polishing drives KKT residuals to round-off from an
inexact start, reports the residual, and says when it could not."""
import numpy as np

from theorycheck.symbolic.polish import newton_polish, polish_minimum


def _dual(seed=0, alpha=0.2, n=4, d=9):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    a2 = alpha**2
    f = lambda nu: float(2 * a2 * np.sum(np.cosh(X.T @ nu) - 1) - y @ nu)  # noqa: E731
    g = lambda nu: 2 * a2 * X @ np.sinh(X.T @ nu) - y  # noqa: E731
    H = lambda nu: 2 * a2 * (X * np.cosh(X.T @ nu)) @ X.T  # noqa: E731
    return f, g, H, n


def test_polish_minimum_reaches_round_off_from_far_away():
    f, g, H, n = _dual()
    p = polish_minimum(f, g, H, np.zeros(n), tol=1e-12, max_iter=200)
    assert p.converged and p.residual <= 1e-12 and p.start_residual > 1e-2
    assert p.history[0] == p.start_residual and p.history[-1] == p.residual


def test_polish_minimum_from_an_inexact_solver_point_takes_few_steps():
    f, g, H, n = _dual(seed=1)
    exact = polish_minimum(f, g, H, np.zeros(n), tol=1e-13, max_iter=200).x
    p = polish_minimum(f, g, H, exact + 1e-4, tol=1e-12)
    assert p.converged and p.iterations <= 4


def test_newton_polish_on_a_square_system():
    # x² = 2, y³ = x: F(x, y) = (x² − 2, y³ − x)
    F = lambda z: np.array([z[0] ** 2 - 2, z[1] ** 3 - z[0]])  # noqa: E731
    J = lambda z: np.array([[2 * z[0], 0.0], [-1.0, 3 * z[1] ** 2]])  # noqa: E731
    p = newton_polish(F, J, np.array([1.5, 1.0]), tol=1e-14)
    assert p.converged and abs(p.x[0] - np.sqrt(2)) < 1e-14 and abs(p.x[1] - 2 ** (1 / 6)) < 1e-14


def test_unreachable_tolerance_is_reported_not_hidden():
    f, g, H, n = _dual(seed=2)
    p = polish_minimum(f, g, H, np.zeros(n), tol=1e-30, max_iter=60)
    assert not p.converged and p.residual < 1e-12
    F = lambda z: np.array([z[0] ** 2 + 1.0])  # noqa: E731  (no real root)
    J = lambda z: np.array([[2 * z[0]]])  # noqa: E731
    q = newton_polish(F, J, np.array([0.5]), tol=1e-12, max_iter=30)
    assert not q.converged and q.residual >= 1.0
