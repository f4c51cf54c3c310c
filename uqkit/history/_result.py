"""The result of :func:`uqkit.history_match`."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._validation import as_2d_float, check_int, normalize_rng
from ..parameters import Parameters
from ._nroy import N_MOVES, Cut, move

__all__ = ["HistoryMatch", "nroy_score"]

_STOP_TEXT = {
    "max_waves": "the maximum number of waves was run",
    "nroy_stable": "NROY shrank by less than 10 % in the last wave",
    "emulator_precise": "the emulator variance is below 10 % of the other variances",
    "empty": "NROY is empty: every input was ruled out",
    "fitted_emulator": "one cut with the given emulator (no simulator runs)",
}


def nroy_score(cuts: tuple[Cut, ...] | list[Cut], params: Parameters, threshold: float,
               X: np.ndarray) -> np.ndarray:
    """Implausibility over all waves: the largest of each wave's combined implausibility."""
    out = np.full(X.shape[0], -np.inf)
    for cut in cuts:
        np.maximum(out, cut.combined(X), out=out)
    return out


@dataclass(frozen=True, repr=False, eq=False)
class HistoryMatch:
    """Waves of history matching: emulators, implausibility and the NROY space.

    Returned by :func:`uqkit.history_match`.

    Attributes
    ----------
    nroy_fraction : float
        Prior probability of the final NROY space (its volume in the unit cube of
        the prior's CDFs), estimated by subset simulation.
    X, Y : ndarray
        Every simulator run, in order (failed runs have NaN outputs).
    wave_of_run : ndarray of int
        The wave of each run.
    n_evaluations : int
        Simulator runs made (failures included).
    n_failed : int
        Runs that failed or gave non-finite observed outputs.
    stop_reason : str
        ``"nroy_stable"``, ``"emulator_precise"``, ``"max_waves"``, ``"empty"`` or
        ``"fitted_emulator"``.
    """

    spec: Any
    cuts: tuple[Cut, ...]
    rows: tuple[dict, ...]
    population: np.ndarray | None
    nroy_fraction: float
    X: np.ndarray
    Y: np.ndarray
    wave_of_run: np.ndarray
    n_evaluations: int
    n_failed: int
    stop_reason: str
    info: dict = field(default_factory=dict)

    # -- tables -------------------------------------------------------------------------
    @property
    def parameters(self) -> Parameters:
        """The prior the NROY space is part of."""
        return self.spec.parameters

    @property
    def outputs(self) -> tuple[str, ...]:
        """The observed outputs that were matched."""
        return self.spec.outputs

    @property
    def threshold(self) -> float:
        return self.spec.threshold

    @property
    def n_waves(self) -> int:
        return len(self.rows)

    @property
    def waves(self) -> pd.DataFrame:
        """One row per wave: runs, NROY fraction, emulator errors and variance ratios.

        Columns: ``runs`` (new simulator runs), ``failed``, ``train_runs`` (runs the
        emulators were fitted on), ``nroy_fraction`` (after the wave), ``kept``
        (fraction of the previous NROY kept), ``levels`` (intermediate levels of the
        subset simulation), ``min_implausibility``, ``rmse_<out>`` and
        ``outside_3sd_<out>`` (the previous wave's emulator at this wave's runs:
        error and fraction of standardised errors beyond 3) and
        ``emulator_var_ratio_<out>`` (mean emulator variance in NROY over the
        observation + discrepancy variance).
        """
        return pd.DataFrame(list(self.rows)).set_index("wave")

    def to_dataframe(self) -> pd.DataFrame:
        """The :attr:`waves` table."""
        return self.waves

    # -- implausibility and NROY ----------------------------------------------------------
    def _X(self, X: Any, func: str) -> np.ndarray:
        return as_2d_float(f"HistoryMatch.{func}", "X", X, self.parameters.dim)

    def implausibility(self, X: Any, *, per_output: bool = False) -> Any:
        """Implausibility at ``X`` (rows of inputs in the order of the model's inputs).

        Returns the largest over waves of each wave's combined (``rank``-th largest)
        implausibility, shape ``(n,)``; a point is in NROY iff it is at most
        :attr:`threshold`. With ``per_output=True``, a DataFrame of the last wave's
        implausibility per observed output.
        """
        from ..pce._blas import single_threaded_blas

        X = self._X(X, "implausibility")
        with single_threaded_blas():
            if per_output:
                imp, _ = self.cuts[-1].per_output(X)
                return pd.DataFrame(imp, columns=list(self.outputs))
            return nroy_score(self.cuts, self.parameters, self.threshold, X)

    def in_nroy(self, X: Any) -> np.ndarray:
        """Whether each row of ``X`` is not ruled out yet, shape ``(n,)``."""
        return self.implausibility(X) <= self.threshold

    def _check_nonempty(self, func: str) -> None:
        if self.population is None:
            raise ValueError(
                f"HistoryMatch.{func}: the NROY space is empty (every input was ruled out at "
                f"wave {self.n_waves}); there is nothing to sample. The runs are kept in "
                f"HistoryMatch.X and .Y.")

    def nroy_samples(self, n: int, *, rng: Any = None) -> np.ndarray:
        """``n`` points uniform in NROY (the prior restricted to NROY), shape ``(n, d)``.

        The stored population (uniform in NROY) is resampled and moved by
        random-walk Metropolis restricted to NROY, 16 steps, so repeated points
        spread out; no rejection sampling, so tiny NROY fractions cost the same.

        Raises
        ------
        ValueError
            If NROY is empty.
        """
        n = check_int("HistoryMatch.nroy_samples", "n", n, minimum=1)
        self._check_nonempty("nroy_samples")
        rng = normalize_rng(rng)
        params, cuts, t = self.parameters, self.cuts, self.threshold
        U = self.population[rng.integers(len(self.population), size=n)]

        def score(V: np.ndarray, level: float) -> np.ndarray:
            return nroy_score(cuts, params, t, params.from_unit(V))

        from ..pce._blas import single_threaded_blas

        with single_threaded_blas():
            U, _ = move(U, score(U, t), score, t, rng, n_steps=2 * N_MOVES)
        return params.from_unit(U)

    def nroy_prior(self) -> Parameters:
        """The prior restricted to the bounding box of NROY, for :func:`uqkit.calibrate`.

        ``uqkit.Parameters`` holds independent marginals, so it cannot express a
        non-rectangular NROY; this is the most faithful hand-over: each marginal
        is truncated to the NROY population's range widened by 5 % each side
        (uniform -> uniform, log-uniform -> log-uniform, normal -> truncated
        normal; other families are kept as they are). Start the walkers inside
        NROY with ``initial=hm.nroy_samples(n_walkers)``::

            post = uqkit.calibrate(model, hm.nroy_prior(), data, noise=...,
                                   n_walkers=16, initial=hm.nroy_samples(16, rng=0))
        """
        from ..distributions import LogUniform, TruncatedNormal, Uniform

        self._check_nonempty("nroy_prior")
        lo_u, hi_u = self.population.min(axis=0), self.population.max(axis=0)
        pad = 0.05 * (hi_u - lo_u)
        lo_u, hi_u = np.clip(lo_u - pad, 0, 1), np.clip(hi_u + pad, 0, 1)
        out = {}
        for j, (name, dist) in enumerate(self.parameters.items()):
            lo, hi = float(dist.ppf(lo_u[j])), float(dist.ppf(hi_u[j]))
            p = dist.params
            if dist.kind == "uniform":
                out[name] = Uniform(max(lo, p["low"]), min(hi, p["high"]))
            elif dist.kind == "loguniform":
                out[name] = LogUniform(max(lo, p["low"]), min(hi, p["high"]))
            elif dist.kind in ("normal", "truncnormal"):
                out[name] = TruncatedNormal(p["mean"], p["std"], lo, hi)
            else:
                out[name] = dist
        return Parameters(out)

    # -- display ----------------------------------------------------------------------------
    def _summary(self) -> str:
        return (f"{self.n_waves} wave{'s' * (self.n_waves != 1)}, "
                f"NROY fraction {self.nroy_fraction:.3g}, n_evaluations={self.n_evaluations}, "
                f"stopped: {self.stop_reason}")

    def __repr__(self) -> str:
        return f"HistoryMatch({self._summary()})"

    def report(self, path: str | os.PathLike, *, title: str = "History matching report") -> str:
        """Write this result's section of :func:`uqkit.report` as a self-contained HTML
        file (and its JSON beside it); return the HTML path."""
        from uqkit.reports._report import write_result_report

        return write_result_report(self, path, title=title)

    def _repr_html_(self) -> str:
        from ..reports._html import table

        return ("<div class='uqkit-history'><p><b>HistoryMatch</b> "
                f"{html.escape(self._summary())}</p>"
                f"<p>{html.escape(_STOP_TEXT.get(self.stop_reason, ''))}</p>"
                f"{table(self.waves)}</div>")

    def plot(self, *, n_points: int = 4000, bins: int = 12, rng: Any = 0, axes: Any = None):
        """Implausibility (lower triangle) and optical-depth (upper triangle) pair plots.

        Below the diagonal, each cell shows the minimum implausibility over the
        hidden inputs of ``n_points`` prior draws falling in it; above it, the
        optical depth, the fraction of those draws in NROY (Vernon et al. 2010).
        The diagonal shows the NROY fraction along each input.

        Returns
        -------
        numpy.ndarray of matplotlib.axes.Axes, shape ``(d, d)``
        """
        from ._plots import pair_plot

        return pair_plot(self, n_points=n_points, bins=bins, rng=rng, axes=axes)

    def _report_section(self, label: str):
        from ..reports._document import Section

        s = Section(f"History matching{label}", "history")
        s.facts({"waves": self.n_waves, "NROY fraction": self.nroy_fraction,
                 "simulator runs": self.n_evaluations, "failed runs": self.n_failed,
                 "threshold": self.threshold, "rank": self.spec.rank,
                 "observed outputs": ", ".join(self.outputs),
                 "stopped": _STOP_TEXT.get(self.stop_reason, self.stop_reason)})
        s.table("Waves", self.waves)
        s.verdict(self.population is not None,
                  "NROY is not empty" if self.population is not None
                  else "NROY is empty: every input was ruled out")
        if self.population is not None:
            s.figure(lambda: self.plot(), "Minimum implausibility (lower) and optical depth "
                                          "(upper)")
        return s
