"""Exact hyperplane-arrangement patterns: Cover's count, interior directions, sampling."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theorycheck.symbolic.arrangements import (cover_count, enumerate_patterns, in_general_position, patterns_of,
                                               sample_patterns)


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


@pytest.mark.parametrize("n, d", [(12, 3), (9, 4)])
def test_larger_enumerations_stay_exact(n, d):
    X = np.random.default_rng(n * d).standard_normal((n, d))
    assert len(enumerate_patterns(X)) == cover_count(n, d)
