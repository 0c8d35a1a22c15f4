"""Shared fixtures of the framework tests."""
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "claim_modules"


@pytest.fixture
def fixture_claims() -> Path:
    """Folder of deliberately good, false, NaN, raising and malformed claim modules."""
    return FIXTURES


@pytest.fixture
def quick_options(tmp_path):
    from theorycheck.runner import RunOptions
    return RunOptions(profile="quick", seed=0, device="cpu", failures_path=str(tmp_path / "failures.json"))


@pytest.fixture(scope="module")
def one_thread():
    """Small tensor programs: intra-op threads only add overhead (as in the runner's workers)."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
