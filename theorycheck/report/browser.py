"""Look at a report the way a reader does: headless Chromium.

Used by the browser test (and by hand) to take a screenshot and to measure
what the page lays out: the size of every <math> and plot <svg>, and whether
any script from the data ran.  No Python dependency: Chromium's own
``--dump-dom`` returns the DOM after a measuring script, injected into a copy
of the page, has written its findings into it.
"""
from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# Debian's chromium, run as root in a container, offline
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio")

# Any alert()/confirm()/prompt() a hostile value manages to run is recorded, not shown.
_TRAP = ("<script>window.__calls=[];['alert','confirm','prompt'].forEach(function(n){"
         "window[n]=function(m){window.__calls.push(n+':'+String(m));};});</script>")
_MEASURE = """<script>
window.addEventListener('load', function () { setTimeout(function () {
  function box(e) { var r = e.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; }
  function content(e) {  // the laid-out formula itself (a block <math> is as wide as the page)
    var w = 0, h = 0;
    Array.prototype.forEach.call(e.children, function (c) {
      var r = c.getBoundingClientRect(); w += r.width; h = Math.max(h, r.height); });
    return [Math.round(w), Math.round(h)];
  }
  var out = {
    math_content: Array.prototype.map.call(document.querySelectorAll('section.claim math'), content),
    math: Array.prototype.map.call(document.querySelectorAll('section.claim math'), box),
    svg: Array.prototype.map.call(document.querySelectorAll('svg.plot'), box),
    sections: document.querySelectorAll('section.claim').length,
    summary: box(document.getElementById('summary') || document.body),
    scripts: document.querySelectorAll('script').length,
    calls: window.__calls,
    mathml_display: Array.prototype.map.call(document.querySelectorAll('section.claim math'),
                                              function (e) { return getComputedStyle(e).display; })
  };
  // the claims table sorts: click the verdict heading twice, read the column each time
  var th = document.querySelectorAll('#claims-table thead th')[2];
  function column() {
    return Array.prototype.map.call(document.querySelectorAll('#claims-table tbody tr'),
                                    function (r) { return r.cells[2].getAttribute('data-sort'); });
  }
  out.sorted = [];
  if (th) { th.click(); out.sorted.push(column()); th.click(); out.sorted.push(column()); }
  var pre = document.createElement('pre');
  pre.id = '__measure';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 50); });
</script>"""


def find_chromium() -> str | None:
    env = os.environ.get("THEORYCHECK_CHROMIUM")
    if env:
        return env if shutil.which(env) or Path(env).exists() else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(binary: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="theorycheck-chromium-") as profile:
        cmd = [binary, *FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def screenshot(page: str | Path, png: str | Path, width: int = 1280, height: int = 4000,
               binary: str | None = None, timeout: float = 60) -> Path:
    """A PNG of the top ``height`` pixels of the page."""
    binary = binary or find_chromium()
    if binary is None:
        raise FileNotFoundError("no chromium binary found (apt-get install chromium)")
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    proc = _run(binary, [f"--window-size={width},{height}", f"--screenshot={png}",
                         Path(page).resolve().as_uri()], timeout)
    if not png.exists() or png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return png


def probe(page: str | Path, script: str, fragment: str = "", width: int = 1280, binary: str | None = None,
          timeout: float = 60, delay_ms: int = 50) -> dict:
    """Run ``script`` in the page after it loaded (opened at ``#fragment`` when
    given): a JavaScript function body that may interact with the page and
    calls ``done(value)`` once, with a JSON-serialisable value, which is returned.
    Any alert() the page runs is recorded in ``window.__calls``."""
    binary = binary or find_chromium()
    if binary is None:
        raise FileNotFoundError("no chromium binary found (apt-get install chromium)")
    runner = ("<script>window.addEventListener('load', function () { setTimeout(function () {"
              "function done(value) { var pre = document.createElement('pre'); pre.id = '__probe';"
              "pre.textContent = JSON.stringify(value); document.body.appendChild(pre); }"
              f"{script}\n}}, {int(delay_ms)}); }});</script>")
    text = Path(page).read_text(encoding="utf-8")
    text = text.replace("<head>", "<head>" + _TRAP, 1).replace("</body>", runner + "</body>", 1)
    with tempfile.TemporaryDirectory(prefix="theorycheck-probe-") as tmp:
        probe_page = Path(tmp) / "probe.html"
        probe_page.write_text(text, encoding="utf-8")
        url = probe_page.as_uri() + (f"#{fragment}" if fragment else "")
        proc = _run(binary, [f"--window-size={width},1000", "--virtual-time-budget=5000", "--dump-dom", url],
                    timeout)
    start = proc.stdout.find('<pre id="__probe">')
    if start < 0:
        raise RuntimeError(f"the probe did not finish (exit {proc.returncode}): {proc.stderr[-2000:]}")
    body = proc.stdout[start + len('<pre id="__probe">'):]
    return json.loads(html.unescape(body[:body.index("</pre>")]))


def measure(page: str | Path, width: int = 1280, binary: str | None = None, timeout: float = 60) -> dict:
    """Sizes of the claims' <math> and plot <svg> elements as laid out, the
    number of claim sections and scripts, and any alert() a value ran."""
    binary = binary or find_chromium()
    if binary is None:
        raise FileNotFoundError("no chromium binary found (apt-get install chromium)")
    text = Path(page).read_text(encoding="utf-8")
    text = text.replace("<head>", "<head>" + _TRAP, 1).replace("</body>", _MEASURE + "</body>", 1)
    with tempfile.TemporaryDirectory(prefix="theorycheck-measure-") as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(text, encoding="utf-8")
        proc = _run(binary, [f"--window-size={width},2000", "--virtual-time-budget=5000", "--dump-dom",
                             probe.as_uri()], timeout)
    start = proc.stdout.find('<pre id="__measure">')
    if start < 0:
        raise RuntimeError(f"the measuring script did not run (exit {proc.returncode}): {proc.stderr[-2000:]}")
    body = proc.stdout[start + len('<pre id="__measure">'):]
    return json.loads(html.unescape(body[:body.index("</pre>")]))
