"""pytest-xdist: a claim whose items land on several workers runs once."""
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("xdist")

FIXTURE = Path(__file__).parent / "fixtures" / "once_claim.py"


def test_claim_items_on_two_workers_run_the_claim_once(pytester, tmp_path, monkeypatch):
    claims = pytester.path / "claims" / "fx"
    claims.mkdir(parents=True)
    shutil.copy(FIXTURE, claims / "once.py")
    log = tmp_path / "runs.log"
    monkeypatch.setenv("TC_RUN_LOG", str(log))
    result = pytester.runpytest_subprocess("claims", "-n", "2", "--dist", "load", "-v", "-p", "no:cacheprovider",
                                           "--tc-sweep", "8", "--tc-search", "0", "--tc-device", "cpu",
                                           timeout=600)
    result.assert_outcomes(passed=6)
    out = result.stdout.str()
    workers = set(re.findall(r"\[(gw\d)\] .*PASSED", out))
    assert workers == {"gw0", "gw1"}, out  # the items were split across both workers
    pids = set(log.read_text().split())
    assert len(pids) == 1, f"the claim ran in {len(pids)} processes"  # one run of the claim, not one per worker
