"""The runner: the one place where uqkit evaluates models."""

from __future__ import annotations

import concurrent.futures as cf
import os
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from .._errors import InvalidParameterError
from .._validation import as_2d_float, check_choice, check_int, check_real, fail
from ..models._protocol import check_model
from ._evaluations import Evaluations
from ._executors import make_backend
from ._job import _FAST_MAX_ROWS, _fast_evaluate, _Job
from ._store import Store
from ._stream import STREAM_ROWS, evaluate_streamed

__all__ = ["Runner", "evaluate"]

_POLICIES = ("raise", "skip", "nan")


class Runner:
    """Evaluate models: batching, parallel executors, retries, failure policy, caching.

    Parameters
    ----------
    executor : None, "processes", "threads", int, concurrent.futures.Executor or dask Client
        ``None`` evaluates in this process; ``"processes"`` or an int starts a
        local process pool (models travel with cloudpickle, so lambdas and
        notebook functions work); any ``concurrent.futures.Executor`` or a
        ``dask.distributed.Client`` is used as given (not shut down by uqkit).
    store : None, str, path or Store
        Where results are committed as they arrive; a path opens (or creates)
        a SQLite :class:`Store`. Stored inputs are never evaluated again.
    on_failure : {"raise", "skip", "nan"}
        ``"raise"``: stop at the first failed evaluation (after retries) with
        :class:`uqkit.ModelEvaluationError`, once every result that arrived is
        stored. ``"skip"``: mark the row failed and go on. ``"nan"``: the same,
        keeping NaN rows for methods that handle them explicitly.
    retries : int
        Extra attempts for a failed evaluation whose failure may be transient,
        with exponential backoff (``retry_backoff * 2**k`` seconds).
    batch_size : int, optional
        Rows per model call for vectorized models (default: all rows in process;
        about four batches per worker with an executor). Scalar models always
        get one row per call.
    progress : {"auto", True, False}
        tqdm progress bar (notebook-aware); ``"auto"`` shows it only when the
        work takes more than two seconds.
    max_consecutive_failures : int
        Circuit breaker: stop after this many consecutive failed evaluations,
        whatever the policy (default 10). See Notes for what counts.
    max_failure_rate : float in (0, 1]
        Circuit breaker: also stop when this fraction of the recently
        evaluated rows failed (default 0.8; 1.0 stops only when every row of
        the window failed). See Notes.
    allow_nonfinite : bool
        Count NaN or infinite outputs as valid (default: they are recorded as
        ``nonfinite``, kept raw, and excluded from ``ok``).
    retry_backoff : float
        Base delay in seconds between retries.

    Notes
    -----
    The circuit breaker counts evaluations in the order their results arrive.
    An evaluation is one model call: one row of a scalar model, or one batch
    of a vectorized model, which counts as failed when at least 90 % of its
    rows failed (a failed batch split to isolate its failing rows counts
    through its parts). It trips after ``max_consecutive_failures``
    consecutive failed evaluations, or when at least ``max_failure_rate`` of
    the rows of the most recent evaluations failed, measured once they cover
    ``max(100, 10 * max_consecutive_failures)`` rows. So a model failing on
    10 % of a design runs through, and a model failing everywhere stops after
    10 calls. Rows a store already holds as failed are retried by a rerun; if
    they fail again they are reported as before but not counted, since they
    are no new evidence against the model. The breaker is per
    :meth:`evaluate` call.

    Examples
    --------
    >>> import uqkit
    >>> model, params, _ = uqkit.examples.ishigami()
    >>> ev = uqkit.Runner().evaluate(model, params.sample(16, rng=0))
    >>> ev.Y.shape, ev.n_new
    ((16, 1), 16)
    """

    def __init__(self, executor: Any = None, store: Any = None, *, on_failure: str = "raise",
                 retries: int = 0, batch_size: int | None = None, progress: Any = "auto",
                 max_consecutive_failures: int = 10, allow_nonfinite: bool = False,
                 retry_backoff: float = 0.05, max_failure_rate: float = 0.8) -> None:
        self.on_failure = check_choice("Runner", "on_failure", on_failure, _POLICIES)
        self.retries = check_int("Runner", "retries", retries, minimum=0)
        self.batch_size = None if batch_size is None else check_int(
            "Runner", "batch_size", batch_size, minimum=1)
        if progress not in ("auto", True, False):
            fail("Runner", "progress", "'auto', True or False", progress)
        self.progress = progress
        self.max_consecutive_failures = check_int("Runner", "max_consecutive_failures",
                                                  max_consecutive_failures, minimum=1)
        rate = check_real("Runner", "max_failure_rate", max_failure_rate)
        if not 0.0 < rate <= 1.0:
            fail("Runner", "max_failure_rate", "a fraction in (0, 1]", max_failure_rate,
                 "Pass 1.0 to stop only when every recent row failed.")
        self.max_failure_rate = rate
        self.allow_nonfinite = bool(allow_nonfinite)
        self.retry_backoff = check_real("Runner", "retry_backoff", retry_backoff,
                                        nonnegative=True)
        if store is None or isinstance(store, Store):
            self.store = store
        elif isinstance(store, (str, os.PathLike)):
            self.store = Store(store)
        else:
            fail("Runner", "store", "None, a path or a uqkit.Store", type(store).__name__)
        self._executor_arg = executor
        self._backend = None
        if executor is not None:
            make_backend_check(executor)
        self._payload: tuple[Any, bytes] | None = None
        self._finalizer = None
        self._checked_model: Any = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def backend(self):
        if self._backend is None:
            self._backend = make_backend(self._executor_arg)
            if self._backend.owned:
                self._finalizer = weakref.finalize(self, self._backend.close)
        return self._backend

    @property
    def n_workers(self) -> int:
        """Number of parallel workers (1 in process)."""
        return self.backend.n_workers

    def close(self) -> None:
        """Shut down a pool this runner started (the store stays open)."""
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        ex = self._executor_arg
        ex = "in process" if ex is None else (ex if isinstance(ex, (str, int))
                                             else type(ex).__name__)
        return (f"Runner(executor={ex!r}, store={self.store!r}, on_failure={self.on_failure!r}, "
                f"retries={self.retries})")

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate(self, model: Any, X: Any, *, parameters: Any = None,
                 on_invalid: str = "raise", on_failure: str | None = None,
                 max_consecutive_failures: int | None = None) -> Evaluations:
        """Evaluate ``model`` on the rows of ``X``.

        Parameters
        ----------
        model : Model
            Any object with ``inputs``, ``outputs`` and ``__call__``.
        X : array-like (n_samples, n_inputs), DataFrame or mapping of columns
            Inputs. A DataFrame or mapping is reordered to ``model.inputs`` by name.
        parameters : Parameters, optional
            If given, rows outside the support are rejected (``on_invalid="raise"``)
            or marked ``"invalid"`` and not evaluated (``on_invalid="mark"``).
        on_invalid : {"raise", "mark"}
        on_failure : {"raise", "skip", "nan"}, optional
            This call's failure policy instead of the runner's (a sampler
            passes ``"skip"``: a failed run at a proposal is a rejection).
        max_consecutive_failures : int, optional
            This call's circuit-breaker threshold instead of the runner's (a
            sampler's batch of proposals may fail as a whole without the model
            being broken; the sampler then applies its own rule).

        Returns
        -------
        Evaluations

        Raises
        ------
        InvalidParameterError
            Bad model or inputs (NaN, inf, wrong shape), before any model run.
        ModelEvaluationError
            Under ``on_failure="raise"``, naming the row, its inputs and the
            cause; or when the circuit breaker trips.
        StoreError
            The store cannot be used: damaged (:class:`uqkit.StoreCorruptedError`),
            locked for longer than its timeout, on a full disk, or read-only
            while rows of ``X`` are not stored yet.

        Notes
        -----
        With a store, a design of more than 32,768 rows is looked up, evaluated
        and written chunk by chunk (same results), so the driver's memory grows
        by about 100 bytes a row rather than with every key and status string;
        :meth:`evaluate_batches` also streams the design itself.
        """
        if model is not self._checked_model:  # the protocol check costs ~10 us a call
            check_model(model, "Runner.evaluate")
            self._checked_model = model
        check_choice("Runner.evaluate", "on_invalid", on_invalid, ("raise", "mark"))
        if on_failure is not None:
            check_choice("Runner.evaluate", "on_failure", on_failure, _POLICIES)
        if max_consecutive_failures is not None and not (
                type(max_consecutive_failures) is int and max_consecutive_failures >= 1):
            max_consecutive_failures = check_int(  # (the plain-int case skips ~5 us of checks)
                "Runner.evaluate", "max_consecutive_failures", max_consecutive_failures,
                minimum=1)
        X = _input_array(model, X)
        n = X.shape[0]
        if (parameters is None and n <= _FAST_MAX_ROWS and self.store is None
                and self._executor_arg is None and self.progress is not True
                and getattr(model, "vectorized", False)
                and (self.batch_size is None or self.batch_size >= n)):
            return _fast_evaluate(self, model, X, on_failure, max_consecutive_failures)
        invalid = np.zeros(n, dtype=bool)
        if parameters is not None:
            invalid = _outside_support(model, parameters, X, on_invalid)
        if self.store is not None and n > STREAM_ROWS:
            return evaluate_streamed(self, model, X, invalid, on_failure=on_failure,
                                     max_failures=max_consecutive_failures)
        job = _Job(self, model, X, invalid, on_failure=on_failure,
                   max_failures=max_consecutive_failures)
        return job.run()


    def evaluate_batches(self, model: Any, batches: Iterable[Any], *, parameters: Any = None,
                         on_invalid: str = "raise") -> Iterator[Evaluations]:
        """Evaluate a design given batch by batch; yield one :class:`Evaluations` per batch.

        For designs too large to hold in memory (tens of millions of rows): the
        driver holds one batch at a time, and with a store every result is
        committed as it arrives, so a rerun serves the finished batches.
        ``uqkit.Runner.evaluate`` on an array already streams its lookups and
        writes in chunks of 32,768 rows; this also streams the design itself.

        Parameters
        ----------
        model : Model
        batches : iterable of array-like (n_i, n_inputs)
            E.g. a generator drawing ``params.sample(2**16, rng=...)`` chunks.
        parameters, on_invalid
            As in :meth:`evaluate`.

        Yields
        ------
        Evaluations
            The results of each batch, in order. The circuit breaker and the
            failure policy apply per batch.
        """
        for X in batches:
            yield self.evaluate(model, X, parameters=parameters, on_invalid=on_invalid)


def make_backend_check(executor: Any) -> None:
    """Validate ``executor`` eagerly without starting anything."""
    if executor is None or isinstance(executor, (cf.Executor,)):
        return
    if isinstance(executor, bool) or (isinstance(executor, int) and executor < 1):
        fail("Runner", "executor", "a positive number of worker processes", executor)
    if isinstance(executor, str) and executor not in ("processes", "threads"):
        fail("Runner", "executor", "'processes' or 'threads' when a string", executor)
    if not isinstance(executor, (int, str)) and not (
            type(executor).__name__ == "Client" and hasattr(executor, "get_executor")):
        fail("Runner", "executor", "None, 'processes', 'threads', a positive int, a "
             "concurrent.futures.Executor or a dask.distributed.Client",
             type(executor).__name__)


def _input_array(model: Any, X: Any) -> np.ndarray:
    if type(X) is np.ndarray:  # the common case first (a sampler's batch)
        return as_2d_float("Runner.evaluate", "X", X, len(model.inputs))
    names = tuple(model.inputs)
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):  # DataFrame
        missing = [c for c in names if c not in X.columns]
        if missing:
            fail("Runner.evaluate", "X", f"columns named {list(names)}",
                 f"columns {list(X.columns)} (missing {missing})")
        X = X[list(names)].to_numpy()
    elif isinstance(X, Mapping):
        if set(X) != set(names):
            fail("Runner.evaluate", "X", f"a mapping with keys {sorted(names)}", sorted(X))
        X = np.column_stack([np.atleast_1d(np.asarray(X[k], dtype=float)) for k in names])
    return as_2d_float("Runner.evaluate", "X", X, len(names))


def _outside_support(model, parameters, X, on_invalid) -> np.ndarray:
    names = tuple(model.inputs)
    if set(parameters.names) != set(names):
        fail("Runner.evaluate", "parameters", f"parameters named {list(names)}",
             list(parameters.names))
    bounds = np.array([parameters[nm].support for nm in names])
    outside = (X < bounds[:, 0]) | (X > bounds[:, 1])
    if on_invalid == "raise" and outside.any():
        i, j = np.argwhere(outside)[0]
        fail("Runner.evaluate", "X", f"inside the support of every parameter ({names[j]!r} in "
             f"[{bounds[j, 0]:g}, {bounds[j, 1]:g}])", f"{X[i, j]!r} at row {i}",
             "Pass on_invalid='mark' to skip such rows.")
    return outside.any(axis=1)


def evaluate(model: Any, X: Any, **options: Any) -> Evaluations:
    """Evaluate ``model`` on ``X`` once, with a temporary :class:`Runner`.

    ``options`` are :class:`Runner`'s arguments (``executor``, ``store``,
    ``on_failure``, ...) plus ``parameters`` and ``on_invalid`` of
    :meth:`Runner.evaluate`. A process pool started here is shut down on return.
    """
    eval_opts = {k: options.pop(k) for k in ("parameters", "on_invalid") if k in options}
    try:
        runner = Runner(**options)
    except TypeError as exc:
        raise InvalidParameterError(f"evaluate got an unknown option: {exc}") from None
    with runner:
        return runner.evaluate(model, X, **eval_opts)
