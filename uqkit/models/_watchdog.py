"""Watchdog of one uqkit process: kill its simulators when it dies, even by SIGKILL.

Run as ``python -I -S _watchdog.py TOKEN`` with its standard input the read end of a
pipe whose only write end is held by the process that runs simulators (the driver or
a pool worker). That process writes ``+PGID`` when a simulator starts, ``-PGID`` when
it has been cleaned up, and ``cgroup PATH`` when it uses a cgroup. When the pipe
reaches end of file, the writer is gone (exit, crash or ``kill -9``; the kernel closes
the descriptor), and the watchdog

1. sends SIGTERM to every registered process group, waits up to ``GRACE`` seconds,
   then SIGKILL;
2. on Linux, kills every process whose environment carries ``UQKIT_EVAL=TOKEN.``
   (children, grandchildren and double-forked ``setsid`` daemons inherit it);
3. kills and removes the registered cgroup.

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


def kill_marked(prefix: bytes, passes: int = 3) -> None:
    """SIGKILL the marked processes, a few passes (a process may fork while we scan)."""
    for _ in range(passes):
        pids = marked_pids(prefix)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)


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
    # end of file: the process we watch is gone
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + GRACE
    while any(_alive(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    kill_marked(f"{VAR}={token}.".encode())
    for path in cgroups:
        kill_cgroup(path)


if __name__ == "__main__":
    main(sys.argv[1])
