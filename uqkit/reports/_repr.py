"""Notebook HTML of every uqkit object: one card shell, as xarray's ``formatting_html``.

Each ``_repr_html_`` hands :func:`card` its title, facts, verdicts and tables; the
card is built from the same escaped blocks as the reports (:mod:`._html`), with a
small stylesheet scoped to ``.uqkit-card`` so that it never restyles the notebook.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from . import _html as h

__all__ = ["card"]

_CARD_CSS = (
    "<style>.uqkit-card{font-size:.92em;line-height:1.35}"
    ".uqkit-card table{border-collapse:collapse;margin:.3em 0}"
    ".uqkit-card th,.uqkit-card td{border:1px solid #ccc;padding:.15em .5em;text-align:right}"
    ".uqkit-card th{background:#f3f3f3}.uqkit-card .l{text-align:left}"
    ".uqkit-card dl{display:grid;grid-template-columns:max-content auto;gap:0 1em;margin:.3em 0}"
    ".uqkit-card dt{font-weight:600}.uqkit-card dd{margin:0}"
    ".uqkit-card .uqkit-verdict{padding:.3em .6em;margin:.3em 0;border-radius:4px}"
    ".uqkit-card .uqkit-ok{background:#e3f4e1;border:1px solid #a5d6a7}"
    ".uqkit-card .uqkit-bad{background:#fdecea;border:1px solid #f5a5a5}</style>")

_MAX_ROWS = 50


def card(title: str, subtitle: str = "", *, facts: Mapping[str, Any] | None = None,
         verdicts: Iterable[tuple[bool, str]] = (),
         tables: Iterable[tuple[str, pd.DataFrame]] = (), note: str = "",
         kind: str = "") -> str:
    """The notebook HTML of one object (every string escaped).

    Tables longer than 50 rows show their first 50 rows and say how many are left.
    """
    parts = [f"<div class='uqkit-card uqkit-{h.esc(kind or title.lower())}'>{_CARD_CSS}"
             f"<b>{h.esc(title)}</b>" + (f" {h.esc(subtitle)}" if subtitle else "")]
    parts += [h.verdict(ok, text) for ok, text in verdicts]
    if facts:
        parts.append(h.definition_list(facts))
    for name, df in tables:
        more = len(df) - _MAX_ROWS
        body = h.table(df.head(_MAX_ROWS), bare=True)
        if more > 0:
            body += f"<p>... {more} more rows</p>"
        parts.append((f"<p class='l'>{h.esc(name)}</p>" if name else "") + body)
    if note:
        parts.append(f"<p>{h.esc(note)}</p>")
    return "".join(parts) + "</div>"
