"""The result of :func:`uqkit.fit_multifidelity`: a Model of the highest fidelity."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._validation import as_2d_float, check_int, fail
from ..parameters import Parameters
from ._levels import Level, predict_levels

__all__ = ["MultiFidelityGP", "LevelCounts"]


class LevelCounts(tuple):
    """Run counts per fidelity level (cheapest first); ``int()`` gives the total."""

    def __int__(self) -> int:
        return int(sum(self))

    def __index__(self) -> int:
        return int(sum(self))

    def __repr__(self) -> str:
        return f"LevelCounts({', '.join(map(str, self))})"


@dataclass(frozen=True, repr=False, eq=False)
class MultiFidelityGP:
    """A multi-fidelity Gaussian process predicting the highest fidelity.

    Returned by :func:`uqkit.fit_multifidelity`. It is a :class:`uqkit.Model`
    (``inputs``, ``outputs``, vectorized ``__call__`` returning the predictive
    mean), so it can replace the expensive model in :func:`uqkit.sobol`,
    :func:`uqkit.calibrate` (``surrogate=``) or :func:`uqkit.history_match`.

    Attributes
    ----------
    parameters : Parameters
        Input distributions (inputs are mapped to the unit cube by their CDFs).
    outputs : tuple of str
        Output names (one independent multi-fidelity GP each).
    method : str
        ``"ar1"`` or ``"nargp"``.
    levels : tuple of tuple of Level
        ``levels[j][l]``: output ``j`` at fidelity ``l`` (cheapest first).
    X, Y : tuple of ndarray
        The runs of each fidelity level.
    n_evaluations : LevelCounts
        Model runs per level (a tuple; ``int(n_evaluations)`` is the total).
    n_failed : LevelCounts
        Failed runs per level (dropped from the fits).
    """

    parameters: Parameters
    outputs: tuple[str, ...]
    method: str
    levels: tuple[tuple[Level, ...], ...]
    X: tuple[np.ndarray, ...]
    Y: tuple[np.ndarray, ...]
    n_evaluations: LevelCounts
    n_failed: LevelCounts
    name: str = "multifidelity_gp"
    info: dict = field(default_factory=dict)

    vectorized: ClassVar[bool] = True
    version: ClassVar[str] = "1"

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.parameters.names

    @property
    def n_levels(self) -> int:
        return len(self.X)

    @property
    def rho(self) -> pd.DataFrame:
        """AR1 scale factors ``rho`` per output (rows) and level above the first (columns)."""
        data = [[lev.rho for lev in lv[1:]] for lv in self.levels]
        return pd.DataFrame(data, index=pd.Index(self.outputs, name="output"),
                            columns=[f"level {k}" for k in range(1, self.n_levels)])

    # -- prediction ------------------------------------------------------------------------
    def predict(self, X: Any, return_std: bool = False, *, level: int | None = None):
        """Predictive mean (and sd) of fidelity ``level`` (default the highest).

        Returns arrays of shape ``(n, n_outputs)``.
        """
        X = as_2d_float("MultiFidelityGP.predict", "X", X, len(self.inputs))
        top = self.n_levels - 1 if level is None else check_int(
            "MultiFidelityGP.predict", "level", level, minimum=0)
        if top >= self.n_levels:
            fail("MultiFidelityGP.predict", "level", f"an integer in [0, {self.n_levels - 1}]",
                 level)
        U = self.parameters.to_unit(X)
        mean = np.empty((len(X), len(self.outputs)))
        std = np.empty_like(mean) if return_std else None
        from ..pce._blas import single_threaded_blas

        with single_threaded_blas():
            for j, lv in enumerate(self.levels):
                m, v = predict_levels(lv[:top + 1], U, return_var=return_std)
                mean[:, j] = m
                if return_std:
                    std[:, j] = np.sqrt(v)
        return (mean, std) if return_std else mean

    def __call__(self, X: Any) -> np.ndarray:
        return self.predict(X)

    def validate(self, X: Any, Y: Any) -> pd.DataFrame:
        """Errors at held-out highest-fidelity runs: relative RMSE (RMSE / sd of ``Y``), RMSE
        and the coverage of the 95 % predictive interval, per output."""
        X = as_2d_float("MultiFidelityGP.validate", "X", X, len(self.inputs))
        Y = as_2d_float("MultiFidelityGP.validate", "Y", Y, len(self.outputs))
        if len(Y) != len(X):
            fail("MultiFidelityGP.validate", "Y", f"{len(X)} rows (one per row of X)",
                 f"{len(Y)} rows")
        mean, std = self.predict(X, return_std=True)
        err = mean - Y
        rmse = np.sqrt(np.mean(err ** 2, axis=0))
        return pd.DataFrame({"relative_rmse": rmse / Y.std(axis=0), "rmse": rmse,
                             "coverage_95": np.mean(np.abs(err) <= 1.96 * std, axis=0)},
                            index=pd.Index(self.outputs, name="output"))

    def sobol(self, n: int = 4096, *, rng: Any = None, **options: Any):
        """Sobol' indices of the predictive mean (:func:`uqkit.sobol` on this emulator).

        The indices are those of the emulator's mean; the emulator's own uncertainty
        is not propagated into the intervals.
        """
        from ..sensitivity import sobol

        return sobol(self, self.parameters, n, rng=rng, **options)

    @property
    def loo_error(self) -> pd.Series:
        """Relative leave-one-out error of the top level at its runs, per output.

        Closed form (Dubrule 1983) for the top level given the levels below.
        """
        out = {}
        for name, lv in zip(self.outputs, self.levels):
            res, _ = lv[-1].fit.loo()
            y = lv[-1].fit.y
            out[name] = float(np.sqrt(np.mean(res ** 2)) / max(np.std(y), 1e-300))
        return pd.Series(out, name="loo_error")

    # -- tables and display ------------------------------------------------------------------
    def to_dataframe(self) -> pd.DataFrame:
        """One row per output and level: runs, rho, nugget and the lengthscales."""
        rows = []
        for name, lv in zip(self.outputs, self.levels):
            for k, lev in enumerate(lv):
                row = {"output": name, "level": k, "runs": lev.fit.n, "method": lev.method,
                       "rho": lev.rho if lev.method == "ar1" else np.nan,
                       "nugget": lev.fit.nugget}
                for i, inp in enumerate(self.inputs):
                    row[f"lengthscale_{inp}"] = float(lev.fit.lengthscales[i])
                if lev.method == "nargp":
                    row["lengthscale_lower_fidelity"] = float(lev.fit.lengthscales[-1])
                rows.append(row)
        return pd.DataFrame(rows).set_index(["output", "level"])

    def _summary(self) -> str:
        runs = "/".join(map(str, self.n_evaluations))
        return (f"method={self.method!r}, {self.n_levels} levels, runs per level {runs}, "
                f"{len(self.inputs)} inputs -> {len(self.outputs)} output"
                f"{'s' * (len(self.outputs) != 1)}")

    def __repr__(self) -> str:
        return f"MultiFidelityGP({self._summary()})"

    def report(self, path: str | os.PathLike, *,
               title: str = "Multi-fidelity emulator report") -> str:
        """Write this result's section of :func:`uqkit.report` as a self-contained HTML
        file (and its JSON beside it); return the HTML path."""
        from uqkit.reports._report import write_result_report

        return write_result_report(self, path, title=title)

    def _repr_html_(self) -> str:
        from ..reports._html import table

        return (f"<div class='uqkit-multifidelity'><p><b>MultiFidelityGP</b> "
                f"{html.escape(self._summary())}</p>{table(self.to_dataframe())}</div>")

    def plot(self, output: str | None = None, *, axes: Any = None):
        """Leave-one-out predictions against the highest-fidelity runs of one output.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        name = self.outputs[0] if output is None else output
        if name not in self.outputs:
            fail("MultiFidelityGP.plot", "output", f"one of {list(self.outputs)}", output)
        fit = self.levels[self.outputs.index(name)][-1].fit
        res, var = fit.loo()
        ax = axes if axes is not None else plt.subplots(figsize=(4, 4))[1]
        y = fit.y
        ax.errorbar(y, y - res, yerr=1.96 * np.sqrt(var), fmt="o", ms=3, alpha=0.7)
        lims = [min(y.min(), (y - res).min()), max(y.max(), (y - res).max())]
        ax.plot(lims, lims, "k--", lw=0.8)
        ax.set_xlabel(f"{name} (highest fidelity run)")
        ax.set_ylabel("leave-one-out prediction")
        ax.set_title(f"MultiFidelityGP ({self.method})", fontsize=9)
        return ax

    def _report_section(self, label: str):
        from ..reports._document import Section

        s = Section(f"Multi-fidelity GP{label}", "multifidelity")
        s.facts({"method": self.method, "levels": self.n_levels,
                 "runs per level": ", ".join(map(str, self.n_evaluations)),
                 "failed runs per level": ", ".join(map(str, self.n_failed)),
                 "model evaluations": int(self.n_evaluations),
                 "inputs": ", ".join(self.inputs), "outputs": ", ".join(self.outputs)})
        s.table("Levels", self.to_dataframe().reset_index())
        s.table("Leave-one-out error of the top level", self.loo_error.to_frame())
        s.figure(lambda: self.plot(), "Leave-one-out predictions at the highest-fidelity runs")
        return s
