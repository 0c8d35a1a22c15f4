"""Fixtures of the report tests: a results document with every verdict kind,
produced by running the small claims in ``fixture_claims/`` through the real
runner (not hand-written), plus a hand-written hostile results file."""
import json
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

HERE = Path(__file__).parent
FIXTURE_CLAIMS = HERE / "fixture_claims"
HOSTILE_RESULTS = HERE / "fixtures" / "hostile_results.json"


FIXTURE_OPTIONS = dict(profile="quick", seed=0, device="cpu", sweep=32, search=4, failures_path=None)


def run_claims(paths, **overrides) -> list[dict]:
    """Records of claim modules run in this process through the real runner
    (worker side, then the parent's assembly), as ``theorycheck run`` builds them."""
    from theorycheck.discovery import load_claim
    from theorycheck.repro import options_of
    from theorycheck.runner import RunOptions, assemble, run_claim

    options = RunOptions(**{**FIXTURE_OPTIONS, **overrides})
    records = []
    for p in paths:
        data = run_claim(load_claim(p), options)
        records.append(assemble({**data, "run_options": options_of(options)}, options))
    return records


def run_fixture_claims() -> dict:
    """Run every fixture claim (quick profile, a small sweep) and build the results document."""
    from theorycheck import results
    from theorycheck.record import error_record

    started = time.monotonic()
    records = run_claims(sorted(FIXTURE_CLAIMS.glob("*.py")))
    # what the runner writes for a worker that crashed: a record with almost nothing in it
    records.append(error_record("fixture.crashed", "A claim whose worker process died", "fixture_claims/none.py",
                                "the worker was killed by SIGKILL (during: sweep)", 1.5))
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


@pytest.fixture
def parse_html():
    """A strict structural reading of the report (balanced tags, elements, text)."""
    return parse


# ---- a strict reading of HTML --------------------------------------------------
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}
# elements that HTML lets a document leave open
OPTIONAL_END = {"p", "li", "tr", "td", "th", "thead", "tbody"}


@dataclass
class Parsed:
    tags: list[tuple[str, dict]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


class _Reader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.p = Parsed()
        self.stack: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.p.tags.append((tag, a))
        if "id" in a:
            self.p.ids.append(a["id"])
        if tag == "script":
            self.in_script = True
            self.p.scripts.append("")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        a = dict(attrs)
        self.p.tags.append((tag, a))
        if "id" in a:
            self.p.ids.append(a["id"])

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_script = False
        if tag in VOID:
            return
        if not self.stack:
            self.p.errors.append(f"</{tag}> with nothing open")
            return
        if self.stack[-1] != tag:
            self.p.errors.append(f"</{tag}> closes <{self.stack[-1]}> (line {self.getpos()[0]})")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()

    def handle_data(self, data):
        if self.in_script:
            self.p.scripts[-1] += data
        else:
            self.p.text.append(data)


def parse(html: str) -> Parsed:
    r = _Reader()
    r.feed(html)
    r.close()
    left = [t for t in r.stack if t not in OPTIONAL_END]
    if left:
        r.p.errors.append(f"left open: {left}")
    return r.p
