"""Emulators of one output for history matching, and the wrapper of a fitted emulator.

Every emulator offers ``predict(X, return_std=True) -> (mean (n,), std (n,))`` with
``X`` in parameter space.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["KrigingEmulator", "fit_emulator", "split_fitted"]


class KrigingEmulator:
    """Universal kriging (constant trend, Matern 5/2) of one output in the unit cube."""

    def __init__(self, parameters: Any, X: np.ndarray, y: np.ndarray, rng: Any = None) -> None:
        from ..multifidelity._kriging import fit_kriging

        self.parameters = parameters
        self.center = float(np.mean(y))
        scale = float(np.std(y))
        self.scale = scale if scale > 0 else 1.0
        U = parameters.to_unit(X)
        self.model = fit_kriging(U, (y - self.center) / self.scale, rng=rng)

    def predict(self, X: np.ndarray, return_std: bool = False):
        from ..pce._blas import single_threaded_blas

        U = self.parameters.to_unit(X)
        with single_threaded_blas():
            mean, var = self.model.predict(U, np.ones((U.shape[0], 1)), return_var=return_std)
        mean = self.center + self.scale * mean
        if not return_std:
            return mean
        return mean, self.scale * np.sqrt(var)


def _fit_gp_available() -> Any:
    try:
        from ..gp import fit_gp
    except ImportError:
        return None
    return fit_gp


class _GPEmulator:
    """A :func:`uqkit.fit_gp` emulator of one output."""

    def __init__(self, gp: Any) -> None:
        self.gp = gp

    def predict(self, X: np.ndarray, return_std: bool = False):
        if not return_std:
            return np.asarray(self.gp.predict(X), dtype=float).reshape(len(X))
        mean, std = self.gp.predict(X, return_std=True)
        return (np.asarray(mean, dtype=float).reshape(len(X)),
                np.asarray(std, dtype=float).reshape(len(X)))


def fit_emulator(kind: Any, parameters: Any, X: np.ndarray, y: np.ndarray,
                 rng: np.random.Generator) -> Any:
    """Fit the emulator of one output on the runs ``X, y`` (finite rows only)."""
    if callable(kind):
        return kind(X, y)
    fit_gp = _fit_gp_available()
    if fit_gp is not None:
        return _GPEmulator(fit_gp(parameters=parameters, X=X, Y=y[:, None], rng=rng))
    return KrigingEmulator(parameters, X, y, rng=rng)


class _Column:
    """One output of a fitted multi-output emulator."""

    def __init__(self, emulator: Any, column: int, n_outputs: int) -> None:
        self.emulator, self.column, self.n_outputs = emulator, column, n_outputs

    def predict(self, X: np.ndarray, return_std: bool = False):
        out = self.emulator.predict(X, return_std=True)
        mean, std = (np.asarray(a, dtype=float) for a in out)
        if mean.ndim == 2:
            mean, std = mean[:, self.column], std[:, self.column]
        return (mean, std) if return_std else mean


def split_fitted(emulator: Any, columns: list[int]) -> tuple[Any, ...]:
    """Per-output views of a fitted emulator predicting every model output."""
    n_outputs = len(getattr(emulator, "outputs", ())) or 1
    return tuple(_Column(emulator, j, n_outputs) for j in columns)
