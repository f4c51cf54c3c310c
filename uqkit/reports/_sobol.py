"""The report section of a Sobol' result: figures first, full tables collapsed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._common import Context, info_of, seeds_of, split_facts
from ._document import Section

__all__ = ["sobol_section", "top_inputs", "variance_shares"]


def top_inputs(total: pd.Series, k: int = 3) -> str:
    """``"a (0.44), k (0.30), mu1 (0.22)"``: the inputs with the largest indices."""
    top = total.dropna().sort_values(ascending=False).head(k)
    return ", ".join(f"{name} ({value:.2f})" for name, value in top.items())


def sobol_section(r: Any, label: str, ctx: Context) -> Section:
    from ..models import output_groups
    from ._figures import sobol_bars

    info = info_of(r)
    estimators = info.get("estimators") or {}
    if isinstance(estimators, dict) and estimators:
        info["estimators"] = "; ".join(f"{k}: {v}" for k, v in estimators.items())
    if "n_dropped_blocks" in info:
        info["dropped base samples (whole A/B/AB blocks)"] = info.pop("n_dropped_blocks")
    s = Section(f"Sobol' indices{label}", "sobol")
    split_facts(s, {"method": getattr(r, "method", ""),
                    "base samples (n)": getattr(r, "n_samples", None),
                    "model evaluations": getattr(r, "n_evaluations", None),
                    "failed evaluations": getattr(r, "n_failed", None),
                    "confidence": getattr(r, "confidence", None), "seed": seeds_of(r)}, info)
    first, total = r.first, r.total
    groups = output_groups(list(first.columns))
    scalars = [first.columns[c[0]] for c in groups.values() if len(c) == 1]
    series = {g: [first.columns[j] for j in c] for g, c in groups.items() if len(c) > 1}
    if scalars:
        level = f" with {r.confidence:.0%} intervals" if getattr(r, "confidence", None) else ""
        s.figure(lambda: sobol_bars(r, scalars),
                 f"First-order (blue) and total (orange) Sobol' indices{level}.",
                 alt="Bar charts of first and total Sobol' indices by input for "
                     + ", ".join(map(str, scalars)))
        for out in scalars:
            s.finding(f"{out}: the largest total indices are {top_inputs(total[out])}.")
    for g in series:
        axis = ctx.axis(r, g)
        s.figure(lambda g=g, axis=axis: r.plot(g, x=axis.get("values"),
                                               xlabel=axis.get("label")),
                 f"Indices of {g} along {axis.get('label', 'the series')}: first order solid, "
                 "total dashed, bands the intervals; gaps where the output does not vary.",
                 alt=f"Line plot of the Sobol' indices of {g} over "
                     f"{axis.get('label', 'its index')} for each input")
    _series_notes(s, r, series)
    _tables(s, r, scalars, series, ctx)
    return s


def _series_notes(s: Section, r: Any, series: dict[str, list]) -> None:
    agg = getattr(r, "aggregated_total", None)
    for g in series:
        if agg is not None and g in agg.columns:
            s.finding(f"{g} (variance-weighted over the series): the largest total indices "
                      f"are {top_inputs(agg[g])}.")
    undefined = list(info_of(r).get("undefined_outputs") or [])
    if undefined:
        s.text(f"{len(undefined)} output(s) hardly vary (variance at most 1e-4 of the largest "
               f"of their series): their indices are undefined and left blank ("
               + ", ".join(map(str, undefined[:6])) + (" ..." if len(undefined) > 6 else "")
               + ").")
    unreliable = getattr(r, "unreliable", None)
    if unreliable is not None and unreliable.to_numpy().any():
        n = int(unreliable.to_numpy().sum())
        outs = [c for c in unreliable.columns if unreliable[c].any()]
        shown = ", ".join(map(str, outs[:4])) + (f" and {len(outs) - 4} more"
                                                 if len(outs) > 4 else "")
        s.verdict(False, f"{n} index estimate(s) of {len(outs)} output(s) have intervals wider "
                  f"than the index range [0, 1] and say nothing ({shown}). More base samples "
                  "narrow them.",
                  f"{n} unreliable index estimate(s) (interval wider than [0, 1]) in "
                  f"{len(outs)} output(s): {shown}.")


def _tables(s: Section, r: Any, scalars: list, series: dict[str, list], ctx: Context) -> None:
    first, total = r.first, r.total
    for out in scalars:
        table = pd.DataFrame({"first": first[out], "total": total[out]})
        for order, ci in (("first", getattr(r, "first_ci", None)),
                          ("total", getattr(r, "total_ci", None))):
            if ci is not None:
                table[f"{order} low"] = ci["low"][out]
                table[f"{order} high"] = ci["high"][out]
        unreliable = getattr(r, "unreliable", None)
        if unreliable is not None:
            table["unreliable"] = np.where(unreliable[out].to_numpy(bool), "yes", "no")
        table.index.name = "input"
        s.table(f"Indices of {out}", table, collapsed=True)
    for g, names in series.items():
        per_t = pd.concat({"first": first[names].T, "total": total[names].T}, axis=1)
        per_t.index.name = "output"
        axis = ctx.axis(r, g)
        if axis.get("values") is not None and len(axis["values"]) == len(names):
            per_t.insert(0, (axis.get("label", "axis"), ""), np.asarray(axis["values"]))
        s.table(f"Indices of {g} at each point of the series", per_t, collapsed=True)
    agg_f, agg_t = getattr(r, "aggregated_first", None), getattr(r, "aggregated_total", None)
    if agg_f is not None and agg_t is not None:
        agg = pd.concat({"first": agg_f, "total": agg_t}, axis=1)
        agg.index.name = "input"
        s.table("Aggregated (variance-weighted) indices of vector outputs", agg, collapsed=True)
    second = getattr(r, "second", None)
    if second is not None:
        s.table("Second-order indices", second, collapsed=True)
    mean, var = getattr(r, "mean", None), getattr(r, "variance", None)
    if mean is not None and var is not None:
        mv = pd.DataFrame({"mean": mean, "variance": var})
        mv.index.name = "output"
        s.table("Output mean and variance", mv, collapsed=True)
    shares = variance_shares(r)
    if len(shares):
        s.table("Variance shares", shares, collapsed=True,
                note="First-order indices are the shares of the output variance explained by "
                     "each input alone; 1 - their sum is the share of interactions.")


def variance_shares(res) -> pd.DataFrame:
    """First-order sum, interactions and total sum of each output (or series)."""
    from ..models import output_groups

    rows = {}
    groups = output_groups(list(res.first.columns))
    for g, cols in groups.items():
        if len(cols) == 1:
            out = res.first.columns[cols[0]]
            s1, st = res.first[out], res.total[out]
            mean = None if res.mean is None else res.mean[out]
            var = None if res.variance is None else res.variance[out]
        elif res.aggregated_first is not None and g in res.aggregated_first.columns:
            s1, st = res.aggregated_first[g], res.aggregated_total[g]
            mean = None
            var = None if res.variance is None else res.variance.iloc[cols].sum()
        else:
            continue
        rows[g] = {"mean": mean, "variance": var, "sum of first-order": s1.sum(),
                   "interactions (1 - sum of first)": 1 - s1.sum(), "sum of total": st.sum()}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "output"
    return frame
