"""Helpers of :class:`uqkit.CommandModel`: argument checks, hashing, the study folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal as _signal
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from uqkit._validation import fail

from ._process import LIMIT_KEYS

_FUNC = "CommandModel"
RESERVED = ("stdout.txt", "stderr.txt")
_HASH_LIMIT = 256 * 2**20  # hash argv files up to 256 MB
_hash_cache: dict[tuple[str, int, int], str] = {}


def _sha256_file(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    digest = _hash_cache.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = _hash_cache[key] = h.hexdigest()
    return digest


def _check_command(command: Any) -> list[str]:
    """An argv list of strings (never a shell string), ``PathLike`` elements as text."""
    if isinstance(command, (str, bytes)):
        fail(_FUNC, "command", "an argv list such as ['sim', '-i', 'in.txt'] (never a shell "
             "string)", command, "Split it with shlex.split(...).")
    try:
        command = [os.fspath(c) if isinstance(c, os.PathLike) else c for c in command]
    except TypeError:
        fail(_FUNC, "command", "a sequence of strings", command)
    if not command or not all(isinstance(c, str) for c in command):
        fail(_FUNC, "command", "a non-empty sequence of strings", command)
    if any("\x00" in c for c in command):
        fail(_FUNC, "command", "strings without NUL bytes", command)
    return command


def _check_max_input_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        fail(_FUNC, "max_input_size", "a positive number of characters", value)
    return int(value)


@dataclass(frozen=True)
class _Program:
    """The resolved command: absolute program, argv, hashes of program and scripts."""

    exe: Path
    argv: list[str]
    hashes: dict[str, str]
    script: str | None  # file name of the first script argument (the default model name)
    stray: list[str]  # relative arguments naming files of the current directory


def _resolve_program(command: list[str], env: dict[str, str] | None, root: Path) -> _Program:
    """Find the program (on ``PATH`` or relative to ``root``) and hash it and its scripts."""
    argv0 = command[0]
    if "{{" in argv0:
        fail(_FUNC, "command", "a fixed program as the first element", argv0)
    if os.sep in argv0:
        exe = (root / argv0) if not Path(argv0).is_absolute() else Path(argv0)
    else:
        found = shutil.which(argv0, path=(env or {}).get("PATH"))
        if found is None:
            fail(_FUNC, "command", "a program found on PATH", argv0,
                 "Install it or give its full path.")
        exe = Path(found)
    if not exe.is_file():
        fail(_FUNC, "command", "an existing program", str(exe))
    if not os.access(exe, os.X_OK):
        fail(_FUNC, "command", "an executable file", str(exe), f"Run: chmod +x {exe}")
    exe = exe.absolute()
    hashes = {str(exe): _sha256_file(exe)}
    argv = [str(exe)]
    script = None
    stray = []
    for arg in command[1:]:
        argv.append(arg)
        if "{{" in arg or not arg or arg.startswith("-") or len(arg) > 4096:
            continue
        p = Path(arg)
        if p.is_absolute() and _is_small_file(p):
            hashes[arg] = _sha256_file(p)  # a script: part of the simulator's identity
            script = script or p.name
        elif not p.is_absolute() and _is_small_file(root / p):
            stray.append(arg)
    return _Program(exe, argv, hashes, script, stray)


def _read_files(files: Any) -> dict[str, str]:
    """``files``: file name -> template text (a ``Path`` is read now)."""
    if files is not None and not isinstance(files, Mapping):
        fail(_FUNC, "files", "a mapping of file name to template", files)
    out: dict[str, str] = {}
    for fname, spec in (files or {}).items():
        fname = _check_relative("files", fname)
        if isinstance(spec, Path):
            try:
                text = spec.read_text()
            except OSError as exc:
                fail(_FUNC, "files", "readable template files", str(spec), str(exc))
        elif isinstance(spec, str):
            text = spec
        else:
            fail(_FUNC, "files", "template text (str) or a pathlib.Path", type(spec).__name__)
        out[fname] = text
    return out


def _check_relative(arg: str, name: Any) -> str:
    if not isinstance(name, (str, os.PathLike)) or not str(name):
        fail(_FUNC, arg, "file names relative to the work directory", name)
    p = Path(name)
    if "\0" in str(name) or not p.parts or p.is_absolute() or ".." in p.parts:
        fail(_FUNC, arg, "relative file names without '..' or NUL, naming a file (not '.')",
             str(name), "Files are written inside each evaluation's work directory.")
    if str(p) in RESERVED:
        fail(_FUNC, arg, f"names other than {RESERVED} (the captured output)", str(name))
    return str(p)


def _resolve_support(arg: str, entries: Any, root: Path) -> dict[str, Path]:
    """``copy_files``/``link_files``: sources inside ``root``, no ``..``, must exist."""
    if entries is None:
        return {}
    if isinstance(entries, (str, os.PathLike)):
        entries = [entries]
    items = entries.items() if isinstance(entries, Mapping) else (
        (Path(src).name, src) for src in entries)
    out: dict[str, Path] = {}
    for dest, src in items:
        dest = _check_relative(arg, dest)
        if not isinstance(src, (str, os.PathLike)):
            fail(_FUNC, arg, "paths", src)
        p = Path(src)
        if ".." in p.parts:
            fail(_FUNC, arg, "paths without '..'", str(src))
        full = (root / p) if not p.is_absolute() else p
        resolved = full.resolve()
        if not resolved.is_relative_to(root.resolve()):
            fail(_FUNC, arg, f"paths inside the project directory {str(root)!r}", str(src),
                 "Copy the file into the project or run from its directory.")
        if not full.exists():
            fail(_FUNC, arg, "existing files", str(src))
        if full.is_dir():
            _check_links_inside(arg, full, root)
        out[dest] = full.absolute()
    return out


def _check_links_inside(arg: str, folder: Path, root: Path) -> None:
    """Symbolic links inside a copied or linked folder must point inside the project.

    Folders are copied with their links kept as links; a link to ``/etc`` would give
    the simulator (and cleanup code) a path out of its work directory.
    """
    top = root.resolve()
    for base, dirs, names in os.walk(folder, followlinks=False):
        for entry in (*dirs, *names):
            p = Path(base) / entry
            if p.is_symlink() and not p.resolve().is_relative_to(top):
                fail(_FUNC, arg, f"folders whose symbolic links point inside the project "
                     f"directory {str(root)!r}", f"{p} -> {os.readlink(p)}",
                     "Copy the target into the project, or remove the link.")


_default_dir: dict[int, Path] = {}


def _default_study_dir() -> Path:
    """``$TMPDIR/uqkit-<uid>``, only if it is a real directory we own with mode 0700.

    In a shared /tmp another user could pre-create that name (or a symlink) to read
    the inputs: then a private ``mkdtemp`` directory is used instead.
    """
    pid = os.getpid()
    found = _default_dir.get(pid)
    if found is not None and found.is_dir():
        return found
    path = Path(tempfile.gettempdir()) / f"uqkit-{os.getuid()}"
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        path = Path(tempfile.mkdtemp(prefix="uqkit-"))
    st = os.lstat(path)
    if not (stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
            and stat.S_IMODE(st.st_mode) & 0o077 == 0):
        path = Path(tempfile.mkdtemp(prefix="uqkit-"))
    _default_dir[pid] = path
    return path


def _is_small_file(p: Path) -> bool:
    try:
        return p.is_file() and p.stat().st_size <= _HASH_LIMIT
    except OSError:
        return False


def _tree_hash(p: Path) -> str:
    if p.is_file():
        return _sha256_file(p)
    h = hashlib.sha256()
    for sub in sorted(p.rglob("*")):
        if sub.is_file():
            h.update(str(sub.relative_to(p)).encode() + b"\0" + _sha256_file(sub).encode())
    return h.hexdigest()


def _check_env(env: Any) -> dict[str, str] | None:
    if env is None:
        return None
    if not isinstance(env, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        fail(_FUNC, "env", "a mapping of str to str", env)
    return dict(env)


def _check_inherit(value: Any):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        fail(_FUNC, "inherit_env", "True, False or a sequence of variable names", value)
    return tuple(sorted(value))


def _check_limits(limits: Any) -> dict[str, int] | None:
    if limits is None:
        return None
    if not isinstance(limits, Mapping):
        fail(_FUNC, "limits", f"a mapping with keys among {sorted(LIMIT_KEYS)}", limits)
    out = {}
    for k, v in limits.items():
        if k not in LIMIT_KEYS:
            fail(_FUNC, "limits", f"keys among {sorted(LIMIT_KEYS)}", k)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            fail(_FUNC, "limits", "positive integers", {k: v})
        out[k] = int(v)
    return out


def _signal_name(sig: int) -> str:
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def _short(names) -> str:
    return str(tuple(names)) if len(names) <= 6 else (
        f"({names[0]!r}, ..., {names[-1]!r}: {len(names)})")

