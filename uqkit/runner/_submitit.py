"""One SLURM job per run: a ``concurrent.futures.Executor`` over a submitit executor."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import threading
import time
from typing import Any

from ._slurm import LOST_STATES, TERMINAL, _slurm, job_state, run_in_job

__all__ = ["SubmititExecutor"]


class SubmititExecutor(cf.Executor):
    """A ``concurrent.futures.Executor`` over a submitit executor: one SLURM job per run.

    Submissions made within ``array_window`` seconds of each other go to SLURM as one
    job array (``executor.batch()``). A watcher thread reads results as they are written
    and job states with one ``squeue`` call per poll (no ``sacct`` needed). A job that
    ends without a result becomes a failure with its job id, node and state: ``TIMEOUT``
    a ``timeout`` failure; ``CANCELLED``, ``PREEMPTED`` or ``NODE_FAIL`` a lost task the
    runner re-queues; anything else (``FAILED``, ``OUT_OF_MEMORY``) a failure of the run.

    Parameters
    ----------
    executor : submitit.AutoExecutor or submitit.SlurmExecutor
        Configured by the caller (partition, walltime, cores, ...).
    max_jobs : int
        Jobs in flight at most (the runner's number of workers).
    poll : float
        Seconds between two looks at results and job states.
    array_window : float
        Seconds to gather submissions into one job array.
    """

    def __init__(self, executor: Any, *, max_jobs: int = 16, poll: float = 0.25,
                 array_window: float = 0.05) -> None:
        self.executor = executor
        self.max_workers = int(max_jobs)
        self._max_workers = self.max_workers
        self.poll = float(poll)
        self.array_window = float(array_window)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pending: list[tuple[Any, tuple, cf.Future]] = []
        self._first_pending = 0.0
        self._jobs: dict[str, tuple[Any, cf.Future, float]] = {}
        self._ended: dict[str, float] = {}
        self._closed = False
        self.arrays: list[tuple[int, float]] = []  # (jobs, seconds to submit) per array
        self._thread = threading.Thread(target=self._watch, name="uqkit-submitit", daemon=True)
        self._thread.start()

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        if kwargs:
            raise TypeError("SubmititExecutor.submit takes positional arguments only")
        fut: cf.Future = cf.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a closed SubmititExecutor")
            if not self._pending:
                self._first_pending = time.monotonic()
            self._pending.append((fn, args, fut))
        self._wake.set()
        return fut

    def jobs_in_flight(self) -> list[str]:
        """SLURM job ids submitted and not yet delivered."""
        with self._lock:
            return list(self._jobs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, []
            jobs = dict(self._jobs) if cancel_futures else {}
        for _, _, fut in pending:
            fut.cancel()
        if jobs:
            _slurm("scancel", *jobs)
            for _, fut, _ in jobs.values():
                fut.cancel()
        self._wake.set()
        if wait:
            self._thread.join(timeout=10)

    # -- the watcher thread ---------------------------------------------------------------------
    def _watch(self) -> None:
        while True:
            self._wake.wait(self.poll)
            self._wake.clear()
            with self._lock:
                if self._closed and not self._jobs:
                    return
                batch = []
                if self._pending and (time.monotonic() - self._first_pending
                                      >= self.array_window or self._closed):
                    batch, self._pending = self._pending, []
            if batch:
                self._submit_array(batch)
            elif self._pending:
                time.sleep(self.array_window / 2)
                self._wake.set()
            try:
                self._collect()
            except Exception:  # noqa: BLE001 - never let the watcher die; retry next poll
                time.sleep(self.poll)

    def _submit_array(self, batch: list) -> None:
        # futures stay pending until they are delivered, so that the runner can cancel
        # them (the job is then cancelled too)
        batch = [b for b in batch if not b[2].cancelled()]
        if not batch:
            return
        t0 = time.perf_counter()
        try:
            with self.executor.batch():
                jobs = [self.executor.submit(run_in_job, fn, *args, state="COMPLETED")
                        for fn, args, _ in batch]
        except Exception as exc:  # sbatch refused (bad partition, account, ...)
            for _, _, fut in batch:
                fut.set_exception(exc)
            return
        self.arrays.append((len(jobs), time.perf_counter() - t0))
        now = time.monotonic()
        with self._lock:
            for job, (_, _, fut) in zip(jobs, batch):
                self._jobs[str(job.job_id)] = (job, fut, now)

    def _collect(self) -> None:
        with self._lock:
            items = list(self._jobs.items())
        if not items:
            return
        waiting, cancelled = [], []
        for job_id, (job, fut, _) in items:
            if fut.cancelled():
                cancelled.append(job_id)
            elif job.paths.result_pickle.exists():
                self._deliver(job_id, job, fut)
            else:
                waiting.append(job_id)
        if cancelled:
            _slurm("scancel", *cancelled)
            with self._lock:
                for job_id in cancelled:
                    self._jobs.pop(job_id, None)
        if not waiting:
            return
        states = job_state(waiting)
        items_by_id = dict(items)
        now = time.monotonic()
        for job_id in waiting:
            state, node = states.get(job_id, ("UNKNOWN", ""))
            job, fut, since = items_by_id[job_id]
            if state in TERMINAL or (state == "UNKNOWN" and now - since > 60):
                # the result file may lag the job's end on a network file system
                ended = self._ended.setdefault(job_id, now)
                if job.paths.result_pickle.exists():
                    self._deliver(job_id, job, fut)
                elif now - ended > 2.0:
                    self._fail(job_id, job, fut, state, node, now - since)

    def _deliver(self, job_id: str, job: Any, fut: cf.Future) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)
            self._ended.pop(job_id, None)
        if fut.cancelled():
            return
        try:
            res = job.result()
        except Exception as exc:  # the job's Python raised (SystemExit, unpickling)
            res, exc_out = None, exc
        else:
            exc_out = None
        with contextlib.suppress(cf.InvalidStateError):  # cancelled meanwhile
            if exc_out is None:
                fut.set_result(res)
            else:
                fut.set_exception(exc_out)

    def _fail(self, job_id: str, job: Any, fut: cf.Future, state: str, node: str,
              elapsed: float) -> None:
        from ._executors import TaskLost

        with self._lock:
            self._jobs.pop(job_id, None)
            self._ended.pop(job_id, None)
        meta = {"job_id": job_id, "node": node, "state": state}
        tail = ""
        with contextlib.suppress(Exception):
            tail = (job.stderr() or "")[-2000:]
        details = {"slurm": meta, "stderr_tail": tail}
        if state in LOST_STATES or state == "UNKNOWN":
            exc = TaskLost(f"SLURM job {job_id} ended {state} on {node or '?'} before the run "
                           "finished")
            exc.details = details
            with contextlib.suppress(cf.InvalidStateError):
                fut.set_exception(exc)
            return
        if state == "TIMEOUT":
            kind, etype, retryable = "timeout", "SlurmTimeout", False
            msg = f"SLURM job {job_id} on {node or '?'} hit its walltime (state TIMEOUT)"
        elif state == "OUT_OF_MEMORY":
            kind, etype, retryable = "oom", "SlurmOutOfMemory", False
            msg = f"SLURM job {job_id} on {node or '?'} ran out of memory"
        else:
            kind, etype, retryable = "worker_died", "SlurmJobFailed", True
            msg = f"SLURM job {job_id} on {node or '?'} ended {state} without a result"
        with contextlib.suppress(cf.InvalidStateError):
            fut.set_result(("fail", kind, etype, msg, None, details, retryable, elapsed,
                            node or None, None))
