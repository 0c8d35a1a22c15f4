"""Fixtures of the report tests: a results document with every verdict kind,
produced by running the small claims in ``fixture_claims/`` through the real
runner (not hand-written), plus a hand-written hostile results file."""
import json
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
FIXTURE_CLAIMS = HERE / "fixture_claims"
HOSTILE_RESULTS = HERE / "fixtures" / "hostile_results.json"


def run_fixture_claims() -> dict:
    """Run every fixture claim (quick profile, few examples) and build the results document."""
    from theorycheck import results
    from theorycheck.discovery import load_claim
    from theorycheck.runner import RunOptions, error_record, safe_run_claim

    options = RunOptions(profile="quick", seed=0, device="cpu", database_dir=None, examples=4)
    started = time.monotonic()
    records = [safe_run_claim(load_claim(p), options) for p in sorted(FIXTURE_CLAIMS.glob("*.py"))]
    # what the runner writes for a worker that crashed: a record with almost nothing in it
    records.append(error_record("fixture.crashed", "A claim whose worker process died", "fixture_claims/none.py",
                                "worker process died (exit code -9)", 1.5))
    return results.build(records, profile="quick", seed=0, device="cpu", device_label="cpu (fixture)",
                         dtype="float64", paths=[str(FIXTURE_CLAIMS)], load_errors=[], duration_s=
                         time.monotonic() - started, complete=True)


@pytest.fixture(scope="session")
def every_verdict() -> dict:
    return run_fixture_claims()


@pytest.fixture(scope="session")
def every_verdict_file(every_verdict, tmp_path_factory) -> Path:
    from theorycheck import results
    path = tmp_path_factory.mktemp("report") / "results.json"
    results.save_atomic(path, every_verdict)
    return path


@pytest.fixture
def hostile() -> dict:
    return json.loads(HOSTILE_RESULTS.read_text(encoding="utf-8"))
