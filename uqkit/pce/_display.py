"""Text, HTML and matplotlib views of a :class:`PolynomialChaos` (pure formatters)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["text_repr", "html_repr", "plot"]

_MAX_ROWS = 8


def _summary(pce) -> str:
    n_in, n_out = len(pce.inputs), len(pce.outputs)
    return (f"{n_in} input{'s' * (n_in != 1)} -> {n_out} output{'s' * (n_out != 1)}, "
            f"method={pce.method!r}, {pce.n_terms} terms "
            f"(max degree {int(pce.multi_indices.sum(axis=1).max())}), "
            f"n_evaluations={pce.n_evaluations}"
            + (f", n_failed={pce.n_failed}" if pce.n_failed else ""))


def _rows(pce) -> list[tuple[str, float, float, float]]:
    mean, std, loo = pce.mean, pce.std, pce.loo_error
    return [(o, float(mean[o]), float(std[o]), float(loo[o])) for o in pce.outputs]


def text_repr(pce) -> str:
    lines = [f"PolynomialChaos({_summary(pce)})"]
    rows = _rows(pce)
    width = max(len(r[0]) for r in rows[:_MAX_ROWS])
    for name, mean, std, loo in rows[:_MAX_ROWS]:
        lines.append(f"  {name.ljust(width)}  mean={mean:.6g}  std={std:.6g}  LOO error={loo:.2e}")
    if len(rows) > _MAX_ROWS:
        lines.append(f"  ... {len(rows) - _MAX_ROWS} more outputs")
    return "\n".join(lines)


def html_repr(pce) -> str:
    import pandas as pd

    from uqkit.reports._repr import card

    rows = _rows(pce)
    df = pd.DataFrame({"mean": [r[1] for r in rows], "std": [r[2] for r in rows],
                       "LOO error": [r[3] for r in rows]},
                      index=pd.Index([r[0] for r in rows], name="output"))
    return card("PolynomialChaos", _summary(pce), tables=[("", df)], kind="pce")


def plot(pce, output: str | None, *, X: Any = None, Y: Any = None, axes=None):
    import matplotlib.pyplot as plt

    from uqkit._validation import as_2d_float, fail

    outputs = list(pce.outputs)
    if output is None:
        output = outputs[0]
    if output not in outputs:
        fail("PolynomialChaos.plot", "output", "one of " + ", ".join(map(repr, outputs[:10])),
             output)
    j = outputs.index(output)
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes = np.asarray(axes).ravel()
    ax = axes[0]
    coef = pce.coefficients[:, j]
    degree = pce.multi_indices.sum(axis=1)
    nz = coef != 0
    ax.semilogy(np.flatnonzero(nz), np.abs(coef[nz]) + 1e-300, ".", ms=4)
    ax.set_xlabel("term (sorted by total degree)")
    ax.set_ylabel("|coefficient|")
    ax.set_title(f"{output}: {int(nz.sum())} non-zero terms, degree <= {int(degree[nz].max())}")
    ax = axes[1] if axes.size > 1 else None
    if ax is not None:
        label = "validation points"
        if X is None:
            X, Y, label = pce.X, pce.Y, "training design"
        if X is not None and Y is not None:
            Xa = as_2d_float("PolynomialChaos.plot", "X", X, len(pce.inputs))
            Ya = as_2d_float("PolynomialChaos.plot", "Y", Y, len(outputs))
            yhat = pce(Xa)[:, j]
            ax.plot(Ya[:, j], yhat, ".", ms=3, alpha=0.6, label=label)
            lo, hi = float(np.min(Ya[:, j])), float(np.max(Ya[:, j]))
            ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
            ax.legend(loc="best")
        ax.set_xlabel("model")
        ax.set_ylabel("expansion")
        ax.set_title("predicted vs true")
    return axes
