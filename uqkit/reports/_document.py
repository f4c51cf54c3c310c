"""A report as data: sections of facts, tables, figures and verdicts.

One document renders to HTML (:func:`render_html`) and serialises to JSON
(:func:`to_json`); the JSON written beside a report carries the same numbers as
its tables. The full document (figures included, as base64 PNG) can be stored and
rendered again later (``uqkit report study.db``) without the model.
"""

from __future__ import annotations

import base64
import datetime
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import _html as h

__all__ = ["Document", "Section", "to_plain", "table_block", "figure_block", "render_html",
           "render_blocks", "document_to_dict", "document_from_dict"]


def to_plain(value: Any) -> Any:
    """A JSON-safe Python value: NaN -> None, +-inf -> "inf"/"-inf", numpy -> builtins."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray, pd.Index)):
        return [to_plain(v) for v in list(value)]
    return str(value)


def _label(x: Any) -> Any:
    return " / ".join(str(p) for p in x if str(p)) if isinstance(x, tuple) else to_plain(x)


def table_block(name: str, df: pd.DataFrame, *, index: bool = True, note: str = "") -> dict:
    """A table block from a DataFrame (labels flattened, values JSON-safe)."""
    index_name = (df.index.name if df.index.nlevels == 1
                  else " / ".join(str(n) for n in df.index.names if n is not None))
    return {"type": "table", "name": str(name), "index_name": to_plain(index_name),
            "show_index": bool(index),
            "columns": [_label(c) for c in df.columns], "index": [_label(i) for i in df.index],
            "data": [[to_plain(v) for v in row] for row in df.to_numpy(dtype=object)],
            "note": note}


def block_frame(block: dict) -> pd.DataFrame:
    """The DataFrame of a table block (None -> NaN for numeric display)."""
    data = [[np.nan if v is None else (float(v) if v in ("inf", "-inf") else v) for v in row]
            for row in block["data"]]
    df = pd.DataFrame(data, columns=block["columns"], index=block["index"], dtype=object)
    df.index.name = block.get("index_name")
    return df


def figure_block(fig: Any, caption: str = "") -> dict:
    """A figure block (the matplotlib figure as base64 PNG); closes the figure."""
    import matplotlib.pyplot as plt

    data = base64.b64encode(h.png_bytes(fig)).decode("ascii")
    plt.close(fig)
    return {"type": "figure", "png": data, "caption": caption}


@dataclass
class Section:
    """One heading of the report with its blocks.

    Blocks: facts, table, figure, verdict, text, and findings (one-line results that
    the report's summary collects). A table, figure or facts block with
    ``collapsed=True`` renders inside a closed ``<details>``: the full numbers stay in
    the page and in the JSON without making the page long.
    """

    title: str
    kind: str
    blocks: list[dict] = field(default_factory=list)

    def facts(self, items: dict[str, Any], name: str = "facts", *,
              collapsed: bool = False) -> Section:
        self.blocks.append({"type": "facts", "name": name, "collapsed": bool(collapsed),
                            "items": {str(k): to_plain(v) for k, v in items.items()}})
        return self

    def table(self, name: str, df: pd.DataFrame, *, collapsed: bool = False,
              **kw: Any) -> Section:
        block = table_block(name, df, **kw)
        block["collapsed"] = bool(collapsed)
        self.blocks.append(block)
        return self

    def figure(self, make: Any, caption: str = "", *, alt: str | None = None,
               collapsed: bool = False) -> Section:
        """Add the figure drawn by ``make()`` (returns axes or a figure); a failure is noted.

        ``alt`` is the figure's alternative text (default: the caption).
        """
        try:
            obj = make()
            fig = _figure_of(obj)
            block = figure_block(fig, caption)
            block["alt"] = alt or caption
            block["collapsed"] = bool(collapsed)
            self.blocks.append(block)
        except Exception as exc:  # a figure must not sink the report: say why it is missing
            self.text(f"Figure '{caption}' could not be drawn: {type(exc).__name__}: {exc}")
        return self

    def verdict(self, ok: bool, text: str, short: str | None = None) -> Section:
        """A pass/fail box; ``short`` is its one-line form for the report's summary."""
        self.blocks.append({"type": "verdict", "ok": bool(ok), "text": text,
                            "short": short or text})
        return self

    def text(self, text: str) -> Section:
        self.blocks.append({"type": "text", "text": text})
        return self

    def finding(self, text: str) -> Section:
        """A one-line result for the report's summary (not repeated in the section)."""
        self.blocks.append({"type": "finding", "text": text})
        return self


def _figure_of(obj: Any) -> Any:
    if hasattr(obj, "savefig"):
        return obj
    if hasattr(obj, "figure") and hasattr(obj.figure, "savefig"):
        return obj.figure
    arr = np.asarray(obj, dtype=object).ravel()
    for a in arr:
        if hasattr(a, "figure"):
            return a.figure
    raise TypeError(f"plot() returned {type(obj).__name__}, not matplotlib axes")


@dataclass
class Document:
    title: str
    sections: list[Section] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=h.versions)
    created: str = field(default_factory=lambda: datetime.datetime.now(
        datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))


def document_to_dict(doc: Document, *, figures: bool = True) -> dict:
    """The document as JSON-safe data (``figures=False`` drops the PNG payloads)."""
    sections = []
    for s in doc.sections:
        blocks = []
        for b in s.blocks:
            if b["type"] == "figure" and not figures:
                b = {"type": "figure", "caption": b.get("caption", "")}
            blocks.append(b)
        sections.append({"title": s.title, "kind": s.kind, "blocks": blocks})
    return {"format": "uqkit-report/1", "title": doc.title, "created": doc.created,
            "versions": dict(doc.versions), "sections": sections}


def document_from_dict(data: dict) -> Document:
    """Inverse of :func:`document_to_dict` (data only: no code is run)."""
    sections = [Section(str(s["title"]), str(s.get("kind", "")), list(s.get("blocks", [])))
                for s in data.get("sections", [])]
    return Document(str(data.get("title", "uqkit report")), sections,
                    dict(data.get("versions", {})), str(data.get("created", "")))


def _render_block(b: dict, section_title: str = "") -> str:
    kind = b.get("type")
    collapsed = bool(b.get("collapsed"))
    if kind == "facts":
        body = h.definition_list(b["items"])
        return h.details(b.get("name") or "details", body) if collapsed else body
    if kind == "table":
        df = block_frame(b)
        note = f"<p class='uqkit-note'>{h.esc(b['note'])}</p>" if b.get("note") else ""
        body = h.table(df, index=b.get("show_index", True)) + note
        rows = f" ({len(df)} rows)" if len(df) > 1 else ""
        if collapsed:
            return h.details(f"{b.get('name') or 'table'}{rows}", body)
        same = b.get("name", "").strip().lower() == section_title.strip().lower()
        head = f"<h3>{h.esc(b['name'])}</h3>" if b.get("name") and not same else ""
        return head + body
    if kind == "figure":
        if "png" not in b:
            return ""
        cap = f"<figcaption>{h.esc(b['caption'])}</figcaption>" if b.get("caption") else ""
        alt = b.get("alt") or b.get("caption") or "figure"
        body = f"<figure>{h.img(b['png'], alt)}{cap}</figure>"
        return h.details(b.get("caption") or "figure", body) if collapsed else body
    if kind == "verdict":
        return h.verdict(b["ok"], b["text"])
    if kind == "text":
        return f"<p>{h.esc(b['text'])}</p>"
    if kind == "list":
        items = "".join(f"<li>{h.esc(t)}</li>" for t in b.get("items", []))
        head = f"<h3>{h.esc(b['name'])}</h3>" if b.get("name") else ""
        return f"{head}<ul class='uqkit'>{items}</ul>"
    return ""  # findings are shown in the summary


def render_blocks(blocks: list[dict], section_title: str = "") -> str:
    """The HTML of a list of blocks; neighbouring open figures share one row."""
    out, row = [], []
    for b in blocks:
        if b.get("type") == "figure" and not b.get("collapsed") and "png" in b:
            row.append(_render_block(b, section_title))
            continue
        if row:
            out.append(f"<div class='uqkit-figures'>{''.join(row)}</div>")
            row = []
        out.append(_render_block(b, section_title))
    if row:
        out.append(f"<div class='uqkit-figures'>{''.join(row)}</div>")
    return "".join(out)


def render_html(doc: Document) -> str:
    """The self-contained HTML page of a document."""
    nav = "".join(f"<a href='#s{i}'>{h.esc(s.title)}</a>" for i, s in enumerate(doc.sections))
    parts = [("", f"<p class='uqkit-note'>Written {h.esc(doc.created)} by uqkit "
                  f"{h.esc(doc.versions.get('uqkit', ''))}.</p><nav class='uqkit'>{nav}</nav>")]
    for i, s in enumerate(doc.sections):
        body = render_blocks(s.blocks, s.title)
        parts.append(("", f"<section id='s{i}' class='uqkit-{h.esc(s.kind)}'>"
                          f"<h2>{h.esc(s.title)}</h2>{body}</section>"))
    versions = pd.DataFrame({"version": list(doc.versions.values())},
                            index=pd.Index(list(doc.versions), name="package"))
    parts.append(("", h.details("Versions of Python, uqkit and its dependencies",
                                h.table(versions))))
    return h.page(doc.title, parts)
