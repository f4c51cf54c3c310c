"""Measure and screenshot an HTML report in real headless Chromium (used by test_reports)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = os.environ.get("UQKIT_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Runs in the page: the page's size at this width, elements whose right edge passes the
# viewport (horizontal overflow), and images or figures without alternative text.
_PROBE = """<script>
window.addEventListener('load', function () {
  var w = document.documentElement.clientWidth, wide = [];
  document.querySelectorAll('body *').forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 1 && !e.closest('details:not([open])'))
      wide.push(e.tagName + (e.className ? '.' + e.className : '') + ' ' + Math.round(r.right));
  });
  var noalt = Array.from(document.images).filter(function (i) {
    return !(i.getAttribute('alt') || '').trim() || i.getAttribute('alt') === 'figure'; });
  var m = {height: document.documentElement.scrollHeight, width: w,
           scroll_width: document.documentElement.scrollWidth, wide: wide.slice(0, 20),
           images: document.images.length, without_alt: noalt.length,
           headings: Array.from(document.querySelectorAll('h1,h2,h3')).map(
             function (h) { return h.tagName + ' ' + h.textContent; })};
  var pre = document.createElement('pre'); pre.id = 'uqkit-probe';
  pre.textContent = JSON.stringify(m); document.body.appendChild(pre);
});
</script>"""


def _run(args: list[str], profile: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, timeout=timeout, start_new_session=True)


def measure(html_path: str | os.PathLike, *, width: int = 1280,
            screenshot: str | os.PathLike | None = None) -> dict:
    """Metrics of the page at ``width`` px (and a full-page PNG if ``screenshot``)."""
    html_path = Path(html_path)
    work = Path(tempfile.mkdtemp(prefix="uqkit-chromium-"))
    try:
        probe = work / "probe.html"
        probe.write_text(html_path.read_text(encoding="utf-8").replace(
            "</body>", _PROBE + "</body>"), encoding="utf-8")
        proc = _run(["--dump-dom", "--virtual-time-budget=5000", f"--window-size={width},900",
                     probe.as_uri()], work / "profile")
        found = re.search(r"<pre id=\"uqkit-probe\">(.*?)</pre>", proc.stdout.decode())
        if not found:
            raise RuntimeError("chromium gave no metrics: "
                               + proc.stderr.decode(errors="replace")[-2000:])
        import html

        metrics = json.loads(html.unescape(found.group(1)))
        if screenshot is not None:
            _run([f"--screenshot={Path(screenshot).resolve()}", "--hide-scrollbars",
                  f"--window-size={width},{min(metrics['height'], 16000)}",
                  html_path.resolve().as_uri()], work / "profile2")
        return metrics
    finally:
        shutil.rmtree(work, ignore_errors=True)


def screenshot(html_path: str | os.PathLike, png: str | os.PathLike, *, width: int = 1280,
               height: int = 900) -> None:
    """A PNG of the page's first ``height`` pixels (no measurement)."""
    work = Path(tempfile.mkdtemp(prefix="uqkit-chromium-"))
    try:
        _run([f"--screenshot={Path(png).resolve()}", "--hide-scrollbars",
              f"--window-size={width},{height}", Path(html_path).resolve().as_uri()],
             work / "profile")
    finally:
        shutil.rmtree(work, ignore_errors=True)
