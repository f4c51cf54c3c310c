"""Result type of every Sobol' analysis (Monte Carlo and polynomial chaos alike)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import _report as rep

__all__ = ["SobolResult"]


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
        head = rep.definition_list({
            "method": self.method, "base samples": self.n_samples,
            "model evaluations": self.n_evaluations, "failed": self.n_failed,
            "confidence": self.confidence})
        tables = []
        for out in self._headline_outputs():
            tables.append(f"<p><b>{rep.esc(out)}</b></p>" + rep.table(self._summary_table(out)))
        if self.aggregated_total is not None:
            agg = pd.concat({"first": self.aggregated_first, "total": self.aggregated_total},
                            axis=1)
            tables.append("<p><b>aggregated indices (vector outputs)</b></p>" + rep.table(agg))
        return f"<div class='uqkit-sobol'><b>SobolResult</b>{head}{''.join(tables)}</div>"

    # -- figures and reports ---------------------------------------------------------
    def plot(self, output: Any = None, *, ax: Any = None):
        """Bars of first and total indices with their intervals, or indices over time.

        Parameters
        ----------
        output : str, optional
            An output column (bars) or a vector-output group name such as ``"V"``
            (first and total indices against the column index, with interval bands).
            Default: the first vector group if any, else the first output.
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib.axes.Axes
        """
        from ._plot import plot_sobol

        return plot_sobol(self, output, ax=ax)

    def report(self, path: str | os.PathLike, *, title: str = "Sobol' sensitivity report"
               ) -> str:
        """Write a self-contained HTML variance report and return its path.

        The report holds the index tables with intervals, a figure (inline PNG), the
        variance shares (first-order, interactions, total), the sample size, the
        failures, the seed, the estimators and the uqkit version.
        """
        from ._plot import report_sobol

        return rep.write_page(path, report_sobol(self, title))


def _long(frame: pd.DataFrame, value_name: str) -> pd.DataFrame:
    """Stack a (input(s) x output) frame into long format (index names normalised)."""
    f = frame.copy()
    if isinstance(f.index, pd.MultiIndex):
        f.index = f.index.set_names(["input_i", "input_j"])
    else:
        f.index = f.index.set_names(["input"])
    f.columns = pd.Index(list(f.columns), name="output")
    return f.stack(future_stack=True).rename(value_name).reset_index()
