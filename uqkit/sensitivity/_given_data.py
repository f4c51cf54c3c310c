"""Estimators written for uqkit where SALib's are too slow or unsuitable.

- Borgonovo's moment-independent delta, given-data estimator of Plischke et al.
  (2013). SALib 1.6's ``delta.analyze`` took 6 s (10 resamples) to 17 s (100
  resamples) for 1000 samples of 3 inputs on the project machine, and its
  ``delta_raw`` point estimate changed with the number of resamples (0.124 vs
  0.153 for the same data); this version is vectorised per class.
- DGSM (Sobol' & Kucherenko 2009) in the unit (quantile) space of the inputs,
  where every input is U(0, 1), so the bound ``ST_i <= nu_i / (pi^2 V)`` holds
  for any marginal; SALib's ``finite_diff`` sampler ignores its seed (an
  unscrambled Sobol' sequence) and steps past the upper bound.
"""

from __future__ import annotations

import numpy as np

__all__ = ["delta_indices", "dgsm_indices", "n_classes"]


def n_classes(n: int) -> int:
    """Number of equiprobable classes, Plischke et al. (2013), eq. (24)."""
    return max(2, int(np.ceil(n ** (2 / (7 + np.tanh((1500 - n) / 500))))))


def _kde_on_grid(y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian KDE (Scott's bandwidth) of ``y`` evaluated on ``grid``."""
    sd = y.std(ddof=1) if y.size > 1 else 0.0
    h = sd * y.size ** (-1 / 5) if sd > 0 else (grid[1] - grid[0])
    z = (grid[:, None] - y[None, :]) / h
    return np.exp(-0.5 * z * z).sum(1) / (y.size * h * np.sqrt(2 * np.pi))


def _delta_one(x: np.ndarray, y: np.ndarray, grid: np.ndarray, f_all: np.ndarray,
               n_cls: int) -> float:
    order = np.argsort(x, kind="stable")
    total = 0.0
    for cls in np.array_split(order, n_cls):
        f_c = _kde_on_grid(y[cls], grid)
        total += cls.size / y.size * np.trapezoid(np.abs(f_all - f_c), grid)
    return 0.5 * total


def delta_indices(U: np.ndarray, y: np.ndarray, *, n_resamples: int, rng: np.random.Generator,
                  confidence: float, grid_size: int = 128):
    """Delta indices of every column of ``U`` for output ``y``; bootstrap intervals.

    Returns ``(delta, low, high)`` arrays of shape ``(d,)`` (intervals NaN when
    ``n_resamples == 0``).

    References
    ----------
    Borgonovo, E. (2007). A new uncertainty importance measure. Reliab. Eng. Syst.
    Saf. 92, 771-784.
    Plischke, E., Borgonovo, E. & Smith, C. L. (2013). Global sensitivity measures
    from given data. Eur. J. Oper. Res. 226, 536-550.
    """
    n, d = U.shape
    n_cls = n_classes(n)

    def all_inputs(Ub, yb):
        spread = yb.max() - yb.min()
        pad = 0.1 * spread if spread > 0 else 1.0
        grid = np.linspace(yb.min() - pad, yb.max() + pad, grid_size)
        f_all = _kde_on_grid(yb, grid)
        return np.array([_delta_one(Ub[:, i], yb, grid, f_all, n_cls) for i in range(d)])

    point = all_inputs(U, y)
    if not n_resamples:
        nan = np.full(d, np.nan)
        return point, nan, nan
    boot = np.empty((n_resamples, d))
    for b in range(n_resamples):  # each replicate is itself vectorised over the grid
        idx = rng.integers(0, n, n)
        boot[b] = all_inputs(U[idx], y[idx])
    lo, hi = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2], axis=0)
    return point, lo, hi


def dgsm_indices(y_base: np.ndarray, y_step: np.ndarray, step: np.ndarray, *,
                 confidence: float):
    """DGSM from forward/backward differences in unit space.

    ``y_base`` (n,), ``y_step`` (d, n), ``step`` (d, n) signed unit-space steps.
    Returns ``nu`` (mean squared derivative), the bound ``nu / (pi^2 V)`` on the
    total Sobol' index, and normal-approximation half-widths of both.

    References
    ----------
    Sobol', I. M. & Kucherenko, S. (2009). Derivative based global sensitivity
    measures and their link with global sensitivity indices. Math. Comput. Simul.
    79, 3009-3017.
    """
    from scipy.stats import norm

    deriv2 = ((y_step - y_base[None]) / step) ** 2
    n = y_base.size
    nu = deriv2.mean(1)
    z = norm.ppf((1 + confidence) / 2)
    nu_half = z * deriv2.std(1, ddof=1) / np.sqrt(n)
    var = y_base.var(ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = nu / (np.pi**2 * var)
        bound_half = nu_half / (np.pi**2 * var)
    return nu, nu_half, bound, bound_half
