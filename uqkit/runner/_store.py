"""The persistent evaluation store (SQLite).

Design (see RELIABILITY.md):

- WAL journal, ``synchronous=FULL``, a busy timeout, and one short transaction
  per result (or per vectorized batch), committed the moment it reaches the
  driver: a crash loses at most what was in flight.
- Content-addressed: the primary key is the 32-byte SHA-256 cache key
  (:mod:`uqkit.runner._keys`); inputs and outputs are stored bit-exactly as
  little-endian float64 blobs, so ``-0.0``, subnormals, ``inf`` and NaN outputs
  round-trip (they are never stored as NULL).
- Upserts never overwrite a completed result, so at-least-once delivery
  (Dask) is harmless.
- In-flight work is recorded as *claims* (one row per batch, with owner,
  host, pid and heartbeat). Claims of dead processes on this host, or whose
  heartbeat is older than the lease, are stale and re-queued automatically.
- Data only: numbers, bytes and JSON. Nothing is ever unpickled, so opening
  a store from someone else cannot run code.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import sqlite3
import stat
import time
import uuid
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import StoreCorruptedError, StoreError, StudyMismatchError, UQKitWarning

__all__ = ["Store", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
_SQLITE_HEADER = b"SQLite format 3\x00"
_NETWORK_FS = {"nfs", "nfs4", "lustre", "gpfs", "cifs", "smb3", "smbfs", "afs", "beegfs",
               "fuse.sshfs", "9p"}
HOST = socket.gethostname()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models(
    ref INTEGER PRIMARY KEY, model_id TEXT UNIQUE NOT NULL, name TEXT, version TEXT,
    identity TEXT, inputs TEXT, outputs TEXT, fingerprint TEXT, created REAL);
CREATE TABLE IF NOT EXISTS evaluations(
    key BLOB PRIMARY KEY, model_ref INTEGER NOT NULL, x BLOB NOT NULL, y BLOB,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1, duration REAL,
    host TEXT, pid INTEGER, updated REAL, error TEXT) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS evaluations_by_model ON evaluations(model_ref);
CREATE TABLE IF NOT EXISTS failures(
    id INTEGER PRIMARY KEY AUTOINCREMENT, key BLOB, model_id TEXT, attempt INTEGER,
    kind TEXT, error_type TEXT, message TEXT, traceback TEXT, details TEXT,
    duration REAL, host TEXT, pid INTEGER, time REAL);
CREATE INDEX IF NOT EXISTS failures_by_key ON failures(key);
CREATE TABLE IF NOT EXISTS claims(
    claim_id TEXT PRIMARY KEY, model_id TEXT, owner TEXT, host TEXT, pid INTEGER,
    heartbeat REAL, keys BLOB);
CREATE TABLE IF NOT EXISTS checkpoints(name TEXT PRIMARY KEY, arrays BLOB, meta TEXT,
    updated REAL);
CREATE TABLE IF NOT EXISTS studies(study_id TEXT PRIMARY KEY, spec TEXT, created REAL,
    updated REAL);
"""

#: statuses of completed evaluations (served from the cache)
DONE = ("ok", "nonfinite")


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


def _blob(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype="<f8").tobytes()


def _unblob(b: bytes | None) -> np.ndarray | None:
    return None if b is None else np.frombuffer(b, dtype="<f8")


class Store:
    """Persistent, content-addressed store of model evaluations (SQLite).

    Parameters
    ----------
    path : str or os.PathLike
        The database file; created (mode 0600) if missing. An existing file
        that is not a uqkit store raises :class:`uqkit.StoreCorruptedError` and
        is never overwritten.
    timeout : float
        Seconds to wait for a lock held by another process before failing
        with :class:`uqkit.StoreError` (never reported as corruption).
    lease : float
        Seconds after which a claim whose heartbeat stopped is considered
        stale (claims of dead processes on this host are stale at once).

    Notes
    -----
    Pass ``store="study.db"`` to :class:`uqkit.Runner` to use one implicitly.
    The store holds only data (numbers, bytes, JSON), never pickles.

    Examples
    --------
    >>> import uqkit, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "study.db")
    >>> with uqkit.Store(path) as store:
    ...     model, params, _ = uqkit.examples.ishigami()
    ...     ev = uqkit.Runner(store=store).evaluate(model, params.sample(8, rng=1))
    ...     len(store.to_dataframe())
    8
    """

    def __init__(self, path: str | os.PathLike, *, timeout: float = 60.0,
                 lease: float = 120.0) -> None:
        self.path = Path(path).expanduser()
        self.timeout = float(timeout)
        self.lease = float(lease)
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._refs: dict[str, int] = {}
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
                with self._transaction():
                    if self._schema_version() is None:  # not created meanwhile by another
                        # statement by statement: executescript() would commit our transaction
                        for statement in _SCHEMA.split(";"):
                            if statement.strip():
                                conn.execute(statement)
                        conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                                     (str(SCHEMA_VERSION),))
                        conn.execute("INSERT OR IGNORE INTO meta VALUES ('created', ?)",
                                     (repr(time.time()),))
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

    @contextlib.contextmanager
    def _transaction(self, immediate: bool = True):
        conn = self._conn if self._conn is not None else self.conn
        try:
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield conn
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

    def close(self) -> None:
        """Close the connection (the file stays)."""
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        with contextlib.suppress(Exception):
            self.close()

    def __reduce__(self):
        # a Store travels (e.g. inside a Runner) as its path, never as a connection
        return (Store, (str(self.path),), {"timeout": self.timeout, "lease": self.lease})

    def __setstate__(self, state):  # pragma: no cover - set by __reduce__
        self.timeout = state["timeout"]
        self.lease = state["lease"]

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- models ----------------------------------------------------------------------------
    def register_model(self, ident: dict[str, Any], inputs: Sequence[str],
                       outputs: Sequence[str]) -> int:
        """Record a model's identity; warn if its implementation fingerprint changed (A8).

        Returns the model's integer reference in this store.
        """
        conn = self.conn
        row = conn.execute("SELECT ref, fingerprint FROM models WHERE model_id=?",
                           (ident["id"],)).fetchone()
        if row is not None:
            ref, old = row
            new = ident.get("fingerprint")
            if old and new and old != new:
                warnings.warn(
                    f"The implementation of model {ident['name']!r} changed since its results "
                    f"were stored in {str(self.path)!r} (fingerprint {old} -> {new}) but its name "
                    "and version did not: cached results are reused. Bump the model's "
                    "version= to recompute.", UQKitWarning, stacklevel=4)
                with self._transaction():
                    conn.execute("UPDATE models SET fingerprint=? WHERE ref=?", (new, ref))
            self._refs[ident["id"]] = ref
            return ref
        with self._transaction():
            conn.execute(
                "INSERT OR IGNORE INTO models(model_id, name, version, identity, inputs, outputs,"
                " fingerprint, created) VALUES (?,?,?,?,?,?,?,?)",
                (ident["id"], ident["name"], ident["version"], ident["identity"],
                 json.dumps(list(inputs)), json.dumps(list(outputs)), ident.get("fingerprint"),
                 time.time()))
        return self._ref(ident["id"])

    def _ref(self, model_id: str) -> int:
        ref = self._refs.get(model_id)
        if ref is None:
            row = self.conn.execute("SELECT ref FROM models WHERE model_id=?",
                                    (model_id,)).fetchone()
            if row is None:
                raise StoreError(f"Unknown model id {model_id!r}: register_model first.")
            ref = self._refs[model_id] = row[0]
        return ref

    # -- lookups ---------------------------------------------------------------------------
    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, tuple[str, np.ndarray | None, int]]:
        """Stored ``(status, y, attempts)`` of the given keys (missing keys are absent)."""
        return {k: (status, _unblob(y), attempts)
                for k, (status, y, attempts) in self.lookup_raw(keys).items()}

    def lookup_raw(self, keys: Sequence[bytes]) -> dict[bytes, tuple[str, bytes | None, int]]:
        """Like :meth:`lookup`, with outputs as raw little-endian float64 bytes."""
        conn = self.conn
        out: dict[bytes, tuple[str, bytes | None, int]] = {}
        chunk = 900
        for start in range(0, len(keys), chunk):
            part = keys[start:start + chunk]
            q = ("SELECT key, status, y, attempts FROM evaluations WHERE key IN ("
                 + ",".join("?" * len(part)) + ")")
            out.update((r[0], r[1:]) for r in conn.execute(q, part).fetchall())
        return out

    # -- claims ------------------------------------------------------------------------------
    def claim(self, model_id: str, keys: Sequence[bytes], owner: str
              ) -> tuple[list[bytes], set[bytes], dict[bytes, tuple[str, bytes | None, int]]]:
        """Atomically claim the keys that are neither done nor claimed by a live owner.

        Returns ``(owned, busy, found)``: keys now claimed by ``owner``, keys being
        evaluated by another live process, and the stored ``(status, y bytes, attempts)``
        of keys already in the store (completed ones are served from it; others
        were failed, interrupted or stale and are re-queued among ``owned``).
        """
        conn = self.conn
        now = time.time()
        ref = self._ref(model_id)
        with self._transaction():
            has_rows = conn.execute("SELECT 1 FROM evaluations WHERE model_ref=? LIMIT 1",
                                    (ref,)).fetchone()
            # a model with no stored rows (a fresh study) needs no per-key lookup
            found = self.lookup_raw(keys) if has_rows else {}
            busy_claims = self._live_claims(conn, now)
            busy: set[bytes] = set()
            if not found and not busy_claims:  # a fresh study: every key is ours
                owned = list(keys)
            else:
                owned = []
                for k in keys:
                    prev = found.get(k)
                    if prev is not None and prev[0] in DONE:
                        continue
                    if k in busy_claims:
                        busy.add(k)
                        continue
                    owned.append(k)
            if owned:
                conn.execute("INSERT INTO claims VALUES (?,?,?,?,?,?,?)",
                             (uuid.uuid4().hex, model_id, owner, HOST, os.getpid(), now,
                              b"".join(owned)))
        return owned, busy, found

    def _live_claims(self, conn: sqlite3.Connection, now: float) -> set[bytes]:
        """Keys under live claims; stale claims are removed and their keys re-queued (A4)."""
        live: set[bytes] = set()
        stale: list[tuple[str, bytes, str]] = []
        for claim_id, model_id, host, pid, heartbeat, keys in conn.execute(
                "SELECT claim_id, model_id, host, pid, heartbeat, keys FROM claims"):
            dead = (host == HOST and not _pid_alive(pid)) or (now - heartbeat > self.lease)
            if dead:
                stale.append((claim_id, keys, model_id))
            else:
                live.update(keys[i:i + 32] for i in range(0, len(keys), 32))
        for claim_id, keys, model_id in stale:
            conn.execute("DELETE FROM claims WHERE claim_id=?", (claim_id,))
            ref = self._ref(model_id)
            # count the lost attempt on keys that never completed
            for i in range(0, len(keys), 32):
                conn.execute(
                    "UPDATE evaluations SET attempts=attempts+1, status='interrupted' "
                    "WHERE key=? AND status NOT IN ('ok','nonfinite')", (keys[i:i + 32],))
                conn.execute(
                    "INSERT OR IGNORE INTO evaluations(key, model_ref, x, status, attempts, "
                    "updated, error) VALUES (?,?,?,?,?,?,?)",
                    (keys[i:i + 32], ref, b"", "interrupted", 1, now,
                     "claim of a dead process re-queued"))
        return live

    def heartbeat(self, owner: str) -> None:
        """Refresh the heartbeat of every claim held by ``owner``."""
        with self._transaction():
            self.conn.execute("UPDATE claims SET heartbeat=? WHERE owner=?", (time.time(), owner))

    def release(self, owner: str, interrupted: Iterable[tuple[bytes, str, np.ndarray]] = ()
                ) -> None:
        """Drop ``owner``'s claims; mark ``(key, model_id, x)`` in flight as interrupted."""
        now = time.time()
        with self._transaction():
            conn = self.conn
            conn.execute("DELETE FROM claims WHERE owner=?", (owner,))
            conn.executemany(
                "INSERT INTO evaluations(key, model_ref, x, status, attempts, host, pid, updated,"
                " error) VALUES (?,?,?,'interrupted',1,?,?,?,'interrupted') ON CONFLICT(key) DO "
                "UPDATE SET status='interrupted', updated=excluded.updated "
                "WHERE evaluations.status NOT IN ('ok','nonfinite')",
                [(k, self._ref(mid), _blob(x), HOST, os.getpid(), now)
                 for k, mid, x in interrupted])

    def pending_keys(self, keys: Sequence[bytes]) -> set[bytes]:
        """Keys of ``keys`` still under a live claim of another process."""
        with self._transaction():
            return self._live_claims(self.conn, time.time()) & set(keys)

    # -- results ---------------------------------------------------------------------------
    def put_results(self, model_id: str, keys: Sequence[bytes], X: np.ndarray, Y: np.ndarray,
                    status: Sequence[str], *, attempts: Sequence[int], duration: Any,
                    host: Any = None, pid: Any = None) -> None:
        """Commit results (one transaction): never overwrites a completed result.

        ``duration``, ``host`` and ``pid`` are one value for all rows or one per row.
        """
        now = time.time()
        host = host or HOST
        ref = self._ref(model_id)
        xraw = np.ascontiguousarray(X, dtype="<f8").tobytes()
        yraw = np.ascontiguousarray(Y, dtype="<f8").tobytes()
        sx = len(xraw) // max(len(keys), 1)
        sy = len(yraw) // max(len(keys), 1)
        # insert in key order: neighbouring B-tree pages instead of random ones
        order = sorted(range(len(keys)), key=keys.__getitem__) if len(keys) > 1 else range(
            len(keys))
        n = len(keys)
        durations = duration if isinstance(duration, (list, tuple)) else [duration] * n
        hosts = host if isinstance(host, (list, tuple)) else [host] * n
        pids = pid if isinstance(pid, (list, tuple)) else [pid] * n
        rows = [(keys[i], ref, xraw[i * sx:(i + 1) * sx], yraw[i * sy:(i + 1) * sy], status[i],
                 attempts[i], durations[i], hosts[i], pids[i], now) for i in order]
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO evaluations(key, model_ref, x, y, status, attempts, duration, host, "
                "pid, updated) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET "
                "x=excluded.x, y=excluded.y, status=excluded.status, "
                "attempts=evaluations.attempts+excluded.attempts, duration=excluded.duration, "
                "host=excluded.host, pid=excluded.pid, updated=excluded.updated, error=NULL "
                "WHERE evaluations.status NOT IN ('ok','nonfinite')", rows)

    def put_failure(self, model_id: str, keys: Sequence[bytes], X: np.ndarray, *,
                    attempt: int, final: bool, kind: str, error_type: str, message: str,
                    traceback: str | None, details: dict[str, Any] | None,
                    duration: float | None, host: str | None = None,
                    pid: int | None = None, attempts: Sequence[int] | None = None) -> None:
        """Record one failed attempt of the rows ``keys`` (and mark them failed if final)."""
        now = time.time()
        host = host or HOST
        det = json.dumps(details or {}, default=repr)
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO failures(key, model_id, attempt, kind, error_type, message, "
                "traceback, details, duration, host, pid, time) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(k, model_id, attempt, kind, error_type, message, traceback, det, duration,
                  host, pid, now) for k in keys])
            if final:
                Xb = np.ascontiguousarray(X, dtype="<f8")
                conn.executemany(
                    "INSERT INTO evaluations(key, model_ref, x, y, status, attempts, duration, "
                    "host, pid, updated, error) VALUES (?,?,?,NULL,'failed',?,?,?,?,?,?) "
                    "ON CONFLICT(key) DO UPDATE SET status='failed', "
                    "attempts=evaluations.attempts+excluded.attempts, error=excluded.error, "
                    "updated=excluded.updated WHERE evaluations.status NOT IN ('ok','nonfinite')",
                    [(k, self._ref(model_id), Xb[i].tobytes(),
                      (attempts[i] if attempts else attempt),
                      duration, host, pid, now, f"{kind}: {message}"[:2000])
                     for i, k in enumerate(keys)])

    # -- studies ---------------------------------------------------------------------------
    def check_study(self, study_id: str, spec: dict[str, Any], *,
                    extendable: Sequence[str] = ("n",)) -> dict[str, Any] | None:
        """Record a study's specification, or check a resumed study against it (A7).

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

    # -- reading -------------------------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        """The models with stored evaluations."""
        rows = self.conn.execute(
            "SELECT model_id, name, version, identity, inputs, outputs, fingerprint, ref "
            "FROM models ORDER BY ref").fetchall()
        return [{"id": r[0], "name": r[1], "version": r[2], "identity": r[3],
                 "inputs": json.loads(r[4]), "outputs": json.loads(r[5]), "fingerprint": r[6],
                 "ref": r[7]} for r in rows]

    def _resolve_models(self, model: Any) -> list[dict[str, Any]]:
        models = self.models()
        if model is None:
            return models
        if isinstance(model, str):
            sel = [m for m in models if model in (m["name"], m["id"])]
        else:
            from ..models import model_identity
            mid = model_identity(model)["id"]
            sel = [m for m in models if m["id"] == mid]
        return sel

    def to_dataframe(self, model: Any = None, *, failures: bool = False):
        """Stored evaluations as a pandas DataFrame, one row per evaluation.

        Parameters
        ----------
        model : Model or str, optional
            Restrict to one model (object, name or id).
        failures : bool
            Return the failures table (every failed attempt) instead.

        Returns
        -------
        pandas.DataFrame
            Columns ``key, model, status, attempts, duration, host``, then the
            inputs and outputs by name (NaN where a row has no output).
        """
        import pandas as pd

        models = self._resolve_models(model)
        by_id = {m["id"]: m for m in models}
        if failures:
            q = ("SELECT key, model_id, attempt, kind, error_type, message, details, duration, "
                 "host, time, traceback FROM failures ORDER BY id")
            rows = [r for r in self.conn.execute(q) if r[1] in by_id]
            df = pd.DataFrame(rows, columns=["key", "model_id", "attempt", "kind", "error_type",
                                             "message", "details", "duration", "host", "time",
                                             "traceback"])
            df["key"] = [k.hex() for k in df["key"]]
            df.insert(1, "model", [by_id[m]["name"] for m in df["model_id"]])
            df["details"] = [json.loads(d) if d else {} for d in df["details"]]
            return df.drop(columns="model_id")
        frames = []
        for m in models:
            rows = self.conn.execute(
                "SELECT key, status, attempts, duration, host, x, y, error FROM evaluations "
                "WHERE model_ref=? AND length(x) > 0 ORDER BY updated", (m["ref"],)).fetchall()
            n_in, n_out = len(m["inputs"]), len(m["outputs"])
            X = np.full((len(rows), n_in), np.nan)
            Y = np.full((len(rows), n_out), np.nan)
            for i, r in enumerate(rows):
                X[i] = _unblob(r[5])
                if r[6] is not None:
                    Y[i] = _unblob(r[6])
            df = pd.DataFrame({
                "key": [r[0].hex() for r in rows], "model": m["name"],
                "status": [r[1] for r in rows], "attempts": [r[2] for r in rows],
                "duration": [r[3] for r in rows], "host": [r[4] for r in rows],
                "error": [r[7] for r in rows]})
            df = pd.concat([df, pd.DataFrame(X, columns=m["inputs"]),
                            pd.DataFrame(Y, columns=m["outputs"])], axis=1)
            frames.append(df)
        if not frames:
            return pd.DataFrame(columns=["key", "model", "status", "attempts", "duration",
                                         "host", "error"])
        return pd.concat(frames, ignore_index=True)

    def summary(self):
        """Counts per model and status, running claims, checkpoints and studies.

        Returns
        -------
        pandas.DataFrame
            Index = model name; columns ``ok, nonfinite, failed, interrupted,
            total, failed_attempts``.
        """
        import pandas as pd

        conn = self.conn
        models = self.models()
        # label each model by its name, made unique with its version or id when names clash
        label: dict[int, str] = {}
        for m in models:
            clash = [o for o in models if o["name"] == m["name"]]
            text = m["name"]
            if len(clash) > 1:
                versions = {o["version"] for o in clash}
                text += (f" (version {m['version']})" if len(versions) == len(clash)
                         else f" [{m['id'][:8]}]")
            label[m["ref"]] = text
        counts: dict[int, dict[str, int]] = {}
        for ref, status, n in conn.execute(
                "SELECT model_ref, status, count(*) FROM evaluations GROUP BY model_ref, status"):
            counts.setdefault(ref, {})[status] = n
        fails = dict(conn.execute("SELECT model_id, count(*) FROM failures GROUP BY model_id"))
        cols = ["ok", "nonfinite", "failed", "interrupted"]
        data = []
        for m in models:
            c = counts.get(m["ref"], {})
            row = {s: c.get(s, 0) for s in cols}
            row["total"] = sum(c.values())
            row["failed_attempts"] = fails.get(m["id"], 0)
            data.append((label[m["ref"]], row))
        df = pd.DataFrame([r for _, r in data], index=[n for n, _ in data], columns=[
            *cols, "total", "failed_attempts"])
        df.index.name = "model"
        return df

    def info(self) -> dict[str, Any]:
        """Store-level facts: path, size, schema, claims, checkpoints, studies, integrity."""
        conn = self.conn
        return {
            "path": str(self.path),
            "size_bytes": self.path.stat().st_size if self.path.exists() else 0,
            "schema_version": SCHEMA_VERSION,
            "evaluations": conn.execute("SELECT count(*) FROM evaluations").fetchone()[0],
            "failed_attempts": conn.execute("SELECT count(*) FROM failures").fetchone()[0],
            "running_claims": conn.execute("SELECT count(*) FROM claims").fetchone()[0],
            "checkpoints": [r[0] for r in conn.execute("SELECT name FROM checkpoints")],
            "studies": [r[0] for r in conn.execute("SELECT study_id FROM studies")],
        }

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` (``"ok"`` when healthy)."""
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    @property
    def mode(self) -> int:
        """File permission bits of the store (0o600 when created by uqkit)."""
        return stat.S_IMODE(self.path.stat().st_mode)


def _before_commit_hook() -> None:
    """Test hook (RELIABILITY A3): crash between writing and committing a transaction.

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
