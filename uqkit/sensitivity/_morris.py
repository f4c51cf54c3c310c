"""Morris elementary-effects screening: ``uqkit.morris`` and ``MorrisResult``.

Written in numpy rather than wrapping SALib: trajectories are built for all
trajectories at once (no Python loop), inputs with unbounded marginals work
(SALib's grid includes the levels 0 and 1, whose inverse CDF is infinite for a
normal input), and the bootstrap of ``mu_star`` is vectorised.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from uqkit._validation import check_int, check_real, fail, normalize_rng
from uqkit._version import __version__

from ._common import check_problem, evaluate, failure_mask

__all__ = ["morris", "MorrisResult"]


@dataclass(frozen=True, repr=False)
class MorrisResult:
    """Morris screening measures, DataFrames with index = inputs, columns = outputs.

    ``mu`` (mean elementary effect), ``mu_star`` (mean absolute effect, Campolongo et
    al. 2007), ``sigma`` (standard deviation: non-linearity and interactions),
    ``mu_star_ci`` (bootstrap interval, MultiIndex columns ``(bound, output)``).
    Elementary effects are per unit change of the input's quantile (its CDF value).
    """

    mu: pd.DataFrame
    mu_star: pd.DataFrame
    sigma: pd.DataFrame
    mu_star_ci: pd.DataFrame | None = None
    n_evaluations: int = 0
    n_failed: int = 0
    n_trajectories: int = 0
    levels: int = 4
    confidence: float | None = None
    info: Mapping[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """Long format: ``input, output, mu, mu_star, sigma, mu_star_low, mu_star_high``."""
        out = pd.concat({"mu": self.mu.stack(), "mu_star": self.mu_star.stack(),
                         "sigma": self.sigma.stack()}, axis=1)
        if self.mu_star_ci is not None:
            out["mu_star_low"] = self.mu_star_ci["low"].stack()
            out["mu_star_high"] = self.mu_star_ci["high"].stack()
        out.index = out.index.set_names(["input", "output"])
        return out.reset_index()

    def ranking(self, output: Any = None) -> list[str]:
        """Inputs by decreasing ``mu_star`` for one output (default: the first)."""
        output = self.mu_star.columns[0] if output is None else output
        return list(self.mu_star[output].sort_values(ascending=False).index)

    def __repr__(self) -> str:
        out = self.mu_star.columns[0]
        ranked = ", ".join(f"{k}={self.mu_star.loc[k, out]:.3g}" for k in self.ranking()[:6])
        return (f"MorrisResult(n_trajectories={self.n_trajectories}, levels={self.levels}, "
                f"n_evaluations={self.n_evaluations}, n_failed={self.n_failed})\n"
                f"  mu_star[{out}]: {ranked}")

    def _repr_html_(self) -> str:
        out = self.mu_star.columns[0]
        table = pd.DataFrame({"mu": self.mu[out], "mu_star": self.mu_star[out],
                              "sigma": self.sigma[out]})
        if self.mu_star_ci is not None:
            table["mu_star low"] = self.mu_star_ci["low"][out]
            table["mu_star high"] = self.mu_star_ci["high"][out]
        from uqkit.reports._repr import card

        return card("MorrisResult", f"({out})", facts={
            "trajectories": self.n_trajectories, "levels": self.levels,
            "model evaluations": self.n_evaluations, "failed": self.n_failed},
            tables=[("", table)], kind="morris")

    def plot(self, output: Any = None, *, ax: Any = None):
        """The Morris plane: ``sigma`` against ``mu_star``, one labelled point per input."""
        output = self.mu_star.columns[0] if output is None else output
        if output not in self.mu_star.columns:
            fail("MorrisResult.plot", "output", f"one of {list(self.mu_star.columns)}", output)
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(5.5, 4.2))
        x, y = self.mu_star[output].to_numpy(), self.sigma[output].to_numpy()
        xerr = None
        if self.mu_star_ci is not None:
            xerr = np.vstack([np.clip(x - self.mu_star_ci["low"][output].to_numpy(), 0, None),
                              np.clip(self.mu_star_ci["high"][output].to_numpy() - x, 0, None)])
        ax.errorbar(x, y, xerr=xerr, fmt="o", capsize=3)
        for name, xi, yi in zip(self.mu_star.index, x, y):
            ax.annotate(str(name), (xi, yi), textcoords="offset points", xytext=(4, 4))
        ax.set_xlabel("mu* (mean |elementary effect|)")
        ax.set_ylabel("sigma")
        ax.set_title(f"Morris screening: {output}")
        return ax

    def report(self, path: str | os.PathLike, *, title: str = "Morris screening report") -> str:
        """Write a self-contained HTML report (figure, facts, table; JSON beside it)."""
        from uqkit.reports._report import write_result_report

        return write_result_report(self, path, title=title)


def _trajectories(r: int, d: int, levels: int, rng: np.random.Generator):
    """``r`` Morris (1991) trajectories on the ``levels``-grid of [0, 1]^d.

    Returns the grid points ``(r, d + 1, d)``, the factor changed at each step
    ``(r, d)`` and the signed step of that factor ``(r, d)``.
    """
    delta = levels / (2 * (levels - 1))
    base = rng.integers(0, levels // 2, size=(r, d)) / (levels - 1)
    up = rng.random((r, d)) < 0.5
    start = base + delta * ~up
    end = base + delta * up
    order = np.argsort(rng.random((r, d)), axis=1)  # a random permutation per trajectory
    position = np.argsort(order, axis=1)  # step at which each factor moves
    steps = np.arange(d + 1)[None, :, None]
    moved = position[:, None, :] < steps  # (r, d+1, d)
    points = np.where(moved, end[:, None, :], start[:, None, :])
    signed = np.take_along_axis(end - start, order, axis=1)
    return points, order, signed


def _quantile_span(parameters: Any, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the grid ``[0, 1]`` lies in each input's quantiles: ``low + span * grid``.

    A side where the input's density stays positive up to a finite bound (a uniform
    input, a truncated normal) keeps the quantile 0 or 1, so a uniform input gets
    the classical grid ``{0, 1/(p-1), ..., 1}`` and a step of ``p / (2 (p - 1))`` of
    its range (Morris 1991; as SALib). Any other side (unbounded, or a density that
    vanishes or diverges there, as a lognormal at 0) is cut at the quantile
    ``1 / (2 p)`` from its end, so that no run sits on a degenerate value.
    """
    cut = 1.0 / (2 * levels)
    low = np.full(parameters.dim, cut)
    high = np.full(parameters.dim, 1.0 - cut)
    with np.errstate(all="ignore"):
        for j, dist in enumerate(parameters.distributions):
            ends = np.asarray(dist.ppf(np.array([0.0, 1.0])), dtype=float)
            density = np.asarray(dist.pdf(ends), dtype=float)
            keep = np.isfinite(ends) & np.isfinite(density) & (density > 0)
            low[j] = 0.0 if keep[0] else cut
            high[j] = 1.0 if keep[1] else 1.0 - cut
    return low, high - low


def morris(model: Any, parameters: Any, n_trajectories: int, *, levels: int = 4,
           confidence: float = 0.95, n_resamples: int = 1000, rng: Any = None,
           runner: Any = None) -> MorrisResult:
    """Morris elementary-effects screening.

    Parameters
    ----------
    model : Model
    parameters : Parameters
        Any marginals: the ``levels``-point grid is placed at the quantiles
        ``j / (levels - 1)`` of each input; a side without a positive density at a
        finite bound (a normal input, a lognormal at 0) is cut at the quantile
        ``1 / (2 levels)`` from its end, so unbounded inputs work.
    n_trajectories : int
        Number of one-at-a-time trajectories (>= 2); the cost is
        ``n_trajectories * (d + 1)`` runs.
    levels : int
        Grid levels, even and >= 2. The step is ``levels / (2 (levels - 1))`` of the
        grid (Morris 1991; Campolongo et al. 2007): 2/3 of a uniform input's range
        at 4 levels.
    confidence : float
        Level of the bootstrap interval of ``mu_star``.
    n_resamples : int
        Bootstrap resamples of the trajectories (0: no interval).
    rng : None, int or numpy.random.Generator
    runner : Runner, optional
        Evaluates the design; a trajectory with a failed or non-finite run is dropped whole.

    Returns
    -------
    MorrisResult

    Raises
    ------
    InvalidParameterError
        For invalid arguments, before any model run.

    Notes
    -----
    An elementary effect is ``(f(x + e_i step) - f(x)) / step`` with ``step`` the change
    of the input's quantile, so for a uniform input it equals the classical effect on
    the input scaled to [0, 1] (Saltelli et al. 2004; as in SALib), and for a linear
    model ``y = c x`` with ``x ~ U(a, b)`` it is exactly ``c (b - a)``.

    References
    ----------
    Morris, M. D. (1991). Factorial sampling plans for preliminary computational
    experiments. Technometrics 33(2), 161-174.
    Campolongo, F., Cariboni, J. & Saltelli, A. (2007). An effective screening design for
    sensitivity analysis of large models. Environ. Model. Softw. 22, 1509-1518.

    Examples
    --------
    >>> import uqkit
    >>> model, params, _ = uqkit.examples.sobol_g()
    >>> res = uqkit.morris(model, params, 50, rng=0)
    >>> res.ranking()[:2]
    ['x1', 'x2']
    """
    func = "morris"
    parameters = check_problem(func, model, parameters)
    r = check_int(func, "n_trajectories", n_trajectories, minimum=2)
    levels = check_int(func, "levels", levels, minimum=2)
    if levels % 2:
        fail(func, "levels", "an even integer >= 2", levels)
    confidence = check_real(func, "confidence", confidence)
    if not 0 < confidence < 1:
        fail(func, "confidence", "in (0, 1)", confidence)
    n_resamples = check_int(func, "n_resamples", n_resamples, minimum=0)
    seed = rng if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else None
    rng = normalize_rng(rng)
    design_rng, boot_rng = rng.spawn(2)
    d = parameters.dim
    points, order, signed = _trajectories(r, d, levels, design_rng)
    low, span = _quantile_span(parameters, levels)
    U = low + span * points  # grid [0, 1] -> quantiles, per input
    X = parameters._ppf(U.reshape(r * (d + 1), d))
    ev = evaluate(model, X, runner)
    outputs = tuple(model.outputs)
    m = len(outputs)
    Y = np.asarray(ev.Y, dtype=float).reshape(r, d + 1, m)
    bad_rows = failure_mask(ev)
    good = ~bad_rows.reshape(r, d + 1).any(axis=1)
    if good.sum() < 2:
        from uqkit._errors import ModelEvaluationError

        raise ModelEvaluationError(f"morris: only {int(good.sum())} complete trajectories; "
                                   "at least 2 are needed.")
    dy = np.diff(Y[good], axis=1)  # (r', d, m) in the order of the moves
    ee_ordered = dy / (signed[good] * np.take_along_axis(
        np.broadcast_to(span, order.shape), order, axis=1)[good])[:, :, None]
    ee = np.empty_like(ee_ordered)
    np.put_along_axis(ee, order[good][:, :, None], ee_ordered, axis=1)  # by factor
    idx = pd.Index(parameters.names, name="input")
    cols = pd.Index(outputs, name="output")
    absee = np.abs(ee)
    mu_star = absee.mean(0)
    ci = None
    if n_resamples:
        rg = int(good.sum())
        sel = boot_rng.integers(0, rg, size=(n_resamples, rg))
        counts = np.zeros((n_resamples, rg))
        np.add.at(counts, (np.arange(n_resamples)[:, None], sel), 1.0)
        boot = np.einsum("bt,tdm->bdm", counts, absee) / rg
        lo, hi = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2], axis=0)
        ci = pd.concat({"low": pd.DataFrame(lo, idx, cols), "high": pd.DataFrame(hi, idx, cols)},
                       axis=1, names=["bound", "output"])
    return MorrisResult(
        mu=pd.DataFrame(ee.mean(0), idx, cols), mu_star=pd.DataFrame(mu_star, idx, cols),
        sigma=pd.DataFrame(ee.std(0, ddof=1), idx, cols), mu_star_ci=ci,
        n_evaluations=r * (d + 1), n_failed=int(bad_rows.sum()), n_trajectories=r,
        levels=levels, confidence=confidence if n_resamples else None,
        info={"seed": seed, "n_trajectories_used": int(good.sum()),
              "n_dropped_trajectories": int((~good).sum()), "n_new": int(ev.n_new),
              "n_cached": int(ev.n_cached), "design": "Morris (1991) trajectories, "
              "levels at quantiles j / (levels - 1), open sides cut at 1 / (2 levels)",
              "uqkit_version": __version__})
