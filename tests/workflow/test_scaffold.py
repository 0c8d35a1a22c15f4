"""theorycheck new: a commented skeleton that loads and is confirmed out of the box,
and is the tutorial's finished claim."""
import re
import shlex

import pytest

from theorycheck import results, scaffold
from theorycheck.cli import main
from theorycheck.discovery import load_claim


def test_new_writes_a_skeleton_that_is_confirmed(workdir, tutorial, capsys):
    assert main(["new", "mine.first_claim"]) == 0
    out = capsys.readouterr().out
    path = workdir / "claims" / "mine" / "first_claim.py"
    assert f"wrote {path.relative_to(workdir)}" in out and "docs/writing-claims.md" in out
    claim = load_claim(path)  # validates
    assert claim.id == "mine.first_claim" and claim.simulate_batch is not None
    assert claim.mutants and claim.breaks and claim.regimes and claim.resolution
    assert main(["run", str(path.relative_to(workdir)), "--out", "out", *tutorial.small]) == 0
    record = results.load("out/results.json")["claims"][0]
    assert record["verdict"] == "confirmed", record["reason"]
    assert {m["verdict"] for m in record["mutants"]} == {"refuted"}
    assert {b["verdict"] for b in record["breaks"]} == {"detected"}
    assert all(r["covered"] for r in record["regimes"].values())
    # a mutant refuted on a sweep draw is re-run the way the sweep ran it: through simulate_batch
    example = next(m["example"] for m in record["mutants"] if m["example"]["source"] == "sweep")
    assert "--batched" in example["repro"]
    capsys.readouterr()
    assert main(shlex.split(example["repro"])[1:]) == 1
    assert "through simulate_batch (as the sweep ran it)" in capsys.readouterr().out


def test_new_refuses_bad_ids_and_existing_files(workdir, capsys):
    assert main(["new", "NoDot"]) == 2
    assert "is not a claim id of the form family.name" in capsys.readouterr().err
    assert main(["new", "mine.x", "--dir", "lib"]) == 0
    assert (workdir / "lib" / "mine" / "x.py").exists()
    assert main(["new", "mine.x", "--dir", "lib"]) == 2
    assert "exists (use --force" in capsys.readouterr().err
    assert main(["new", "mine.x", "--dir", "lib", "--force"]) == 0


def test_the_tutorial_ends_with_the_skeleton(tutorial):
    listings = tutorial.blocks("python")
    assert listings[-1] == scaffold.render("tutorial.gd_contraction")
    # every listing of the tutorial is valid Python, and the commands it shows exist
    for code in listings:
        compile(code, "tutorial", "exec")
    text = tutorial.path.read_text(encoding="utf-8")
    for command in set(re.findall(r"^\$ theorycheck (\w+)", text, flags=re.M)):
        assert command in ("run", "repro", "diff", "new", "report", "show", "list", "fuzz")


@pytest.mark.parametrize("cid", ["a.b", "family_2.name_3"])
def test_render_substitutes_the_id(cid):
    text = scaffold.render(cid)
    assert f'id="{cid}"' in text and "__" not in text.replace("__init__", "")
