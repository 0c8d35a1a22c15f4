"""Render a results dict to one self-contained HTML page (Jinja2, autoescaped)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape


def _env() -> Environment:
    env = Environment(loader=PackageLoader("theorycheck.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v: (f"{v:.4g}" if isinstance(v, float) else ("—" if v is None else v))
    return env


def render_html(results: dict) -> str:
    return _env().get_template("index.html.j2").render(r=results)


def write_html(results: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(render_html(results))
    os.replace(tmp, path)
    return path
