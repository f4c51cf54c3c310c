"""Log-posterior evaluation: one batch of proposals, one call to the runner."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._problem import Problem

__all__ = ["evaluate_batch", "LogPosterior", "MAX_FAILED_POINTS"]

MAX_FAILED_POINTS = 4096  # failed proposals kept for the cut-off check
DEAD_MODEL_RUNS = 100     # failed runs in a row that mean a broken model

# direct ufunc reductions: called once per sampler step on small arrays, where the
# method wrappers (``a.sum()``, ``a.all()``) cost as much as the reductions
_add, _all_true = np.add.reduce, np.logical_and.reduce


def evaluate_batch(runner: Any, model: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs and an ok-mask for the rows of ``X``, through the runner.

    Every full-model evaluation of the calibration goes through this one
    function (``runner.evaluate(model, X)``); rows that failed or returned
    non-finite values are flagged not ok. A failed run at a proposal is a
    rejection whatever the runner's failure policy, so a uqkit Runner is
    called with ``on_failure="skip"`` (the failure is still stored) and a
    circuit-breaker threshold the batch cannot reach;
    :class:`LogPosterior` stops a model that fails throughout instead.
    """
    if runner is None:  # direct call (surrogates, and the runner-less fallback)
        Y = np.asarray(model(X), dtype=float).reshape(X.shape[0], -1)
        return Y, np.all(np.isfinite(Y), axis=1)
    if _is_uqkit_runner(runner):
        ev = runner.evaluate(model, X, on_failure="skip" if runner.on_failure == "raise" else None,
                             max_consecutive_failures=X.shape[0] + 1)
    else:
        ev = runner.evaluate(model, X)
    Y = np.asarray(ev.Y, dtype=float)
    ok = np.asarray(ev.ok, dtype=bool)
    if math.isfinite(np.add.reduce(Y, axis=None)):  # finite sum: every output finite
        return Y, ok
    return Y, ok & np.all(np.isfinite(Y), axis=1)


_RUNNER_CLASS: list = []  # uqkit.Runner, imported on first use


def _is_uqkit_runner(runner: Any) -> bool:
    if not _RUNNER_CLASS:
        from ..runner import Runner
        _RUNNER_CLASS.append(Runner)
    return isinstance(runner, _RUNNER_CLASS[0])


class LogPosterior:
    """Vectorized log-posterior of a problem, for the full model or a surrogate.

    Only rows inside the prior support are evaluated; ``n_evaluations``
    counts the rows sent to the model, ``n_failed`` those that failed or
    returned non-finite outputs (rejected), and ``failed_points`` keeps the
    last ``MAX_FAILED_POINTS`` of them for :func:`cutoff_check`. A model
    whose runs fail ``max(DEAD_MODEL_RUNS, runner.max_consecutive_failures)``
    times in a row (in evaluation order, across steps) is taken as broken:
    :class:`uqkit.ModelEvaluationError`, as the runner's circuit breaker
    would raise outside a calibration.
    """

    def __init__(self, problem: Problem, model: Any, runner: Any) -> None:
        self.problem = problem
        self.model = model
        self.runner = runner
        self.n_evaluations = 0
        self.n_failed = 0
        self._failed: list[np.ndarray] = []
        self._n_kept = 0
        self._in_a_row = 0  # consecutive failed runs

    def _record_failures(self, X: np.ndarray, ok: np.ndarray) -> None:
        """Record the failed rows ``X[~ok]`` of a batch (in evaluation order)."""
        ok_at = np.flatnonzero(ok)
        if ok_at.size:
            self._in_a_row = X.shape[0] - 1 - int(ok_at[-1])
        else:
            self._in_a_row += X.shape[0]
        limit = max(DEAD_MODEL_RUNS, getattr(self.runner, "max_consecutive_failures", 0))
        if self._in_a_row >= limit:
            from .._errors import ModelEvaluationError
            raise ModelEvaluationError(
                f"calibrate: the last {self._in_a_row} runs of model "
                f"{getattr(self.model, 'name', type(self.model).__name__)!r} all failed (at "
                f"proposals such as {dict(zip(self.problem.names, X[-1].round(6).tolist()))}); "
                "the model looks broken. Failed runs are rejections, but a model that fails "
                "everywhere cannot be calibrated: check it (the runner's store lists the "
                "failures) and rerun.", kind="circuit_breaker")
        X = X[~ok]
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
                self._in_a_row = 0
                return lp, problem.loglike(X, Y), Y
            self._record_failures(X, ok)
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
                self._record_failures(Xi, ok)
            elif ok.size:
                self._in_a_row = 0
            if ok.any():
                lli[ok] = problem.loglike(Xi[ok], Yi[ok])
            ll[inside] = lli
            Y = np.full((X.shape[0], Yi.shape[1]), np.nan)
            Y[inside] = Yi
        return lp, ll, Y
