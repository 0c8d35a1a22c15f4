"""The researcher's workflow, from the README and the tutorial alone: write a
claim, run it, see it refuted, reproduce the counterexample with the printed
command, fix it, run it again and diff the two runs (docs/writing-claims.md,
steps 2 to 6, with its own listings)."""
import json
import re
import shlex

from theorycheck import results
from theorycheck.cli import main

CLAIM = "claims/tutorial/gd_contraction.py"


def test_write_run_refute_reproduce_fix_diff(workdir, tutorial, capsys):
    SMALL, blocks, apply_diff = tutorial.small, tutorial.blocks, tutorial.apply_diff
    # 2. version 1: the statement as written in the tutorial
    listing = blocks("python")[0]
    assert listing.startswith("# claims/tutorial/gd_contraction.py (version 1)")
    path = workdir / CLAIM
    path.parent.mkdir(parents=True)
    path.write_text(listing, encoding="utf-8")

    # 3. run it: refuted, with the counterexample, its repro command and where it fails
    assert main(["run", "claims", "--out", "runs/v1", *SMALL]) == 1
    out = capsys.readouterr().out
    assert re.search(r"tutorial\.gd_contraction\s+│ refuted", out)
    record = results.load("runs/v1/results.json")["claims"][0]
    ce = record["counterexample"]
    assert record["verdict"] == "refuted" and ce["params"]["eta"] * ce["params"]["a"] >= 2
    command = re.search(r"^  reproduce: (.*)$", out, flags=re.M)[1]
    assert command == ce["repro"] and command.startswith(f"theorycheck repro tutorial.gd_contraction {CLAIM} ")
    where = re.search(r"^  where it fails: (.*)$", out, flags=re.M)[1]
    assert "fails when eta·a ≥ " in where and where.startswith(f"{record['failure_region']['failing']} of 32")

    # 4. reproduce it with the printed command: both sides of every check, exit status 1
    argv = shlex.split(command)
    assert argv[0] == "theorycheck"
    assert main(argv[1:]) == 1
    shown = capsys.readouterr().out
    assert f"simulation seed {ce['seed']}" in shown and "the counterexample still fails (exit status 1)" in shown
    failed = next(c for c in ce["checks"] if c["passed"] is False)
    row = next(line for line in shown.splitlines() if failed["name"] in line and "FAILED" in line)
    assert f"{failed['observed']:.6g}" in row and f"{failed['theory']:.6g}" in row  # the same numbers
    assert "contraction factor" in shown and "passed" in shown  # the other check, both sides too
    # `show` prints the same command and the failure region
    assert main(["show", "tutorial.gd_contraction", "claims", "--results", "runs/v1/results.json"]) == 0
    shown = capsys.readouterr().out
    assert command in shown and "where it fails:" in shown

    # 5. the fix the failure region points to (the tutorial's diff)
    (diff,) = blocks("diff")
    path.write_text(apply_diff(listing, diff), encoding="utf-8")
    assert main(["repro", *argv[2:]]) == 2  # the counterexample is outside the fixed assumptions
    assert "constraint 'eta * a < 2' does not hold" in capsys.readouterr().err

    # 6. run again: confirmed; the diff says what got better, and exits 1 the other way round
    assert main(["run", "claims", "--out", "runs/v2", *SMALL]) == 0
    capsys.readouterr()
    assert results.load("runs/v2/results.json")["claims"][0]["verdict"] == "confirmed"
    assert main(["diff", "runs/v1/results.json", "runs/v2/results.json"]) == 0
    out = capsys.readouterr().out
    assert "tutorial.gd_contraction: verdict refuted → confirmed" in out
    assert f"counterexample {json.dumps(ce['params'])} vanished" in out
    assert main(["diff", "runs/v2/results.json", "runs/v1/results.json"]) == 1
    assert "something got worse" in capsys.readouterr().out
    assert main(["report", "runs/v2/results.json", "--baseline", "runs/v1/results.json", "-o", "diff.html"]) == 0
    page = (workdir / "diff.html").read_text(encoding="utf-8")
    assert "Changes since the baseline" in page and "verdict refuted → confirmed" in page
