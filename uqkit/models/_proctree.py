"""Keep every process a simulator starts inside its evaluation's lifetime.

Three layers, each catching what the previous one misses:

1. **Process group.** The simulator leads its own session; the group is killed after
   the evaluation, on timeout and on interrupt (see :mod:`uqkit.models._process`).
2. **Environment mark.** Each simulator gets ``UQKIT_EVAL=<session>.<n>`` in its
   environment. Children, grandchildren and double-forked ``setsid`` daemons inherit
   it, so after the evaluation every process still carrying the mark is killed
   (Linux: read from ``/proc/<pid>/environ``). A program that clears its environment
   and leaves its session escapes this layer.
3. **cgroup.** A pool worker (a process uqkit owns) moves itself into a cgroup of
   its own before its first simulator where a cgroup v2 hierarchy is writable (root, or a delegated
   subtree such as a systemd user slice). Every simulator it starts is born in that
   cgroup, and no process can leave a cgroup on its own, so even a daemon that
   clears its environment and leaves its session is killed when the worker's
   watchdog fires. The user's own interpreter is never moved (that would change
   its resource accounting), and moving each simulator after it starts would cost
   milliseconds per evaluation and race with its first ``fork``.

A killed driver (``kill -9``) cannot clean up, so each process that runs simulators
starts one watchdog (:mod:`uqkit.models._watchdog`) holding the read end of a pipe.
When the driver dies, the kernel closes the write end and the watchdog kills the
registered process groups, the marked processes and the cgroups. Pool workers die with
their driver (``PR_SET_PDEATHSIG``), which wakes their own watchdogs the same way. On
macOS and other systems without ``/proc`` only the process-group layer and the watchdog's
group list apply; without cgroup v2, only the first two layers.
"""

from __future__ import annotations

import atexit
import itertools
import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

from . import _watchdog

__all__ = ["Tracker", "tracker", "worker_start"]

VAR = _watchdog.VAR
_HAS_PROC = os.path.exists(f"/proc/{os.getpid()}/environ")


def _cgroup_root() -> Path | None:
    """This process's cgroup v2 directory if we may create sub-cgroups in it, else None."""
    try:
        own = next((ln.split("::", 1)[1].strip() for ln in
                    Path("/proc/self/cgroup").read_text().splitlines()
                    if ln.startswith("0::")), None)
        if own is None:
            return None
        mount = None
        for ln in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = ln.partition(" - ")
            if right.split(" ", 1)[0] == "cgroup2":
                mount = left.split()[4]
                break
        if mount is None:
            return None
        base = Path(mount) / own.lstrip("/")
        return base if os.access(base, os.W_OK) else None
    except (OSError, IndexError):
        return None


class Tracker:
    """The watchdog, the mark and the cgroups of one process (re-created after a fork)."""

    def __init__(self, cgroup: bool = False) -> None:
        self.pid = os.getpid()
        self.token = f"{self.pid}-{secrets.token_hex(6)}"
        self.counter = itertools.count()
        self.lock = threading.Lock()
        self.watchdog: subprocess.Popen | None = None
        self.cgroup: Path | None = None
        try:
            self.watchdog = subprocess.Popen(
                [sys.executable, "-I", "-S", _watchdog.__file__, self.token],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, close_fds=True,
                env={k: v for k, v in os.environ.items() if k != VAR})
        except OSError:  # pragma: no cover - no interpreter to run it
            self.watchdog = None
        else:
            atexit.register(self.close)
        root = _cgroup_root() if cgroup and self.watchdog is not None else None
        if root is not None:
            path = root / f"uqkit-{self.token}"
            try:
                path.mkdir()
                (path / "cgroup.procs").write_text("0")  # "0": the writing process
            except OSError:
                _watchdog.kill_cgroup(str(path))  # removes the empty directory
            else:
                self.cgroup = path
                self._tell(f"cgroup {path}")

    def _tell(self, line: str) -> None:
        if self.watchdog is None:
            return
        with self.lock:
            try:
                self.watchdog.stdin.write(line.encode() + b"\n")
                self.watchdog.stdin.flush()
            except (OSError, ValueError):  # pragma: no cover - watchdog gone
                pass

    def mark(self) -> str:
        """A fresh evaluation mark, the value of ``UQKIT_EVAL``."""
        return f"{self.token}.{next(self.counter)}"

    def started(self, pgid: int) -> None:
        """Register a started simulator's process group with the watchdog (only where
        it cannot find the simulator by its environment mark)."""
        if not _HAS_PROC:
            self._tell(f"+{pgid}")

    def finished(self, pgid: int, mark: str) -> None:
        """Kill whatever the evaluation left behind and unregister it."""
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _watchdog.kill_marked(f"{VAR}={mark}\0".encode())
        if not _HAS_PROC:
            self._tell(f"-{pgid}")

    def close(self) -> None:
        """Let the watchdog go (normal exit): it sweeps once for marked processes and ends."""
        if self.watchdog is not None and os.getpid() == self.pid:
            try:
                self.watchdog.stdin.close()
                self.watchdog.wait(timeout=_watchdog.GRACE + 5)
            except (OSError, ValueError, subprocess.TimeoutExpired):  # pragma: no cover
                pass
            self.watchdog = None


_tracker: Tracker | None = None
_create_lock = threading.Lock()


_pool_worker = False


def worker_start() -> None:
    """Called in a pool worker at start-up: its tracker, made at the first simulator,
    moves the worker into a cgroup of its own where possible."""
    global _pool_worker
    _pool_worker = True


def tracker() -> Tracker:
    """This process's tracker, started on first use (and again in a forked child)."""
    global _tracker
    current = _tracker
    if current is not None and current.pid == os.getpid():
        return current
    with _create_lock:
        if _tracker is not None and _tracker.pid != os.getpid():
            # inherited through fork: drop our copy of the parent's pipe so that the
            # parent's watchdog sees end of file when the parent dies
            inherited = _tracker.watchdog
            if inherited is not None and inherited.stdin is not None:
                try:
                    inherited.stdin.close()
                except OSError:  # pragma: no cover
                    pass
            _tracker = None
        if _tracker is None:
            _tracker = Tracker(cgroup=_pool_worker)
        return _tracker
