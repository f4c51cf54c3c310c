"""Reusable HTML building blocks for self-contained reports (pure formatters).

Every user string goes through :func:`esc` (``html.escape``); figures are inlined
as base64 PNG and the CSS is inline, so a report is one file that opens anywhere
without a network. Numeric table cells carry their exact value in a
``data-value`` attribute (``repr`` of the float) next to the rounded display, so
tools and tests can read the numbers back without rounding.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CSS", "esc", "fmt", "figure_png", "png_bytes", "img", "table", "details",
           "definition_list", "verdict", "page", "write_page", "versions"]

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:1.5em auto;
color:#222;padding:0 1em;background:#fff;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}
h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
h3{font-size:1.02em;margin:.9em 0 .3em}
.uqkit-scroll{max-width:100%;overflow-x:auto}
table.uqkit{border-collapse:collapse;margin:.4em 0;font-size:.88em}
table.uqkit th,table.uqkit td{border:1px solid #ccc;padding:.2em .55em;text-align:right;
white-space:nowrap}
table.uqkit th{background:#f3f3f3}table.uqkit td.l,table.uqkit th.l{text-align:left;
white-space:normal;overflow-wrap:anywhere;max-width:40em}
dl.uqkit{display:grid;grid-template-columns:max-content minmax(0,1fr) max-content minmax(0,1fr);
gap:.1em 1em;margin:.4em 0}
@media (max-width:700px){dl.uqkit{grid-template-columns:max-content minmax(0,1fr)}}
dl.uqkit dt{font-weight:600}dl.uqkit dd{margin:0;overflow-wrap:anywhere}
img.uqkit{max-width:100%;height:auto}
.uqkit-figures{display:flex;flex-wrap:wrap;gap:.5em 1.5em;align-items:flex-start}
.uqkit-figures figure{margin:.3em 0;max-width:100%}
figcaption{color:#555;font-size:.85em;max-width:46em}
.uqkit-note{color:#666;font-size:.85em}
.uqkit-verdict{padding:.4em .8em;border-radius:4px;font-weight:600;margin:.4em 0}
.uqkit-ok{background:#e3f4e1;color:#1b5e20;border:1px solid #a5d6a7}
.uqkit-bad{background:#fdecea;color:#8e1c1c;border:1px solid #f5a5a5}
details.uqkit{margin:.3em 0}details.uqkit>summary{cursor:pointer;color:#1a4f8a}
ul.uqkit{margin:.3em 0;padding-left:1.3em}
nav.uqkit{font-size:.9em;display:flex;flex-wrap:wrap;gap:.2em 1.2em}
"""


def esc(value: Any) -> str:
    """``html.escape(str(value))`` (quotes included)."""
    return html.escape(str(value), quote=True)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (float, np.floating, int, np.integer))
            and not isinstance(value, (bool, np.bool_)))


def fmt(value: Any, digits: int = 4) -> str:
    """Format a number compactly (``-`` for None/NaN); other values are escaped."""
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return esc(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, float) or hasattr(value, "dtype"):
        try:
            v = float(value)
        except (TypeError, ValueError):
            return esc(value)
        return "-" if math.isnan(v) else f"{v:.{digits}g}"
    return esc(value)


def png_bytes(fig: Any, *, dpi: int = 110) -> bytes:
    """The matplotlib figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def img(png_b64: str, alt: str = "figure") -> str:
    """An ``<img>`` tag for base64 PNG data."""
    return f"<img class='uqkit' alt='{esc(alt)}' src='data:image/png;base64,{png_b64}'/>"


def figure_png(fig: Any, *, dpi: int = 110, alt: str = "figure") -> str:
    """An ``<img>`` tag holding the matplotlib figure as inline base64 PNG."""
    return img(base64.b64encode(png_bytes(fig, dpi=dpi)).decode("ascii"), alt)


def _label(x: Any) -> str:
    return esc(" / ".join(str(p) for p in x if str(p)) if isinstance(x, tuple) else x)


def _cell(value: Any, digits: int) -> str:
    if _is_number(value):
        v = float(value)
        shown = fmt(int(value) if isinstance(value, (int, np.integer)) else v, digits)
        return f"<td data-value='{esc(repr(v))}'>{shown}</td>"
    return f"<td class='l'>{fmt(value, digits)}</td>"


def table(df: pd.DataFrame, *, digits: int = 4, index: bool = True,
          caption: str | None = None, bare: bool = False) -> str:
    """A DataFrame as an escaped HTML table (MultiIndex labels joined with ' / ').

    Numeric cells show ``digits`` significant digits and carry the exact value in
    ``data-value``; text cells are escaped and left-aligned. ``bare`` gives a plain
    ``<table>`` styled by its container (notebook cards) instead of a page table
    in its scroll box.
    """
    head = ""
    if index:
        name = df.index.name if df.index.nlevels == 1 else " / ".join(
            str(n) for n in df.index.names if n is not None)
        head += f"<th class='l'>{esc(name or '')}</th>"
    head += "".join(f"<th>{_label(c)}</th>" for c in df.columns)
    rows = []
    values = df.to_numpy(dtype=object)
    for key, row in zip(df.index, values):
        cells = f"<th class='l'>{_label(key)}</th>" if index else ""
        cells += "".join(_cell(v, digits) for v in row)
        rows.append(f"<tr>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    if bare:
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return (f"<div class='uqkit-scroll'><table class='uqkit'>{cap}<thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def details(summary: str, body: str, *, open_: bool = False) -> str:
    """A collapsible ``<details>`` block (``summary`` is escaped, ``body`` is HTML)."""
    return (f"<details class='uqkit'{' open' if open_ else ''}><summary>{esc(summary)}"
            f"</summary>{body}</details>")


def definition_list(items: Mapping[str, Any]) -> str:
    """Key/value facts (sample size, seed, version...) as a ``<dl>``."""
    body = "".join(f"<dt>{esc(k)}</dt><dd>{fmt(v)}</dd>" for k, v in items.items())
    return f"<dl class='uqkit'>{body}</dl>"


def verdict(ok: bool, text: str) -> str:
    """A coloured pass/fail box (e.g. MCMC convergence)."""
    cls = "uqkit-ok" if ok else "uqkit-bad"
    mark = "PASS" if ok else "WARNING"
    return f"<div class='uqkit-verdict {cls}'>{mark}: {esc(text)}</div>"


def page(title: str, sections: Iterable[tuple[str, str]]) -> str:
    """A complete HTML document; ``sections`` are ``(heading, html_body)`` pairs."""
    parts = [f"<h2>{esc(h)}</h2>{body}" if h else body for h, body in sections]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body><h1>{esc(title)}</h1>{''.join(parts)}</body></html>")


def write_page(path: str | os.PathLike, document: str) -> str:
    """Write the document (UTF-8) atomically and return the path as a string.

    The text goes to a temporary file in the same folder, then replaces ``path``
    in one rename, so a reader never sees half a report.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".uqkit-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(document)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return path


_DEPENDENCIES = ("numpy", "scipy", "pandas", "matplotlib", "xarray", "tqdm", "cloudpickle",
                 "SALib", "emcee", "arviz", "dask", "distributed", "umbridge")


def versions() -> dict[str, str]:
    """Versions of Python, uqkit and its dependencies (from package metadata, no imports)."""
    import platform
    from importlib import metadata

    from .._version import __version__

    out = {"python": platform.python_version(), "uqkit": __version__,
           "platform": platform.platform(terse=True)}
    for name in _DEPENDENCIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
