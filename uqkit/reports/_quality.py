"""Report sections of a polynomial chaos surrogate and of its validation table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._common import Context, info_of, simple, split_facts
from ._document import Section

__all__ = ["pce_section", "validation_section", "quality_verdict"]


def quality_verdict(s: Section, outputs: list[str], q2: np.ndarray, variance: Any,
                    source: str) -> list[str]:
    """A pass/fail verdict on the surrogate's Q2; returns the poor outputs."""
    from ..pce._quality import Q2_THRESHOLD, describe, judged, poor_outputs

    q2 = np.asarray(q2, dtype=float)
    if not np.isfinite(q2).any():
        s.text(f"No {source} Q2 is available for this surrogate.")
        return []
    bad = poor_outputs(outputs, q2, variance)
    if bad:
        index = [outputs.index(o) for o in bad]
        shown = ", ".join(bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")
        s.verdict(False, "POOR SURROGATE: " + describe(bad, q2[index], source),
                  f"poor surrogate ({source} Q2 < {Q2_THRESHOLD}) for {len(bad)} of "
                  f"{len(outputs)} outputs: {shown}; see the section for remedies.")
    else:
        ok = judged(outputs, variance) & np.isfinite(q2)
        worst = ""
        if ok.any():
            j = int(np.flatnonzero(ok)[np.argmin(q2[ok])])
            worst = f" (lowest: {outputs[j]}, {q2[j]:.3f})"
        s.verdict(True, f"surrogate quality: {source} Q2 >= {Q2_THRESHOLD} for every output "
                  f"that varies{worst}.")
    return bad


def pce_section(p: Any, label: str, ctx: Context) -> Section:
    from ..models import output_groups

    s = Section(f"Polynomial chaos surrogate{label}", "pce")
    outputs = [str(o) for o in p.outputs]
    q2 = 1.0 - np.asarray(p.loo_error, dtype=float)
    # judged against the variance of the runs (a poor fit may keep only the constant term)
    Y = getattr(p, "Y", None)
    variance = (np.var(np.asarray(Y, dtype=float), axis=0) if Y is not None and len(Y) > 1
                else np.asarray(p.variance, dtype=float))
    bad = quality_verdict(s, outputs, q2, variance, "leave-one-out")
    split_facts(s, {"method": p.method, "terms": int(p.n_terms),
                    "max degree": int(np.asarray(p.multi_indices).sum(axis=1).max()),
                    "model evaluations": p.n_evaluations, "failed evaluations": p.n_failed},
                info_of(p))
    mom = pd.DataFrame({"mean": p.mean, "std": p.std, "LOO Q2": q2}, index=p.mean.index)
    if getattr(p, "degree", None) is not None:
        mom["degree"] = p.degree
    mom.index.name = "output"
    full = pd.DataFrame({"mean": p.mean, "std": p.std, "variance": p.variance,
                         "LOO error": p.loo_error, "LOO Q2": q2}, index=p.mean.index)
    if getattr(p, "degree", None) is not None:
        full["degree"] = p.degree
    full.index.name = "output"
    groups = output_groups(outputs)
    scalars = [outputs[c[0]] for c in groups.values() if len(c) == 1]
    if scalars:
        s.table("Moments and leave-one-out Q2 of the scalar outputs", mom.loc[scalars])
    for g, cols in groups.items():
        if len(cols) > 1:
            _series_figure(s, p, g, cols, q2, ctx)
    s.finding(f"Polynomial chaos: {int(p.n_terms)} terms from {p.n_evaluations} runs; "
              + (f"{len(bad)} output(s) poorly predicted (Q2 < 0.9)." if bad else
                 "every varying output predicted with leave-one-out Q2 >= 0.9."))
    s.table("Moments and validation error (corrected leave-one-out)", full, collapsed=True)
    try:
        sob = p.sobol()
        idx = pd.concat({"first": sob.first.T, "total": sob.total.T}, axis=1)
        idx.index.name = "output"
        s.table("Sobol' indices from the coefficients", idx, collapsed=True)
    except Exception as exc:  # report why the indices are missing
        s.text(f"Sobol' indices from the coefficients unavailable: {exc}")
    first = scalars[0] if scalars else outputs[0]
    s.figure(lambda: p.plot(first), f"Coefficient spectrum and fit of {first} on the design",
             alt=f"Coefficient magnitudes by degree and predicted against model values of "
                 f"{first}", collapsed=True)
    return s


def _series_figure(s: Section, p: Any, g: str, cols: list[int], q2: np.ndarray,
                   ctx: Context) -> None:
    from ..pce._quality import Q2_THRESHOLD
    from ._figures import series_band

    axis = ctx.axis(p, g)
    x = np.asarray(axis.get("values", np.arange(len(cols))), dtype=float)
    if x.size != len(cols):
        x, axis = np.arange(len(cols), dtype=float), {}
    xlabel = axis.get("label", f"{g} index")
    # the surrogate is cheap: its quantiles over the input distribution draw the band
    Y = np.asarray(p(p.parameters.sample(2000, rng=0)), dtype=float)[:, cols]
    bands = np.quantile(Y, [0.05, 0.5, 0.95], axis=0)
    s.figure(lambda: series_band(x, xlabel, bands, q2[cols], g, Q2_THRESHOLD),
             f"{g} over {xlabel}: median and 90 % band of the surrogate over the input "
             f"distribution (top), and its leave-one-out Q2 (bottom; dashed: {Q2_THRESHOLD}).",
             alt=f"Median and 90 % band of {g} over {xlabel}, and the surrogate's Q2 at "
                 "each point")


def validation_section(df: pd.DataFrame, title: str, ctx: Context) -> Section:
    """A ``PolynomialChaos.validate`` table: verdict, Q2 along series, full table closed."""
    from ..models import output_groups

    s = Section(title, "table")
    outputs = [str(o) for o in df.index]
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = df["rmse"].to_numpy(dtype=float) / df["relative_error"].to_numpy(dtype=float)
    quality_verdict(s, outputs, df["q2"].to_numpy(dtype=float), sd**2, "validation")
    groups = output_groups(outputs)
    scalars = [outputs[c[0]] for c in groups.values() if len(c) == 1]
    if scalars and len(scalars) < len(outputs):
        s.table("Validation of the scalar outputs", df.loc[scalars])
    s.table(title, df, collapsed=len(df) > 15)
    info = simple(df.attrs)
    info.pop("title", None)
    if info:
        s.facts(info, "details", collapsed=True)
    return s
