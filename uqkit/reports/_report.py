"""``uqkit.report``: one self-contained HTML file (and its JSON) for a whole study."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .._validation import fail
from . import _document as d
from ._common import Context
from ._sections import build_section, evaluation_counts, kind_of, seeds_of
from ._summary import summary_section

__all__ = ["report", "build_document", "write_document", "write_result_report"]


def build_document(*results: Any, title: str | None = None,
                   truth: Mapping[str, float] | None = None) -> d.Document:
    """The report document of ``results`` (see :func:`report`)."""
    if not results:
        fail("report", "results", "at least one result, model, Parameters or Store", "nothing")
    kinds = []
    for i, obj in enumerate(results):
        kind = kind_of(obj)
        if kind is None:
            fail("report", f"results[{i}]", "a uqkit result (SobolResult, MorrisResult, "
                 "PolynomialChaos, Posterior, Evaluations), a Model, Parameters, a Store, "
                 "a DataFrame or a mapping of facts", type(obj).__name__)
        kinds.append(kind)
    context = _context(results, kinds, truth)
    doc = d.Document(title or "uqkit study report")
    seen: dict[str, int] = {}
    for obj, kind in zip(results, kinds):
        seen[kind] = seen.get(kind, 0) + 1
        n_same = kinds.count(kind)
        label = f" ({seen[kind]})" if n_same > 1 and kind not in ("table", "facts") else ""
        doc.sections.append(build_section(obj, label, context))
    runs = [None if kind == "store" or evaluation_counts(obj) is None
            else evaluation_counts(obj)[0] for obj, kind in zip(results, kinds)]
    costs = _costs(results, kinds)
    doc.sections.insert(0, summary_section(doc.sections, runs))
    if costs is not None:
        doc.sections.append(costs)
    _unique_table_names(doc)
    return doc


def _context(results: tuple, kinds: list[str], truth: Mapping[str, float] | None) -> Context:
    from ..sensitivity._common import series_axes

    ctx = Context()
    for obj, kind in zip(results, kinds):
        if kind == "model":
            for g, axis in series_axes(obj).items():
                ctx.axes.setdefault(g, axis)
        if kind == "facts" and isinstance(obj.get("truth"), Mapping):
            ctx.truth.update({str(k): float(v) for k, v in obj["truth"].items()})
    if truth is not None:
        if not isinstance(truth, Mapping):
            fail("report", "truth", "a mapping of parameter names to true values", truth)
        ctx.truth.update({str(k): float(v) for k, v in truth.items()})
    return ctx


def _costs(results: tuple, kinds: list[str]) -> d.Section | None:
    rows = []
    for obj, kind in zip(results, kinds):
        counts = evaluation_counts(obj)
        if counts is not None and kind not in ("store",):
            rows.append({"result": type(obj).__name__, "model evaluations": counts[0],
                         "failed": counts[1], "seed": seeds_of(obj)})
    if not rows:
        return None
    df = pd.DataFrame(rows)
    df.index = pd.Index([f"{r['result']} {i + 1}" for i, r in enumerate(rows)], name="")
    df = df.drop(columns="result")
    df["seed"] = pd.Series([r["seed"] for r in rows], index=df.index, dtype=object)
    total = pd.DataFrame({"model evaluations": [int(df["model evaluations"].sum())],
                          "failed": [int(df["failed"].sum())],
                          "seed": pd.Series([None], dtype=object)}, index=["total"])
    sec = d.Section("Evaluations, failures and seeds", "counts")
    sec.table("Cost of each result", pd.concat([df, total]))
    sec.text("Evaluations served from a store count as model evaluations of the result "
             "that asked for them; the store section lists what was computed.")
    return sec


def _unique_table_names(doc: d.Document) -> None:
    """Suffix repeated table names with " (2)", " (3)"... so each names one table."""
    seen: dict[str, int] = {}
    for section in doc.sections:
        for block in section.blocks:
            if block["type"] == "table":
                k = seen[block["name"]] = seen.get(block["name"], 0) + 1
                if k > 1:
                    block["name"] = f"{block['name']} ({k})"


def write_document(doc: d.Document, path: str | os.PathLike) -> tuple[str, str]:
    """Write the HTML and the JSON beside it (same stem, ``.json``); return both paths."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        fail("report", "path", "a file name ending in .html", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    html_text = d.render_html(doc)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(html_text, encoding="utf-8")
    os.replace(tmp, path)
    json_path = path.with_suffix(".json")
    data = d.document_to_dict(doc, figures=False)
    tmp = json_path.with_name(json_path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
    os.replace(tmp, json_path)
    return str(path), str(json_path)


def write_result_report(result: Any, path: str | os.PathLike, *, title: str) -> str:
    """The ``report(path)`` method of every result: its section in the shared shell."""
    if not isinstance(path, (str, os.PathLike)):
        fail("report", "path", "a file path ending in .html", path)
    return write_document(build_document(result, title=title), path)[0]


def report(*results: Any, path: str | os.PathLike, title: str | None = None,
           truth: Mapping[str, float] | None = None) -> str:
    """Write one self-contained HTML report of a study, and a JSON file beside it.

    Parameters
    ----------
    *results : results, models, parameters, stores, DataFrames or mappings
        What to report, in order. Recognised by their attributes: Sobol' results
        (``first``/``total``: tables per output, per time point for series, with
        figures), Morris results, other sensitivity results, polynomial chaos
        expansions (moments, leave-one-out validation error, indices from the
        coefficients), posteriors (summary table, convergence verdict, pair plot,
        posterior predictive against the data), ``Evaluations``, a ``Store``
        (progress and failures), ``Parameters`` (distributions), a model (its
        identity), a DataFrame (shown as a table titled by ``df.attrs["title"]``)
        or a mapping of facts (seed, study name...).
    path : str or path-like
        The ``.html`` file to write; ``<stem>.json`` beside it gets the same numbers.
    title : str, optional
        Title of the page (escaped).
    truth : mapping, optional
        True parameter values, when the study knows them (synthetic data): drawn on
        the posterior marginals and quoted in the summary. A facts mapping among the
        results may carry them too, under ``"truth"``.

    Returns
    -------
    str
        The path of the HTML file.

    Raises
    ------
    InvalidParameterError
        No results, an object that is not reportable, or a path not ending in .html.

    Notes
    -----
    The page opens with a summary: what was run and what it cost, the verdicts
    (convergence, surrogate quality, reliability of the indices) and the key
    findings. Each section then shows figures first (vector outputs over their
    axis, e.g. time in ms, with bands); its full tables are in closed ``<details>``
    blocks and in the JSON. Figures are inline base64 PNG and the CSS is inline:
    the page needs no network.
    Every user string (names, titles, messages) is HTML-escaped. Numeric cells carry
    their exact value in a ``data-value`` attribute. The versions of Python, uqkit and
    its dependencies close the page. A figure that cannot be drawn is replaced by a
    note saying why, never silently dropped.

    Examples
    --------
    >>> import uqkit, tempfile, os
    >>> model, params, _ = uqkit.examples.ishigami()
    >>> res = uqkit.sobol(model, params, n=256, rng=0)
    >>> out = uqkit.report(params, model, res, {"seed": 0},
    ...                    path=os.path.join(tempfile.mkdtemp(), "report.html"))
    >>> out.endswith("report.html")
    True
    """
    if title is not None and not isinstance(title, str):
        fail("report", "title", "a string or None", title)
    if not isinstance(path, (str, os.PathLike)):
        fail("report", "path", "a file path ending in .html", path)
    doc = build_document(*results, title=title, truth=truth)
    return write_document(doc, path)[0]
