"""Inline SVG plots of a claim's declared plots (theory against simulation).

The input is a plot record of the results file, so nothing about it can be
trusted to be numeric: values may be nested lists, scalars, ``null`` (NaN),
``"inf"`` strings, ``"<array of N>"`` placeholders or anything a tampered
file holds.  What cannot be drawn is skipped and counted, and the counts come
back as notes the report prints under the figure.  Every piece of text that
ends up in the SVG is escaped here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Any

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 78, 18, 30, 52
LEGEND_ROW = 18
MAX_POINTS = 2500  # per series; longer series are thinned by a stride
# Okabe–Ito: distinguishable for colour-blind readers and in greyscale print
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
STYLES = ("line", "points", "hline", "vline")


@dataclass
class Rendered:
    svg: str | None          # None when nothing could be drawn
    notes: list[str] = field(default_factory=list)


# ---- values -------------------------------------------------------------------

def _number(v: Any) -> float | None:
    """A finite float, or None for anything else (NaN, ±inf, text, objects)."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    return None


def flatten(v: Any) -> tuple[list[float | None], str | None]:
    """Values of a series axis as a flat list (None marks an unusable entry),
    plus a note when the data itself is missing (``"<array of N>"``)."""
    if v is None:
        return [], None
    if isinstance(v, str):
        if v.strip().lower() in ("inf", "-inf", "+inf", "nan", "infinity", "-infinity"):
            return [None], None
        try:
            return [_number(float(v))], None
        except ValueError:
            return [], f"data not stored in the results file ({v[:60]})"
    if isinstance(v, (list, tuple)):
        out: list[float | None] = []
        note = None
        for item in v:
            vals, n = flatten(item) if isinstance(item, (list, tuple, str)) else ([_number(item)], None)
            out.extend(vals)
            note = note or n
        return out, note
    return [_number(v)], None


# ---- ticks and labels ---------------------------------------------------------

def fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if 1e-3 <= a < 1e6:
        text = f"{v:.6g}"
        if "e" not in text and len(text) <= 8:
            return text
    m, e = f"{v:.2e}".split("e")
    m = m.rstrip("0").rstrip(".")
    return f"{m}e{int(e)}"


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for k in (1, 2, 2.5, 5, 10):
        if raw <= k * mag:
            return k * mag
    return 10 * mag


def _linear_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    step = _nice_step(hi - lo, target)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + step * 1e-9 and len(ticks) < 20:
        ticks.append(round(k * step, 12))
        k += 1
    return ticks


def ticks(lo: float, hi: float, log: bool) -> list[tuple[float, str]]:
    """(position in axis space, label); axis space is log10 for log axes."""
    if not log:
        return [(t, fmt(t)) for t in _linear_ticks(lo, hi)]
    span = hi - lo
    if span >= 3:
        every = max(1, math.ceil(span / 6))
        return [(float(k), fmt(10.0 ** k)) for k in range(math.ceil(lo), math.floor(hi) + 1) if k % every == 0]
    if span >= 1:  # one to three decades: 1, 2, 5 in each
        out = []
        for k in range(math.floor(lo), math.ceil(hi) + 1):
            for m in ((1, 2, 5) if span < 2 else (1, 3)):
                t = math.log10(m) + k
                if lo <= t <= hi:
                    out.append((t, fmt(m * 10.0 ** k)))
        return out
    # less than a decade: linear ticks in value space at their log positions
    return [(math.log10(t), fmt(t)) for t in _linear_ticks(10 ** lo, 10 ** hi, 7) if t > 0]


# ---- series ------------------------------------------------------------------

@dataclass
class _Series:
    label: str
    role: str
    style: str
    points: list[tuple[float | None, float | None]]  # in axis space; None = gap

    @property
    def single_point(self) -> bool:
        """A line of one point is drawn as a marker."""
        return self.style == "line" and sum(x is not None for x, _ in self.points) == 1


def _prepare(s: dict, xlog: bool, ylog: bool, notes: list[str], over: str = "example") -> _Series | None:
    label = str(s.get("label", "")) if isinstance(s, dict) else ""
    if not isinstance(s, dict):
        notes.append("a series that is not an object was skipped")
        return None
    role = s.get("role") if s.get("role") in ("theory", "simulation") else "simulation"
    style = s.get("style") if s.get("style") in STYLES else "line"
    xs, xnote = flatten(s.get("x"))
    ys, ynote = flatten(s.get("y"))
    for n in (xnote, ynote):
        if n:
            notes.append(f"“{label}”: {n}")
    if style == "hline":
        pts = [(None, y) for y in ys]
    elif style == "vline":
        pts = [(x, None) for x in xs]
    else:
        if s.get("x") is None:
            xs = [float(i) for i in range(len(ys))]
        if len(xs) == 1 and len(ys) > 1:
            xs = xs * len(ys)
        elif len(ys) == 1 and len(xs) > 1:
            ys = ys * len(xs)
        if len(xs) != len(ys):
            notes.append(f"“{label}”: x has {len(xs)} values and y {len(ys)}; the first "
                         f"{min(len(xs), len(ys))} are drawn")
        pts = list(zip(xs, ys))
    bad = nonpos = 0
    out: list[tuple[float | None, float | None]] = []
    for x, y in pts:
        keep_x = style != "hline"
        keep_y = style != "vline"
        if (keep_x and x is None) or (keep_y and y is None):
            bad += 1
            out.append((None, None))
            continue
        if (keep_x and xlog and x <= 0) or (keep_y and ylog and y <= 0):
            nonpos += 1
            out.append((None, None))
            continue
        out.append((math.log10(x) if keep_x and xlog else x, math.log10(y) if keep_y and ylog else y))
    if bad:
        notes.append(f"“{label}”: {bad} non-finite or non-numeric value(s) skipped")
    if nonpos:
        notes.append(f"“{label}”: {nonpos} value(s) ≤ 0 skipped on a log axis")
    if over == "examples" and style == "line":
        # one point per example, in draw order: a curve through them is read left to right
        out = sorted((p for p in out if p != (None, None)), key=lambda p: p[0])
    if len(out) > MAX_POINTS:
        stride = math.ceil(len(out) / MAX_POINTS)
        out = out[::stride] + ([out[-1]] if (len(out) - 1) % stride else [])
        notes.append(f"“{label}”: every {stride}th of its points drawn")
    if not any(p != (None, None) for p in out):
        if pts:
            notes.append(f"“{label}”: nothing drawable")
        return None
    return _Series(label, role, style, out)


def _range(values: list[float], log: bool) -> tuple[float, float]:
    if not values:
        return (0.0, 1.0)
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12 * max(1.0, abs(lo), abs(hi)):
        pad = 0.5 if log else (abs(lo) * 0.1 or 1.0)
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.04
    return lo - pad, hi + pad


# ---- drawing -----------------------------------------------------------------

def render(plot: Any) -> Rendered:
    """SVG markup for one plot record (escaped, self-contained), plus notes."""
    notes: list[str] = []
    if not isinstance(plot, dict):
        return Rendered(None, ["the plot record is not an object"])
    if plot.get("error"):
        notes.append(f"the plot could not be computed: {plot['error']}")
    xlog, ylog = bool(plot.get("xlog")), bool(plot.get("ylog"))
    raw = plot.get("series") if isinstance(plot.get("series"), list) else []
    series = [s for s in (_prepare(s, xlog, ylog, notes, plot.get("over")) for s in raw) if s is not None]
    if not series:
        notes.append("no numeric data to draw")
        return Rendered(None, notes)

    xvals = [x for s in series for x, _ in s.points if x is not None]
    yvals = [y for s in series for _, y in s.points if y is not None]
    x0, x1 = _range(xvals, xlog)
    y0, y1 = _range(yvals, ylog)
    # legend under the axes: two columns when the labels are short enough
    cols = 2 if max(len(s.label) + len(s.role) for s in series) <= 40 else 1
    height = HEIGHT + LEGEND_ROW * math.ceil(len(series) / cols) + 8
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return TOP + ph - (y - y0) / (y1 - y0) * ph

    title = str(plot.get("title", ""))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {WIDTH} {height}" '
           f'width="{WIDTH}" height="{height}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>",
           f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fff" stroke="#888"/>']
    for t, label in ticks(x0, x1, xlog):
        if x0 <= t <= x1:
            X = px(t)
            out.append(f'<line x1="{X:.1f}" y1="{TOP}" x2="{X:.1f}" y2="{TOP + ph}" stroke="#eee"/>'
                       f'<text x="{X:.1f}" y="{TOP + ph + 16}" text-anchor="middle" class="tick">'
                       f"{escape(label)}</text>")
    for t, label in ticks(y0, y1, ylog):
        if y0 <= t <= y1:
            Y = py(t)
            out.append(f'<line x1="{LEFT}" y1="{Y:.1f}" x2="{LEFT + pw}" y2="{Y:.1f}" stroke="#eee"/>'
                       f'<text x="{LEFT - 6}" y="{Y + 4:.1f}" text-anchor="end" class="tick">'
                       f"{escape(label)}</text>")
    out.append(f'<text x="{LEFT + pw / 2}" y="14" text-anchor="middle" class="ptitle">{escape(title)}</text>')
    xlabel = str(plot.get("xlabel") or "") + (" (log)" if xlog else "")
    ylabel = str(plot.get("ylabel") or "") + (" (log)" if ylog else "")
    out.append(f'<text x="{LEFT + pw / 2}" y="{TOP + ph + 36}" text-anchor="middle" class="alabel">'
               f"{escape(xlabel)}</text>")
    out.append(f'<text transform="translate(16 {TOP + ph / 2}) rotate(-90)" text-anchor="middle" '
               f'class="alabel">{escape(ylabel)}</text>')

    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="7 4"' if s.role == "theory" else ""
        width = 2.2 if s.role == "theory" else 1.6
        out.append(f'<g class="series {s.role}" data-label="{escape(s.label)}">')
        out.extend(_draw(s, color, dash, width, px, py, (x0, x1, y0, y1)))
        out.append("</g>")

    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        lx = LEFT + (i % cols) * (pw / 2)
        ly = HEIGHT + LEGEND_ROW * (i // cols) + 4
        fill = "none" if s.role == "theory" else color
        sample = (f'<circle cx="{lx + 12}" cy="{ly - 4}" r="3.5" fill="{fill}" stroke="{color}"/>'
                  if s.style == "points" or s.single_point else
                  f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 24}" y2="{ly - 4}" stroke="{color}" stroke-width="2"'
                  + (' stroke-dasharray="7 4"' if s.role == "theory" else "") + "/>")
        out.append(sample + f'<text x="{lx + 30}" y="{ly}" class="legend">{escape(s.label)} '
                   f'<tspan class="role">({s.role})</tspan></text>')
    out.append("</svg>")
    return Rendered("".join(out), notes)


def _draw(s: _Series, color, dash, width, px, py, box) -> list[str]:
    x0, x1, y0, y1 = box
    parts: list[str] = []
    if s.style == "hline":
        for _, y in s.points:
            if y is not None:
                parts.append(f'<line x1="{px(x0):.1f}" y1="{py(y):.1f}" x2="{px(x1):.1f}" y2="{py(y):.1f}" '
                             f'stroke="{color}" stroke-width="{width}"{dash}/>')
        return parts
    if s.style == "vline":
        for x, _ in s.points:
            if x is not None:
                parts.append(f'<line x1="{px(x):.1f}" y1="{py(y0):.1f}" x2="{px(x):.1f}" y2="{py(y1):.1f}" '
                             f'stroke="{color}" stroke-width="{width}"{dash}/>')
        return parts
    real = [(x, y) for x, y in s.points if x is not None]
    if s.style == "points" or s.single_point:
        fill = "none" if s.role == "theory" else color
        for x, y in real:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{fill}" stroke="{color}"/>')
        return parts
    d, pen_down = [], False
    for x, y in s.points:  # a gap (None) lifts the pen
        if x is None:
            pen_down = False
            continue
        d.append(f"{'L' if pen_down else 'M'}{px(x):.1f} {py(y):.1f}")
        pen_down = True
    parts.append(f'<path d="{" ".join(d)}" fill="none" stroke="{color}" stroke-width="{width}"{dash} '
                 'stroke-linejoin="round"/>')
    return parts
