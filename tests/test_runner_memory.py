"""The driver's memory per row of a large design evaluated through a store is bounded
(the lookups and writes are streamed in chunks; benchmarks/bench_runner.py --memory
measures 2^20 and 2^23 rows)."""

import subprocess
import sys

import pytest
from conftest import subprocess_env

import uqkit

CHILD = """
import os, resource, sys, tempfile
import numpy as np
import uqkit
n = int(sys.argv[1])
model = uqkit.as_model(lambda X: X.sum(axis=1), inputs=("a", "b", "c"), vectorized=True)
X = np.random.default_rng(0).random((n, 3))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with tempfile.TemporaryDirectory() as tmp:
    ev = uqkit.Runner(store=os.path.join(tmp, "s.db"), progress=False).evaluate(model, X)
    assert ev.ok.all() and ev.n_new == n and len(ev.keys) == n  # (keys not computed)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def _growth_kib(n: int) -> int:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True,
                         env=subprocess_env(), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB on Linux")
def test_peak_memory_per_row_is_bounded():
    """About 100 bytes a row are kept (outputs, status, row map); the old layout of whole
    designs at once held about 600 (keys as bytes and hex strings, status copies)."""
    small, large = 40_000, 100_000
    per_row = (_growth_kib(large) - _growth_kib(small)) * 1024 / (large - small)
    assert per_row < 400, f"{per_row:.0f} bytes per row"


def test_streamed_design_equals_one_job(tmp_path, monkeypatch):
    """Chunked evaluation gives the results of one job: duplicates, invalid rows, failures."""
    import numpy as np

    from uqkit.runner import _runner

    monkeypatch.setattr(_runner, "STREAM_ROWS", 64)
    monkeypatch.setattr("uqkit.runner._stream.STREAM_ROWS", 64)
    params = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Uniform(0, 1))
    X = params.sample(300, rng=1)
    X[100:120] = X[:20]  # duplicates across chunks
    X[5, 0] = 2.0  # outside the support
    model = uqkit.as_model(lambda X: np.where(X[:, 0] > 0.95, np.nan, X[:, 0] + X[:, 1]),
                           inputs=("a", "b"), vectorized=True, name="m")
    a = uqkit.Runner(store=tmp_path / "a.db", on_failure="nan").evaluate(
        model, X, parameters=params, on_invalid="mark")
    monkeypatch.setattr(_runner, "STREAM_ROWS", 10**9)
    b = uqkit.Runner(store=tmp_path / "b.db", on_failure="nan").evaluate(
        model, X, parameters=params, on_invalid="mark")
    np.testing.assert_array_equal(a.Y, b.Y)
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.ok, b.ok)
    assert a.errors == b.errors and a.keys == b.keys
    assert (a.n_new, a.n_cached, a.n_attempts) == (b.n_new, b.n_cached, b.n_attempts)
    assert a.n_failed > 1 and (a.status == "invalid").sum() == 1
    batches = list(uqkit.Runner(store=tmp_path / "a.db").evaluate_batches(
        model, [X[:150], X[150:]], parameters=params, on_invalid="mark"))
    assert [ev.n_new for ev in batches] == [0, 0] or sum(ev.n_new for ev in batches) == 0
