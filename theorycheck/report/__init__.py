"""HTML views of a results file (the results file is the only input)."""
from .html import render_html, write_html

__all__ = ["render_html", "write_html"]
