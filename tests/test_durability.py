"""Crash, interrupt, resume, shared stores and Dask worker death
(RELIABILITY A1, A2, A4, F1, G1)."""

import os
import signal
import sqlite3
import threading
import time

import numpy as np
import pytest
from _toy import ToyModel, log_lines
from conftest import start_python

import uqkit

N = 200


def _count_ok(path) -> int:
    if not os.path.exists(path):
        return 0
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM evaluations WHERE status='ok'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0


def _stored_rows(path) -> set[str]:
    with uqkit.Store(path) as store:
        rows = store.conn.execute("SELECT x FROM evaluations WHERE status='ok'").fetchall()
    return {r[0].hex() for r in rows}


def _driver(tmp_path, store, log, out, executor="4", sleep="0.02"):
    return start_python(["tests_driver", store, log, N, executor, 11, out, sleep],
                        stdout=open(tmp_path / "driver.out", "a"),
                        stderr=open(tmp_path / "driver.err", "a"))


@pytest.fixture(autouse=True)
def _driver_script(monkeypatch, tmp_path):
    # start_python runs "tests_driver" -> the _driver.py module next to this file
    import conftest

    orig = conftest.start_python

    def patched(args, **kw):
        args = [os.path.join(conftest.TESTS, "_driver.py") if a == "tests_driver" else a
                for a in args]
        return orig(args, **kw)

    monkeypatch.setattr("test_durability.start_python", patched)


def _wait_for(pred, timeout=60.0, step=0.005):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def _reference(tmp_path) -> np.ndarray:
    _, params, _ = uqkit.examples.ishigami()
    return ToyModel(tmp_path / "ref.log")(params.sample(N, rng=11))


def test_sigkill_driver_then_resume(tmp_path):
    """A1 + A4: kill -9 once 50 results are stored; the rerun makes no calls for stored
    keys, re-runs at most the 4 in flight, re-queues the dead claims automatically and
    produces results identical to an uninterrupted run."""
    store, log, out = tmp_path / "s.db", tmp_path / "calls.log", tmp_path / "y.npy"
    proc = _driver(tmp_path, store, log, out)
    assert _wait_for(lambda: _count_ok(store) >= 50)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.3)  # workers die with the driver (PR_SET_PDEATHSIG): nothing more is logged
    before = log_lines(log)
    stored = _stored_rows(store)
    assert 50 <= len(stored) < N
    with uqkit.Store(store) as s:
        assert s.info()["running_claims"] >= 1  # left behind by the dead driver
    assert not os.path.exists(out)

    rerun = _driver(tmp_path, store, log, out)
    assert rerun.wait(timeout=120) == 0, (tmp_path / "driver.err").read_text()
    after = log_lines(log)[len(before):]
    assert not set(after) & stored  # 0 model calls for stored keys
    re_runs = set(after) & set(before)
    assert len(re_runs) <= 4  # only what was in flight
    assert len(set(before) | set(after)) == N
    np.testing.assert_array_equal(np.load(out), _reference(tmp_path))
    with uqkit.Store(store) as s:
        info = s.info()
        assert info["running_claims"] == 0 and s.integrity_check() == "ok"
        df = s.to_dataframe()
        assert (df.status == "ok").sum() == N
        # the lost attempts were counted
        attempts = dict(zip(df.key, df.attempts))
        assert all(a >= 1 for a in attempts.values()) and max(attempts.values()) >= 2


@pytest.mark.parametrize("sig, codes", [(signal.SIGINT, (130, -2)),
                                        (signal.SIGTERM, (143, -15))])
def test_sigint_sigterm_stop_cleanly_and_resume(tmp_path, sig, codes):
    """A2: exit code 130/143; no claims left 'running'; resume as in A1."""
    store, log, out = tmp_path / "s.db", tmp_path / "calls.log", tmp_path / "y.npy"
    proc = _driver(tmp_path, store, log, out, executor="2")
    assert _wait_for(lambda: _count_ok(store) >= 20)
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=20) in codes
    before = log_lines(log)
    stored = _stored_rows(store)
    with uqkit.Store(store) as s:
        assert s.info()["running_claims"] == 0
        statuses = set(s.to_dataframe().status)
        assert statuses <= {"ok", "interrupted"}
    rerun = _driver(tmp_path, store, log, out, executor="2")
    assert rerun.wait(timeout=120) == 0
    after = log_lines(log)[len(before):]
    assert not set(after) & stored
    np.testing.assert_array_equal(np.load(out), _reference(tmp_path))


def test_two_processes_share_one_store(tmp_path):
    """F1: two study processes on one store: one model call per unique key, no
    'database is locked', results equal a single-process run."""
    store, log = tmp_path / "s.db", tmp_path / "calls.log"
    uqkit.Store(store).close()
    procs = [_driver(tmp_path, store, log, tmp_path / f"y{i}.npy", executor="none",
                     sleep="0.005") for i in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0, (tmp_path / "driver.err").read_text()
    lines = log_lines(log)
    assert len(lines) == len(set(lines)) == N
    ref = _reference(tmp_path)
    for i in range(2):
        np.testing.assert_array_equal(np.load(tmp_path / f"y{i}.npy"), ref)
    assert "locked" not in (tmp_path / "driver.err").read_text()


def test_dask_worker_killed_mid_study(tmp_path):
    """G1: a Dask LocalCluster on loopback; one worker killed mid-study: all results
    arrive, nothing stored is recomputed, only that worker's in-flight task re-runs."""
    distributed = pytest.importorskip("distributed")
    import _toy
    import cloudpickle

    cloudpickle.register_pickle_by_value(_toy)  # dask workers do not have tests/ on path
    store, log = tmp_path / "s.db", tmp_path / "calls.log"
    _, params, _ = uqkit.examples.ishigami()
    X = params.sample(N, rng=11)
    with distributed.LocalCluster(n_workers=4, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=50) as cluster, \
            distributed.Client(cluster) as client:
        # security 4: scheduler and dashboard on loopback (dashboard_address=None no longer
        # disables the dashboard in recent distributed; host= keeps it on 127.0.0.1)
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        link = getattr(cluster, "dashboard_link", "") or ""
        assert not link or link.startswith("http://127.0.0.1:")
        killed: dict = {}

        def kill_one():
            if _wait_for(lambda: _count_ok(store) >= 40, timeout=60):
                killed["stored"] = _stored_rows(store)
                killed["log"] = len(log_lines(log))
                victim = sorted(client.scheduler_info()["workers"])[0]
                try:
                    client.run(os._exit, 1, workers=[victim])
                except Exception:  # the worker dies before answering
                    pass
                killed["victim"] = victim

        killer = threading.Thread(target=kill_one)
        killer.start()
        runner = uqkit.Runner(executor=client, store=store, progress=False)
        ev = runner.evaluate(ToyModel(log, sleep=0.03), X)
        killer.join()
        # notebook-style lambdas travel to Dask workers too (cloudpickle)
        lam = runner.evaluate(uqkit.as_model(lambda a, b: a * b), [[2.0, 3.0], [4.0, 5.0]])
        np.testing.assert_array_equal(lam.Y.ravel(), [6.0, 20.0])
    assert "victim" in killed
    assert ev.ok.all() and ev.n_new == N
    np.testing.assert_array_equal(ev.Y, _reference(tmp_path))
    lines = log_lines(log)
    after_kill = lines[killed["log"]:]
    assert not set(after_kill) & killed["stored"]  # 0 re-runs of stored results
    duplicates = len(lines) - len(set(lines))
    assert duplicates <= 2  # the killed worker's running task (and one it may have held)
    with uqkit.Store(store) as s:
        assert (s.to_dataframe("toy").status == "ok").sum() == N
