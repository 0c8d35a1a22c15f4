"""The HTML report: every verdict kind, structure, escaping, the CLI."""
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from theorycheck import results
from theorycheck.cli import main
from theorycheck.report import render_html, write_html
from theorycheck.report.html import _static, value

HOSTILE = "<script>alert(1)</script>"
# every element the report itself writes (HTML, inline SVG, allow-listed MathML)
OWN_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "main", "footer", "section", "h1", "h2", "h3",
    "p", "div", "span", "table", "thead", "tbody", "tr", "th", "td", "a", "code", "pre", "ul", "li", "b",
    "cite", "details", "summary", "figure", "figcaption", "br", "script", "label", "input", "select", "option",
    "button",
    "svg", "rect", "line", "text", "tspan", "g", "path", "circle",
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mfrac", "msqrt", "mroot", "msub", "msup", "msubsup",
    "munder", "mover", "munderover", "mtable", "mtr", "mtd", "mspace", "mstyle",
}


def claim(data, cid):
    return next(c for c in data["claims"] if c["id"] == cid)


def test_fixture_run_has_every_verdict_kind(every_verdict):
    verdicts = {c["id"]: c["verdict"] for c in every_verdict["claims"]}
    assert set(verdicts.values()) == {"confirmed", "refuted", "inconclusive", "error"}
    assert verdicts["fixture.geometric"] == "confirmed"
    assert verdicts["fixture.hostile"] == "refuted"
    assert verdicts["fixture.nonconvergent"] == "inconclusive"
    assert verdicts["fixture.raising"] == "error"
    loose = claim(every_verdict, "fixture.loose")
    assert loose["verdict"] == "inconclusive" and loose["reason"].startswith("weak")
    assert [m["verdict"] for m in loose["mutants"]] == ["survived", "refuted"]
    ce = claim(every_verdict, "fixture.hostile")["counterexample"]
    assert ce["params"]["label"] == HOSTILE and 0 < ce["params"]["x"] < 1  # where x² < x
    results.validate(every_verdict)


def test_report_shows_summary_and_every_claim(every_verdict, parse_html):
    page = render_html(every_verdict)
    doc = parse_html(page)
    assert doc.errors == []
    text = doc.all_text
    # summary cards: counts by verdict, weak, mutants and breaks
    n = {v: sum(c["verdict"] == v for c in every_verdict["claims"]) for v in ("confirmed", "refuted", "error")}
    for verdict, count in n.items():
        assert re.search(rf"<span class=\"n\">{count}</span> {verdict}", page)
    mut = sum(len(c["mutants"]) for c in every_verdict["claims"])
    ref = sum(m["verdict"] == "refuted" for c in every_verdict["claims"] for m in c["mutants"])
    assert f'<span class="n">{ref}/{mut}</span> mutants refuted' in page
    assert "1</span> weak" in page
    env = every_verdict["environment"]
    for version in (env["torch"], env["sympy"], env["python"]):
        assert version in text
    # the table links to a section per claim
    links = {a["href"] for tag, a in doc.tags if tag == "a" and a.get("href", "").startswith("#claim-")}
    sections = {a["id"] for tag, a in doc.tags if tag == "section" and "claim" in a.get("class", "").split()}
    assert links == {"#" + s for s in sections}
    assert sections == {"claim-" + c["id"] for c in every_verdict["claims"]}


def test_claim_section_contents(every_verdict, parse_html):
    page = render_html(every_verdict)
    text = parse_html(page).all_text
    geo = claim(every_verdict, "fixture.geometric")
    # math: sympy's presentation MathML, as a block
    assert page.count('<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">') == sum(
        bool(c["math"] and c["math"]["mathml"]) for c in every_verdict["claims"])
    assert "<munderover>" in page
    # source, assumptions, prediction with its exact value, checks with margins, mutants, breaks
    assert "Elements of analysis (fixture)" in text and "collection of abstracts seed 000" in text
    assert "[-0.9, 0.9]" in text
    assert geo["prediction"]["values"]["sum"]["exact"] in text
    assert "partial sum matches 1/(1 − r)" in text and "1/(1 + r)" in text and "r = 1.05" in text
    # the refuted claim: its counterexample with both sides of the failed check
    ce = claim(every_verdict, "fixture.hostile")["counterexample"]
    failed = next(c for c in ce["checks"] if c["passed"] is False)
    block = page[page.index("Minimal counterexample"):]
    assert value(failed["theory"]) in block and value(failed["observed"]) in block
    assert f"x = {value(ce['params']['x'])}" in block
    # the error claim shows its traceback; the weak claim is flagged weak
    assert "ZeroDivisionError" in text
    assert re.search(r'<span class="badge weak">weak</span> The mean of uniform samples', page)
    # plots: one inline SVG per plot with data, theory and simulation both drawn
    n_svg = page.count('<svg xmlns="http://www.w3.org/2000/svg" class="plot"')
    assert n_svg == 5
    assert 'class="series theory"' in page and 'class="series simulation"' in page
    assert "value(s) ≤ 0 skipped on a log axis" in text  # the plotter said what it could not draw
    assert "data not stored in the results file" in text


def test_svg_is_well_formed_xml(every_verdict):
    page = render_html(every_verdict)
    for svg in re.findall(r"<svg .*?</svg>", page, flags=re.S):
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg")


def test_report_is_self_contained(every_verdict, hostile, parse_html):
    for data in (every_verdict, hostile):
        doc = parse_html(render_html(data))
        for tag, attrs in doc.tags:
            assert tag != "link" and "src" not in attrs, (tag, attrs)
            assert not attrs.get("href", "#").strip() or attrs.get("href", "#").startswith("#"), attrs
        assert "url(" not in _static("report.css") and "@import" not in _static("report.css")
        assert "http" not in _static("report.js")


def test_hostile_values_show_as_text(hostile, parse_html):
    page = render_html(hostile)
    doc = parse_html(page)
    assert doc.errors == []
    # the only script is the report's own sorting script
    assert doc.scripts == ["\n" + _static("report.js") + "\n"]
    for tag, attrs in doc.tags:
        assert tag in OWN_TAGS, f"element <{tag}> came from the data"
        for name, attr in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert "javascript:" not in (attr or "").lower(), (tag, name)
        if tag in ("mi", "mo", "mn", "mrow", "mtext", "math"):
            assert set(attrs) <= {"xmlns", "display", "mathvariant", "fence", "separator", "stretchy"}
    text = doc.all_text
    for s in (HOSTILE + " a hostile title", "<img src=x onerror=alert('statement')>",
              "<script>alert('reason')</script>", "<script>alert('ce reason')</script>",
              "<script>alert('mutant')</script>", "<script>alert('load')</script>",
              "<script>alert('torch')</script>", "<script>alert('plot error')</script>",
              "<script>alert('mutant repro')</script>", "fails when <script>alert('rule')</script>",
              "<script>alert('inconclusive')</script>", "<script>alert('regime')</script>",
              "<script>alert('res reason')</script>", "<script>alert('region note')</script>"):
        assert s in text, s
    assert "label = " + HOSTILE in text  # the counterexample parameter
    assert "link" in text and "alert('mathml')" not in text  # the MathML kept its text, lost its script


def test_fixture_run_escapes_its_hostile_claim(every_verdict, parse_html):
    page = render_html(every_verdict)
    doc = parse_html(page)
    assert len(doc.scripts) == 1
    assert HOSTILE + " squares dominate" in doc.all_text
    assert "label = " + HOSTILE in doc.all_text
    assert HOSTILE not in page  # never raw in the markup


def test_tampered_values_do_not_break_rendering(hostile, parse_html):
    data = json.loads(json.dumps(hostile))
    c = data["claims"][0]
    c["plots"][0]["series"][0]["y"] = [float("nan")] * 3
    c["checks"] = [{"name": "x"}]
    c["mutants"] = [{"name": "m", "verdict": "refuted", "example": {"params": None, "checks": None}}]
    page = render_html(data)
    assert parse_html(page).errors == []


def test_rendering_is_deterministic(every_verdict):
    assert render_html(every_verdict) == render_html(every_verdict)


def test_cli_report_regenerates_from_results_file(every_verdict_file, tmp_path, capsys):
    out = tmp_path / "sub" / "report.html"
    assert main(["report", str(every_verdict_file), "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render_html(results.load(every_verdict_file))
    assert main(["report", str(tmp_path / "missing.json")]) == 1  # an unreadable input file: 1, one line
    assert "no results file" in capsys.readouterr().err


def test_write_html_is_atomic(every_verdict, tmp_path):
    target = write_html(every_verdict, tmp_path / "index.html")
    assert target.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


@pytest.mark.parametrize("verdict", ["confirmed", "refuted", "inconclusive", "error"])
def test_verdict_badge_in_table(every_verdict, verdict):
    page = render_html(every_verdict)
    table = page[page.index('id="claims-table"'):page.index("</table>", page.index('id="claims-table"'))]
    assert f'<span class="badge v-{verdict}">{verdict}</span>' in table


def test_cli_run_writes_the_report(tmp_path, parse_html):
    """``theorycheck run`` writes results.json and, from it, index.html."""
    module = Path(__file__).parent / "fixture_claims" / "geometric_confirmed.py"
    out = tmp_path / "run"
    assert main(["run", str(module), "--out", str(out), "--no-db", "--sweep", "16", "--search", "2",
                 "--device", "cpu"]) == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page == render_html(results.load(out / "results.json"))
    doc = parse_html(page)
    assert doc.errors == [] and "claim-fixture.geometric" in doc.ids
    assert "<math" in page and '<svg xmlns="http://www.w3.org/2000/svg" class="plot"' in page
