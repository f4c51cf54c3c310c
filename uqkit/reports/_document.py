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
           "document_to_dict", "document_from_dict"]


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
    return " / ".join(map(str, x)) if isinstance(x, tuple) else to_plain(x)


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
    """One heading of the report with its blocks (facts, table, figure, verdict, text)."""

    title: str
    kind: str
    blocks: list[dict] = field(default_factory=list)

    def facts(self, items: dict[str, Any], name: str = "facts") -> Section:
        self.blocks.append({"type": "facts", "name": name,
                            "items": {str(k): to_plain(v) for k, v in items.items()}})
        return self

    def table(self, name: str, df: pd.DataFrame, **kw: Any) -> Section:
        self.blocks.append(table_block(name, df, **kw))
        return self

    def figure(self, make: Any, caption: str = "") -> Section:
        """Add the figure drawn by ``make()`` (returns axes or a figure); a failure is noted."""
        try:
            obj = make()
            fig = _figure_of(obj)
            self.blocks.append(figure_block(fig, caption))
        except Exception as exc:  # a figure must not sink the report: say why it is missing
            self.text(f"Figure '{caption}' could not be drawn: {type(exc).__name__}: {exc}")
        return self

    def verdict(self, ok: bool, text: str) -> Section:
        self.blocks.append({"type": "verdict", "ok": bool(ok), "text": text})
        return self

    def text(self, text: str) -> Section:
        self.blocks.append({"type": "text", "text": text})
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


def _render_block(b: dict) -> str:
    kind = b.get("type")
    if kind == "facts":
        return h.definition_list(b["items"])
    if kind == "table":
        df = block_frame(b)
        head = f"<h3>{h.esc(b['name'])}</h3>" if b.get("name") else ""
        note = f"<p class='uqkit-note'>{h.esc(b['note'])}</p>" if b.get("note") else ""
        return head + h.table(df, index=b.get("show_index", True)) + note
    if kind == "figure":
        if "png" not in b:
            return ""
        cap = f"<p class='uqkit-note'>{h.esc(b['caption'])}</p>" if b.get("caption") else ""
        return f"<figure>{h.img(b['png'], b.get('caption') or 'figure')}{cap}</figure>"
    if kind == "verdict":
        return h.verdict(b["ok"], b["text"])
    if kind == "text":
        return f"<p>{h.esc(b['text'])}</p>"
    return ""


def render_html(doc: Document) -> str:
    """The self-contained HTML page of a document."""
    nav = "".join(f"<a href='#s{i}'>{h.esc(s.title)}</a>" for i, s in enumerate(doc.sections))
    parts = [("", f"<nav class='uqkit'>{nav}</nav>"
                  f"<p class='uqkit-note'>Written {h.esc(doc.created)} by uqkit "
                  f"{h.esc(doc.versions.get('uqkit', ''))}.</p>")]
    for i, s in enumerate(doc.sections):
        body = "".join(_render_block(b) for b in s.blocks)
        parts.append(("", f"<section id='s{i}' class='uqkit-{h.esc(s.kind)}'>"
                          f"<h2>{h.esc(s.title)}</h2>{body}</section>"))
    versions = pd.DataFrame({"version": list(doc.versions.values())},
                            index=pd.Index(list(doc.versions), name="package"))
    parts.append(("Versions", h.table(versions)))
    return h.page(doc.title, parts)
