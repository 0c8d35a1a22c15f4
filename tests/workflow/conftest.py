"""Fixtures of the workflow tests: the tutorial's listings, and a folder to work in."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "writing-claims.md"
FIXTURES = Path(__file__).parent / "fixtures"
# small runs: every command of the tutorial, with the tutorial's own overrides
SMALL = ["--sweep", "32", "--search", "4", "--no-db", "--device", "cpu"]


def blocks(kind: str) -> list[str]:
    """The fenced blocks of the tutorial with this info string, in order."""
    text = TUTORIAL.read_text(encoding="utf-8")
    return re.findall(rf"^```{kind}\n(.*?)^```", text, flags=re.S | re.M)


def apply_diff(text: str, diff: str) -> str:
    """Apply a one-hunk diff block of the tutorial (context, -, + lines) to ``text``."""
    old = [line[1:] for line in diff.splitlines() if line[:1] in (" ", "-")]
    new = [line[1:] for line in diff.splitlines() if line[:1] in (" ", "+")]
    before, after = "\n".join(old) + "\n", "\n".join(new) + "\n"
    assert text.count(before) == 1, "the tutorial's diff does not apply to its listing"
    return text.replace(before, after)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh project folder as the working directory (what a new user has)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


class Tutorial:
    """The tutorial's listings and the overrides of its small runs."""
    small = SMALL
    blocks = staticmethod(blocks)
    apply_diff = staticmethod(apply_diff)
    path = TUTORIAL


@pytest.fixture
def tutorial():
    return Tutorial
