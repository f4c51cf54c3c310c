"""One evaluation job: deduplicate, look up, claim, schedule, record (used by Runner)."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import math
import os
import signal
import threading
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ModelEvaluationError
from ..models._protocol import model_identity
from ._breaker import Breaker
from ._evaluations import Evaluations, HexKeys
from ._executors import TaskLost
from ._keys import canonical_inputs, make_keys
from ._rows import _all_distinct, _as_slice, _dedupe_rows, _is_range
from ._store import HOST, Store
from ._worker import dump_model, run_batch

if TYPE_CHECKING:
    from ._runner import Runner

__all__: list[str] = []

#: a run whose worker (or batch job) was lost is re-queued at most this many times
MAX_REQUEUES = 2
#: results of evaluations quicker than this are committed in groups: at most this much
#: model time is ever at risk in a crash, and a trivial model does not pay an fsync per row
GROUP_COMMIT_MODEL_SECONDS = 0.005
#: ...and a buffered result never waits longer than this for its commit
GROUP_COMMIT_MAX_AGE = 0.2


class _Task:
    __slots__ = ("rows", "attempt", "ready", "suspect", "lost")

    def __init__(self, rows: np.ndarray, attempt: int = 1, ready: float = 0.0) -> None:
        self.rows = rows  # indices into the unique-row arrays
        self.attempt = attempt
        self.ready = ready
        self.suspect = False  # was in flight when a worker process died
        self.lost = 0  # times the executor lost it (not counted as attempts)


class _Stop(Exception):
    """Internal: stop scheduling (failure under 'raise' or the circuit breaker)."""

    def __init__(self, error: ModelEvaluationError) -> None:
        self.error = error


@contextlib.contextmanager
def _sigterm_as_exit():
    """Turn SIGTERM into SystemExit(143) while evaluating, so claims are released."""
    installed = False
    previous = None
    if threading.current_thread() is threading.main_thread():
        try:
            previous = signal.getsignal(signal.SIGTERM)
            if previous in (signal.SIG_DFL, None):
                def handler(signum, frame):
                    raise SystemExit(128 + signum)
                signal.signal(signal.SIGTERM, handler)
                installed = True
        except (ValueError, OSError):  # pragma: no cover - exotic platforms
            installed = False
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous)


class _Job:
    """One ``evaluate`` call: deduplicate, look up, claim, schedule, record."""

    def __init__(self, runner: Runner, model: Any, X: np.ndarray, invalid: np.ndarray, *,
                 breaker: Breaker | None = None, on_failure: str | None = None,
                 max_failures: int | None = None) -> None:
        self.runner = runner
        # per-call overrides of the runner's failure policy and circuit-breaker threshold
        self.on_failure = on_failure or runner.on_failure
        self.max_failures = max_failures or runner.max_consecutive_failures
        self.model = model
        self.store: Store | None = runner.store
        self.name = str(getattr(model, "name", None) or type(model).__name__)
        self.m = len(model.outputs)
        n = X.shape[0]
        self.X = X
        self.n = n
        Xc = canonical_inputs(X) if runner.store is not None else X  # (no copy without keys)
        if self.store is not None:
            self.ident = model_identity(model)
            keys = make_keys(self.ident["id"], Xc)
            if not invalid.any() and _all_distinct(keys):
                # no duplicate rows: each row is its own representative
                rep = np.arange(n, dtype=np.intp)
                self.uniq = rep
                self._ukeys = keys
            else:
                first: dict[bytes, int] = {}
                if invalid.any():
                    rep = np.array([-1 if bad else first.setdefault(k, i) for i, (k, bad)
                                    in enumerate(zip(keys, invalid.tolist()))], dtype=np.intp)
                else:
                    rep = np.fromiter((first.setdefault(k, i) for i, k in enumerate(keys)),
                                      dtype=np.intp, count=n)
                self.uniq = np.fromiter(first.values(), dtype=np.intp, count=len(first))
                self._ukeys = list(first)  # key of each unique row, in the order of uniq
        else:
            # no store, no keys: find identical rows with one lexicographic sort
            self.ident = None
            keys = None
            rep, self.uniq = _dedupe_rows(Xc, invalid)
            self._ukeys = []
        self.keys = keys
        self.rep = rep
        self.invalid = invalid
        u = len(self.uniq)
        self.uY = np.full((u, self.m), np.nan)
        self.ustatus = np.full(u, "pending", dtype="<U11")
        self.uerrors: list[str | None] = [None] * u
        self.uattempts = np.zeros(u, dtype=np.int64)
        self.prev_attempts = np.zeros(u, dtype=np.int64)
        self.known_failed = np.zeros(u, dtype=bool)  # stored as failed by an earlier run
        self.new = np.zeros(u, dtype=bool)
        self.owner = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex}"
        self.breaker = breaker if breaker is not None else Breaker(
            self.max_failures, runner.max_failure_rate)
        self.stop_error: ModelEvaluationError | None = None
        self.in_flight: dict[cf.Future, _Task] = {}
        self.bar = None
        self._buffer: list[tuple] = []
        self._buffer_time = 0.0
        self._buffer_since = 0.0

    # -- helpers -------------------------------------------------------------------------------
    def ukeys(self, idx) -> list[bytes]:
        uk = self._ukeys
        if len(idx) == len(uk):
            return [uk[i] for i in idx.tolist()] if not _is_range(idx) else uk
        return [uk[i] for i in np.asarray(idx).tolist()]

    def row_inputs(self, u: int) -> dict[str, float]:
        return dict(zip(self.model.inputs, self.X[self.uniq[u]].tolist()))

    # -- main ---------------------------------------------------------------------------------
    def run(self) -> Evaluations:
        store = self.store
        todo = np.arange(len(self.uniq))
        busy: list[int] = []
        if store is not None:
            store.register_model(self.ident, self.model.inputs, self.model.outputs)
        try:
            with _sigterm_as_exit():
                while len(todo):
                    if store is not None:
                        todo, busy_now = self._claim(todo)
                        busy.extend(busy_now)
                    self._execute(todo)
                    todo = np.array([], dtype=np.intp)
                    if busy:
                        todo = self._wait_for_others(np.array(busy))
                        busy = []
        except BaseException:
            self._abort()
            raise
        finally:
            if self.bar is not None:
                self.bar.close()
            if store is not None:
                store.release(self.owner)
        return self._result()

    def _serve_cached(self, todo: np.ndarray) -> np.ndarray:
        found = self.store.lookup(self.ukeys(todo))
        rest = []
        for u in todo:
            hit = found.get(self.keys[self.uniq[u]])
            if hit is not None and hit[0] in ("ok", "nonfinite"):
                self.uY[u] = hit[1]
                self.ustatus[u] = hit[0]
            else:
                if hit is not None:
                    self.prev_attempts[u] = hit[2]
                    self.known_failed[u] = hit[0] == "failed"
                rest.append(u)
        return np.asarray(rest, dtype=np.intp)

    def _claim(self, todo: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Serve stored results, claim the rest; keys another process holds are 'busy'."""
        got = self.store.claim(self.ident["id"], self.ukeys(todo), self.owner,
                               X=self.X[self.uniq[todo]])
        mine = todo[got.owned]
        self.prev_attempts[mine] = got.attempts[got.owned]
        self.known_failed[mine] = got.status[got.owned] == "failed"
        done = got.done
        cached = todo[done]
        self.uY[cached] = got.Y[done]
        self.ustatus[cached] = got.status[done]
        # the rest is evaluated by another live process (or completed meanwhile)
        return mine, todo[~got.owned & ~done].tolist()

    def _wait_for_others(self, busy: np.ndarray) -> np.ndarray:
        """Wait for keys another live process is evaluating (F1); re-queue abandoned ones."""
        delay = 0.05
        while True:
            busy = self._serve_cached(busy)
            if not len(busy):
                return busy
            pending = self.store.pending_keys(self.ukeys(busy))
            abandoned = np.array([u for u in busy if self.keys[self.uniq[u]] not in pending],
                                 dtype=np.intp)
            if len(abandoned):
                return abandoned  # the caller claims them (the owner died or gave up)
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    # -- scheduling ---------------------------------------------------------------------------
    def _batches(self, todo: np.ndarray, backend) -> list[np.ndarray]:
        if not getattr(self.model, "vectorized", False):
            return [todo[i:i + 1] for i in range(len(todo))]
        size = self.runner.batch_size
        if size is None:
            size = len(todo) if backend.serial else max(
                1, -(-len(todo) // (4 * backend.n_workers)))
        return [todo[i:i + size] for i in range(0, len(todo), size)]

    def _execute(self, todo: np.ndarray) -> None:
        if not len(todo):
            return
        backend = self.runner.backend
        queue = deque(_Task(b) for b in self._batches(todo, backend))
        if len(queue) > 1 or self.runner.progress is True:  # (one batch: no steps to show)
            self._progress(len(todo))
        try:
            if backend.serial:
                self._run_serial(queue)
            else:
                self._run_pool(queue, backend)
        finally:
            self._flush()
        if self.stop_error is not None:
            raise self.stop_error

    def _progress(self, total: int) -> None:
        setting = self.runner.progress
        if setting is False or total < 2:
            return
        import warnings

        from tqdm.auto import tqdm

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tqdm.auto's IProgress notice
            self.bar = tqdm(total=total, desc=f"evaluating {self.name}", unit="run",
                            delay=0 if setting is True else 2.0, leave=False)

    def _run_serial(self, queue: deque) -> None:
        while queue and self.stop_error is None:
            task = queue.popleft()
            self._flush_if_old()
            wait = task.ready - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            at = _as_slice(task.rows) if len(self.uniq) == self.n else None
            # (a contiguous block of distinct rows is passed as a view, not gathered, as
            # the lean path does: no second copy of a 230 MB design)
            X = self.X[at] if isinstance(at, slice) else self.X[self.uniq[task.rows]]
            self._handle(task, run_batch(self.model, X), queue)

    def _payload(self) -> bytes:
        cached = self.runner._payload
        if cached is not None and cached[0] is self.model:
            return cached[1]
        payload = dump_model(self.model)
        self.runner._payload = (self.model, payload)
        return payload

    def _run_pool(self, queue: deque, backend) -> None:
        payload = self._payload()
        # at most one task per worker is submitted and not yet committed: a killed driver
        # then loses at most `n_workers` evaluations
        # (tests/test_durability.py::test_sigkill_driver_then_resume)
        limit = backend.n_workers
        if backend.kind == "dask":
            # Dask tasks not yet started are cancelled when the client goes away; a
            # deeper queue hides the scheduler's round trip
            limit = 2 * backend.n_workers
        heartbeat = 5.0
        last_beat = time.monotonic()
        while queue or self.in_flight:
            now = time.monotonic()
            if self.stop_error is not None:
                queue.clear()
            # submit ready tasks, keeping a bounded number in flight; a task that was in
            # flight when a worker process died runs alone, so the culprit is identified
            # and innocent rows are not blamed
            for _ in range(len(queue)):
                if len(self.in_flight) >= limit or any(t.suspect for t in
                                                        self.in_flight.values()):
                    break
                task = queue.popleft()
                if task.ready > now or (task.suspect and self.in_flight):
                    queue.append(task)
                    continue
                X = self.X[self.uniq[task.rows]]
                try:
                    fut = backend.submit(run_batch, payload, X)
                except cf.BrokenExecutor:
                    queue.appendleft(task)
                    self._recover_pool(backend, queue)
                    break
                self.in_flight[fut] = task
            if not self.in_flight:
                if queue:
                    time.sleep(min(0.05, max(0.0, min(t.ready for t in queue) - now)))
                continue
            done, _ = cf.wait(list(self.in_flight), timeout=0.5,
                              return_when=cf.FIRST_COMPLETED)
            if not done:
                self._flush()
            if self.store is not None and time.monotonic() - last_beat > heartbeat:
                self.store.heartbeat(self.owner)
                last_beat = time.monotonic()
            for fut in done:
                task = self.in_flight.pop(fut, None)
                if task is None:  # re-queued after the pool was replaced
                    continue
                try:
                    res = fut.result()
                except cf.CancelledError:
                    continue
                except TaskLost as exc:
                    task.lost += 1
                    if task.lost <= MAX_REQUEUES:
                        self._record_lost(task, exc)
                        queue.appendleft(task)  # not a model failure: run it again
                        continue
                    res = ("fail", "worker_killed", "TaskLost", str(exc), None,
                           dict(exc.details), True, None, None, None)
                except cf.BrokenExecutor:
                    # a worker process died: blame the task only if it ran alone
                    if not task.suspect:
                        task.suspect = True
                        queue.appendleft(task)
                        self._recover_pool(backend, queue)
                        continue
                    res = ("fail", "worker_died", "BrokenProcessPool",
                           "the worker process died while evaluating this input (crash, "
                           "os._exit or the OOM killer)", None, {}, True, None, None, None)
                    self._recover_pool(backend, queue)
                except Exception as exc:  # e.g. dask's KilledWorker
                    kind = "worker_killed" if type(exc).__name__ == "KilledWorker" \
                        else "executor_error"
                    res = ("fail", kind, type(exc).__name__, str(exc) or kind, None, {}, True,
                           None, None, None)
                self._handle(task, res, queue)

    def _record_lost(self, task: _Task, exc: TaskLost) -> None:
        """A run lost with its batch job (SLURM) is re-queued: keep a trace naming the job.
        (Losses without such details, e.g. a local Dask worker, are re-queued silently.)"""
        if self.store is None or not exc.details:
            return
        self._flush()
        rows = task.rows
        self.store.put_failure(
            self.ident["id"], self.ukeys(rows), self.X[self.uniq[rows]],
            attempt=int(self.prev_attempts[rows[0]] + task.attempt), final=False,
            kind="worker_lost", error_type="TaskLost", message=f"{exc} (re-queued, "
            f"{task.lost} of {MAX_REQUEUES})", traceback=None, details=dict(exc.details),
            duration=None)

    def _recover_pool(self, backend, queue: deque) -> None:
        """A worker process died: re-queue what was in flight (as suspects) on a fresh pool."""
        lost = list(self.in_flight.values())
        self.in_flight.clear()
        if not backend.restart():
            raise ModelEvaluationError("The executor broke (a worker process died) and "
                                       "uqkit cannot restart an executor it did not create.")
        for task in lost:
            task.suspect = True
            queue.appendleft(task)

    # -- results ------------------------------------------------------------------------------
    def _handle(self, task: _Task, res: tuple, queue: deque) -> None:
        rows = task.rows
        self.uattempts[rows] += 1
        self.new[rows] = True
        if res[0] == "ok":
            _, Y, duration, host, pid = res[:5]
            job = res[5] if len(res) > 5 else None  # the batch job it ran in (SLURM)
            Y = np.asarray(Y, dtype=float)
            want = (len(rows), self.m)
            if Y.shape != want and not (self.m == 1 and Y.shape == (len(rows),)):
                res = ("fail", "shape_mismatch", "EvaluationFailure",
                       f"the model returned shape {Y.shape} vs expected {want}", None,
                       {"returned": list(Y.shape), "expected": list(want)}, False, duration,
                       host, pid)
            else:
                self._record_ok(task, Y.reshape(want), duration, host, pid, job)
                return
        self._record_failure(task, res, queue)

    def _record_ok(self, task, Y, duration, host, pid, job=None) -> None:
        rows = task.rows
        finite = np.isfinite(Y).all(axis=1)
        if self.store is None and finite.all():  # in process, all ok: no per-row strings
            at = _as_slice(rows)
            self.uY[at] = Y
            self.ustatus[at] = "ok"
            if self.bar is not None:
                self.bar.update(len(rows))
            self.breaker.ok(len(rows))
            return
        status = np.where(finite, "ok", "nonfinite")
        if self.store is not None:
            self._commit(rows, Y, status, duration, host, pid, job)
        self.uY[rows] = Y
        self.ustatus[rows] = status
        if self.bar is not None:
            self.bar.update(len(rows))
        if finite.all() or self.runner.allow_nonfinite:
            self.breaker.ok(len(rows))
            return
        bad = rows[~finite]
        for u in bad:
            self.uerrors[u] = "nonfinite: the model returned NaN or infinite outputs"
        if self.on_failure == "raise" and self.stop_error is None:
            u = int(bad[0])
            self.stop_error = ModelEvaluationError(
                f"Model {self.name!r} returned non-finite outputs on row {int(self.uniq[u])} "
                f"(inputs {self.row_inputs(u)}): {self.uY[u].tolist()}. The raw values are "
                "stored; pass on_failure='skip' or 'nan' to continue, or "
                "allow_nonfinite=True to accept them.", row=int(self.uniq[u]),
                inputs=self.row_inputs(u), kind="nonfinite")
        self._count(rows, bad)

    def _commit(self, rows, Y, status, duration, host, pid, job=None) -> None:
        quick = duration is not None and duration < GROUP_COMMIT_MODEL_SECONDS
        if not self._buffer:
            self._buffer_since = time.monotonic()
        self._buffer.append((rows, Y, status, duration, host, pid, job))
        self._buffer_time += duration or 0.0
        if not quick or self._buffer_time >= GROUP_COMMIT_MODEL_SECONDS:
            self._flush()
        else:
            self._flush_if_old()

    def _flush_if_old(self) -> None:
        if self._buffer and time.monotonic() - self._buffer_since > GROUP_COMMIT_MAX_AGE:
            self._flush()

    def _flush(self) -> None:
        """Commit every buffered result in one transaction."""
        if not self._buffer or self.store is None:
            return
        buf, self._buffer, self._buffer_time = self._buffer, [], 0.0
        jobs = None
        if any(b[6] is not None for b in buf):
            jobs = [b[6] for b in buf for _ in range(len(b[0]))]
        if len(buf) == 1:
            rows, Y, status, duration, host, pid, _ = buf[0]
            durations, hosts, pids = duration, host, pid
        else:
            rows = np.concatenate([b[0] for b in buf])
            Y = np.concatenate([b[1] for b in buf])
            status = np.concatenate([b[2] for b in buf])
            durations = [b[3] for b in buf for _ in range(len(b[0]))]
            hosts = [b[4] for b in buf for _ in range(len(b[0]))]
            pids = [b[5] for b in buf for _ in range(len(b[0]))]
        self.store.put_results(
            self.ident["id"], self.ukeys(rows), self.X[self.uniq[rows]], Y, status,
            attempts=self.uattempts[rows].tolist(), duration=durations, host=hosts, pid=pids,
            jobs=jobs)

    def _record_failure(self, task, res, queue) -> None:
        self._flush()  # keep the store in arrival order
        _, kind, etype, message, tb, details, retryable, duration, host, pid = res
        rows = task.rows
        runner = self.runner
        if len(rows) > 1 and self.on_failure != "raise":
            # a failed vectorized batch: bisect to isolate the failing rows
            if self.store is not None:
                self.store.put_failure(self.ident["id"], self.ukeys(rows),
                                       self.X[self.uniq[rows]], attempt=task.attempt,
                                       final=False, kind=kind, error_type=etype,
                                       message=message, traceback=tb, details=details,
                                       duration=duration, host=host, pid=pid)
            self.uattempts[rows] -= 1
            half = len(rows) // 2
            queue.appendleft(_Task(rows[half:], task.attempt))
            queue.appendleft(_Task(rows[:half], task.attempt))
            return
        final = not (retryable and task.attempt <= runner.retries) or \
            self.stop_error is not None
        if self.store is not None:
            self.store.put_failure(
                self.ident["id"], self.ukeys(rows), self.X[self.uniq[rows]],
                attempt=int(self.prev_attempts[rows[0]] + task.attempt), final=final, kind=kind,
                error_type=etype, message=message, traceback=tb, details=details,
                duration=duration, host=host, pid=pid,
                attempts=self.uattempts[rows].tolist())
        if not final:
            # retry this input next (after the backoff), before moving on: a dead model
            # then trips the circuit breaker after K inputs, not after the whole design
            delay = runner.retry_backoff * 2 ** (task.attempt - 1)
            queue.appendleft(_Task(rows, task.attempt + 1, time.monotonic() + delay))
            return
        text = f"{kind}: {etype}: {message}"
        tail = (details or {}).get("stderr_tail")
        for u in rows:
            self.ustatus[u] = "failed"
            self.uerrors[u] = text
        if self.bar is not None:
            self.bar.update(len(rows))
        if self.on_failure == "raise" and self.stop_error is None:
            u = int(rows[0])
            where = f" Traceback and details are in the failures table of {self.store.path}." \
                if self.store is not None else ""
            msg = (f"Model {self.name!r} failed on row {int(self.uniq[u])} (inputs "
                   f"{self.row_inputs(u)}) after {task.attempt} attempt(s): {text}")
            if tail:
                msg += f"\nstderr tail:\n{str(tail)[-2000:]}"
            if tb and self.store is None and kind == "exception":
                msg += f"\n{tb}"
            self.stop_error = ModelEvaluationError(
                msg + where, row=int(self.uniq[u]), inputs=self.row_inputs(u), kind=kind,
                details={"error_type": etype, "message": message, "traceback": tb,
                         **(details or {})})
        self._count(rows, rows)

    def _count(self, rows: np.ndarray, failed: np.ndarray) -> None:
        """Count one model call of ``rows`` with the ``failed`` ones in the breaker.

        Rows that were stored as failed before (a rerun retrying them) and failed
        again are left out: they are no new evidence against the model.
        """
        known = self.known_failed[failed]
        n_rows, n_failed = len(rows), len(failed)
        if known.any():
            n_known = int(known.sum())
            n_rows, n_failed = n_rows - n_known, n_failed - n_known
        why = self.breaker.record(n_rows, n_failed)
        if why is None or self.stop_error is not None:
            return
        runner = self.runner
        last = self.uerrors[int(failed[-1])] if len(failed) else ""
        self.stop_error = ModelEvaluationError(
            f"Circuit breaker: {why} of model {self.name!r} failed "
            f"(max_consecutive_failures={self.max_failures}, "
            f"max_failure_rate={runner.max_failure_rate:g}); stopping the study. "
            f"Last error: {last}. Completed results are stored; fix the model and rerun "
            "(the Runner's circuit-breaker rule is in its docstring).",
            kind="circuit_breaker")

    def _abort(self) -> None:
        """Interrupted (Ctrl-C, SIGTERM, error): cancel queued work, mark in-flight rows."""
        with contextlib.suppress(Exception):
            self._flush()  # results that arrived are precious
        inflight_rows = []
        for fut, task in list(self.in_flight.items()):
            fut.cancel()
            inflight_rows.extend(task.rows.tolist())
        self.in_flight.clear()
        if self.store is not None:
            with contextlib.suppress(Exception):
                self.store.release(self.owner, [
                    (self.keys[self.uniq[u]], self.ident["id"], self.X[self.uniq[u]])
                    for u in inflight_rows])

    def _result(self) -> Evaluations:
        n = self.n
        valid = self.rep >= 0
        if len(self.uniq) == n:  # every row valid and distinct: uniq == rep == arange(n)
            where, Y, status = self.uniq, self.uY, self.ustatus
        else:
            # uniq holds first occurrences in increasing order: searchsorted maps rows to them
            where = np.searchsorted(self.uniq, self.rep[valid])
            Y = np.full((n, self.m), np.nan)
            Y[valid] = self.uY[where]
            status = np.full(n, "invalid", dtype="<U11")
            status[valid] = self.ustatus[where]
        uok = self.ustatus == "ok"
        has_errors = not uok.all() and bool(np.isin(self.ustatus, ("failed",
                                                                    "nonfinite")).any())
        if valid.all() and not has_errors:
            errors = [None] * n
        elif has_errors:
            errors: list[str | None] = ["outside the parameters' support"] * n
            for i, w in zip(np.flatnonzero(valid).tolist(), where.tolist()):
                errors[i] = self.uerrors[w]
        else:
            errors = [None if v else "outside the parameters' support" for v in valid.tolist()]
        ok = uok if status is self.ustatus else status == "ok"
        if self.runner.allow_nonfinite:
            ok |= status == "nonfinite"
        n_new = int(self.new.sum())
        keys = HexKeys(self.keys) if self.store is not None else None
        return Evaluations(
            X=self.X, Y=Y, ok=ok, status=status, errors=tuple(errors), keys=keys,
            n_new=n_new, n_cached=int(valid.sum()) - n_new, n_attempts=int(self.uattempts.sum()),
            inputs=tuple(self.model.inputs), outputs=tuple(self.model.outputs),
            model_name=self.name)


#: in-process batches up to this size take the lean path: a sampler's step, and the
#: designs of small sensitivity studies (5120 rows for Ishigami at n = 2^10: 0.16 ms
#: instead of 0.31 ms through _Job)
_FAST_MAX_ROWS = 65536


_all_true = np.logical_and.reduce  # ``a.all()`` without the method wrapper (a hot path)
_OK_STATUS: dict[int, np.ndarray] = {}  # read-only all-"ok" status arrays by length


def _ok_status(n: int) -> np.ndarray:
    """A fresh all-``"ok"`` status array (a copy of a cached one: faster than np.full)."""
    base = _OK_STATUS.get(n)
    if base is None:
        if len(_OK_STATUS) > 64:
            _OK_STATUS.clear()
        base = _OK_STATUS[n] = np.full(n, "ok", dtype="<U11")
        base.flags.writeable = False
    return base.copy()


def _fast_evaluate(runner: Runner, model: Any, X: np.ndarray, on_failure: str | None = None,
                   max_failures: int | None = None) -> Evaluations:
    """One in-process call of a vectorized model, no store: the common MCMC-step case.

    The same semantics as :class:`_Job` (identical rows evaluated once, the same
    Evaluations fields) without its scheduling machinery; a failed or
    non-finite batch is handed to :class:`_Job` with the result already
    obtained, so failure policies, bisection and retries are the general ones
    and the model is not called twice.
    """
    n = X.shape[0]
    invalid = np.zeros(n, dtype=bool)
    first = np.sort(X[:, 0])
    if n < 2 or _all_true(first[1:] != first[:-1]):
        # no two rows share their first input (float equality, so -0.0 == 0.0): all rows
        # are distinct, the hashing of _dedupe_rows (~40 us for 32 rows) is not needed
        u, uniq, rep = n, None, None
    else:
        rep, uniq = _dedupe_rows(X, invalid)  # (canonicalises -0.0 itself: no copy)
        u = len(uniq)
    res = run_batch(model, X if u == n else X[uniq])
    m = len(model.outputs)
    if res[0] == "ok":
        Y = np.asarray(res[1], dtype=float)
        if Y.shape == (u, m) or (m == 1 and Y.shape == (u,)):
            Y = Y.reshape(u, m)
            # a sum is finite only if every entry is: the per-row test only when it is not
            all_finite = math.isfinite(np.add.reduce(Y, axis=None))
            finite = None if all_finite else np.isfinite(Y).all(axis=1)
            if runner.allow_nonfinite or all_finite or finite.all():
                if u < n:
                    Y = Y[np.searchsorted(uniq, rep)]
                    if finite is not None:
                        finite = finite[np.searchsorted(uniq, rep)]
                status = _ok_status(n)
                if finite is not None:
                    status[~finite] = "nonfinite"
                return Evaluations(
                    X=X, Y=Y, ok=np.ones(n, dtype=bool), status=status, errors=(None,) * n,
                    keys=None, n_new=u, n_cached=n - u, n_attempts=u,
                    inputs=tuple(model.inputs), outputs=tuple(model.outputs),
                    model_name=str(getattr(model, "name", None) or type(model).__name__))
    job = _Job(runner, model, X, invalid, on_failure=on_failure, max_failures=max_failures)
    queue: deque = deque()
    try:
        job._handle(_Task(np.arange(u)), res, queue)
        job._run_serial(queue)
    except BaseException:
        job._abort()
        raise
    if job.stop_error is not None:
        raise job.stop_error
    return job._result()
