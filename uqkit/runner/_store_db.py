"""The store's SQLite connection: opening, schema versions, transactions, crash safety,
and the small key-value tables (studies, checkpoints).

:class:`uqkit.Store` (``_store.py``) adds the evaluations on top of this class.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import socket
import sqlite3
import time
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import (
    NotAStoreError,
    StoreCorruptedError,
    StoreError,
    StudyMismatchError,
    UQKitWarning,
)
from .._validation import check_choice
from ._store_index import write_rows
from ._store_schema import SCHEMA_VERSION, create_schema, migrate

__all__ = ["Database", "HOST", "guard_sqlite_errors", "QUICK_CHECK_BYTES"]

#: stores up to this size get SQLite's ``PRAGMA quick_check`` when opened
QUICK_CHECK_BYTES = 16 * 2**20
#: SQLite's page cache per connection, in KiB (negative: a size, not a page count); it
#: counts towards the driver's memory, and holds the key index of 2^19 rows
_CACHE_KIB = -16384

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


def guard_sqlite_errors(cls: type, names: Sequence[str]) -> None:
    """Wrap the methods ``names`` of ``cls`` so that every sqlite3 error reaches the
    caller as a :class:`~uqkit.StoreError` with a message (never a raw traceback)."""
    for name in names:
        method = getattr(cls, name)

        def wrapper(self, *args, __method=method, **kwargs):
            try:
                return __method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise self._translate(exc) from exc

        functools.update_wrapper(wrapper, method)
        setattr(cls, name, wrapper)


class Database:
    """An open uqkit store file (see :class:`uqkit.Store`, which adds the evaluations)."""

    def __init__(self, path: str | os.PathLike, *, timeout: float = 60.0,
                 lease: float = 120.0, on_corrupt: str = "reevaluate") -> None:
        self.path = Path(path).expanduser()
        self.timeout = float(timeout)
        self.lease = float(lease)
        self.on_corrupt = check_choice("Store", "on_corrupt", on_corrupt,
                                       ("reevaluate", "raise"))
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._refs: dict[str, int] = {}
        self._shapes: dict[int, tuple[int, int]] = {}
        self._open()

    # -- connection management ---------------------------------------------------------
    def _open(self) -> None:
        path = self.path
        self.readonly = False
        if path.exists():
            if path.is_dir():
                raise StoreError(f"The store path {str(path)!r} is a directory, not a file.")
            self._check_header(path)
            self.readonly = not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
        else:
            if not path.parent.exists():
                raise StoreError(
                    f"The folder of the store {str(path)!r} does not exist; create it first.")
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except OSError as exc:
                raise StoreError(f"Cannot create the store {str(path)!r}: {exc}") from exc
            os.close(fd)
        try:
            conn = self._connect(path)
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        self._conn = conn
        try:
            self._prepare(conn)
        except sqlite3.Error as exc:
            self.close()
            raise self._translate(exc) from exc
        except BaseException:
            self.close()
            raise

    def _connect(self, path: Path) -> sqlite3.Connection:
        """A connection; a store that cannot be written is opened read-only (``mode=ro``,
        or ``immutable=1`` when SQLite cannot even create its shared-memory file)."""
        def connect(target: str, uri: bool) -> sqlite3.Connection:
            conn = sqlite3.connect(target, timeout=self.timeout, isolation_level=None,
                                   check_same_thread=False, uri=uri)
            if uri:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn

        if not self.readonly:
            return connect(str(path), False)
        from urllib.parse import quote

        base = "file:" + quote(str(path.resolve()))
        try:
            return connect(base + "?mode=ro", True)
        except sqlite3.OperationalError:
            return connect(base + "?immutable=1", True)

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check the file (header, schema, quick check), then set it up and migrate it."""
        path = self.path
        # read the schema before changing anything: a foreign or damaged file is
        # refused untouched (setting WAL mode would rewrite its header)
        conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        version = self._schema_version()
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"The store {str(path)!r} was written by a newer uqkit (schema "
                f"{version} > {SCHEMA_VERSION}); upgrade uqkit to open it.")
        if version is not None and path.stat().st_size <= QUICK_CHECK_BYTES:
            result = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            if result != "ok":
                raise self._corrupted(f"PRAGMA quick_check: {result}")
        if self.readonly:
            if version is None:
                raise StoreError(f"The store {str(path)!r} is read-only and empty: uqkit cannot "
                                 "create its tables. Point the study at a writable path.")
            if version < SCHEMA_VERSION:
                raise StoreError(
                    f"The store {str(path)!r} is read-only and was written by an older uqkit "
                    f"(schema {version}); copy it to a writable place once, so that uqkit "
                    "can migrate it.")
            return
        fstype = _filesystem_type(path)
        if fstype in _NETWORK_FS:
            warnings.warn(
                f"The store {str(path)!r} is on a network filesystem ({fstype}); SQLite's WAL "
                "mode is unsafe there, so uqkit uses a rollback journal (slower; keep one "
                "writer at a time, or put the store on a local disk).", UQKitWarning,
                stacklevel=4)
            conn.execute("PRAGMA journal_mode=DELETE")
        else:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA cache_size={_CACHE_KIB}")
        if version is None:
            with self._transaction(hook=False):
                if self._schema_version() is None:  # not created meanwhile by another
                    create_schema(conn)
                    conn.execute("INSERT OR IGNORE INTO meta VALUES ('created', ?)",
                                 (repr(time.time()),))
        elif version < SCHEMA_VERSION:
            self._migrate()

    def _check_header(self, path: Path) -> None:
        try:
            with open(path, "rb") as fh:
                header = fh.read(100)
        except OSError as exc:
            raise StoreError(f"Cannot read the store {str(path)!r}: {exc}") from exc
        if len(header) == 0:
            return  # an empty file (e.g. created by us and crashed before init) is fine
        if sum(a == b for a, b in zip(header[:16], _SQLITE_HEADER)) < 8:
            raise self._not_a_store("it is not a SQLite database")
        if len(header) < 100 or header[:16] != _SQLITE_HEADER:
            raise self._corrupted("the file does not start with a valid SQLite header")

    def _corrupted(self, cause: Any) -> StoreCorruptedError:
        return StoreCorruptedError(
            f"The store {str(self.path)!r} is corrupted ({cause}). uqkit will not overwrite "
            f"it. Recovery: keep a copy of the file, then run `uqkit store recover {self.path} "
            "recovered.db` (it copies every verifiable row into a new store; or try "
            f"`sqlite3 {self.path} .recover | sqlite3 recovered.db`) and point the study at the "
            "new store, or at a new store path.")

    def _not_a_store(self, cause: str) -> NotAStoreError:
        return NotAStoreError(
            f"{str(self.path)!r} is not a uqkit store ({cause}). uqkit will not touch it; "
            "point the study at a new store path.")

    def _translate(self, exc: sqlite3.Error) -> StoreError:
        """A sqlite3 error as the StoreError a user can act on."""
        text = str(exc)
        where = f"The store {str(self.path)!r}"
        if "locked" in text or "busy" in text:
            return StoreError(f"{where} stayed locked by another process for {self.timeout:g} "
                              "s. It is not corrupted; retry, or raise timeout=.")
        if "full" in text:
            return StoreError(f"The disk holding the store {str(self.path)!r} is full ({text}); "
                              "stored results are safe. Free space and rerun to resume.")
        if "readonly" in text or "read-only" in text:
            return StoreError(f"{where} is read-only ({text}): it can be read (`uqkit store "
                              "info`, `uqkit report`, fully cached designs) but not written. "
                              "Copy it to a writable place to add results.")
        if isinstance(exc, (sqlite3.OperationalError, sqlite3.InterfaceError,
                            sqlite3.ProgrammingError)) and "malformed" not in text:
            return StoreError(f"{where} cannot be used: {text}")
        return self._corrupted(text)

    def _schema_version(self) -> int | None:
        conn = self._conn
        has_meta = conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise self._not_a_store("a SQLite database without uqkit's tables")
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

    def _read_only_error(self) -> StoreError:
        return StoreError(
            f"The store {str(self.path)!r} is read-only (a read-only mount, an immutable or "
            "non-writable file or folder): it can be read (`uqkit store info`, `uqkit report`, "
            "fully cached designs) but not written. Copy it to a writable place to add results.")

    @contextlib.contextmanager
    def _transaction(self, immediate: bool = True, hook: bool = True):
        conn = self._conn if self._conn is not None else self.conn
        if self.readonly and immediate:
            raise self._read_only_error()
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
            raise self._translate(exc) from exc

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
        return (type(self), (str(self.path),), {"timeout": self.timeout, "lease": self.lease,
                                                "on_corrupt": self.on_corrupt})

    def __setstate__(self, state):  # pragma: no cover - set by __reduce__
        self.timeout = state["timeout"]
        self.lease = state["lease"]
        self.on_corrupt = state.get("on_corrupt", "reevaluate")

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
        try:  # an .npz holds a CRC-32 per array, checked when it is read
            with np.load(io.BytesIO(row[0]), allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            meta = json.loads(row[1])
        except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            raise StoreCorruptedError(
                f"The checkpoint {name!r} in {str(self.path)!r} is damaged ({exc}). Delete it "
                "(Store.delete_checkpoint) to restart that computation from its stored "
                "evaluations.") from exc
        return arrays, meta

    def delete_checkpoint(self, name: str) -> None:
        """Remove the checkpoint ``name`` if present."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM checkpoints WHERE name=?", (name,))

guard_sqlite_errors(Database, ["check_study", "save_checkpoint", "load_checkpoint",
                               "delete_checkpoint"])


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
