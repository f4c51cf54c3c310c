"""Emulators of one output for history matching, and the wrapper of a fitted emulator.

Every emulator offers ``predict(X, return_std=True) -> (mean (n,), std (n,))`` with
``X`` in parameter space.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["GPEmulator", "fit_emulator", "split_fitted"]


class GPEmulator:
    """A :func:`uqkit.fit_gp` emulator of one output."""

    def __init__(self, parameters: Any, X: np.ndarray, y: np.ndarray, rng: Any = None) -> None:
        from ..gp import fit_gp

        self.gp = fit_gp(parameters=parameters, X=X, Y=y[:, None], rng=rng)

    def predict(self, X: np.ndarray, return_std: bool = False):
        if not return_std:
            return np.asarray(self.gp.predict(X), dtype=float)[:, 0]
        mean, std = self.gp.predict(X, return_std=True)
        return np.asarray(mean, dtype=float)[:, 0], np.asarray(std, dtype=float)[:, 0]


def fit_emulator(kind: Any, parameters: Any, X: np.ndarray, y: np.ndarray,
                 rng: np.random.Generator) -> Any:
    """Fit the emulator of one output on the runs ``X, y`` (finite rows only)."""
    if callable(kind):
        return kind(X, y)
    return GPEmulator(parameters, X, y, rng=rng)


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
