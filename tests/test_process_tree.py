"""No process an evaluation started outlives the evaluation or the driver (RELIABILITY A11).

The fake simulator ``fakesim/daemons.sh`` starts a child, a grandchild and a
double-forked ``setsid`` daemon and records their pids. The driver is killed with
SIGKILL (in process and with a 2-worker pool), interrupted with SIGTERM, or the
evaluation simply ends; then every recorded process must be gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import start_python, subprocess_env

import uqkit
from uqkit import parsers

FAKESIM = Path(__file__).parent / "fakesim"

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="reads process states from /proc")


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _alive(pids) -> list[int]:
    return [p for p in pids if _state(p) not in (None, "Z")]


def _pids(path: Path) -> list[int]:
    try:
        return [int(x) for x in path.read_text().split()]
    except FileNotFoundError:
        return []


def _wait_all_gone(pids, within: float) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _alive(pids):
            return []
        time.sleep(0.1)
    return _alive(pids)


def _wait_for(predicate, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _model(tmp_path, seconds: str = "1000", timeout: float | None = 600.0):
    return uqkit.CommandModel(
        [str(FAKESIM / "daemons.sh"), "{{ x }}", seconds], inputs=["x"], outputs=["y"],
        parse=parsers.numbers("stdout.txt"), timeout=timeout, grace=1.0,
        workdir=tmp_path / "work")


def test_setsid_daemon_does_not_outlive_a_successful_evaluation(tmp_path, monkeypatch):
    pid_file = tmp_path / "pids"
    monkeypatch.setenv("UQKIT_TEST_PIDS", str(pid_file))
    y = _model(tmp_path, seconds="0")([[2.0]])
    assert y.tolist() == [[2.0]]
    pids = _pids(pid_file)
    assert len(pids) == 5  # child, grandchild shell and its sleep, daemon, the script
    assert _wait_all_gone(pids, within=5.0) == []


def test_setsid_daemon_does_not_outlive_a_timeout(tmp_path, monkeypatch):
    pid_file = tmp_path / "pids"
    monkeypatch.setenv("UQKIT_TEST_PIDS", str(pid_file))
    with pytest.raises(uqkit.EvaluationFailure) as info:
        _model(tmp_path, timeout=1.0)([[1.0]])
    assert info.value.kind == "timeout"
    assert _wait_all_gone(_pids(pid_file), within=5.0) == []


DRIVER = textwrap.dedent("""
    import sys
    import numpy as np
    import uqkit
    from uqkit import parsers
    workers = int(sys.argv[1])
    model = uqkit.CommandModel(
        [sys.argv[2], "{{ x }}", "1000"], inputs=["x"], outputs=["y"],
        parse=parsers.numbers("stdout.txt"), timeout=600, workdir=sys.argv[3])
    runner = uqkit.Runner(executor=workers or None, store=sys.argv[4])
    if sys.argv[5] == "with":
        with runner:
            runner.evaluate(model, np.arange(1.0, 5.0)[:, None])
    else:  # no close(): the pool is stopped at interpreter exit
        runner.evaluate(model, np.arange(1.0, 5.0)[:, None])
""")


def _start_driver(tmp_path, workers: int, use_with: bool = True, script: str = "daemons.sh",
                  per_run: int = 5) -> tuple[subprocess.Popen, Path]:
    pid_file = tmp_path / "pids"
    proc = start_python(
        ["-c", DRIVER, workers, FAKESIM / script, tmp_path / "work",
         tmp_path / "s.db", "with" if use_with else "bare"],
        env=subprocess_env(UQKIT_TEST_PIDS=str(pid_file)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    n_running = max(workers, 1)
    ready = Path(f"{pid_file}.ready")
    _wait_for(lambda: len(_pids(pid_file)) >= per_run * n_running and ready.exists()
              and len(ready.read_text().splitlines()) >= n_running or proc.poll() is not None,
              within=60, what="the simulators to start")
    assert proc.poll() is None, proc.stderr.read().decode()
    time.sleep(0.2)  # the last daemon writes its pid just after the script's
    return proc, pid_file


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "pool-2"])
def test_no_simulator_outlives_a_sigkilled_driver(tmp_path, workers):
    proc, pid_file = _start_driver(tmp_path, workers)
    try:
        pids = _pids(pid_file)
        assert len(_alive(pids)) >= 5 * max(workers, 1)
        proc.kill()
        proc.wait()
        left = _wait_all_gone(_pids(pid_file), within=15.0)
        assert left == [], f"still alive 15 s after the driver died: {left}"
    finally:
        _cleanup(proc, pid_file)


def _cleanup(proc: subprocess.Popen, pid_file: Path) -> None:
    """Whatever a failing test left running (the test started all of it)."""
    proc.kill()
    proc.wait()
    proc.stderr.close()
    for pid in _alive(_pids(pid_file)):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def test_pool_workers_cgroup_catches_a_daemon_that_clears_its_environment(tmp_path):
    from uqkit.models._proctree import _cgroup_root

    if _cgroup_root() is None:
        pytest.skip("no writable cgroup v2 hierarchy here")
    proc, pid_file = _start_driver(tmp_path, 2, script="scrubbed.sh", per_run=1)
    try:
        assert len(_alive(_pids(pid_file))) >= 2
        proc.kill()
        proc.wait()
        left = _wait_all_gone(_pids(pid_file), within=15.0)
        assert left == [], f"still alive 15 s after the driver died: {left}"
    finally:
        _cleanup(proc, pid_file)


@pytest.mark.parametrize("sig,use_with", [(signal.SIGTERM, True), (signal.SIGINT, True),
                                          (signal.SIGTERM, False)],
                         ids=["TERM", "INT", "TERM-no-with"])
def test_pool_driver_stops_its_simulators_on_a_signal(tmp_path, sig, use_with):
    proc, pid_file = _start_driver(tmp_path, workers=2, use_with=use_with)
    try:
        t0 = time.monotonic()
        os.kill(proc.pid, sig)  # the driver only, not its process group
        proc.wait(timeout=30)
        stopped = time.monotonic() - t0
        err = proc.stderr.read().decode()
        assert proc.returncode != 0, err
        assert stopped < 15.0, f"the driver took {stopped:.1f} s to stop"
        assert _wait_all_gone(_pids(pid_file), within=10.0) == []
    finally:
        _cleanup(proc, pid_file)


def test_watchdog_kills_marked_processes_when_its_pipe_closes(tmp_path):
    """The watchdog alone: a marked process and a registered group die on EOF."""
    from uqkit.models import _watchdog

    marked = subprocess.Popen(["sleep", "1000"], start_new_session=True,
                              env={**os.environ, "UQKIT_EVAL": "tok-1.7"})
    grouped = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    watchdog = subprocess.Popen([sys.executable, "-I", "-S", _watchdog.__file__, "tok-1"],
                                stdin=subprocess.PIPE)
    watchdog.stdin.write(f"+{grouped.pid}\n".encode())
    reaper = threading.Thread(target=grouped.wait)  # reap at once, as init would
    reaper.start()
    watchdog.stdin.close()
    watchdog.wait(timeout=30)
    reaper.join(10)
    assert marked.wait(timeout=10) == -signal.SIGTERM  # SIGKILL only after the grace
    assert grouped.returncode == -signal.SIGTERM
