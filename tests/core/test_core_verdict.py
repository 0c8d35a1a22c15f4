from collections import Counter

from theorycheck.verdict import CONFIRMED, ERROR, INCONCLUSIVE, REFUTED, decide, tally


def d(**kw):
    base = dict(passed=250, failed=0, inconclusive=0, errors=0, planned=256, swept=256, inconclusive_fraction=0.2)
    base.update(kw)
    return decide(**base)


def test_all_passed_and_mutants_refuted_is_confirmed():
    assert d(mutants={"m": ("refuted", "")}, breaks={"b": ("detected", "")})[0] == CONFIRMED


def test_failure_refutes_even_with_errors():
    assert d(failed=1, errors=2)[0] == REFUTED


def test_error_wins_over_passes_and_names_the_cause():
    verdict, reason = d(errors=1, error_reason="simulate: ValueError: bad shape")
    assert verdict == ERROR and reason == "simulate: ValueError: bad shape"


def test_weak_claims_are_inconclusive_and_say_why():
    for kw, word in ((dict(mutants={"m": ("survived", "passed")}), "mutant 'm' survived"),
                     (dict(breaks={"b": ("undetected", "x")}), "break 'b' undetected"),
                     (dict(resolution_misses=["'k' resolved to −: 3 %"]), "resolution")):
        verdict, reason = d(**kw)
        assert verdict == INCONCLUSIVE and reason.startswith("weak") and word in reason


def test_search_left_short_is_inconclusive():
    assert d(passed=200, inconclusive=56, reasons=Counter({"NaN (c)": 56}))[0] == INCONCLUSIVE
    assert d(passed=230, inconclusive=26)[0] == CONFIRMED
    verdict, reason = d(budget_spent=True, swept=64)
    assert verdict == INCONCLUSIVE and "64 of 256" in reason
    assert d(unsatisfiable=True)[0] == INCONCLUSIVE
    assert d(uncovered=["never"])[0] == INCONCLUSIVE
    assert d(passed=0, inconclusive=3)[0] == INCONCLUSIVE


def test_undecided_mutant_is_not_called_weak():
    verdict, reason = d(mutants={"m": ("inconclusive", "no draw")})
    assert verdict == INCONCLUSIVE and "not decided" in reason and "weak" not in reason


def test_tally_counts_reasons():
    assert tally(251, 0, 5, 0, Counter({"NaN in a compared value (c)": 5})) == \
        "251 passed, 5 inconclusive: NaN in a compared value (c) (5)"
