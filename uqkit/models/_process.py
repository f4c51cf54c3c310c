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
- Optional resource limits (address space, processes, file size as an output
  cap, CPU seconds) are set in the child before ``exec``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessResult", "run_process", "read_tail", "LIMIT_KEYS"]

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
    start = time.perf_counter()
    with open(cwd / "stdout.txt", "wb") as out, open(cwd / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
            start_new_session=True, close_fds=True, preexec_fn=preexec,
        )
    pgid = proc.pid  # the session leader's pid is the process group id
    timed_out = killed = False
    try:
        try:
            proc.wait(timeout=timeout)
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
        # descendants that outlived the leader (daemonised helpers, `sleep &`)
        _kill_group(pgid, signal.SIGKILL)
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
