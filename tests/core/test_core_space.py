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
