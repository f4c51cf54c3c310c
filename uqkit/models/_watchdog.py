"""Watchdog of one uqkit process: kill its simulators when it dies, even by SIGKILL.

Run as ``python -I -S _watchdog.py TOKEN`` with its standard input the read end of a
pipe whose only write end is held by the process that runs simulators (the driver or
a pool worker). That process writes ``+PGID`` when a simulator starts, ``-PGID`` when
it has been cleaned up, and ``cgroup PATH`` when it uses a cgroup. When the pipe
reaches end of file, the writer is gone (exit, crash or ``kill -9``; the kernel closes
the descriptor), and the watchdog

1. sends SIGTERM to every registered process group and, on Linux, to every process
   whose environment carries ``UQKIT_EVAL=TOKEN.`` (children, grandchildren and
   double-forked ``setsid`` daemons inherit it), waits up to ``GRACE`` seconds for
   them, then sends SIGKILL;
2. kills and removes the registered cgroup.

Process groups are registered only where there is no ``/proc`` to find the marked
processes by (macOS and other systems).

Standard library only, no uqkit import: it starts in a few milliseconds.
"""

from __future__ import annotations

import os
import signal
import sys
import time

VAR = "UQKIT_EVAL"
GRACE = 2.0


def marked_pids(prefix: bytes) -> list[int]:
    """Pids of processes whose environment holds an entry starting with ``prefix``."""
    me = os.getpid()
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    inner = b"\0" + prefix
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:  # os-level calls: a few microseconds per process
            fd = os.open(f"/proc/{name}/environ", os.O_RDONLY)
        except OSError:
            continue
        try:
            env = chunk = os.read(fd, 16384)
            while len(chunk) == 16384:
                chunk = os.read(fd, 16384)
                env += chunk
        except OSError:
            continue
        finally:
            os.close(fd)
        if inner in env or env.startswith(prefix):
            found.append(int(name))
    return found


def kill_marked(prefix: bytes, passes: int = 3, sig: int = signal.SIGKILL) -> list[int]:
    """Signal the marked processes, a few passes (a process may fork while we scan);
    return the pids signalled in the last pass."""
    pids: list[int] = []
    for _ in range(passes):
        pids = marked_pids(prefix)
        if not pids:
            return pids
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        if sig != signal.SIGKILL:
            return pids
        time.sleep(0.02)
    return pids


def kill_cgroup(path: str) -> None:
    """Kill every process of a cgroup v2 directory and remove it (best effort)."""
    try:
        with open(os.path.join(path, "cgroup.kill"), "w") as f:
            f.write("1")
    except OSError:
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                for line in f:
                    try:
                        os.kill(int(line), signal.SIGKILL)
                    except (OSError, ValueError):
                        pass
        except OSError:
            return
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (Linux ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except OSError:
        return False
    return True


def main(token: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the driver's
    groups: set[int] = set()
    cgroups: set[str] = set()
    for raw in sys.stdin.buffer:
        line = raw.decode(errors="replace").strip()
        if line.startswith("+") and line[1:].isdigit():
            groups.add(int(line[1:]))
        elif line.startswith("-") and line[1:].isdigit():
            groups.discard(int(line[1:]))
        elif line.startswith("cgroup "):
            cgroups.add(line[7:])
    # end of file: the process we watch is gone. SIGTERM first, SIGKILL after GRACE.
    prefix = f"{VAR}={token}.".encode()
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except OSError:
            pass
    termed = kill_marked(prefix, sig=signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline and (any(_alive(g) for g in groups)
                                           or any(_running(p) for p in termed)):
        time.sleep(0.05)
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    kill_marked(prefix)
    for path in cgroups:
        kill_cgroup(path)


if __name__ == "__main__":
    main(sys.argv[1])
