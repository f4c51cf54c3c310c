"""What runs on a worker: call the model on one batch and report, never raise.

Module-level functions only, so process pools and Dask can import them. The
model travels as cloudpickle bytes (so lambdas and notebook functions work)
and is unpickled once per worker process and cached: these bytes come from
the driver of the same study, never from a store.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from typing import Any

import numpy as np

from .._errors import EvaluationFailure

__all__ = ["run_batch", "dump_model"]

_CACHE: dict[int, Any] = {}
_HOST = socket.gethostname()  # looked up once per process (a system call per batch before)


def dump_model(model: Any) -> bytes:
    import cloudpickle

    return cloudpickle.dumps(model)


def _load(payload: Any) -> Any:
    if not isinstance(payload, (bytes, bytearray)):
        return payload  # in-process: the model object itself
    key = hash(payload)
    model = _CACHE.get(key)
    if model is None:
        import pickle

        # trusted: the bytes were produced by this study's driver (not read from a store)
        model = pickle.loads(payload)  # noqa: S301, TID251
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = model
    return model


def run_batch(payload: Any, X: np.ndarray) -> tuple:
    """Evaluate one batch; returns ``("ok", Y, duration, host, pid)`` or a failure tuple.

    A failure is ``("fail", kind, error_type, message, traceback, details, retryable,
    duration, host, pid)``. ``KeyboardInterrupt`` and ``SystemExit`` propagate.
    """
    host, pid = _HOST or socket.gethostname(), os.getpid()
    t0 = time.perf_counter()
    try:
        model = _load(payload)
        Y = model(X)
        Y = np.asarray(Y)
        if Y.dtype == object or Y.dtype.kind not in "fiu":
            raise EvaluationFailure("wrong_type", f"the model returned dtype {Y.dtype}; "
                                    "expected real numbers", retryable=False)
        return ("ok", Y, time.perf_counter() - t0, host, pid)
    except EvaluationFailure as exc:
        return ("fail", exc.kind, type(exc).__name__, exc.message, traceback.format_exc(),
                dict(exc.details), exc.retryable, time.perf_counter() - t0, host, pid)
    except Exception as exc:
        return ("fail", "exception", type(exc).__qualname__, str(exc), traceback.format_exc(),
                {}, True, time.perf_counter() - t0, host, pid)
