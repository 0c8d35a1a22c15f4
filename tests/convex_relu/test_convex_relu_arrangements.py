"""Exact hyperplane-arrangement patterns: Cover's count, interior directions,
agreement of the vertex enumerator with the incremental-LP reference on
degenerate data, sampling."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theorycheck.symbolic.arrangements import (cover_count, enumerate_patterns, enumerate_patterns_lp,
                                               in_general_position, patterns_of, sample_patterns)


def pattern_set(p):
    return {tuple(m) for m in p.masks.tolist()}


def assert_realised(X, p):
    """Every direction gives its pattern, strictly (no row on the direction's hyperplane) and distinct."""
    proj = X @ p.directions.T
    live = np.linalg.norm(X, axis=1) > 0
    assert np.all(np.abs(proj[live]) > 0)
    assert np.array_equal((proj > 0).T.astype(np.int8), p.masks)
    assert len(pattern_set(p)) == len(p)


def test_cover_count_small_cases():
    assert cover_count(1, 1) == 2             # one hyperplane: two half-spaces
    assert cover_count(3, 2) == 6             # three lines through the origin: six sectors
    assert cover_count(4, 4) == 2 ** 4        # n ≤ rank: every sign pattern
    assert cover_count(8, 3) == 2 * (1 + 7 + 21)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 9), d=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_enumeration_matches_cover_count_in_general_position(n, d, seed):
    X = np.random.default_rng(seed).standard_normal((n, d))
    assert in_general_position(X)
    pats = enumerate_patterns(X)
    assert len(pats) == cover_count(n, np.linalg.matrix_rank(X))
    assert len({tuple(m) for m in pats.masks.tolist()}) == len(pats)  # no duplicates
    # every direction realises its pattern strictly
    assert np.array_equal((X @ pats.directions.T > 0).T.astype(np.int8), pats.masks)


def test_rank_deficient_data_counts_with_the_rank():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((7, 2)) @ rng.standard_normal((2, 4))  # rank 2 in R^4
    assert len(enumerate_patterns(X)) == cover_count(7, 2)


def test_collinear_rows_are_not_in_general_position():
    X = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    assert not in_general_position(X)
    assert len(enumerate_patterns(X)) == 4 < cover_count(3, 2)  # the count is exact, Cover's is not


def test_sampling_finds_a_subset_and_misses_regions():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 3))
    exact = {tuple(m) for m in enumerate_patterns(X).masks.tolist()}
    sampled = sample_patterns(X, 200, np.random.default_rng(1))
    found = {tuple(m) for m in sampled.masks.tolist()}
    assert found <= exact
    assert len(found) < len(exact)  # 200 directions miss some of the 92 regions


def test_patterns_of_keeps_first_appearance_and_union_dedups():
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    dirs = np.array([[1.0, 1.0], [2.0, 3.0], [-1.0, 1.0]])
    p = patterns_of(X, dirs)
    assert p.masks.tolist() == [[1, 1], [0, 1]]
    assert len(p.union(p)) == 2


@pytest.mark.parametrize("n, d", [(12, 3), (9, 4), (24, 3), (48, 3), (16, 4), (10, 5)])
def test_larger_enumerations_stay_exact(n, d):
    X = np.random.default_rng(n * d).standard_normal((n, d))
    pats = enumerate_patterns(X)
    assert len(pats) == cover_count(n, d)
    assert_realised(X, pats)


@pytest.mark.parametrize("n, d", [(10, 3), (8, 4)])
def test_vertex_enumeration_equals_lp_reference_in_general_position(n, d):
    X = np.random.default_rng(7 + n).standard_normal((n, d))
    assert pattern_set(enumerate_patterns(X)) == pattern_set(enumerate_patterns_lp(X))


def degenerate(kind, rng):
    """Data with exact coincidences the vertex method must resolve by recursion."""
    if kind == "repeated and parallel rows":
        B = rng.standard_normal((5, 3))
        return np.vstack([B, B[0], -2 * B[1], 3 * B[4]])
    if kind == "three rows in a plane":  # lines met by three or more hyperplanes
        C = rng.standard_normal((4, 3))
        return np.vstack([C, C[0] + C[1], C[0] - 2 * C[1], C[2] + 0.5 * C[3], C[0] + C[2]])
    if kind == "small integers, d=3":
        return rng.integers(-2, 3, (10, 3)).astype(float)
    if kind == "small integers, d=4":
        return rng.integers(-1, 2, (9, 4)).astype(float)
    if kind == "rank 2 in R^3 with a zero row":
        return np.vstack([rng.standard_normal((5, 3)) @ np.diag([1.0, 1.0, 0.0]), np.zeros(3)])
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["repeated and parallel rows", "three rows in a plane", "small integers, d=3",
                                  "small integers, d=4", "rank 2 in R^3 with a zero row"])
@pytest.mark.parametrize("seed", [0, 1])
def test_degenerate_data_matches_lp_reference(kind, seed):
    X = degenerate(kind, np.random.default_rng(seed))
    fast = enumerate_patterns(X)
    assert pattern_set(fast) == pattern_set(enumerate_patterns_lp(X))
    assert_realised(X, fast)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 8), d=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_integer_data_matches_lp_reference(n, d, seed):
    X = np.random.default_rng(seed).integers(-1, 2, (n, d)).astype(float)  # degenerate more often than not
    fast = enumerate_patterns(X)
    assert pattern_set(fast) == pattern_set(enumerate_patterns_lp(X))
    assert_realised(X, fast)


def test_no_hyperplanes_leaves_one_pattern():
    pats = enumerate_patterns(np.zeros((3, 2)))
    assert pats.masks.tolist() == [[0, 0, 0]]
