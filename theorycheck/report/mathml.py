"""MathML from a results file, made safe to inline in the report.

The MathML is sympy's presentation output, but it reaches the report through
a results file that anyone could have edited, so it is re-built from an
allow-list: MathML elements and presentational attributes only, text
re-escaped, everything else (``<script>``, ``<a href>``, ``style``, event
handlers, foreign namespaces) dropped.  ``<mfenced>``, which MathML Core and
Chromium no longer render, becomes an ``<mrow>`` with explicit fences.
"""
from __future__ import annotations

from html import escape
from html.parser import HTMLParser

MATHML_NS = "http://www.w3.org/1998/Math/MathML"

ELEMENTS = frozenset("""
math mrow mi mn mo ms mtext mspace mfrac msqrt mroot msub msup msubsup munder mover munderover
mmultiscripts mprescripts none mtable mtr mtd mstyle mpadded mphantom menclose merror semantics
annotation mfenced
""".split())
VOID = frozenset({"mspace", "mprescripts", "none"})
# whose text content is dropped with them
DROP_WITH_CONTENT = frozenset({"script", "style", "annotation-xml", "svg", "iframe", "object", "template",
                               "noscript", "textarea", "title"})
ATTRIBUTES = frozenset("""
mathvariant displaystyle scriptlevel stretchy fence separator lspace rspace accent accentunder
movablelimits form largeop symmetric minsize maxsize linethickness columnalign rowalign columnspan
rowspan columnlines rowlines columnspacing rowspacing frame notation width height depth voffset
encoding open close separators
""".split())
MAX_LENGTH = 200_000


class _Sanitizer(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[str] = []          # open allowed elements (as written: mfenced -> mrow)
        self.fences: list[dict] = []        # per open mfenced: close fence, separators, children seen
        self.dropping = 0                   # depth inside an element dropped with its content

    # -- helpers
    def _child_started(self):
        """A direct child of an mfenced begins: put a separator before all but the first."""
        if self.fences and self.fences[-1]["depth"] == len(self.stack):
            f = self.fences[-1]
            if f["children"] and f["sep"]:
                i = min(f["children"] - 1, len(f["sep"]) - 1)
                self.out.append(f"<mo separator=\"true\">{escape(f['sep'][i], quote=False)}</mo>")
            f["children"] += 1

    def handle_starttag(self, tag, attrs):
        self._start(tag, attrs, void=tag in VOID)

    def handle_startendtag(self, tag, attrs):
        self._start(tag, attrs, void=True)

    def _start(self, tag, attrs, void):
        if self.dropping:
            if not void:
                self.dropping += 1
            return
        if tag in DROP_WITH_CONTENT:
            if not void:
                self.dropping = 1
            return
        if tag not in ELEMENTS or tag == "math":
            return  # unknown element: dropped, its text kept; <math> is written by wrap()
        self._child_started()
        keep = {k: v for k, v in attrs if k in ATTRIBUTES and v is not None}
        if tag == "mfenced":
            opening, closing = keep.get("open", "("), keep.get("close", ")")
            seps = "".join(keep.get("separators", ",").split())
            self.out.append(f"<mrow><mo fence=\"true\">{escape(opening, quote=False)}</mo>")
            self.stack.append("mfenced")
            self.fences.append({"depth": len(self.stack), "close": closing, "sep": seps, "children": 0})
            return
        for k in ("open", "close", "separators"):
            keep.pop(k, None)
        attr = "".join(f' {k}="{escape(v, quote=True)}"' for k, v in sorted(keep.items()))
        if void:
            self.out.append(f"<{tag}{attr}/>" if tag != "none" else "<none/>")
        else:
            self.out.append(f"<{tag}{attr}>")
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if self.dropping:
            self.dropping -= 1
            return
        if tag not in self.stack:
            return  # stray end tag
        while self.stack:
            open_tag = self.stack.pop()
            self._close(open_tag)
            if open_tag == tag:
                break

    def _close(self, tag):
        if tag == "mfenced":
            f = self.fences.pop()
            self.out.append(f"<mo fence=\"true\">{escape(f['close'], quote=False)}</mo></mrow>")
        else:
            self.out.append(f"</{tag}>")

    def handle_data(self, data):
        if not self.dropping and data:
            self.out.append(escape(data, quote=False))

    def close(self):
        super().close()
        while self.stack:
            self._close(self.stack.pop())


def sanitize(markup: str | None) -> str | None:
    """Allow-listed MathML (without the outer <math>), or None when nothing is left."""
    if not isinstance(markup, str) or not markup.strip() or len(markup) > MAX_LENGTH:
        return None
    p = _Sanitizer()
    p.feed(markup)
    p.close()
    body = "".join(p.out).strip()
    return body or None


def wrap(markup: str | None) -> str | None:
    """Sanitized MathML as one block-level <math> element."""
    body = sanitize(markup)
    if body is None:
        return None
    return f'<math xmlns="{MATHML_NS}" display="block">{body}</math>'
