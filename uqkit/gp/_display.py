"""Text, HTML, matplotlib and report views of a :class:`GaussianProcess` (pure formatters)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["text_repr", "html_repr", "plot", "report_section"]

_MAX_ROWS = 8


def _summary(gp) -> str:
    n_in, n_out = len(gp.inputs), len(gp.outputs)
    comps = gp.info.get("components", {})
    pcs = "".join(f", {g}: {c['kept']} of {c['columns']} principal components"
                  for g, c in comps.items())
    return (f"{n_in} input{'s' * (n_in != 1)} -> {n_out} output{'s' * (n_out != 1)}, "
            f"kernel={gp.kernel!r}, mean={gp.mean!r}, n_evaluations={gp.n_evaluations}"
            + (f", n_failed={gp.n_failed}" if gp.n_failed else "") + pcs)


def _rows(gp) -> list[tuple[str, float]]:
    loo = gp.loo_error
    return [(o, float(loo[o])) for o in gp.outputs]


def text_repr(gp) -> str:
    lines = [f"GaussianProcess({_summary(gp)})"]
    rows = _rows(gp)
    width = max(len(r[0]) for r in rows[:_MAX_ROWS])
    for name, loo in rows[:_MAX_ROWS]:
        lines.append(f"  {name.ljust(width)}  LOO error={loo:.2e}")
    if len(rows) > _MAX_ROWS:
        lines.append(f"  ... {len(rows) - _MAX_ROWS} more outputs")
    return "\n".join(lines)


def html_repr(gp) -> str:
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{loo:.2e}</td></tr>"
                   for name, loo in _rows(gp)[:50])
    more = len(gp.outputs) - 50
    tail = f"<p>... {more} more outputs</p>" if more > 0 else ""
    return ("<div class='uqkit-gp'>"
            f"<p><b>GaussianProcess</b> {html.escape(_summary(gp))}</p>"
            "<table><thead><tr><th>output</th><th>LOO error</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{tail}</div>")


def plot(gp, output: str | None, *, X: Any = None, Y: Any = None, axes=None):
    import matplotlib.pyplot as plt

    from uqkit._validation import as_2d_float, fail

    outputs = list(gp.outputs)
    output = outputs[0] if output is None else output
    if output not in outputs:
        fail("GaussianProcess.plot", "output", "one of " + ", ".join(map(repr, outputs[:10])),
             output)
    j = outputs.index(output)
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes = np.asarray(axes).ravel()
    ls = gp.lengthscales
    block = next(b for b in gp.blocks if j in b.columns)
    col = f"{block.name}:pc1" if block.is_pca else block.name
    ax = axes[0]
    ax.barh(list(ls.index), 1.0 / ls[col].to_numpy())
    ax.set_xscale("log")
    ax.set_xlabel("1 / lengthscale (unit cube)")
    ax.set_title(f"{col}: input relevance")
    if axes.size > 1:
        ax = axes[1]
        if X is None:
            truth = gp.Y[:, j]
            res = gp.loo_residuals()[:, j]
            pred, label = truth - res, "leave-one-out"
            sd = None
        else:
            Xa = as_2d_float("GaussianProcess.plot", "X", X, len(gp.inputs))
            truth = as_2d_float("GaussianProcess.plot", "Y", Y, len(outputs))[:, j]
            mean, std = gp.predict(Xa, return_std=True)
            pred, sd, label = mean[:, j], 1.96 * std[:, j], "validation points"
        ax.errorbar(truth, pred, yerr=sd, fmt=".", ms=3, alpha=0.6, lw=0.5, label=label)
        lo, hi = float(np.min(truth)), float(np.max(truth))
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.set_xlabel("model")
        ax.set_ylabel("emulator")
        ax.set_title(f"{output}: predicted vs true")
        ax.legend(loc="best")
    return axes


def report_section(gp, label: str):
    from uqkit.reports._document import Section

    s = Section(f"Gaussian-process emulator{label}", "gp")
    s.facts({"kernel": gp.kernel, "mean": gp.mean, "inputs": len(gp.inputs),
             "outputs": len(gp.outputs), "model evaluations": gp.n_evaluations,
             "failed evaluations": gp.n_failed, "design points": int(gp.X.shape[0])})
    for group, c in gp.info.get("components", {}).items():
        s.text(f"Vector output {group!r}: {c['kept']} of {c['columns']} principal components "
               f"kept ({100 * c['explained']:.4f} % of the variance).")
    loo = gp.loo_error
    worst = float(np.nanmax(loo.to_numpy())) if len(loo) else np.nan
    s.verdict(bool(worst <= 0.1), f"largest relative leave-one-out error {worst:.2e} "
              + ("(<= 0.1)" if worst <= 0.1 else "(> 0.1: add runs or change the kernel)"))
    if len(gp.outputs) <= 50:
        s.table("Leave-one-out error (closed form)", pd.DataFrame({"LOO error": loo}))
    s.table("Hyperparameters (lengthscales on the unit cube)", gp.to_dataframe())
    history = gp.info.get("history")
    if history:
        s.table("Adaptive design", pd.DataFrame(history))
    s.figure(gp.plot, "Input relevance and leave-one-out predictions")
    return s
