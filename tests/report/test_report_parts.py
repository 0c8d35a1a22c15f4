"""The report's building blocks: the MathML allow-list and the SVG plotter."""
import math
import xml.etree.ElementTree as ET

import pytest

from theorycheck.report import mathml, svg


# ---- MathML -----------------------------------------------------------------------

def test_sympy_mathml_kept_and_wrapped():
    import sympy as sp
    x, n = sp.symbols("x n")
    raw = sp.mathml(sp.Eq(sp.Sum(x**n, (n, 0, sp.oo)), 1 / (1 - x)), printer="presentation")
    out = mathml.wrap(raw)
    assert out.startswith('<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">')
    assert out.endswith("</math>")
    assert "<munderover>" in out and "<mfrac>" in out and "∞" in out
    ET.fromstring(out)  # well formed


def test_entities_are_decoded_and_text_reescaped():
    out = mathml.sanitize("<mrow><mi>&#951;</mi><mo>&InvisibleTimes;</mo><mo>></mo><mo>&lt;</mo></mrow>")
    assert out == "<mrow><mi>η</mi><mo>\u2062</mo><mo>&gt;</mo><mo>&lt;</mo></mrow>"


@pytest.mark.parametrize("hostile, gone", [
    ("<mi>x</mi><script>alert(1)</script>", "alert"),
    ('<mi onclick="alert(1)">x</mi>', "onclick"),
    ('<mi style="background:url(http://x)">x</mi>', "style"),
    ('<mi>x</mi><mtext><a href="javascript:alert(1)">y</a></mtext>', "href"),
    ("<mi>x</mi><img src=x onerror=alert(1)>", "img"),
    ("<mi>x</mi><svg><script>alert(1)</script></svg>", "alert"),
    ('<mi>x</mi></math><script>alert(1)</script><math>', "script"),
    ("<annotation-xml><foo/>y</annotation-xml><mi>x</mi>", "foo"),
])
def test_hostile_mathml_is_cleaned(hostile, gone):
    out = mathml.wrap(hostile)
    assert gone not in out
    assert "<mi>x</mi>" in out
    ET.fromstring(out)


def test_mfenced_becomes_explicit_fences():
    out = mathml.sanitize('<mfenced open="[" close="]"><mi>a</mi><mi>b</mi></mfenced>')
    assert out == ('<mrow><mo fence="true">[</mo><mi>a</mi><mo separator="true">,</mo><mi>b</mi>'
                   '<mo fence="true">]</mo></mrow>')


def test_unbalanced_markup_is_closed():
    out = mathml.wrap("<mrow><mfrac><mi>a</mi><mi>b</mi></mrow></mrow></mi>")
    ET.fromstring(out)


@pytest.mark.parametrize("empty", [None, "", "   ", 3, "<script>x</script>"])
def test_nothing_left_is_none(empty):
    assert mathml.wrap(empty) is None


# ---- SVG --------------------------------------------------------------------------

def plot(*series, **kw):
    return {"title": "t", "xlabel": "x", "ylabel": "y", "xlog": False, "ylog": False, "over": "example",
            "series": list(series), **kw}


def test_flatten_odd_values():
    assert svg.flatten([1, [2.5, [3]], None, "inf", "-inf", "4", True])[0] == [1.0, 2.5, 3.0, None, None, None,
                                                                             4.0, 1.0]
    vals, note = svg.flatten("<array of 5000>")
    assert vals == [] and "not stored" in note
    assert svg.flatten(7)[0] == [7.0]
    assert svg.flatten({"a": 1})[0] == [None]


def test_line_and_theory_drawn():
    r = svg.render(plot({"label": "sim", "role": "simulation", "style": "line", "x": [0, 1, 2], "y": [1, 4, 9]},
                        {"label": "theory", "role": "theory", "style": "hline", "x": None, "y": 5}))
    root = ET.fromstring(r.svg)
    assert r.notes == []
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f".//{ns}path")) == 1
    assert root.find(f".//{ns}g[@class='series theory']/{ns}line") is not None


def test_log_axis_skips_non_positive_and_nan():
    r = svg.render(plot({"label": "s", "x": [1, 2, 3, 4], "y": [1.0, 0.0, -1.0, None]}, ylog=True))
    assert any("≤ 0 skipped on a log axis" in n for n in r.notes)
    assert any("non-finite" in n for n in r.notes)
    ET.fromstring(r.svg)


def test_scalar_is_a_point_and_vline():
    r = svg.render(plot({"label": "p", "x": 3, "y": 2}, {"label": "v", "role": "theory", "style": "vline", "x": 2}))
    assert "<circle" in r.svg and r.notes == []


def test_y_only_uses_index_and_length_mismatch_noted():
    r = svg.render(plot({"label": "a", "y": [3, 2, 1]}, {"label": "b", "x": [1, 2], "y": [1, 2, 3]}))
    assert any("x has 2 values and y 3" in n for n in r.notes)


def test_nothing_drawable():
    r = svg.render(plot({"label": "junk", "x": {"a": 1}, "y": "<array of 9>"}))
    assert r.svg is None and any("no numeric data" in n for n in r.notes)
    assert svg.render("not a plot").svg is None
    r = svg.render({"title": "e", "series": [], "error": "ValueError: boom"})
    assert r.svg is None and "boom" in r.notes[0]


def test_text_is_escaped():
    r = svg.render(plot({"label": "<script>alert(1)</script>", "x": [0, 1], "y": [0, 1]},
                        title="</text><script>x</script>"))
    assert "<script" not in r.svg
    ET.fromstring(r.svg)


def test_long_series_thinned_and_wide_log_range_ticks():
    y = [10.0 ** (-k / 10) for k in range(10000)]
    r = svg.render(plot({"label": "decay", "y": y}, ylog=True))
    assert any("points drawn" in n for n in r.notes)
    labels = [t for _, t in svg.ticks(-999.0, 0.0, log=True)]
    assert 2 <= len(labels) <= 8


@pytest.mark.parametrize("lo, hi, log", [(0.0, 1.0, False), (-3.2, 7.9, False), (1e-9, 2e-9, False),
                                         (-0.3, 0.2, True), (-12.0, 40.0, True)])
def test_ticks_inside_and_few(lo, hi, log):
    ts = svg.ticks(lo, hi, log)
    assert 2 <= len(ts) <= 12
    assert all(lo - 1e-9 <= t <= hi + 1e-9 for t, _ in ts)
    assert all(math.isfinite(t) for t, _ in ts)


def test_constant_series_still_has_a_range():
    r = svg.render(plot({"label": "c", "x": [1, 1, 1], "y": [2, 2, 2]}))
    ET.fromstring(r.svg)
    assert "nan" not in r.svg.lower()
