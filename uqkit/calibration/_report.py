"""HTML views of a posterior: the notebook table and the self-contained report file."""

from __future__ import annotations

import base64
import html
import io
import os
from typing import Any

import numpy as np

__all__ = ["posterior_html_table", "write_report"]

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}
table.uqkit-posterior{border-collapse:collapse;font-size:0.9em}
table.uqkit-posterior td,table.uqkit-posterior th{border:1px solid #ccc;padding:3px 8px;
text-align:right}
.uqkit-warn{background:#fde2e2;border:1px solid #c33;padding:6px 10px;margin:6px 0}
.uqkit-ok{background:#e3f5e1;border:1px solid #393;padding:6px 10px;margin:6px 0}
"""


def _status(post: Any) -> str:
    from ._posterior import _MODE_LABEL
    parts = []
    if post.mode == "approximate":
        parts.append(f"<div class='uqkit-warn'><b>{html.escape(_MODE_LABEL[post.mode])}</b>"
                     "</div>")
    if not post.has_draws:
        parts.append("<div class='uqkit-warn'><b>No posterior draws</b>: the budget ran out "
                     f"during warm-up ({html.escape(post.stop_reason)}). Raise n_steps or "
                     "max_evaluations.</div>")
    elif post.converged:
        parts.append(f"<div class='uqkit-ok'>Converged: minimum bulk ESS "
                     f"{np.nanmin(post.ess_bulk.values):.0f} &ge; {post.target_ess:g}, "
                     f"max R-hat {np.nanmax(post.r_hat.values):.4f} &lt; 1.01.</div>")
    else:
        parts.append("<div class='uqkit-warn'><b>Not converged</b>: stopped by "
                     f"{html.escape(post.stop_reason)}. Treat the estimates with care; "
                     "run longer (larger budget).</div>")
    if getattr(post, "cut_off", False):
        parts.append(f"<div class='uqkit-warn'><b>Cut off where the model fails</b>: "
                     f"{post.n_failed} model runs failed, some inside the posterior's bulk; "
                     "the samples are the posterior restricted to where the model runs.</div>")
    elif getattr(post, "n_failed", 0):
        parts.append(f"<div class='uqkit-ok'>{post.n_failed} model runs failed: rejected "
                     "proposals away from the posterior's bulk.</div>")
    return "".join(parts)


def posterior_html_table(post: Any) -> str:
    """Status line and summary table (every user string escaped)."""
    from ._posterior import _MODE_LABEL
    summ = post.summary()
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["parameter", *summ.columns])
    rows = "".join(
        "<tr><td style='text-align:left'>" + html.escape(str(name)) + "</td>"
        + "".join(f"<td>{v:.4g}</td>" for v in row) + "</tr>"
        for name, row in zip(summ.index, summ.to_numpy()))
    info = (f"{post.n_walkers} walkers &times; {post.n_draws} draws after "
            f"{post.n_warmup} warm-up steps; {post.n_model_evaluations} model evaluations"
            + (f", {post.n_surrogate_evaluations} surrogate evaluations"
               if post.n_surrogate_evaluations else "")
            + f"; sampler: {html.escape(_MODE_LABEL[post.mode])}")
    return (f"<div class='uqkit-posterior'><b>Posterior</b> &mdash; {info}{_status(post)}"
            f"<table class='uqkit-posterior'><thead><tr>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table></div>")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def write_report(post: Any, path: Any) -> Any:
    """Write the self-contained HTML report: status, summary, figures (inline PNG)."""
    import matplotlib
    import matplotlib.pyplot as plt
    figures = []
    with matplotlib.rc_context({"figure.max_open_warning": 0}):
        for kind, title in (("pair", "Posterior (pair plot)"), ("trace", "Traces"),
                            ("predictive", "Posterior predictive versus data")):
            ax = post.plot(kind)
            fig = np.ravel(ax)[0].figure if isinstance(ax, np.ndarray) else ax.figure
            figures.append((title, _png(fig)))
    plt.close("all")
    body = [f"<h1>Calibration report</h1>{posterior_html_table(post)}"]
    mp = ", ".join(f"{html.escape(k)} {v:.2f}" for k, v in post.move_probabilities.items())
    body.append(f"<p>Acceptance rate {post.acceptance_rate:.3f}; move probabilities: {mp}"
                + (f"; delayed-acceptance sub-chain length {post.subchain_length}"
                   if post.mode == "delayed_acceptance" else "") + ".</p>")
    for title, data in figures:
        body.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
                    f"src='data:image/png;base64,{data}'/>")
    doc = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>uqkit calibration report"
           f"</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>")
    path = os.fspath(path)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(doc)
    return path
