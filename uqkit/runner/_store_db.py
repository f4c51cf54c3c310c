"""The store's SQLite connection: opening, schema versions, transactions, crash safety,
and the small key-value tables (studies, checkpoints).

:class:`uqkit.Store` (``_store.py``) adds the evaluations on top of this class.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import sqlite3
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import StoreCorruptedError, StoreError, StudyMismatchError, UQKitWarning
from ._store_index import write_rows
from ._store_schema import SCHEMA_VERSION, create_schema, migrate

__all__ = ["Database", "HOST"]

_SQLITE_HEADER = b"SQLite format 3\x00"
_NETWORK_FS = {"nfs", "nfs4", "lustre", "gpfs", "cifs", "smb3", "smbfs", "afs", "beegfs",
               "fuse.sshfs", "9p"}
HOST = socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _filesystem_type(path: Path) -> str | None:
    """The mount type holding ``path`` (Linux ``/proc/mounts``), or None."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    target = str(path.resolve().parent)
    best, fstype = "", None
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3:
            mnt = parts[1]
            if (target == mnt or target.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(
                    best):
                best, fstype = mnt, parts[2]
    return fstype


class Database:
    """An open uqkit store file (see :class:`uqkit.Store`, which adds the evaluations)."""

    def __init__(self, path: str | os.PathLike, *, timeout: float = 60.0,
                 lease: float = 120.0) -> None:
        self.path = Path(path).expanduser()
        self.timeout = float(timeout)
        self.lease = float(lease)
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._refs: dict[str, int] = {}
        self._shapes: dict[int, tuple[int, int]] = {}
        self._open()

    # -- connection management ---------------------------------------------------------
    def _open(self) -> None:
        path = self.path
        if path.exists():
            if path.is_dir():
                raise StoreError(f"The store path {str(path)!r} is a directory, not a file.")
            self._check_header(path)
        else:
            if not path.parent.exists():
                raise StoreError(
                    f"The folder of the store {str(path)!r} does not exist; create it first.")
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
        try:
            conn = sqlite3.connect(str(path), timeout=self.timeout, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.DatabaseError as exc:  # pragma: no cover - defensive
            raise self._corrupted(exc) from exc
        self._conn = conn
        try:
            # read the schema before changing anything: a foreign or damaged file is
            # refused untouched (setting WAL mode would rewrite its header)
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            version = self._schema_version()
            if version is not None and version > SCHEMA_VERSION:
                raise StoreError(
                    f"The store {str(path)!r} was written by a newer uqkit (schema "
                    f"{version} > {SCHEMA_VERSION}); upgrade uqkit to open it.")
            fstype = _filesystem_type(path)
            if fstype in _NETWORK_FS:
                warnings.warn(
                    f"The store {str(path)!r} is on a network filesystem ({fstype}); SQLite's WAL "
                    "mode is unsafe there, so uqkit uses a rollback journal (slower; keep one "
                    "writer at a time, or put the store on a local disk).", UQKitWarning,
                    stacklevel=3)
                conn.execute("PRAGMA journal_mode=DELETE")
            else:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: random-key inserts stay in cache
            if version is None:
                with self._transaction(hook=False):
                    if self._schema_version() is None:  # not created meanwhile by another
                        create_schema(conn)
                        conn.execute("INSERT OR IGNORE INTO meta VALUES ('created', ?)",
                                     (repr(time.time()),))
            elif version < SCHEMA_VERSION:
                self._migrate()
        except sqlite3.OperationalError as exc:
            self.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(
                    f"The store {str(path)!r} stayed locked by another process for "
                    f"{self.timeout:g} s. It is not corrupted; retry, or raise timeout=.") from exc
            raise self._corrupted(exc) from exc
        except sqlite3.DatabaseError as exc:
            self.close()
            raise self._corrupted(exc) from exc
        except BaseException:
            self.close()
            raise

    def _check_header(self, path: Path) -> None:
        try:
            with open(path, "rb") as fh:
                header = fh.read(100)
        except OSError as exc:
            raise StoreError(f"Cannot read the store {str(path)!r}: {exc}") from exc
        if len(header) == 0:
            return  # an empty file (e.g. created by us and crashed before init) is fine
        if len(header) < 100 or header[:16] != _SQLITE_HEADER:
            raise self._corrupted("the file does not start with a valid SQLite header")

    def _corrupted(self, cause: Any) -> StoreCorruptedError:
        return StoreCorruptedError(
            f"The store {str(self.path)!r} is corrupted or is not a uqkit store ({cause}). "
            "uqkit will not overwrite it. Recovery: keep a copy of the file, then try "
            f"`sqlite3 {self.path} .recover | sqlite3 recovered.db` and open recovered.db, or "
            "point the study at a new store path.")

    def _schema_version(self) -> int | None:
        conn = self._conn
        has_meta = conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise self._corrupted("a SQLite database without uqkit's tables")
            return None
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            raise self._corrupted("no schema version")
        return int(row[0])

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"The store {str(self.path)!r} is closed.")
        if os.getpid() != self._pid:  # forked child: never share a connection
            self._pid = os.getpid()
            self._conn = None
            self._open()
        return self._conn

    def _migrate(self) -> None:
        """Upgrade an older store in one transaction (a crash leaves it as it was)."""
        conn = self._conn
        with self._transaction(hook=False):
            version = self._schema_version()  # another process may have migrated it
            if version is not None and version < SCHEMA_VERSION:
                migrate(conn, version, write_rows)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('migrated', ?)",
                             (json.dumps({"from": version, "time": time.time()}),))

    @contextlib.contextmanager
    def _transaction(self, immediate: bool = True, hook: bool = True):
        conn = self._conn if self._conn is not None else self.conn
        try:
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield conn
                if hook:
                    _before_commit_hook()
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise StoreError(
                    f"The store {str(self.path)!r} stayed locked by another process for "
                    f"{self.timeout:g} s. It is not corrupted; retry, or raise timeout=.") from exc
            if "full" in text:
                raise StoreError(
                    f"The disk holding the store {str(self.path)!r} is full ({text}); stored "
                    "results are safe. Free space and rerun to resume.") from exc
            raise

    @contextlib.contextmanager
    def _snapshot(self):
        """A read transaction: several SELECTs see one consistent state."""
        conn = self.conn
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (the file stays)."""
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        with contextlib.suppress(Exception):
            self.close()

    def __reduce__(self):
        # a Store travels (e.g. inside a Runner) as its path, never as a connection
        return (type(self), (str(self.path),), {"timeout": self.timeout, "lease": self.lease})

    def __setstate__(self, state):  # pragma: no cover - set by __reduce__
        self.timeout = state["timeout"]
        self.lease = state["lease"]

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- studies ---------------------------------------------------------------------------
    def check_study(self, study_id: str, spec: dict[str, Any], *,
                    extendable: Sequence[str] = ("n",)) -> dict[str, Any] | None:
        """Record a study's specification, or check a resumed study against it
        (tests/test_store.py::test_changed_study_refused_extension_allowed).

        Parameters
        ----------
        study_id : str
            Name of the study (e.g. ``"sobol:<model id>"``).
        spec : dict
            JSON-serialisable description: distributions, seed, method, sizes...
        extendable : sequence of str
            Fields that may grow on a rerun (an explicit extension, e.g. a Sobol'
            ``n`` from 256 to 512 reuses the first 256 base samples).

        Returns
        -------
        dict or None
            The previously stored spec, or None for a new study.

        Raises
        ------
        StudyMismatchError
            If a field differs (other than growing an extendable field); the
            message names the field.
        """
        canon = json.loads(json.dumps(spec, sort_keys=True, default=repr))
        conn = self.conn
        with self._transaction():
            row = conn.execute("SELECT spec FROM studies WHERE study_id=?",
                               (study_id,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO studies VALUES (?,?,?,?)",
                             (study_id, json.dumps(canon, sort_keys=True), time.time(),
                              time.time()))
                return None
            old = json.loads(row[0])
            for field in sorted(set(old) | set(canon)):
                a, b = old.get(field), canon.get(field)
                if a == b:
                    continue
                if field in extendable and isinstance(a, (int, float)) and isinstance(
                        b, (int, float)) and b >= a:
                    continue
                raise StudyMismatchError(
                    f"The study {study_id!r} in {str(self.path)!r} was run with {field}={a!r}; "
                    f"this run has {field}={b!r}. Use the same {field}, a new store, or a new "
                    "study name.", field=field)
            conn.execute("UPDATE studies SET spec=?, updated=? WHERE study_id=?",
                         (json.dumps(canon, sort_keys=True), time.time(), study_id))
            return old

    # -- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self, name: str, arrays: dict[str, np.ndarray],
                        meta: dict[str, Any] | None = None) -> None:
        """Atomically replace the checkpoint ``name`` (arrays as .npz bytes, meta as JSON)."""
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO checkpoints VALUES (?,?,?,?)",
                         (name, buf.getvalue(), json.dumps(meta or {}), time.time()))

    def load_checkpoint(self, name: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """The checkpoint ``name`` as ``(arrays, meta)``, or None. Never unpickles."""
        row = self.conn.execute("SELECT arrays, meta FROM checkpoints WHERE name=?",
                                (name,)).fetchone()
        if row is None:
            return None
        with np.load(io.BytesIO(row[0]), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        return arrays, json.loads(row[1])

    def delete_checkpoint(self, name: str) -> None:
        """Remove the checkpoint ``name`` if present."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM checkpoints WHERE name=?", (name,))

def _before_commit_hook() -> None:
    """Test hook (tests/test_store.py::test_kill_inside_commit): crash before the commit.

    Set the environment variable ``UQKIT_TEST_CRASH_BEFORE_COMMIT=K`` to make the
    process ``os._exit(9)`` just before its K-th commit. Never set in production.
    """
    target = _CRASH_AT[0]
    if target is None:
        return
    _CRASH_AT[1] += 1
    if _CRASH_AT[1] >= target:
        os._exit(9)


def _crash_setting() -> list:
    value = os.environ.get("UQKIT_TEST_CRASH_BEFORE_COMMIT")
    return [int(value) if value else None, 0]


_CRASH_AT = _crash_setting()
