"""Normalise the ``executor=`` argument of the runner into one small backend interface."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import importlib
import multiprocessing
import os
import threading
import time
import weakref
from typing import Any

from .._validation import fail

__all__ = ["Backend", "make_backend", "TaskLost"]


class TaskLost(Exception):
    """The executor lost a task (e.g. a Dask worker died holding it): run it again.

    ``details`` (a dict, possibly empty) says where: e.g. the SLURM job that was lost.
    """

    details: dict = {}


class Backend:
    """Where batches run: in process (``submit`` is None) or on a futures executor."""

    def __init__(self, kind: str, executor: cf.Executor | None, n_workers: int, owned: bool,
                 factory=None) -> None:
        self.kind = kind
        self.executor = executor
        self.n_workers = n_workers
        self.owned = owned
        self._factory = factory

    @property
    def serial(self) -> bool:
        return self.executor is None

    def submit(self, fn, *args) -> cf.Future:
        return self.executor.submit(fn, *args)

    def restart(self) -> bool:
        """Replace a broken pool that we own; False if we cannot."""
        if not self.owned or self._factory is None:
            return False
        try:
            self.executor.shutdown(wait=False, cancel_futures=True)
        except Exception:  # pragma: no cover - already broken
            pass
        self.executor = self._factory()
        return True

    def close(self) -> None:
        if self.owned and self.executor is not None:
            executor, self.executor = self.executor, None
            if isinstance(executor, cf.ProcessPoolExecutor):
                _stop_pool(executor)
            else:
                executor.shutdown(wait=True, cancel_futures=True)


def _stop_pool(pool: cf.ProcessPoolExecutor, idle_wait: float = 10.0) -> None:
    """Shut a process pool down without waiting for the evaluations still running.

    Closing a pool with work in flight only happens when a job was interrupted (Ctrl-C,
    SIGTERM, an error): their results can no longer be recorded, so the workers are
    terminated at once (SIGTERM, then SIGKILL after 1 s); the watchdog of each worker
    stops its simulators (:mod:`uqkit.models._proctree`). Idle workers exit normally.
    """
    procs = list((getattr(pool, "_processes", None) or {}).values())
    busy = bool(getattr(pool, "_pending_work_items", None))
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + (0.0 if busy else idle_wait)
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(1.0)
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)


_live_pools: weakref.WeakSet = weakref.WeakSet()


def _stop_busy_pools() -> None:
    """At interpreter exit (e.g. SystemExit from SIGTERM while evaluating, with no ``with
    Runner``), stop pools that still run evaluations instead of waiting for them."""
    for pool in list(_live_pools):
        if getattr(pool, "_pending_work_items", None):
            _stop_pool(pool)


# threading's exit hooks run in reverse order of registration: registered after
# concurrent.futures.process (imported here first), this one runs before that module's
# hook, which would wait for every running task
importlib.import_module("concurrent.futures.process")
try:
    threading._register_atexit(_stop_busy_pools)
except RuntimeError:  # pragma: no cover - imported while the interpreter shuts down
    pass


def _noop() -> None:
    return None


def _worker_init() -> None:
    """Make a pool worker die with its driver (Linux), so a killed study leaves no orphan
    evaluating work whose result can never be stored."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        if os.getppid() == 1:  # the driver died before prctl took effect
            os._exit(1)
    except Exception:  # pragma: no cover - not Linux
        pass
    from ..models._proctree import worker_start

    worker_start()  # this worker's simulators run in a cgroup of its own where possible


def _process_pool(n: int):
    def factory():
        # "fork" on Linux: no re-import of the user's __main__ (so scripts without an
        # ``if __name__ == "__main__"`` guard, stdin and notebooks all work) and fast
        # start-up. Every worker is launched right away, before uqkit starts any thread
        # of its own (progress bars), which is what makes fork safe here. Models travel
        # as cloudpickle bytes either way. Elsewhere: "spawn".
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = cf.ProcessPoolExecutor(max_workers=n, initializer=_worker_init,
                                      mp_context=multiprocessing.get_context(method))
        for fut in [pool.submit(_noop) for _ in range(n)]:
            fut.result()
        _live_pools.add(pool)
        return pool
    return factory


class DaskExecutor(cf.Executor):
    """Submit through a ``dask.distributed.Client``, releasing each task once delivered.

    dask's own ``Client.get_executor()`` keeps every future referenced until shutdown,
    so when a worker dies the scheduler recomputes results that were already delivered
    and stored (the dask#7870 pattern). Here the dask future is released as soon as its
    result has been copied into the ``concurrent.futures.Future`` the runner waits on.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        cluster = getattr(client, "cluster", None)
        #: workers run in batch jobs (dask-jobqueue): a lost worker job is reported to the
        #: runner, which re-queues its runs a bounded number of times and records the job
        self.jobqueue = type(cluster).__module__.startswith("dask_jobqueue")
        self._jobs: dict[str, str] = {}  # worker name -> batch job id
        if self.jobqueue:
            client.run_on_scheduler(_report_lost_workers)

    def _job_of(self, name: Any) -> str | None:
        cluster = self.client.cluster
        with contextlib.suppress(Exception):  # (the cluster's dict changes under us)
            for spec, job in list(cluster.workers.items()):
                if getattr(job, "job_id", None):
                    self._jobs[str(spec)] = str(job.job_id)
        name = str(name)
        return self._jobs.get(name) or next(
            (j for spec, j in self._jobs.items() if name.startswith(f"{spec}-")), None)

    def _lost(self, exc: BaseException) -> TaskLost:
        """A ``KilledWorker`` of a batch-job worker as a TaskLost naming the job."""
        from ._slurm import job_state

        worker = exc.args[1] if len(exc.args) > 1 else None
        address = getattr(worker, "address", None)
        job_id = self._job_of(getattr(worker, "name", ""))
        state, node = job_state([job_id]).get(job_id, ("UNKNOWN", "")) if job_id \
            else ("UNKNOWN", "")
        lost = TaskLost(f"the Dask worker {address} (SLURM job {job_id or '?'}, {state}) "
                        "left while running this input")
        lost.details = {"slurm": {"job_id": job_id, "node": node, "state": state},
                        "worker": address}
        return lost

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        if self.jobqueue:
            from ._slurm import run_in_job

            args = (fn, *args)
            fn = run_in_job
        dfut = self.client.submit(fn, *args, pure=False, **kwargs)
        out: cf.Future = cf.Future()

        def deliver(f) -> None:  # runs in a dask callback thread
            try:
                status = f.status
                if status == "finished":
                    out.set_result(f.result())
                elif status == "error":
                    exc = f.exception()
                    if self.jobqueue and type(exc).__name__ == "KilledWorker":
                        exc = self._lost(exc)
                    out.set_exception(exc)
                else:  # lost (its worker died after finishing) or cancelled by dask
                    out.set_exception(TaskLost(f"dask reported the task as {status}"))
            except BaseException as exc:  # KilledWorker, comm errors, data lost meanwhile
                if not out.done():
                    name = type(exc).__name__
                    if name == "KilledWorker" and self.jobqueue:
                        exc = self._lost(exc)
                    out.set_exception(exc if name == "KilledWorker" else TaskLost(
                        f"{name}: {exc}"))
            finally:
                f.release()

        dfut.add_done_callback(deliver)
        out.add_done_callback(lambda f: dfut.cancel() if f.cancelled() else None)
        return out

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None  # the client belongs to the user


def _report_lost_workers(dask_scheduler: Any) -> None:
    """Fail a task at once when its worker dies (``KilledWorker``) instead of retrying it
    silently, so that the runner counts and records each loss."""
    dask_scheduler.allowed_failures = 0


def _jobqueue_workers(client: Any) -> int:
    """Threads a dask-jobqueue cluster can reach: its adaptive maximum (or its jobs) times
    the threads of one job."""
    cluster = client.cluster
    jobs = getattr(getattr(cluster, "_adaptive", None), "maximum", None)
    if not isinstance(jobs, int) or jobs <= 0:
        jobs = len(getattr(cluster, "worker_spec", {})) or 1
    job = getattr(cluster, "_dummy_job", None)
    threads = int(getattr(job, "worker_cores", 1) or 1)
    # adapt() counts workers (processes), not jobs
    per_process = max(1, threads // max(1, int(getattr(job, "worker_processes", 1) or 1)))
    return max(1, jobs * per_process)


def make_backend(executor: Any) -> Backend:
    """Build the backend for ``executor``: None, "processes", "threads", an int, an
    ``concurrent.futures.Executor`` or a ``dask.distributed.Client``."""
    if executor is None:
        return Backend("serial", None, 1, owned=False)
    if isinstance(executor, bool):
        fail("Runner", "executor", "None, 'processes', 'threads', a positive int, a "
             "concurrent.futures.Executor or a dask.distributed.Client", executor)
    if isinstance(executor, int):
        if executor < 1:
            fail("Runner", "executor", "a positive number of worker processes", executor)
        factory = _process_pool(executor)
        return Backend("processes", factory(), executor, owned=True, factory=factory)
    if isinstance(executor, str):
        n = os.cpu_count() or 1
        if executor == "processes":
            factory = _process_pool(n)
            return Backend("processes", factory(), n, owned=True, factory=factory)
        if executor == "threads":
            factory = lambda: cf.ThreadPoolExecutor(max_workers=n)
            return Backend("threads", factory(), n, owned=True, factory=factory)
        fail("Runner", "executor", "'processes' or 'threads' when a string", executor)
    if type(executor).__name__ == "Client" and hasattr(executor, "get_executor"):
        # dask.distributed.Client; pure=False so identical inputs are separate tasks
        info = executor.scheduler_info()
        workers = info.get("workers", {})
        n = sum(int(w.get("nthreads", 1)) for w in workers.values()) or 1
        dask_ex = DaskExecutor(executor)
        if dask_ex.jobqueue:
            n = max(n, _jobqueue_workers(executor))
        return Backend("dask", dask_ex, n, owned=False)
    if isinstance(executor, cf.Executor):
        n = getattr(executor, "_max_workers", None) or os.cpu_count() or 1
        return Backend(type(executor).__name__, executor, int(n), owned=False)
    fail("Runner", "executor", "None, 'processes', 'threads', a positive int, a "
         "concurrent.futures.Executor or a dask.distributed.Client", type(executor).__name__)
    raise AssertionError  # pragma: no cover
