from theorycheck.verdict import CONFIRMED, ERROR, INCONCLUSIVE, REFUTED, decide


def d(**kw):
    base = dict(passed=10, failed=0, inconclusive=0, errors=0, min_examples=3, inconclusive_fraction=0.2)
    base.update(kw)
    return decide(**base)[0]


def test_all_passed_and_mutants_refuted_is_confirmed():
    assert d(mutants={"m": "refuted"}) == CONFIRMED


def test_failure_refutes_even_with_errors():
    assert d(failed=1, errors=2) == REFUTED


def test_error_wins_over_passes():
    assert d(errors=1) == ERROR


def test_surviving_mutant_makes_claim_weak():
    verdict, reason = decide(passed=10, failed=0, inconclusive=0, errors=0, mutants={"m": "survived"})
    assert verdict == INCONCLUSIVE and "weak" in reason


def test_too_many_inconclusive_or_too_few_examples():
    assert d(passed=8, inconclusive=3) == INCONCLUSIVE
    assert d(passed=9, inconclusive=1) == CONFIRMED
    assert d(passed=2) == INCONCLUSIVE
    assert "budget" in decide(passed=0, failed=0, inconclusive=0, errors=0, budget_spent=True)[1]
    assert d(unsatisfiable=True) == INCONCLUSIVE


def test_undecided_mutant_is_not_called_weak():
    verdict, reason = decide(passed=10, failed=0, inconclusive=0, errors=0, mutants={"m": "inconclusive"})
    assert verdict == INCONCLUSIVE and "not decided" in reason and "weak" not in reason
