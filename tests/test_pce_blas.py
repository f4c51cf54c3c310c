"""BLAS limited to one thread inside the PCE regression path, and restored after.

``uqkit.pce._blas`` uses threadpoolctl when installed, otherwise numpy's bundled
OpenBLAS through ctypes by symbol name; these tests pin both routes
(benchmarks/bench_pce.py, table "blas", measures why the limit is there).
"""

from __future__ import annotations

import glob
import os
import sys

import numpy as np
import pytest

from uqkit.pce import _blas


def _blas_threads(threadpoolctl) -> list[int]:
    return [p["num_threads"] for p in threadpoolctl.threadpool_info()
            if p["user_api"] == "blas"]


def test_threadpoolctl_route_sets_one_thread_and_restores_the_count():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not _blas_threads(threadpoolctl):
        pytest.skip("threadpoolctl finds no BLAS library in this process")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        with _blas.single_threaded_blas():
            assert set(_blas_threads(threadpoolctl)) == {1}
        assert set(_blas_threads(threadpoolctl)) == {2}


def _numpy_bundles_openblas() -> bool:
    root = os.path.dirname(np.__file__)
    return bool(glob.glob(os.path.join(os.path.dirname(root), "numpy.libs", "*openblas*"))
                + glob.glob(os.path.join(root, ".dylibs", "*openblas*")))


@pytest.mark.skipif(not _numpy_bundles_openblas(), reason="numpy does not bundle OpenBLAS here")
def test_ctypes_route_finds_numpys_openblas_sets_one_thread_and_restores(monkeypatch):
    # the symbol names are numpy's wheel internals: this fails if a numpy release renames them
    lib = _blas._numpy_openblas()
    assert lib is not None, "numpy's bundled OpenBLAS no longer exports the thread setters"
    get, put = lib
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # force the ctypes route
    old = int(get())
    put(2)
    try:
        with _blas.single_threaded_blas():
            assert int(get()) == 1
        assert int(get()) == 2
    finally:
        put(old)


def test_without_any_route_the_block_still_runs(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    monkeypatch.setattr(_blas, "_numpy_openblas", lambda: None)
    ran = []
    with _blas.single_threaded_blas():
        ran.append(True)
    assert ran == [True]
