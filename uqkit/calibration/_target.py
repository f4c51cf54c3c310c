"""Log-posterior evaluation: one batch of proposals, one call to the runner."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._problem import Problem

__all__ = ["evaluate_batch", "LogPosterior", "MAX_FAILED_POINTS"]

MAX_FAILED_POINTS = 4096  # failed proposals kept for the cut-off check

# direct ufunc reductions: called once per sampler step on small arrays, where the
# method wrappers (``a.sum()``, ``a.all()``) cost as much as the reductions
_add, _all_true = np.add.reduce, np.logical_and.reduce


def evaluate_batch(runner: Any, model: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs and an ok-mask for the rows of ``X``, through the runner.

    Every full-model evaluation of the calibration goes through this one
    function (``runner.evaluate(model, X)``); rows that failed or returned
    non-finite values are flagged not ok. A failed run at a proposal is a
    rejection whatever the runner's failure policy: under ``"raise"`` this call
    overrides it with ``"skip"`` (the failure is still stored). The runner's
    circuit breaker still stops a model that fails throughout.
    """
    if runner is None:  # direct call (surrogates, and the runner-less fallback)
        Y = np.asarray(model(X), dtype=float).reshape(X.shape[0], -1)
        return Y, np.all(np.isfinite(Y), axis=1)
    if getattr(runner, "on_failure", None) == "raise":
        ev = runner.evaluate(model, X, on_failure="skip")
    else:
        ev = runner.evaluate(model, X)
    Y = np.asarray(ev.Y, dtype=float)
    ok = np.asarray(ev.ok, dtype=bool)
    if math.isfinite(np.add.reduce(Y, axis=None)):  # finite sum: every output finite
        return Y, ok
    return Y, ok & np.all(np.isfinite(Y), axis=1)


class LogPosterior:
    """Vectorized log-posterior of a problem, for the full model or a surrogate.

    Only rows inside the prior support are evaluated; ``n_evaluations``
    counts the rows sent to the model, ``n_failed`` those that failed or
    returned non-finite outputs (rejected), and ``failed_points`` keeps the
    last ``MAX_FAILED_POINTS`` of them for :func:`cutoff_check`.
    """

    def __init__(self, problem: Problem, model: Any, runner: Any) -> None:
        self.problem = problem
        self.model = model
        self.runner = runner
        self.n_evaluations = 0
        self.n_failed = 0
        self._failed: list[np.ndarray] = []
        self._n_kept = 0

    def _record_failures(self, X: np.ndarray) -> None:
        self.n_failed += X.shape[0]
        self._failed.append(X.copy())
        self._n_kept += X.shape[0]
        while self._n_kept - self._failed[0].shape[0] >= MAX_FAILED_POINTS:
            self._n_kept -= self._failed.pop(0).shape[0]

    @property
    def failed_points(self) -> np.ndarray:
        """The most recent failed proposals (parameter rows), at most ``MAX_FAILED_POINTS``."""
        if not self._failed:
            return np.empty((0, self.problem.dim))
        return np.concatenate(self._failed)[-MAX_FAILED_POINTS:]

    def __call__(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(log prior, log likelihood, outputs)`` per row; outputs NaN where not evaluated."""
        problem = self.problem
        lp = problem.logprior(X)
        if math.isfinite(_add(lp)):  # the common case (every row inside the support): no copies
            Y, ok = evaluate_batch(self.runner, self.model, problem.model_inputs(X))
            self.n_evaluations += X.shape[0]
            if _all_true(ok):
                return lp, problem.loglike(X, Y), Y
            self._record_failures(X[~ok])
            ll = np.full(X.shape[0], -np.inf)
            ll[ok] = problem.loglike(X[ok], Y[ok])
            return lp, ll, Y
        ll = np.full(X.shape[0], -np.inf)
        finite = np.isfinite(lp)
        inside = np.flatnonzero(finite)
        Y = None
        if inside.size:
            Xi = X[inside]
            Yi, ok = evaluate_batch(self.runner, self.model, problem.model_inputs(Xi))
            self.n_evaluations += int(inside.size)
            lli = np.full(inside.size, -np.inf)
            if not ok.all():
                self._record_failures(Xi[~ok])
            if ok.any():
                lli[ok] = problem.loglike(Xi[ok], Yi[ok])
            ll[inside] = lli
            Y = np.full((X.shape[0], Yi.shape[1]), np.nan)
            Y[inside] = Yi
        return lp, ll, Y
