"""Result type of every Sobol' analysis (Monte Carlo and polynomial chaos alike)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SobolResult"]

#: An output whose variance is at most this fraction of the largest variance of its
#: series (or zero, for a scalar) has undefined indices: the ratio of two estimates
#: near zero is noise.
NEGLIGIBLE_VARIANCE = 1e-4


@dataclass(frozen=True, repr=False)
class SobolResult:
    """Sobol' sensitivity indices of one or more outputs.

    Conventions (shared by ``uqkit.sobol`` and ``PolynomialChaos.sobol``):

    - ``first``, ``total``: DataFrames, index = input names, columns = output names.
    - ``second``: DataFrame, index = MultiIndex of input pairs ``(i, j)`` with i before j,
      columns = output names; ``None`` unless requested.
    - ``first_ci``, ``total_ci``, ``second_ci``: DataFrames with MultiIndex columns
      ``(bound, output)``, bound in ``("low", "high")``, so ``first_ci["low"]`` has the
      shape of ``first``; ``None`` when not computed (e.g. exact PCE indices).
    - ``aggregated_first``, ``aggregated_total``: generalised indices of vector outputs
      (Gamboa et al. 2014 variance-weighted), index = input names, columns = output
      group names (``"V"`` for columns ``V[0]..V[k]``); ``None`` without vector outputs.
    - ``mean``, ``variance``: Series by output name.
    - ``info``: stopping reason, dropped blocks, seed, estimator names, and such.
    - ``first_se``, ``total_se``: bootstrap standard errors (shape of ``first``), and
      ``aggregated_first_ci``, ``aggregated_total_ci`` (like ``first_ci``); ``None``
      when not computed.
    - Undefined indices are NaN: an output whose variance is negligible (at most
      ``NEGLIGIBLE_VARIANCE`` = 1e-4 of the largest variance of its series, or zero)
      has no variance to share out; ``info["undefined_outputs"]`` lists them.
    - ``unreliable``: booleans with the shape of ``first``, True where the first- or
      total-order interval is wider than the index range [0, 1] (the estimate says
      nothing); ``None`` without intervals.
    """

    first: pd.DataFrame
    total: pd.DataFrame
    second: pd.DataFrame | None = None
    first_ci: pd.DataFrame | None = None
    total_ci: pd.DataFrame | None = None
    second_ci: pd.DataFrame | None = None
    aggregated_first: pd.DataFrame | None = None
    aggregated_total: pd.DataFrame | None = None
    mean: pd.Series | None = None
    variance: pd.Series | None = None
    n_evaluations: int = 0
    n_failed: int = 0
    n_samples: int | None = None
    method: str = ""
    confidence: float | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    first_se: pd.DataFrame | None = None
    total_se: pd.DataFrame | None = None
    aggregated_first_ci: pd.DataFrame | None = None
    aggregated_total_ci: pd.DataFrame | None = None
    unreliable: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        undefined = _negligible_outputs(self.first.columns, self.variance)
        if undefined:
            for name in ("first", "total", "second", "first_ci", "total_ci", "second_ci",
                         "first_se", "total_se"):
                frame = getattr(self, name)
                if frame is not None:
                    object.__setattr__(self, name, _blank(frame, undefined))
            object.__setattr__(self, "info", {**self.info, "undefined_outputs": undefined})
        if self.unreliable is None and (self.first_ci is not None or self.total_ci is not None):
            wide = pd.DataFrame(False, index=self.first.index, columns=self.first.columns)
            for ci in (self.first_ci, self.total_ci):
                if ci is not None:
                    wide |= (ci["high"] - ci["low"]).to_numpy() > 1.0
            object.__setattr__(self, "unreliable", wide)

    # -- tables ------------------------------------------------------------------
    def to_dataframe(self) -> pd.DataFrame:
        """Long format: one row per (order, input(s), output) with value, CI and SE.

        Columns: ``order`` (``"first"``, ``"total"``, ``"second"``,
        ``"aggregated_first"``, ``"aggregated_total"``), ``input``, ``input_j``
        (second order only), ``output``, ``value``, ``low``, ``high``, ``se``.
        """
        parts = []
        specs = [("first", self.first, self.first_ci, self.first_se),
                 ("total", self.total, self.total_ci, self.total_se),
                 ("second", self.second, self.second_ci, None),
                 ("aggregated_first", self.aggregated_first, self.aggregated_first_ci, None),
                 ("aggregated_total", self.aggregated_total, self.aggregated_total_ci, None)]
        for order, values, ci, se in specs:
            if values is None:
                continue
            long = _long(values, "value")
            for name, frame in (("low", None if ci is None else ci["low"]),
                                ("high", None if ci is None else ci["high"]), ("se", se)):
                long[name] = np.nan if frame is None else _long(frame, name)[name].to_numpy()
            if order == "second":
                long = long.rename(columns={"input_i": "input"})
            else:
                long.insert(1, "input_j", None)
            long.insert(0, "order", order)
            parts.append(long)
        cols = ["order", "input", "input_j", "output", "value", "low", "high", "se"]
        return pd.concat([p[cols] for p in parts], ignore_index=True)

    def to_xarray(self):
        """An ``xarray.Dataset`` with dims ``input`` and ``output`` (and ``bound``).

        With second-order indices, ``second`` (and ``second_ci``) have a dim ``pair``
        indexed by the levels ``input_i`` and ``input_j``, so
        ``ds.second.sel(input_i="x1", input_j="x3")`` selects one pair.
        """
        import xarray as xr

        coords: dict[str, Any] = {"input": list(self.first.index),
                                  "output": list(self.first.columns)}
        data: dict[str, Any] = {
            "first": (("input", "output"), self.first.to_numpy()),
            "total": (("input", "output"), self.total.to_numpy())}
        for name, ci, dim in (("first_ci", self.first_ci, "input"),
                              ("total_ci", self.total_ci, "input"),
                              ("second_ci", self.second_ci, "pair")):
            if ci is not None and (dim == "input" or self.second is not None):
                data[name] = (("bound", dim, "output"),
                              np.stack([ci["low"].to_numpy(), ci["high"].to_numpy()]))
                coords["bound"] = ["low", "high"]
        if self.second is not None:
            data["second"] = (("pair", "output"), self.second.to_numpy())
            pairs = pd.MultiIndex.from_tuples(list(self.second.index),
                                              names=["input_i", "input_j"])
            coords = xr.Coordinates.from_pandas_multiindex(pairs, "pair").merge(
                xr.Coordinates(coords)).coords
        for name, se in (("first_se", self.first_se), ("total_se", self.total_se)):
            if se is not None:
                data[name] = (("input", "output"), se.to_numpy())
        if self.variance is not None:
            data["variance"] = (("output",), self.variance.to_numpy())
        if self.mean is not None:
            data["mean"] = (("output",), self.mean.to_numpy())
        attrs = {"method": self.method, "n_evaluations": self.n_evaluations,
                 "n_failed": self.n_failed, "n_samples": self.n_samples or 0,
                 "confidence": self.confidence if self.confidence is not None else np.nan}
        return xr.Dataset(data, coords=coords, attrs=attrs)

    # -- display -----------------------------------------------------------------
    def __repr__(self) -> str:
        outputs = list(self.first.columns)
        head = (f"SobolResult(method={self.method!r}, n_samples={self.n_samples}, "
                f"n_evaluations={self.n_evaluations}, n_failed={self.n_failed}, "
                f"outputs={len(outputs)})")
        shown = [c for c in outputs if c in self._headline_outputs()]
        lines = [head]
        width = max(len(str(i)) for i in self.first.index)
        for out in shown:
            lines.append(f"  output {out}:  {'first':>16}  {'total':>16}")
            for name in list(self.first.index)[:12]:
                lines.append(f"    {str(name).ljust(width)}  {self._cell('first', name, out)}"
                             f"  {self._cell('total', name, out)}")
            if len(self.first.index) > 12:
                lines.append(f"    ... {len(self.first.index) - 12} more inputs")
        if self.aggregated_first is not None:
            for g in self.aggregated_first.columns:
                top = self.aggregated_total[g].sort_values(ascending=False).head(3)
                lines.append(f"  aggregated {g} (total): " + ", ".join(
                    f"{k}={v:.3f}" for k, v in top.items()))
        return "\n".join(lines)

    def _headline_outputs(self) -> list[str]:
        if self.aggregated_first is not None:
            from uqkit.models import output_groups

            scalars = [g for g, c in output_groups(self.first.columns).items() if len(c) == 1]
            return scalars[:3]
        return list(self.first.columns)[:3]

    def _cell(self, order: str, name: Any, out: Any) -> str:
        value = getattr(self, order).loc[name, out]
        ci = getattr(self, f"{order}_ci")
        if ci is None:
            return f"{value:>16.4f}"
        return f"{value:7.4f} ±{(ci['high'].loc[name, out] - ci['low'].loc[name, out]) / 2:.4f}"

    def _summary_table(self, output: Any) -> pd.DataFrame:
        cols: dict[str, Any] = {"first": self.first[output]}
        if self.first_ci is not None:
            cols["first low"] = self.first_ci["low"][output]
            cols["first high"] = self.first_ci["high"][output]
        cols["total"] = self.total[output]
        if self.total_ci is not None:
            cols["total low"] = self.total_ci["low"][output]
            cols["total high"] = self.total_ci["high"][output]
        return pd.DataFrame(cols)

    def _repr_html_(self) -> str:
        from uqkit.reports._repr import card

        tables = [(str(out), self._summary_table(out)) for out in self._headline_outputs()]
        if self.aggregated_total is not None:
            agg = pd.concat({"first": self.aggregated_first, "total": self.aggregated_total},
                            axis=1)
            tables.append(("aggregated indices (vector outputs)", agg))
        return card("SobolResult", facts={
            "method": self.method, "base samples": self.n_samples,
            "model evaluations": self.n_evaluations, "failed": self.n_failed,
            "confidence": self.confidence}, tables=tables, kind="sobol")

    # -- figures and reports ---------------------------------------------------------
    def plot(self, output: Any = None, *, ax: Any = None, x: Any = None,
             xlabel: str | None = None):
        """Bars of first and total indices with their intervals, or indices over time.

        The y-axis keeps the index range [0, 1]; estimates outside it are marked
        at the edge, undefined indices (no output variance) are gaps, and indices
        flagged ``unreliable`` are marked.

        Parameters
        ----------
        output : str, optional
            An output column (bars) or a vector-output group name such as ``"V"``
            (first and total indices along the series, with interval bands).
            Default: the first vector group if any, else the first output.
        ax : matplotlib Axes, optional
        x, xlabel : array_like and str, optional
            The series' axis (e.g. ``model.times`` and ``"time (ms)"``); default
            ``info["axes"][output]`` when the analysis recorded it, else the position.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from ._plot import plot_sobol

        return plot_sobol(self, output, ax=ax, x=x, xlabel=xlabel)

    def report(self, path: str | os.PathLike, *, title: str = "Sobol' sensitivity report"
               ) -> str:
        """Write a self-contained HTML variance report (and its JSON) and return its path.

        The report holds the figures (inline PNG), the index tables with intervals,
        the variance shares (first-order, interactions, total), the sample size, the
        failures, the seed, the estimators and the uqkit version: the same section
        as in :func:`uqkit.report`.
        """
        from uqkit.reports._report import write_result_report

        return write_result_report(self, path, title=title)


def _negligible_outputs(columns: pd.Index, variance: pd.Series | None) -> list:
    """Outputs whose variance is negligible against the largest of their series."""
    if variance is None:
        return []
    from uqkit.models import output_groups

    var = np.asarray(variance.reindex(columns), dtype=float)
    out = []
    for cols in output_groups(list(columns)).values():
        v = var[cols]
        if not np.isfinite(v).any():
            continue
        top = np.nanmax(v)
        small = np.isfinite(v) & ~(v > NEGLIGIBLE_VARIANCE * top) | (v <= 0)
        out += [columns[c] for c, flag in zip(cols, small) if flag]
    return out


def _blank(frame: pd.DataFrame, outputs: list) -> pd.DataFrame:
    """A copy of ``frame`` with the columns of ``outputs`` set to NaN (any column level)."""
    frame = frame.copy()
    level = frame.columns.get_level_values(-1)
    frame.loc[:, np.asarray(level.isin(outputs))] = np.nan
    return frame


def _long(frame: pd.DataFrame, value_name: str) -> pd.DataFrame:
    """Stack a (input(s) x output) frame into long format (index names normalised)."""
    f = frame.copy()
    if isinstance(f.index, pd.MultiIndex):
        f.index = f.index.set_names(["input_i", "input_j"])
    else:
        f.index = f.index.set_names(["input"])
    f.columns = pd.Index(list(f.columns), name="output")
    return f.stack(future_stack=True).rename(value_name).reset_index()
