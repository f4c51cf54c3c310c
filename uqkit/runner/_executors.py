"""Normalise the ``executor=`` argument of the runner into one small backend interface."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from typing import Any

from .._validation import fail

__all__ = ["Backend", "make_backend"]


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
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None


def _noop() -> None:
    return None


def _process_pool(n: int):
    def factory():
        # "fork" on Linux: no re-import of the user's __main__ (so scripts without an
        # ``if __name__ == "__main__"`` guard, stdin and notebooks all work) and fast
        # start-up. Every worker is launched right away, before uqkit starts any thread
        # of its own (progress bars), which is what makes fork safe here. Models travel
        # as cloudpickle bytes either way. Elsewhere: "spawn".
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = cf.ProcessPoolExecutor(max_workers=n,
                                      mp_context=multiprocessing.get_context(method))
        for fut in [pool.submit(_noop) for _ in range(n)]:
            fut.result()
        return pool
    return factory


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
        # dask.distributed.Client: its executor returns concurrent.futures futures;
        # pure=False so identical inputs are still separate tasks (the store dedupes).
        info = executor.scheduler_info()
        workers = info.get("workers", {})
        n = sum(int(w.get("nthreads", 1)) for w in workers.values()) or 1
        return Backend("dask", executor.get_executor(pure=False), n, owned=False)
    if isinstance(executor, cf.Executor):
        n = getattr(executor, "_max_workers", None) or os.cpu_count() or 1
        return Backend(type(executor).__name__, executor, int(n), owned=False)
    fail("Runner", "executor", "None, 'processes', 'threads', a positive int, a "
         "concurrent.futures.Executor or a dask.distributed.Client", type(executor).__name__)
    raise AssertionError  # pragma: no cover
