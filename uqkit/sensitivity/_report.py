"""Small, reusable HTML building blocks for self-contained reports.

Pure formatter functions (every user string is ``html.escape``-d); figures are
inlined as base64 PNG so a report is one file that opens anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

__all__ = ["esc", "fmt", "figure_png", "table", "definition_list", "page", "write_page"]

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table.uqkit{border-collapse:collapse;margin:.5em 0;font-size:.9em}
table.uqkit th,table.uqkit td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
table.uqkit th{background:#f3f3f3}table.uqkit td.l,table.uqkit th.l{text-align:left}
dl.uqkit{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dl.uqkit dt{font-weight:600}dl.uqkit dd{margin:0}
img.uqkit{max-width:100%}
.uqkit-note{color:#666;font-size:.85em}
"""


def esc(value: Any) -> str:
    """``html.escape(str(value))``."""
    return html.escape(str(value))


def fmt(value: Any, digits: int = 4) -> str:
    """Format a number compactly (``-`` for None/NaN); other values are escaped."""
    if value is None:
        return "-"
    if isinstance(value, float) or hasattr(value, "dtype"):
        try:
            v = float(value)
        except (TypeError, ValueError):
            return esc(value)
        return "-" if math.isnan(v) else f"{v:.{digits}g}"
    return esc(value)


def figure_png(fig: Any, *, dpi: int = 110) -> str:
    """An ``<img>`` tag holding the matplotlib figure as inline base64 PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img class='uqkit' alt='figure' src='data:image/png;base64,{data}'/>"


def table(df: pd.DataFrame, *, digits: int = 4, index: bool = True) -> str:
    """A DataFrame as an escaped HTML table (MultiIndex labels joined with ' / ')."""
    def label(x: Any) -> str:
        return esc(" / ".join(map(str, x)) if isinstance(x, tuple) else x)

    head = ""
    if index:
        head += f"<th class='l'>{label(df.index.name or '')}</th>"
    head += "".join(f"<th>{label(c)}</th>" for c in df.columns)
    rows = []
    for key, row in df.iterrows():
        cells = f"<td class='l'>{label(key)}</td>" if index else ""
        cells += "".join(f"<td>{fmt(v, digits)}</td>" for v in row.to_numpy())
        rows.append(f"<tr>{cells}</tr>")
    return (f"<table class='uqkit'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def definition_list(items: Mapping[str, Any]) -> str:
    """Key/value facts (sample size, seed, version...) as a ``<dl>``."""
    body = "".join(f"<dt>{esc(k)}</dt><dd>{fmt(v)}</dd>" for k, v in items.items())
    return f"<dl class='uqkit'>{body}</dl>"


def page(title: str, sections: Iterable[tuple[str, str]]) -> str:
    """A complete HTML document; ``sections`` are ``(heading, html_body)`` pairs."""
    parts = [f"<h2>{esc(h)}</h2>{body}" if h else body for h, body in sections]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body><h1>{esc(title)}</h1>{''.join(parts)}</body></html>")


def write_page(path: str | os.PathLike, document: str) -> str:
    """Write the document (UTF-8) and return the path as a string."""
    path = os.fspath(path)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(document)
    return path
