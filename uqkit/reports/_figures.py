"""Figures drawn for reports: several outputs side by side, series over their axis.

Each function returns a matplotlib figure sized for a 1100 px page column; the
caller closes it (:func:`uqkit.reports._document.figure_block`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["sobol_bars", "series_band", "marginals", "predictive"]


def _grid(n: int, per_row: int, size: tuple[float, float]):
    import matplotlib.pyplot as plt

    cols = min(n, per_row)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows),
                             squeeze=False, layout="constrained")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def sobol_bars(res: Any, outputs: Sequence[str]):
    """First and total indices of several scalar outputs, one panel each."""
    fig, axes = _grid(len(outputs), 3, (4.0, 3.0))
    for ax, out in zip(axes, outputs):
        res.plot(out, ax=ax)
        ax.set_title(str(out), fontsize=10)
        if ax is not axes[0]:
            ax.set_ylabel("")
            leg = ax.get_legend()
            if leg is not None:
                leg.remove()
    return fig


def series_band(x: np.ndarray, xlabel: str, bands: np.ndarray, q2: np.ndarray | None,
                group: str, threshold: float):
    """A series' median and 90 % band (``bands``: 5 %, 50 %, 95 % rows), and its Q2."""
    import matplotlib.pyplot as plt

    rows = 2 if q2 is not None else 1
    fig, axes = plt.subplots(rows, 1, figsize=(7.0, 1.9 * rows + 0.5), sharex=True,
                             squeeze=False, layout="constrained")
    ax = axes[0, 0]
    ax.fill_between(x, bands[0], bands[2], color="C0", alpha=0.25, lw=0, label="90 % band")
    ax.plot(x, bands[1], color="C0", label="median")
    ax.set_ylabel(group)
    ax.legend(frameon=False, fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    if q2 is not None:
        ax2 = axes[1, 0]
        ax2.plot(x, np.clip(q2, -0.5, 1.0), "o-", ms=3, color="C2", label="Q2")
        low = q2 < -0.5
        if low.any():
            ax2.plot(x[low], np.full(low.sum(), -0.5), "v", color="crimson",
                     label="below -0.5")
        ax2.axhline(threshold, color="crimson", lw=0.8, ls="--", label=f"{threshold}")
        ax2.set_ylim(-0.55, 1.05)
        ax2.set_ylabel("Q2 (LOO)")
        ax2.legend(frameon=False, fontsize="small", loc="center left",
                   bbox_to_anchor=(1.01, 0.5))
    axes[-1, 0].set_xlabel(xlabel)
    return fig


def marginals(samples: pd.DataFrame, prior: Any, truth: Mapping[str, float] | None):
    """Prior density and posterior histogram of every parameter, with the truth if known."""
    names = list(samples.columns)
    fig, axes = _grid(len(names), 4, (2.9, 2.3))
    for ax, name in zip(axes, names):
        x = samples[name].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        ax.hist(x, bins=40, density=True, color="C0", alpha=0.6, label="posterior")
        dist = _dist(prior, name)
        if dist is not None:
            lo, hi = np.quantile(x, [0.001, 0.999]) if x.size else (0.0, 1.0)
            plo, phi = (float(v) for v in dist.ppf(np.array([0.005, 0.995])))
            grid = np.linspace(min(lo, plo), max(hi, phi), 300)
            ax.plot(grid, dist.pdf(grid), color="0.35", lw=1.2, label="prior")
        if truth and name in truth:
            ax.axvline(float(truth[name]), color="crimson", lw=1.2, label="truth")
        ax.set_title(str(name), fontsize=10)
        ax.set_yticks([])
    axes[0].legend(frameon=False, fontsize="x-small")
    return fig


def _dist(prior: Any, name: str) -> Any:
    try:
        return prior[name]
    except (KeyError, TypeError, IndexError):
        return None


def predictive(pred: pd.DataFrame, groups: Mapping[str, list[int]],
               axes_of: Mapping[str, Mapping[str, Any]]):
    """Posterior predictive per output on its own axis: data as points, bands for series."""
    fig, axes = _grid(len(groups), 3, (3.6, 2.8))
    for ax, (g, cols) in zip(axes, groups.items()):
        part = pred.iloc[cols]
        if len(cols) == 1:
            row = part.iloc[0]
            mean = float(row["mean"])
            if np.isfinite(row.get("lower_obs", np.nan)):
                ax.errorbar([-0.2], [mean], yerr=[[mean - row["lower_obs"]],
                                                  [row["upper_obs"] - mean]],
                            fmt="none", ecolor="C0", alpha=0.35, lw=8, label="with noise")
            band = ([[mean - row["lower"]], [row["upper"] - mean]]
                    if np.isfinite(row.get("lower", np.nan)) else None)
            ax.errorbar([-0.2], [mean], yerr=band, fmt="s", color="C0", capsize=5,
                        label="model")
            if np.isfinite(row.get("observed", np.nan)):
                ax.plot([0.2], [row["observed"]], "o", color="k", label="data", zorder=3)
            ax.set_xticks([])
            ax.set_xlim(-1, 1)
        else:
            axis = axes_of.get(g) or {}
            x = np.asarray(axis.get("values", np.arange(len(cols))), dtype=float)
            if "lower" in part and "upper" in part:
                ax.fill_between(x, part["lower"].to_numpy(float), part["upper"].to_numpy(float),
                                color="C0", alpha=0.3, lw=0, label="model band")
            ax.plot(x, part["mean"], color="C0", label="model mean")
            if "observed" in part:
                ax.plot(x, part["observed"], "o", color="k", ms=3, label="data")
            ax.set_xlabel(axis.get("label", f"{g} index"))
        ax.set_title(str(g), fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels),
                   frameon=False, fontsize="small")
    return fig
