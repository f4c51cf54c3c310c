"""Figures and the HTML variance report of a :class:`SobolResult`."""

from __future__ import annotations

from typing import Any

import numpy as np

from uqkit._errors import InvalidParameterError
from uqkit.models import output_groups

__all__ = ["plot_sobol"]


def _axes(ax: Any, figsize=(6.4, 3.6)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_sobol(res: Any, output: Any = None, *, ax: Any = None, x: Any = None,
               xlabel: str | None = None):
    """Bars with intervals for a scalar output; indices over the series for a vector.

    ``x`` and ``xlabel`` give a series' axis (e.g. times in ms); by default the
    result's ``info["axes"][group]`` if the analysis recorded one, else the position.
    """
    groups = output_groups(list(res.first.columns))
    if output is None:
        vec = [g for g, c in groups.items() if len(c) > 1]
        output = vec[0] if vec else res.first.columns[0]
    if output in res.first.columns:
        return _bars(res, output, ax)
    if output in groups:
        columns = [res.first.columns[j] for j in groups[output]]
        axis = (res.info.get("axes") or {}).get(output) or {}
        if x is None:
            x, xlabel = axis.get("values"), xlabel or axis.get("label")
        if x is None or len(x) != len(columns):
            x, xlabel = np.arange(len(columns)), xlabel or f"{output} index"
        return _lines(res, columns, output, np.asarray(x, dtype=float), xlabel, ax)
    raise InvalidParameterError(
        f"The 'output' parameter of SobolResult.plot must be an output or a vector-output "
        f"group ({list(groups)}). Got {output!r} instead.")


def _err(values, ci, output):
    if ci is None:
        return None
    lo = np.clip(values - ci["low"][output].to_numpy(), 0, None)
    hi = np.clip(ci["high"][output].to_numpy() - values, 0, None)
    return np.vstack([lo, hi])


def _bars(res, output, ax):
    ax = _axes(ax, figsize=(5.6, 3.2))
    names = [str(i) for i in res.first.index]
    x = np.arange(len(names))
    w = 0.38
    s1 = res.first[output].to_numpy()
    st = res.total[output].to_numpy()
    ax.bar(x - w / 2, s1, w, yerr=_err(s1, res.first_ci, output), capsize=3, label="first order")
    ax.bar(x + w / 2, st, w, yerr=_err(st, res.total_ci, output), capsize=3, label="total order")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=45 if len(names) > 8 else 0)
    ax.set_ylabel("Sobol' index")
    ax.set_title(f"{output}" + (f" ({res.confidence:.0%} intervals)" if res.confidence else ""))
    ax.axhline(0, color="k", lw=0.5)
    _keep_unit_range(ax, np.concatenate([s1, st]), np.concatenate([x - w / 2, x + w / 2]))
    ax.legend(frameon=False)
    return ax


def _keep_unit_range(ax, values, x=None) -> None:
    """Keep the y-axis on [0, 1] (a little margin) and mark values outside it."""
    ax.set_ylim(-0.05, 1.08)
    if x is None:
        return
    values = np.asarray(values, dtype=float)
    xs = np.asarray(x, dtype=float)
    for mask, y, marker in ((values > 1.0 + 1e-9, 1.04, "^"), (values < -0.05, -0.03, "v")):
        if mask.any():
            ax.plot(xs[mask], np.full(mask.sum(), y), marker, color="crimson", ms=6,
                    ls="none", label="outside [0, 1]" if marker == "^" else None)


def _lines(res, columns, group, t, xlabel, ax):
    import matplotlib.pyplot as plt

    ax = _axes(ax, figsize=(7.2, 3.8))
    colors = plt.get_cmap("tab10" if len(res.first.index) <= 10 else "tab20")
    outside = np.zeros(len(columns), dtype=bool)
    flagged = np.zeros(len(columns), dtype=bool)
    for k, name in enumerate(res.first.index):
        c = colors(k % colors.N)
        s1 = res.first.loc[name, columns].to_numpy(dtype=float)
        st = res.total.loc[name, columns].to_numpy(dtype=float)
        ax.plot(t, np.clip(s1, -0.05, 1.08), color=c, label=f"{name}")
        ax.plot(t, np.clip(st, -0.05, 1.08), color=c, ls="--")
        outside |= (s1 > 1 + 1e-9) | (st > 1 + 1e-9) | (s1 < -0.05) | (st < -0.05)
        for ci in (res.first_ci, res.total_ci):
            if ci is not None:  # (no band where the interval covers more than [0, 1])
                lo = ci["low"].loc[name, columns].to_numpy(dtype=float)
                hi = ci["high"].loc[name, columns].to_numpy(dtype=float)
                wide = hi - lo > 1.0
                ax.fill_between(t, np.where(wide, np.nan, np.clip(lo, 0, 1)),
                                np.where(wide, np.nan, np.clip(hi, 0, 1)),
                                color=c, alpha=0.12, lw=0)
        if res.unreliable is not None:
            flagged |= res.unreliable.loc[name, columns].to_numpy(dtype=bool)
    ax.set_ylim(-0.05, 1.08)
    undefined = np.isnan(res.total[columns].to_numpy(dtype=float)).all(axis=0)
    if undefined.any():
        ax.plot(t[undefined], np.zeros(undefined.sum()), "x", color="0.4", ls="none",
                label="undefined (no variance)")
    if (flagged & ~undefined).any():
        ax.plot(t[flagged & ~undefined], np.full((flagged & ~undefined).sum(), 1.02), "o",
                mfc="none", color="0.3", ls="none", label="unreliable (interval > [0, 1])")
    if (outside & ~undefined).any():
        ax.plot(t[outside & ~undefined], np.full((outside & ~undefined).sum(), 1.06), "^",
                color="crimson", ls="none", label="estimate outside [0, 1]")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Sobol' index")
    ax.set_title(f"{group}: first (solid) and total (dashed) order")
    ax.legend(frameon=False, fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    return ax
