"""What the report adds for the researcher's workflow: repro commands with a
copy button, the failure region, evidence per source, resolution and regime
coverage, the mutant / break matrix, published statements, a stable anchor
per claim, the search / filter attributes, and the diff against a baseline."""
import copy
from markupsafe import escape
import re

from theorycheck.cli import main
from theorycheck.report import render_html


def claim(data, cid):
    return next(c for c in data["claims"] if c["id"] == cid)


def section(page, cid):
    start = page.index('<section class="claim')
    start = page.index(f'id="claim-{cid}"', start)
    return page[start:page.index("</section>", start)]


def test_records_carry_repro_region_and_relative_modules(every_verdict):
    hostile = claim(every_verdict, "fixture.hostile")
    assert hostile["counterexample"]["repro"].startswith("theorycheck repro fixture.hostile tests/report/")
    region = hostile["failure_region"]
    assert region["rule"] == "fails when x < 1" and region["accuracy"] >= 0.9
    assert 0 < region["share"] < 1 and region["draws"] == 32
    for c in every_verdict["claims"]:
        assert not str(c["module"]).startswith("/"), c["module"]
    geo = claim(every_verdict, "fixture.geometric")
    assert "--mutant" in geo["mutants"][0]["example"]["repro"]
    assert "--break" in geo["breaks"][0]["example"]["repro"]
    loose = claim(every_verdict, "fixture.loose")
    survived = next(m for m in loose["mutants"] if m["verdict"] == "survived")
    assert "--mutant 'mean 0.6'" in survived["example"]["repro"]  # the draw it survived on


def test_claim_section_shows_repro_region_and_evidence(every_verdict, parse_html):
    page = render_html(every_verdict)
    assert parse_html(page).errors == []
    hostile = claim(every_verdict, "fixture.hostile")
    block = section(page, "fixture.hostile")
    repro = str(escape(hostile["counterexample"]["repro"]))
    assert f'data-copy="{repro}"' in block and f'<code class="cmd">{repro}</code>' in block
    assert "Where it fails" in block and "fails when x &lt; 1" in block and "holds when x ≥ 1" in block
    text = parse_html(block).all_text
    assert "draws from" in text and "sweep" in text and "shrink" in text
    assert "finest error refuted" in text
    geo = section(page, "fixture.geometric")
    assert "alternating (r &lt; 0)" in geo and "<code>r &lt; 0</code>" in geo  # regime coverage
    mutant_repro = str(escape(claim(every_verdict, "fixture.geometric")["mutants"][0]["example"]["repro"]))
    assert mutant_repro in geo
    nonconv = section(page, "fixture.nonconvergent")
    assert "Why draws were undecidable" in nonconv and "no convergence after # iterations" in nonconv
    # a stable, linkable anchor per claim
    assert '<a class="anchor" href="#claim-fixture.hostile"' in block


def test_search_and_filter_attributes(every_verdict, parse_html):
    doc = parse_html(render_html(every_verdict))
    rows = [a for tag, a in doc.tags if tag == "tr" and "data-claim" in a and "data-verdict" in a]
    sections = [a for tag, a in doc.tags if tag == "section" and "data-claim" in a]
    assert len(sections) == len(every_verdict["claims"])
    for a in rows + sections:
        c = claim(every_verdict, a["data-claim"])
        assert a["data-verdict"] == c["verdict"] and a["data-family"] == c["family"]
        assert a["data-search"] == a["data-search"].lower() and c["id"] in a["data-search"]
    ids = {a.get("id") for tag, a in doc.tags}
    assert {"search", "f-family", "f-reset", "shown"} <= ids
    verdicts = [a["value"] for tag, a in doc.tags if tag == "input" and "f-verdict" in a.get("class", "")]
    assert verdicts == ["confirmed", "refuted", "inconclusive", "error"]


def test_mutant_and_break_matrix(every_verdict):
    page = render_html(every_verdict)
    matrix = page[page.index('<section id="power"'):page.index("</section>", page.index('<section id="power"'))]
    cells = re.findall(r'<td class="cell (good|bad|undecided) (mutant|break)" title="([^"]*)">', matrix)
    expected = [(m["verdict"], kind) for c in every_verdict["claims"]
                for kind, entries in (("mutant", c["mutants"]), ("break", c["breaks"])) for m in entries]
    assert len(cells) == len(expected)
    state = {"refuted": "good", "detected": "good", "survived": "bad", "undetected": "bad"}
    assert sorted((s, k) for s, k, _ in cells) == sorted((state.get(v, "undecided"), k) for v, k in expected)
    assert "mutant mean 0.6: survived" in matrix


def test_published_statements_section(every_verdict):
    page = render_html(every_verdict)
    pub = page[page.index('<section id="published"'):page.index("</section>", page.index('<section id="published"'))]
    assert "Published statements that fail as stated" in pub
    assert 'href="#claim-fixture.published"' in pub and 'href="#claim-fixture.geometric"' in pub  # the rescue
    rec = claim(every_verdict, "fixture.published")
    assert rec["verdict"] == "refuted" and rec["as_expected"] is True
    assert str(escape(rec["counterexample"]["repro"])) in pub
    assert "fails when x &lt; 1" in pub
    assert "fixture.hostile" not in pub  # refuted, but not a published statement expected to fail


def test_baseline_diff_in_the_report(every_verdict, parse_html):
    old = copy.deepcopy(every_verdict)
    geo = claim(old, "fixture.geometric")
    geo["verdict"], geo["as_expected"] = "refuted", False
    geo["counterexample"] = {"params": {"r": 0.5}, "seed": 1, "source": "sweep", "status": "fail", "reason": "",
                             "checks": []}
    claim(old, "fixture.loose")["mutants"][0]["verdict"] = "refuted"
    old["claims"].append({**copy.deepcopy(geo), "id": "fixture.gone", "verdict": "confirmed"})
    page = render_html(every_verdict, baseline=old, baseline_path="old/results.json")
    assert parse_html(page).errors == []
    changes = page[page.index('<section id="changes"'):page.index("</section>", page.index('<section id="changes"'))]
    assert "old/results.json" in changes
    text = parse_html(changes).all_text
    assert "verdict refuted → confirmed" in text and "counterexample {\"r\": 0.5} vanished" in text
    assert "mutant 'mean 0.6': refuted → survived" in text and "claim removed (was confirmed)" in text
    table = page[page.index('id="claims-table"'):page.index("</table>", page.index('id="claims-table"'))]
    assert '<span class="badge change-better" title="since the baseline">better</span>' in table
    assert '<span class="badge change-worse" title="since the baseline">worse</span>' in table
    assert "Since the baseline" in section(page, "fixture.geometric")
    assert render_html(every_verdict).count('id="changes"') == 0  # no baseline, no section


def test_cli_report_with_baseline(every_verdict_file, tmp_path, capsys):
    out = tmp_path / "diff.html"
    assert main(["report", str(every_verdict_file), "-o", str(out), "--baseline", str(every_verdict_file)]) == 0
    page = out.read_text(encoding="utf-8")
    assert 'id="changes"' in page and "Nothing changed." in page
    assert main(["report", str(every_verdict_file), "--baseline", str(tmp_path / "nope.json")]) == 1
    assert "no results file" in capsys.readouterr().err
