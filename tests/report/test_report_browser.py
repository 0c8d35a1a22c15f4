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
