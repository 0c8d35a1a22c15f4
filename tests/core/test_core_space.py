import pytest
from hypothesis import given, settings

from theorycheck.space import AssumptionSpace, Choice, Float, Int, Seed, SpaceError

SPACE = AssumptionSpace(
    [Int("K", 2, 6), Int("d", "K - 1", 8), Float("lam", 1e-4, 1e-1, log=True), Choice("loss", ["mse", "ce"]),
     Seed("data_seed")],
    constraints=["d >= K - 1", "lam < 0.05 or loss == 'mse'"])


@settings(max_examples=200, deadline=None)
@given(SPACE.strategy())
def test_strategy_draws_respect_bounds_and_constraints(p):
    assert 2 <= p["K"] <= 6 and p["K"] - 1 <= p["d"] <= 8
    assert 1e-4 <= p["lam"] <= 1e-1
    assert SPACE.satisfied(p)


def test_sample_is_seeded_and_respects_constraints():
    a, b = SPACE.sample(50, seed=3), SPACE.sample(50, seed=3)
    assert a == b
    assert all(SPACE.satisfied(p) and p["d"] >= p["K"] - 1 for p in a)
    assert SPACE.sample(5, seed=4) != SPACE.sample(5, seed=3)


def test_grid_is_filtered_by_constraints():
    space = AssumptionSpace([Int("K", 2, 4), Int("d", 1, 4)], constraints=["d >= K - 1"])
    grid = space.grid(points=4)
    assert grid and all(p["d"] >= p["K"] - 1 for p in grid)
    assert {"K": 4, "d": 2} not in grid and {"K": 4, "d": 3} in grid


@pytest.mark.parametrize("make, field", [
    (lambda: AssumptionSpace([Int("d", 1, 3)], constraints=["d >= K - 1"]), "K"),
    (lambda: AssumptionSpace([Int("d", "K", 3)]), "K"),
    (lambda: AssumptionSpace([Int("d", 5, 3)]), "empty range"),
    (lambda: AssumptionSpace([Float("x", 0.0, 1.0, log=True)]), "positive lower bound"),
    (lambda: AssumptionSpace([Int("d", 1, 3), Int("d", 1, 2)]), "twice"),
    (lambda: AssumptionSpace([Int("d", 1, 3)], constraints=["d >= __import__('os')"]), "__import__"),
])
def test_definition_errors_name_the_problem(make, field):
    with pytest.raises(SpaceError, match=field):
        make()


def test_expressions_cannot_reach_attributes():
    with pytest.raises(SpaceError):
        AssumptionSpace([Int("d", 1, 3)], constraints=["d.__class__ == 1"])


def test_design_is_space_filling_seeded_and_inside_the_assumptions():
    import numpy as np
    a, b = SPACE.design(256, seed=3), SPACE.design(256, seed=3)
    assert a == b and SPACE.design(8, seed=4) != SPACE.design(8, seed=3)
    assert all(SPACE.satisfied(p) and p["K"] - 1 <= p["d"] <= 8 and 1e-4 <= p["lam"] <= 1e-1 for p in a)
    # integers and choices get equal shares; a log range is uniform in log
    counts = np.bincount([p["K"] for p in a])[2:]
    assert counts.min() >= 0.7 * counts.mean()
    logs = np.log10([p["lam"] for p in a])
    assert np.histogram(logs, bins=3, range=(-4, -1))[0].min() > 40
    # no subnormal or degenerate values, and readable numbers
    assert all(p["lam"] > 1e-300 and len(repr(p["lam"])) <= 12 for p in a)


def test_uniform_needle_is_covered_by_the_design():
    space = AssumptionSpace([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)])
    for seed in range(20):
        hits = [p for p in space.design(256, seed) if 0.3 < p["x"] < 0.32]  # 2 % of the space
        assert len(hits) >= 3


def test_hypothesis_draws_spread_over_the_range():
    import numpy as np
    from hypothesis import HealthCheck
    space = AssumptionSpace([Float("x", 0.0, 1.0), Float("lam", 1e-6, 1.0, log=True), Int("n", 1, 100)])
    seen = []

    @settings(max_examples=300, database=None, suppress_health_check=list(HealthCheck))
    @given(space.strategy())
    def collect(p):
        seen.append(p)
    collect()
    x = np.array([p["x"] for p in seen])
    assert np.mean(x == 0.0) < 0.1 and np.mean(x == 1.0) < 0.05
    assert np.mean([p["lam"] == 1e-6 for p in seen]) < 0.1
    assert np.mean([p["n"] == 1 for p in seen]) < 0.2
    assert all(p["lam"] >= 1e-6 and (p["x"] == 0 or p["x"] > 1e-300) for p in seen)


def test_simpler_values_move_towards_the_lower_bound_and_round_numbers():
    f = Float("x", 0.0, 1.0)
    assert f.simpler(0.417123, {})[:3] == [0.0, 0.4, 0.42]
    assert Int("n", 2, 9).simpler(7, {})[0] == 2
    assert Choice("c", ["a", "b", "c"]).simpler("c", {}) == ["a", "b"]
    assert Seed("s").simpler(123456, {}) == [0, 1, 2, 3]
