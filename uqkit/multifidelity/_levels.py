"""The fidelity levels of a multi-fidelity GP: fitting and recursive prediction.

The base level and AR1 levels use the Matern 5/2 or the squared-exponential
kernel, whichever gives the larger (profiled, penalised) likelihood.

AR1 (Kennedy & O'Hagan 2000, fitted recursively after Le Gratiet 2013): level
``l`` is ``f_l(x) = rho_l f_{l-1}(x) + delta_l(x)``; ``delta_l`` is a GP fitted on
the level-``l`` runs by universal kriging with the trend basis ``[1, m_{l-1}(x)]``
(``m_{l-1}`` the predictive mean of the level below), so ``rho_l`` is a
generalised-least-squares coefficient of the trend, profiled out of the
likelihood. The predictive variance is ``rho_l^2 s^2_{l-1}(x) + s^2_delta(x)``.

NARGP (Perdikaris et al. 2017): level ``l`` is a GP with a squared-exponential
ARD kernel on the augmented input ``[x, f_{l-1}(x)]`` (the product kernel
``k_x k_f`` of the paper), trained at the level's runs with ``f_{l-1}`` the
level-below predictive mean. The prediction integrates over the level-below
predictive distribution (Gaussian, mean ``m_{l-1}``, variance ``s^2_{l-1}``) by
16-point Gauss-Hermite quadrature, and passes the first two moments upwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Level", "fit_level", "predict_levels"]

_KERNELS = ("matern52", "rbf")
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(16)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


@dataclass(frozen=True, eq=False)
class Level:
    """One fidelity level of one output."""

    method: str            # "base", "ar1" or "nargp"
    fit: Any               # uqkit.gp._core.GPFit
    rho: float = 1.0       # AR1 scale factor
    f_low: float = 0.0     # NARGP: affine map of the level-below output to [0, 1]
    f_span: float = 1.0


def _lower_mean(levels: tuple[Level, ...]):
    def mean(U: np.ndarray) -> np.ndarray:
        return predict_levels(levels, U, return_var=False)[0]
    return mean


def _best_kernel(fit_core, U, y, trend, rng) -> Any:
    """The Matern 5/2 or squared-exponential fit, whichever has the larger likelihood."""
    fits = [fit_core(U, y, kernel=kernel, trend=trend, rng=rng) for kernel in _KERNELS]
    return max(fits, key=lambda f: f.log_likelihood)


def fit_level(method: str, below: tuple[Level, ...], U: np.ndarray, y: np.ndarray,
              rng: np.random.Generator) -> Level:
    """Fit the level above ``below`` (an empty ``below`` fits the base GP)."""
    from ..gp._core import basis_trend, fit_core

    if not below:
        return Level("base", _best_kernel(fit_core, U, y, None, rng))
    lower = _lower_mean(below)
    if method == "ar1":
        trend = basis_trend(lambda V: np.column_stack([np.ones(len(V)), lower(V)]),
                            "ar1: [1, lower-fidelity mean]")
        fit = _best_kernel(fit_core, U, y, trend, rng)
        return Level("ar1", fit, rho=float(fit.y_scale * fit.beta[1]))
    f = lower(U)
    lo, span = float(f.min()), float(f.max() - f.min())
    span = span if span > 0 else 1.0
    fit = fit_core(np.column_stack([U, (f - lo) / span]), y, kernel="rbf", rng=rng)
    return Level("nargp", fit, f_low=lo, f_span=span)


def predict_levels(levels: tuple[Level, ...], U: np.ndarray, *,
                   return_var: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictive mean and variance of the top of ``levels`` at unit-cube points ``U``."""
    base = levels[0].fit
    if len(levels) == 1:
        if not return_var:
            return base.predict(U), None
        return base.predict(U, return_var=True)
    top = levels[-1]
    below = levels[:-1]
    if top.method == "ar1":
        if not return_var:
            return top.fit.predict(U), None
        _, v_low = predict_levels(below, U)
        mean, v_delta = top.fit.predict(U, return_var=True)
        return mean, top.rho ** 2 * v_low + v_delta
    m_low, v_low = predict_levels(below, U)
    s_low = np.sqrt(np.maximum(v_low, 0.0))
    mean = np.zeros(len(U))
    second = np.zeros(len(U))
    for z, w in zip(_NODES, _WEIGHTS):
        g = (m_low + z * s_low - top.f_low) / top.f_span
        if return_var:
            m, v = top.fit.predict(np.column_stack([U, g]), return_var=True)
            second += w * (v + m * m)
        else:
            m = top.fit.predict(np.column_stack([U, g]))
        mean += w * m
    if not return_var:
        return mean, None
    return mean, np.maximum(second - mean * mean, 0.0)
