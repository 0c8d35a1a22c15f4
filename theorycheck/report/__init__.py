"""HTML views of a results file (the results file is the only input).

``html``     the page: Jinja2 templates (``templates/``), inlined CSS and script (``static/``)
``svg``      inline SVG plots of a claim's declared plots, robust to any JSON value
``mathml``   an allow-list sanitizer for the statement's MathML
``browser``  headless Chromium: screenshots and layout measurements (tests, by hand)
"""
from .html import render_html, write_html

__all__ = ["render_html", "write_html"]
