"""Process hygiene of CommandModel: hangs, ignored SIGTERM, grandchildren holding stdout,
floods of output and leaks (RELIABILITY C1-C4, C7)."""

from __future__ import annotations

import os
import resource
import shutil
import sys
import time
from pathlib import Path

import pytest

import uqkit
from uqkit import parsers

FAKESIM = Path(__file__).parent / "fakesim"


def _state(pid: int) -> str | None:
    """Process state letter from /proc, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def _assert_gone(pid: int, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if _state(pid) in (None, "Z"):
            return
        time.sleep(0.05)
    raise AssertionError(f"descendant {pid} still alive in state {_state(pid)}")


def _no_zombie_children() -> bool:
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)  # reaps (and reports) a zombie child, if any
    except ChildProcessError:
        return True  # no children at all
    return pid == 0  # children exist, none of them a zombie


@pytest.mark.parametrize("ignore_term", [False, True], ids=["C1-hang", "C2-ignores-TERM"])
def test_timeout_kills_the_whole_process_group(tmp_path, ignore_term):
    timeout, grace = 1.0, 1.0
    model = uqkit.CommandModel(
        [str(FAKESIM / "hang.sh"), "{{ x }}"], inputs=["x"], outputs=["y"],
        parse=parsers.numbers("stdout.txt"), timeout=timeout, grace=grace,
        env={"IGNORE_TERM": "1" if ignore_term else "0"}, workdir=tmp_path)
    t0 = time.monotonic()
    with pytest.raises(uqkit.EvaluationFailure) as info:
        model([[1.0]])
    elapsed = time.monotonic() - t0
    exc = info.value
    assert exc.kind == "timeout" and exc.retryable
    # C1/C2 criterion: marked within timeout + grace (+ slack for a loaded 2-core machine)
    assert elapsed < timeout + grace + 3.0
    assert ("SIGKILL" in str(exc)) is ignore_term
    wd = Path(exc.details["workdir"])
    grandchild = int((wd / "grandchild.pid").read_text())
    _assert_gone(grandchild)
    assert "started" in (wd / "stdout.txt").read_text()


def test_grandchild_holding_stdout_does_not_block_c3(tmp_path):
    model = uqkit.CommandModel(
        [str(FAKESIM / "detach.sh"), "{{ x }}"], inputs=["x"], outputs=["y"],
        parse=parsers.regex(r"y = (\S+)"), timeout=30, workdir=tmp_path, keep="all")
    t0 = time.monotonic()
    assert model([[1.0]])[0, 0] == 1.5
    assert time.monotonic() - t0 < 10  # not the 30 s timeout, and never the 1e6 s sleep
    (wd,) = tmp_path.iterdir()
    _assert_gone(int((wd / "grandchild.pid").read_text()))


def test_timeout_fires_while_grandchild_holds_stdout_c3(tmp_path):
    model = uqkit.CommandModel(
        [str(FAKESIM / "hang.sh"), "{{ x }}"], inputs=["x"], outputs=["y"],
        parse=parsers.numbers("stdout.txt"), timeout=0.5, grace=0.5, workdir=tmp_path)
    t0 = time.monotonic()
    with pytest.raises(uqkit.EvaluationFailure, match="timed out"):
        model([[1.0]])
    assert time.monotonic() - t0 < 4


def test_one_gigabyte_on_stdout_c4(tmp_path):
    """C4: no pipe deadlock, only a tail in memory, RSS grows by < 100 MB."""
    model = uqkit.CommandModel(
        [str(FAKESIM / "flood.sh"), "{{ x }}"], inputs=["x"], outputs=["y"],
        parse=parsers.numbers("out.txt"), env={"FLOOD_BYTES": str(10**9)}, workdir=tmp_path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    assert model([[1.0]])[0, 0] == 2.5
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert (after - before) * 1024 < 100 * 2**20
    assert list(tmp_path.iterdir()) == []  # the 1 GB file went with the work directory


def test_failure_keeps_only_a_bounded_stderr_tail(tmp_path):
    code = "import sys; sys.stderr.write('e' * 10**6 + 'LAST LINE'); sys.exit(2)#{{x}}"
    model = uqkit.CommandModel([sys.executable, "-c", code], inputs=["x"], outputs=["y"],
                               parse=parsers.numbers("stdout.txt"), workdir=tmp_path)
    with pytest.raises(uqkit.EvaluationFailure) as info:
        model([[1.0]])
    tail = info.value.details["stderr_tail"]
    assert len(tail) == 64 * 1024 and tail.endswith("LAST LINE")


def test_leak_check_1000_evaluations_with_100_timeouts_c7(tmp_path):
    echo = shutil.which("echo")
    sleep = shutil.which("sleep")
    fast = uqkit.CommandModel([echo, "{{ x }}"], inputs=["x"], outputs=["y"],
                              parse=parsers.numbers("stdout.txt"), workdir=tmp_path / "s")
    slow = uqkit.CommandModel([sleep, "10", "{{ x }}"], inputs=["x"], outputs=["y"],
                              parse=parsers.numbers("stdout.txt"), timeout=0.01, grace=0.5,
                              workdir=tmp_path / "s", keep="none")
    fds = len(os.listdir("/proc/self/fd"))
    n_timeouts = 0
    for i in range(1000):
        if i % 10 == 0:
            try:
                slow([[float(i)]])
            except uqkit.EvaluationFailure as exc:
                assert exc.kind == "timeout"
                n_timeouts += 1
        else:
            assert fast([[i / 7]])[0, 0] == i / 7
    assert n_timeouts == 100
    assert abs(len(os.listdir("/proc/self/fd")) - fds) <= 5
    assert _no_zombie_children()
    assert list((tmp_path / "s").iterdir()) == []
