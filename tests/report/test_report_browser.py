"""Open the report in headless Chromium: the math and the plots are laid
out with non-zero size, every claim has its section, no value ran a script,
and a screenshot is taken.  Needs Debian's ``chromium`` package."""
import struct

import pytest

from theorycheck.report import browser, write_html

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(browser.find_chromium() is None,
                                 reason="no chromium binary on PATH (apt-get install -y chromium)")]


def png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_report_in_chromium(every_verdict, tmp_path):
    page = write_html(every_verdict, tmp_path / "index.html")
    m = browser.measure(page)
    claims = every_verdict["claims"]
    assert m["sections"] == len(claims)
    assert m["calls"] == []  # the hostile claim's <script> stayed text
    assert m["scripts"] == 3  # the report's own, plus the probe's trap and measurer
    # every claim with MathML has a laid-out formula, rendered as MathML (not as unknown inline text)
    assert len(m["math"]) == sum(bool(c["math"] and c["math"]["mathml"]) for c in claims) > 0
    for (w, h), (cw, ch), display in zip(m["math"], m["math_content"], m["mathml_display"]):
        assert w > 0 and h > 0 and cw > 0 and ch > 0
        assert display == "block math"
    # every plot with data is an SVG of a plot's size
    assert len(m["svg"]) == 5
    assert all(w > 200 and h > 150 for w, h in m["svg"])
    # the claims table sorts by verdict, ascending then descending
    up, down = m["sorted"]
    assert up == sorted(c["verdict"] for c in claims) and down == up[::-1]
    shot = browser.screenshot(page, tmp_path / "report.png", height=3000)
    assert png_size(shot) == (1280, 3000)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_hostile_report_runs_no_script(hostile, tmp_path):
    page = write_html(hostile, tmp_path / "hostile.html")
    m = browser.measure(page)
    assert m["calls"] == []
    assert m["scripts"] == 3
    assert m["sections"] == len(hostile["claims"])


# ---- search, filters, anchors and the copy button, as a reader uses them -----------------

INTERACT = r"""
function visible() {
  return Array.prototype.filter.call(document.querySelectorAll('section.claim'), function (s) {
    return !s.hidden && s.getBoundingClientRect().height > 0;
  }).map(function (s) { return s.getAttribute('data-claim'); });
}
function rows() {
  return Array.prototype.filter.call(document.querySelectorAll('#claims-table tbody tr'), function (r) {
    return !r.hidden && r.getBoundingClientRect().height > 0; }).length;
}
var out = {all: visible(), rows_all: rows()};
var search = document.getElementById('search');
search.value = 'geometric SERIES';
search.dispatchEvent(new Event('input'));
out.search = visible(); out.rows_search = rows(); out.shown = document.getElementById('shown').textContent;
search.value = 'no claim says this';
search.dispatchEvent(new Event('input'));
out.nothing = visible(); out.none_note = !document.getElementById('none-shown').hidden;
search.value = '';
search.dispatchEvent(new Event('input'));
var confirmed = document.querySelector('input.f-verdict[value="confirmed"]');
confirmed.click();
out.without_confirmed = visible();
document.querySelectorAll('input.f-verdict').forEach(function (b) {
  if (b.value !== 'error' && b.checked) b.click();
});
out.errors_only = visible();
document.getElementById('f-reset').click();
var family = document.getElementById('f-family');
out.families = Array.prototype.map.call(family.options, function (o) { return o.value; });
// a link to a claim the filters hide shows it again
search.value = 'geometric';
search.dispatchEvent(new Event('input'));
out.hidden_before = document.getElementById('claim-fixture.published').hidden;
window.location.hash = '#claim-fixture.published';
setTimeout(function () {
  var target = document.getElementById('claim-fixture.published');
  out.hidden_after = target.hidden;
  out.target_top = Math.round(target.getBoundingClientRect().top);
  out.scroll = Math.round(window.scrollY);
  out.after_anchor = visible().length;
  var button = target.querySelector('button.copy');
  button.click();
  setTimeout(function () {
    out.copied = window.__lastCopy; out.button = button.textContent;
    out.command = target.querySelector('code.cmd').textContent;
    done(out);
  }, 1200);
}, 200);
"""


def test_search_filters_and_anchor_in_chromium(every_verdict, tmp_path):
    page = write_html(every_verdict, tmp_path / "index.html")
    ids = sorted(c["id"] for c in every_verdict["claims"])
    m = browser.probe(page, INTERACT)
    assert sorted(m["all"]) == ids and m["rows_all"] == len(ids)
    # search: every term, any case, matched on id, title, statement and source
    assert m["search"] == ["fixture.geometric"] and m["rows_search"] == 1
    assert m["shown"] == f"1 of {len(ids)} claims shown"
    assert m["nothing"] == [] and m["none_note"] is True
    # verdict filters
    confirmed = [c["id"] for c in every_verdict["claims"] if c["verdict"] == "confirmed"]
    assert sorted(m["without_confirmed"]) == sorted(set(ids) - set(confirmed))
    assert sorted(m["errors_only"]) == sorted(c["id"] for c in every_verdict["claims"] if c["verdict"] == "error")
    assert m["families"] == ["", "fixture"]
    # the anchor: hidden by the search, shown again and scrolled to when its link is followed
    assert m["hidden_before"] is True and m["hidden_after"] is False
    assert m["after_anchor"] == len(ids) and m["scroll"] > 0 and abs(m["target_top"]) <= 2
    # the copy button copies the repro command it shows
    repro = next(c for c in every_verdict["claims"] if c["id"] == "fixture.published")["counterexample"]["repro"]
    assert m["copied"] == repro == m["command"]
    assert m["button"] in ("copied", "select and copy")


def test_opening_a_claim_link_scrolls_to_it(every_verdict, tmp_path):
    page = write_html(every_verdict, tmp_path / "index.html")
    m = browser.probe(page, "var t = document.getElementById('claim-fixture.raising');"
                            "done({top: Math.round(t.getBoundingClientRect().top),"
                            " scroll: Math.round(window.scrollY)});", fragment="claim-fixture.raising")
    assert m["scroll"] > 0 and abs(m["top"]) <= 2
