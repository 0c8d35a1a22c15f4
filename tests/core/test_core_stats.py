"""theorycheck.stats: Bonferroni levels that follow the run's draws, with hand-set floors."""
import pytest

from theorycheck import checks as C
from theorycheck.sim.context import SimContext
from theorycheck.stats import at_most_in_run, bonferroni_z, family_p, family_z

DRAWS = (0, 50, 300, 2100, 16500, 10**6)


def test_family_z_with_a_floor_grows_with_the_draws_and_never_drops_below_the_floor():
    for floor in (3.0, 4.5, 5.0, 6.5):
        z = family_z(per_draw=5, at_least=floor)
        values = [z(SimContext(draws=n)) for n in DRAWS[1:]]
        assert all(v >= floor for v in values)
        assert values == sorted(values)                                   # non-decreasing in the draws
        for n, v in zip(DRAWS[1:], values):
            assert v == pytest.approx(max(floor, bonferroni_z(5 * n)))  # Bonferroni once past the floor
    z = family_z(per_draw=5, at_least=5.0)
    assert z(SimContext(draws=300)) == 5.0                                # quick: the floor (Bonferroni 4.5)
    assert z(SimContext(draws=16500)) > 5.25                              # gpu: Bonferroni over 82 500 tests


def test_family_z_defaults_and_scale():
    # without a floor the former behaviour; no ctx.draws (or no ctx) counts as ~300 draws, the quick profile
    assert family_z(2)(SimContext(draws=300)) == pytest.approx(bonferroni_z(600))
    assert family_z(2)(SimContext()) == pytest.approx(bonferroni_z(600))
    assert family_z(2)(None) == pytest.approx(bonferroni_z(600))
    heavy = family_z(5, at_least=6.5, scale=1.3)
    assert heavy(SimContext(draws=300)) == 6.5
    assert heavy(SimContext(draws=16500)) == pytest.approx(1.3 * bonferroni_z(5 * 16500))
    assert "at least 6.5" in heavy.__name__ and "×1.3" in heavy.__name__


def test_family_p_is_the_two_sided_level_of_family_z_and_never_above_its_ceiling():
    p = family_p(per_draw=3, at_most=1e-6)
    assert p(SimContext(draws=300)) == 1e-6                               # quick: the hand-set level
    assert p(SimContext(draws=17000)) == pytest.approx(0.01 / (3 * 17000))
    levels = [p(SimContext(draws=n)) for n in DRAWS[1:]]
    assert all(v <= 1e-6 for v in levels) and levels == sorted(levels, reverse=True)
    from statistics import NormalDist
    z = bonferroni_z(3 * 17000)
    assert 2 * (1 - NormalDist().cdf(z)) == pytest.approx(family_p(3)(SimContext(draws=17000)), rel=1e-6)


def test_within_se_and_at_most_in_run_read_the_run():
    c = C.within_se("z", "m", "se", "t", z=family_z(per_draw=5, at_least=5.0))
    quick, gpu = SimContext(draws=300), SimContext(draws=16500)
    assert c({"t": 0.0}, {"m": 4.9, "se": 1.0}, {}, quick).passed is True
    assert c({"t": 0.0}, {"m": 5.1, "se": 1.0}, {}, quick).passed is False     # floor 5 in quick
    assert c({"t": 0.0}, {"m": 5.1, "se": 1.0}, {}, gpu).passed is True        # Bonferroni ≈ 5.3 in gpu
    z = family_z(per_draw=5, at_least=5.0)
    check = at_most_in_run("stat", "s", lambda pred, obs, params, ctx: z(ctx))
    assert check({}, {"s": 5.1}, {}, quick).passed is False
    assert check({}, {"s": 5.1}, {}, gpu).passed is True
