"""Run one external process safely: own session, output to files, bounded tails.

Design (tests/test_command_process.py: the process group killed on timeout, bounded
output, no leak over 1000 evaluations with 100 timeouts):

- ``argv`` list, never a shell; stdin is ``/dev/null``.
- stdout and stderr go to *files* in the work directory, not pipes, so a
  grandchild that keeps the descriptors open (cpython#76116) never blocks us and
  1 GB of output costs disk, not memory. Only a tail is read back.
- ``start_new_session=True``: the child leads its own process group. A timeout
  sends SIGTERM to the whole group, waits ``grace`` seconds, then SIGKILL, and
  always reaps. Stray group members left after a normal exit are killed too, so
  no simulator process outlives its evaluation.
- Whatever the simulator leaves behind (grandchildren, ``setsid`` daemons) is killed
  after each evaluation, and a watchdog kills it if the driver dies, even by SIGKILL:
  see :mod:`uqkit.models._proctree`.
- Optional resource limits (address space, processes, file size as an output
  cap, CPU seconds) are set in the child before ``exec``.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ._proctree import VAR, tracker

__all__ = ["ProcessResult", "run_process", "read_tail", "LIMIT_KEYS", "cancel_on"]

# set by a caller that may abandon the evaluation (the UM-Bridge server, when its client
# disconnects): run_process then stops the simulator and raises EvaluationFailure
_cancel: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "uqkit_cancel", default=None)


@contextlib.contextmanager
def cancel_on(event: threading.Event) -> Iterator[None]:
    """Within this block, setting ``event`` stops a running simulator of this thread."""
    token = _cancel.set(event)
    try:
        yield
    finally:
        _cancel.reset(token)


def _wait(proc: subprocess.Popen, timeout: float | None) -> None:
    """``proc.wait(timeout)``, but raise a ``cancelled`` failure once the event is set."""
    cancel = _cancel.get()
    if cancel is None:
        proc.wait(timeout=timeout)
        return
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = 0.1 if deadline is None else min(0.1, max(0.0, deadline - time.monotonic()))
        try:
            proc.wait(timeout=step)
            return
        except subprocess.TimeoutExpired:
            if cancel.is_set():
                from uqkit._errors import EvaluationFailure

                raise EvaluationFailure("cancelled", "the evaluation was cancelled (its "
                                        "client went away)", retryable=True) from None
            if deadline is not None and time.monotonic() >= deadline:
                raise

TAIL_BYTES = 64 * 1024

# user-facing limit name -> resource module constant name
LIMIT_KEYS = {
    "memory": "RLIMIT_AS",
    "processes": "RLIMIT_NPROC",
    "output": "RLIMIT_FSIZE",
    "cpu": "RLIMIT_CPU",
}


@dataclass(frozen=True)
class ProcessResult:
    """What happened to one process."""

    returncode: int
    duration: float
    timed_out: bool
    killed: bool  # escalated to SIGKILL after the grace period

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode < 0 else None


class _SetLimits:
    """``preexec_fn`` that applies resource limits in the child (picklable, no closure)."""

    def __init__(self, limits: dict[str, int]) -> None:
        self.limits = limits

    def __call__(self) -> None:  # pragma: no cover - runs in the child
        import resource

        for key, value in self.limits.items():
            res = getattr(resource, LIMIT_KEYS[key])
            resource.setrlimit(res, (value, value))


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_process(
    argv: list[str],
    cwd: Path,
    *,
    timeout: float | None,
    grace: float,
    env: dict[str, str] | None,
    limits: dict[str, int] | None = None,
) -> ProcessResult:
    """Run ``argv`` in ``cwd`` with stdout/stderr in ``stdout.txt``/``stderr.txt``."""
    preexec = _SetLimits(limits) if limits else None
    track = tracker()
    mark = track.mark()
    env = {**(os.environ if env is None else env), VAR: mark}
    start = time.perf_counter()
    with open(cwd / "stdout.txt", "wb") as out, open(cwd / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
            start_new_session=True, close_fds=True, preexec_fn=preexec,
        )
    pgid = proc.pid  # the session leader's pid is the process group id
    track.started(pgid)
    timed_out = killed = False
    try:
        try:
            _wait(proc, timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(pgid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                killed = True
                _kill_group(pgid, signal.SIGKILL)
                proc.wait()
    except BaseException:
        # KeyboardInterrupt or similar in the driver: never leave the simulator running
        _kill_group(pgid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        # descendants that outlived the leader (`sleep &`, daemonised helpers)
        track.finished(pgid, mark)
    duration = time.perf_counter() - start
    return ProcessResult(proc.returncode, duration, timed_out, killed)


def read_tail(path: Path, n_bytes: int = TAIL_BYTES) -> str:
    """Last ``n_bytes`` of a file as text (undecodable bytes replaced); '' if missing."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - n_bytes))
            data = f.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")
