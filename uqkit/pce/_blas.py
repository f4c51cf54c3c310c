"""Run BLAS single-threaded inside the regression path and the prediction loop.

The LAR / OMP path makes hundreds of small matrix-vector products (about 1000 x 500).
Threaded OpenBLAS gains nothing on them and, on a shared machine, its threads spin
and yield (``benchmarks/bench_pce.py --tables blas`` measures both settings).
``threadpoolctl`` is used when installed; otherwise numpy's bundled OpenBLAS is
found and set through ctypes by its exported symbol names (pinned by
``tests/test_pce_blas.py``). Any failure leaves the threads as they are.
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["single_threaded_blas"]

_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
            "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
            "openblas_get_num_threads")
_LIB: list = []  # cached (getter, setter) or None


def _numpy_openblas():
    if _LIB:
        return _LIB[0]
    found = None
    try:
        import numpy

        root = os.path.dirname(numpy.__file__)
        paths = (glob.glob(os.path.join(os.path.dirname(root), "numpy.libs", "*openblas*"))
                 + glob.glob(os.path.join(root, ".dylibs", "*openblas*")))
        for path in paths:
            lib = ctypes.CDLL(path)
            get = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
            put = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
            if get is not None and put is not None:
                get.restype = ctypes.c_int
                put.argtypes = [ctypes.c_int]
                found = (get, put)
                break
    except (OSError, AttributeError):  # pragma: no cover - platform dependent
        found = None
    _LIB.append(found)
    return found


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread for the duration of the block (restored afterwards)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        with threadpool_limits(1, user_api="blas"):
            yield
        return
    lib = _numpy_openblas()
    if lib is None:
        yield
        return
    get, put = lib
    old = int(get())
    if old == 1:
        yield
        return
    put(1)
    try:
        yield
    finally:
        put(old)
