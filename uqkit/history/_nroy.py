"""Implausibility cuts and uniform sampling of the not-ruled-out-yet (NROY) space.

Everything here works in the unit cube of the prior's CDF coordinates, where the
prior is uniform; "uniform in NROY" means the prior restricted to NROY.

The sampler is subset simulation (Au & Beck 2001) with the NROY indicator as the
target: a population uniform in the previous wave's NROY is cut by the new
implausibility through intermediate levels (each the 10 % quantile of the
population's implausibility) until at least 10 % of the population passes the
threshold. After each cut the survivors are resampled and moved by random-walk
Metropolis restricted to the set (a move is accepted iff it stays inside), with
the population's covariance as proposal shape and its scale adapted towards
30 % acceptance. The NROY fraction is the product of the surviving fractions, so
a fraction of 1e-8 costs a handful of levels instead of 1e8 rejection draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Cut", "subset_cut", "move", "N_POPULATION"]

#: size of the population that represents NROY
N_POPULATION = 1000
#: fraction of the population kept at each intermediate level of subset simulation
P0 = 0.1
#: random-walk steps after each resampling
N_MOVES = 8
_MAX_LEVELS = 40


@dataclass(frozen=True, eq=False)
class Cut:
    """The implausibility of one wave: emulators, observations and variances per output."""

    emulators: tuple[Any, ...]        # per observed output, predict(X, return_std=True)
    observed: np.ndarray              # (k,) observed values
    other_variance: np.ndarray        # (k,) obs_variance + discrepancy_variance
    rank: int

    def per_output(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Implausibility ``(n, k)`` and emulator variance ``(n, k)`` at ``X``."""
        n, k = X.shape[0], len(self.emulators)
        imp = np.empty((n, k))
        emu_var = np.empty((n, k))
        for j, em in enumerate(self.emulators):
            mean, std = em.predict(X, return_std=True)
            mean = np.asarray(mean, dtype=float).reshape(n)
            var = np.asarray(std, dtype=float).reshape(n) ** 2
            emu_var[:, j] = var
            imp[:, j] = np.abs(mean - self.observed[j]) / np.sqrt(var + self.other_variance[j])
        imp[np.isnan(imp)] = np.inf
        return imp, emu_var

    def combined(self, X: np.ndarray) -> np.ndarray:
        """The ``rank``-th largest implausibility over outputs, shape ``(n,)``."""
        imp, _ = self.per_output(X)
        if self.rank == 1:
            return imp.max(axis=1)
        return -np.partition(-imp, self.rank - 1, axis=1)[:, self.rank - 1]


def move(U: np.ndarray, s: np.ndarray, score: Callable, level: float,
         rng: np.random.Generator, n_steps: int = N_MOVES) -> tuple[np.ndarray, np.ndarray]:
    """Random-walk Metropolis of every row within ``{u in [0,1]^d : score(u) <= level}``.

    The target is uniform on the set, so a proposal is accepted iff it lies inside.
    """
    U, s = U.copy(), s.copy()
    n, d = U.shape
    cov = np.cov(U.T).reshape(d, d) if n > 1 else np.zeros((d, d))
    cov[np.diag_indices(d)] = np.maximum(np.diag(cov), 1e-8)
    chol = np.linalg.cholesky(cov + 1e-10 * np.eye(d))
    scale = 2.38 / np.sqrt(d)
    for _ in range(n_steps):
        prop = U + scale * (rng.standard_normal((n, d)) @ chol.T)
        inside = np.all((prop >= 0.0) & (prop <= 1.0), axis=1)
        sp = np.full(n, np.inf)
        if inside.any():
            sp[inside] = score(prop[inside], level)
        acc = sp <= level
        U[acc] = prop[acc]
        s[acc] = sp[acc]
        rate = acc.mean()
        scale *= 0.6 if rate < 0.15 else (1.5 if rate > 0.45 else 1.0)
    return U, s


def _resample(U: np.ndarray, s: np.ndarray, n: int, rng: np.random.Generator):
    idx = rng.integers(U.shape[0], size=n)
    return U[idx], s[idx]


def subset_cut(U: np.ndarray, score: Callable, threshold: float,
               rng: np.random.Generator) -> dict[str, Any]:
    """Cut a population uniform on the previous set down to ``{score <= threshold}``.

    Returns a dict with ``U`` (population uniform on the new set, or None if it is
    empty), ``ratio`` (estimated fraction of the previous set that survives),
    ``levels`` (intermediate levels used) and ``min_score`` (the smallest score seen).
    """
    n = U.shape[0]
    s = score(U, np.inf)
    ratio = 1.0
    levels: list[float] = []
    min_score = float(np.min(s))
    for _ in range(_MAX_LEVELS):
        if np.mean(s <= threshold) >= P0:
            break
        c = float(np.quantile(s[np.isfinite(s)], P0)) if np.isfinite(s).any() else np.inf
        if not np.isfinite(c) or (levels and c >= levels[-1] * (1 - 1e-3)):
            break  # the levels stopped descending: no point below the threshold was found
        keep = s <= c
        ratio *= keep.mean()
        levels.append(c)
        U, s = _resample(U[keep], s[keep], n, rng)
        U, s = move(U, s, score, c, rng)
        min_score = min(min_score, float(np.min(s)))
    ok = s <= threshold
    if not ok.any():
        return {"U": None, "ratio": 0.0, "levels": levels, "min_score": min_score}
    ratio *= ok.mean()
    U, s = _resample(U[ok], s[ok], n, rng)
    U, s = move(U, s, score, threshold, rng)
    return {"U": U, "ratio": ratio, "levels": levels, "min_score": min_score}
