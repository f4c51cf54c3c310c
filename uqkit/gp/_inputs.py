"""Map each input to the GP's working coordinates (about the unit cube) through its distribution.

A GP models smooth functions well only in coordinates where the function is smooth, so the map
is affine wherever it can be: a bounded input is scaled affinely to ``[0, 1]``, a log-uniform
one affinely in ``log x``; an unbounded input goes to its standard-normal coordinate ``z``
(``(x - mean) / std`` for a normal, ``(log x - mu) / sigma`` for a log-normal,
``Phi^-1(F(x))`` otherwise) and then to ``0.5 + z / 8`` (the central ``+-4`` sd fill the cube).
The inputs' CDFs would squash the tails and make the function steep there.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from uqkit.parameters import Parameters

__all__ = ["to_unit", "from_unit"]

_Z_SCALE = 8.0


def _kind(dist) -> str:
    lo, hi = dist.support
    if dist.kind == "normal":
        return "normal"
    if dist.kind == "lognormal":
        return "lognormal"
    if dist.kind == "loguniform":
        return "loguniform"
    if np.isfinite(lo) and np.isfinite(hi):
        return "affine"
    return "probit"


def to_unit(parameters: Parameters, X: np.ndarray) -> np.ndarray:
    """Working coordinates ``U`` of the points ``X`` (``(n, d)``)."""
    U = np.empty_like(X, dtype=float)
    for j, dist in enumerate(parameters.distributions):
        x = X[:, j]
        kind, p = _kind(dist), dist.params or {}
        if kind == "affine":
            lo, hi = dist.support
            U[:, j] = (x - lo) / (hi - lo)
            continue
        if kind == "loguniform":
            lo, hi = np.log(p["low"]), np.log(p["high"])
            U[:, j] = (np.log(x) - lo) / (hi - lo)
            continue
        if kind == "normal":
            z = (x - p["mean"]) / p["std"]
        elif kind == "lognormal":
            z = (np.log(x) - p["mu"]) / p["sigma"]
        else:
            z = stats.norm.ppf(np.clip(dist.cdf(x), 1e-300, 1 - 1e-16))
        U[:, j] = 0.5 + z / _Z_SCALE
    return U


def from_unit(parameters: Parameters, U: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_unit`."""
    X = np.empty_like(U, dtype=float)
    for j, dist in enumerate(parameters.distributions):
        u = U[:, j]
        kind, p = _kind(dist), dist.params or {}
        if kind == "affine":
            lo, hi = dist.support
            X[:, j] = lo + u * (hi - lo)
            continue
        if kind == "loguniform":
            lo, hi = np.log(p["low"]), np.log(p["high"])
            X[:, j] = np.exp(lo + u * (hi - lo))
            continue
        z = (u - 0.5) * _Z_SCALE
        if kind == "normal":
            X[:, j] = p["mean"] + p["std"] * z
        elif kind == "lognormal":
            X[:, j] = np.exp(p["mu"] + p["sigma"] * z)
        else:
            X[:, j] = dist.ppf(stats.norm.cdf(z))
    return X
