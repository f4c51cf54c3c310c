"""The persistent evaluation store (SQLite).

Design (see :mod:`uqkit.runner._store_schema` for the layout):

- WAL journal, ``synchronous=FULL``, a busy timeout, and one short transaction
  per result (or per vectorized batch), committed the moment it reaches the
  driver: a crash loses at most what was in flight.
- Content-addressed: every evaluation is found by its 32-byte SHA-256 cache
  key (:mod:`uqkit.runner._keys`), through a compact index on the key's first
  8 bytes and a check of the full key. Inputs and outputs are stored bit-exactly
  as little-endian float64 blobs (one blob per block of rows), so ``-0.0``,
  subnormals, ``inf`` and NaN outputs round-trip (they are never stored as NULL).
- Completed results are never overwritten, so at-least-once delivery (Dask)
  is harmless.
- In-flight work is recorded as *claims* (one row per batch, with owner,
  host, pid and heartbeat). Claims of dead processes on this host, or whose
  heartbeat is older than the lease, are stale and re-queued automatically.
- Data only: numbers, bytes and JSON. Nothing is ever unpickled, so opening
  a store from someone else cannot run code.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import StoreCorruptedError, StoreCorruptedWarning, StoreError, UQKitWarning
from . import _keys, _slurm, _store_read
from ._keys import key_array
from ._store_db import HOST, Database, _pid_alive, guard_sqlite_errors
from ._store_index import block_refs, gather, locate, lost_attempts, requeue, void_lost, write_rows
from ._store_schema import DONE_CODES, SCHEMA_VERSION, STATUS, STATUS_CODE
from ._store_values import _bounded_details, _groups, _status_codes, truncate_text

__all__ = ["Store", "Claimed", "SCHEMA_VERSION", "HOST"]


#: statuses of completed evaluations (served from the cache)
DONE = ("ok", "nonfinite")
_STATUS_NAMES = np.array(STATUS)


@dataclass(frozen=True)
class Claimed:
    """What :meth:`Store.claim` found and claimed, one entry per queried key.

    ``owned``: now claimed by the caller (to evaluate); ``busy``: being evaluated by
    another live process; ``status``: the stored status (``""`` when not stored);
    ``attempts``: stored attempts (0 when not stored); ``Y``: outputs of completed
    rows (NaN elsewhere).
    """

    owned: np.ndarray
    busy: np.ndarray
    status: np.ndarray
    attempts: np.ndarray
    Y: np.ndarray

    @property
    def done(self) -> np.ndarray:
        return np.isin(self.status, DONE)

    def __repr__(self) -> str:
        return (f"Claimed(owned={int(self.owned.sum())}, busy={int(self.busy.sum())}, "
                f"cached={int(self.done.sum())})")


class Store(Database):
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
    on_corrupt : {"reevaluate", "raise"}
        What a stored row that fails its block's checksum does when read:
        ``"reevaluate"`` (default) warns with :class:`uqkit.StoreCorruptedWarning`
        naming the rows, which are then evaluated again (the new result
        supersedes them); ``"raise"`` raises :class:`uqkit.StoreCorruptedError`
        naming them. A damaged row is never served either way.

    Notes
    -----
    Pass ``store="study.db"`` to :class:`uqkit.Runner` to use one implicitly.
    The store holds only data (numbers, bytes, JSON), never pickles.

    Layout (schema 2, :mod:`uqkit.runner._store_schema`): each commit's inputs and
    outputs go into a few contiguous float64 blobs, and every evaluation into a
    compact index keyed by the first 8 bytes of its SHA-256 cache key, verified
    against the full key on lookup. A 2^17-row vectorized batch costs about what
    writing the same rows to SQLite by hand does (``benchmarks/bench_runner.py``).
    A store written by an older uqkit (schema 1 or 2) is migrated when opened, in one
    transaction; a store from a newer uqkit is refused.

    Integrity: every block carries a CRC-32 of its model, shape, inputs and
    outputs, verified whenever it is read (lookups, claims, ``to_dataframe``);
    an ``ok`` row must also be finite. Opening checks the header and the schema,
    and runs SQLite's ``PRAGMA quick_check`` on stores of at most 16 MiB (it
    reads the whole file: about 15 ms per MiB measured on a loaded 2-core
    machine, i.e. 80 ms at 4 MiB / 65,536 rows of three inputs; larger stores
    skip it and rely on the block checksums). :meth:`check` (``uqkit store
    check``) runs the full check, and ``uqkit store recover SRC DST`` copies
    every verifiable row into a new store. A file that is not a store raises
    :class:`uqkit.NotAStoreError`; every SQLite error reaches the caller as a
    :class:`uqkit.StoreError` with a message.

    A store on a read-only mount, or whose file or folder cannot be written
    (e.g. ``chattr +i``), is opened read-only (SQLite URI ``mode=ro``, or
    ``immutable=1`` when SQLite cannot create its shared-memory file there):
    reading, ``uqkit store info``, ``uqkit report`` and fully cached designs
    work; anything that must write raises a :class:`uqkit.StoreError` saying the
    store is read-only.

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

    # -- models ----------------------------------------------------------------------------
    def register_model(self, ident: dict[str, Any], inputs: Sequence[str],
                       outputs: Sequence[str]) -> int:
        """Record a model's identity; warn if its implementation fingerprint changed
        (tests/test_runner.py::test_changed_implementation_warns_on_reuse).

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
                if self.readonly:
                    self._refs[ident["id"]] = ref
                    return ref
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

    def _shape(self, ref: int) -> tuple[int, int]:
        """``(n_inputs, n_outputs)`` of the model ``ref``."""
        shape = self._shapes.get(ref)
        if shape is None:
            row = self.conn.execute("SELECT inputs, outputs FROM models WHERE ref=?",
                                    (ref,)).fetchone()
            if row is None:
                raise StoreError(f"Unknown model reference {ref}.")
            try:
                shape = (len(json.loads(row[0])), len(json.loads(row[1])))
            except (TypeError, ValueError) as exc:
                raise self._corrupted(f"model {ref} has unreadable input/output names") from exc
            self._shapes[ref] = shape
        return shape

    # -- lookups ---------------------------------------------------------------------------
    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, tuple[str, np.ndarray | None, int]]:
        """Stored ``(status, y, attempts)`` of the given keys (missing keys are absent)."""
        return {k: (status, None if y is None else np.frombuffer(y, dtype="<f8"), attempts)
                for k, (status, y, attempts) in self.lookup_raw(keys).items()}

    def lookup_raw(self, keys: Sequence[bytes]) -> dict[bytes, tuple[str, bytes | None, int]]:
        """Like :meth:`lookup`, with outputs as raw little-endian float64 bytes.

        Keys of any model; each hit is verified by recomputing its stored key.
        """
        keys = list(keys)
        out: dict[bytes, tuple[str, bytes | None, int]] = {}
        damaged: list[int] = []
        with self._snapshot() as conn:
            found = locate(conn, key_array(keys), damaged=damaged)
            refs = block_refs(conn, found.block)
            for ref in np.unique(refs).tolist():
                part = found.take(refs == ref)
                Y = gather(conn, part, "y", self._shape(ref)[1], damaged=damaged)
                for i, s, a, y in zip(part.index.tolist(), part.status.tolist(),
                                      part.attempts.tolist(), Y):
                    if s == 0 and not np.isfinite(y).all():
                        damaged.append(i)  # an "ok" row is finite when written
                        continue
                    out[keys[i]] = (STATUS[s], y.tobytes() if s in DONE_CODES else None, a)
        if damaged:
            for i in damaged:
                out.pop(keys[i], None)
            self._damaged([keys[i] for i in damaged])
        return out

    # -- claims ------------------------------------------------------------------------------
    def claim(self, model_id: str, keys: Sequence[bytes], owner: str, *,
              X: np.ndarray | None = None) -> Claimed:
        """Atomically claim the keys that are neither done nor claimed by a live owner.

        Parameters
        ----------
        model_id, keys, owner
            The model, the cache keys of its rows, and the claiming driver.
        X : ndarray, optional
            The inputs of the keys (then a hit is verified by comparing inputs,
            not by recomputing keys).

        Returns
        -------
        Claimed
            Which keys are now claimed by ``owner``, which are being evaluated by
            another live process, and the stored status, attempts and outputs of
            keys already in the store (completed ones are served from it; failed,
            interrupted or stale ones are re-queued among the owned).
        """
        conn = self.conn
        now = time.time()
        ref = self._ref(model_id)
        n_out = self._shape(ref)[1]
        karr = key_array(keys)
        n = len(karr)
        prefix = _keys.key_prefixes(karr)
        status = np.full(n, "", dtype="<U11")
        attempts = np.zeros(n, dtype=np.int64)
        Y = np.full((n, n_out), np.nan)
        done = np.zeros(n, dtype=bool)
        readonly = self.readonly
        with self._snapshot() if readonly else self._transaction():
            live = np.zeros(0, dtype=np.int64)
            if not readonly:
                live = self._live_claims(conn, now)  # re-queues stale claims first
                if conn.execute("SELECT EXISTS(SELECT 1 FROM lost)").fetchone()[0]:
                    void_lost(conn)
            # an empty store (a fresh study) needs no per-key lookup. No index on
            # blocks(model_ref) to ask per model: it would cost a third B-tree page in
            # every one-row commit, and a lookup of keys that are absent is cheap
            damaged: list[int] = []
            if conn.execute("SELECT EXISTS(SELECT 1 FROM blocks)").fetchone()[0]:
                found = locate(conn, karr, model_ref=ref, X=X, damaged=damaged)
                lost = lost_attempts(conn, ref, prefix)
                if len(lost):  # attempts of keys lost with a dead process
                    lost = lost.take(~np.isin(lost.index, found.index))
                    found = found.concat(lost)
                status[found.index] = _STATUS_NAMES[found.status]
                attempts[found.index] = found.attempts
                complete = np.isin(found.status, DONE_CODES)
                if complete.any():
                    hit = found.take(complete)
                    Yh = gather(conn, hit, "y", n_out, damaged=damaged, need=True)
                    # an "ok" row is finite when written: a non-finite one is damage
                    wrong = (hit.status == 0) & ~np.isfinite(Yh).all(axis=1)
                    damaged.extend(hit.index[wrong].tolist())
                    good = ~np.isin(hit.index, damaged)
                    done[hit.index[good]] = True
                    Y[hit.index[good]] = Yh[good]
            if damaged:
                status[damaged] = ""
                self._damaged([keys[i] for i in damaged])
            busy = np.zeros(n, dtype=bool)
            if len(live):
                busy = ~done & np.isin(prefix, live)
            owned = ~done & ~busy
            if owned.any() and readonly:
                err = self._read_only_error()
                raise StoreError(f"{int(owned.sum())} of the {n} rows are not in the store, "
                                 f"and it cannot store them: {err}")
            if owned.any():
                conn.execute("INSERT INTO claims VALUES (?,?,?,?,?,?,?)",
                             (uuid.uuid4().hex, model_id, owner, HOST, os.getpid(), now,
                              prefix[owned].astype(">i8").tobytes()))
        return Claimed(owned=owned, busy=busy, status=status, attempts=attempts, Y=Y)

    def _damaged(self, keys: Sequence[bytes], blocks: Sequence[int] = ()) -> None:
        """Stored rows failed their checksum: warn (they are evaluated again) or raise."""
        hexes = sorted({bytes(k).hex() for k in keys})
        if hexes:
            shown = ", ".join(h[:16] for h in hexes[:5]) + (" ..." if len(hexes) > 5 else "")
            what = f"{len(hexes)} rows stored in {str(self.path)!r} (keys {shown})"
        else:
            what = f"the rows of blocks {sorted(blocks)[:10]} of {str(self.path)!r}"
        text = (f"{what} are damaged: their block fails its checksum, or the index is "
                "inconsistent. They are never served. `uqkit store check` runs a full check "
                "and `uqkit store recover SRC DST` copies every verifiable row into a new "
                "store.")
        if self.on_corrupt == "raise":
            raise StoreCorruptedError(text, keys=hexes)
        warnings.warn(text + " They are evaluated again.", StoreCorruptedWarning, stacklevel=4)

    def _live_claims(self, conn: sqlite3.Connection, now: float) -> np.ndarray:
        """Key prefixes under live claims; stale claims are removed and re-queued
        (tests/test_durability.py::test_sigkill_driver_then_resume)."""
        live: list[np.ndarray] = []
        for claim_id, model_id, host, pid, heartbeat, blob in conn.execute(
                "SELECT claim_id, model_id, host, pid, heartbeat, prefixes FROM claims"
        ).fetchall():
            blob = blob if isinstance(blob, bytes) else b""
            prefix = np.frombuffer(blob[:len(blob) // 8 * 8], dtype=">i8").astype(np.int64)
            if not ((host == HOST and not _pid_alive(pid)) or (now - heartbeat > self.lease)):
                live.append(prefix)
                continue
            conn.execute("DELETE FROM claims WHERE claim_id=?", (claim_id,))
            try:
                ref = self._ref(model_id)
            except StoreError:
                continue  # a claim of a model never registered: nothing to re-queue
            requeue(conn, ref, prefix, now)
        return np.concatenate(live) if live else np.zeros(0, dtype=np.int64)

    def heartbeat(self, owner: str) -> None:
        """Refresh the heartbeat of every claim held by ``owner``."""
        if self.readonly:
            return  # (a read-only store holds no claims of this process)
        with self._transaction():
            self.conn.execute("UPDATE claims SET heartbeat=? WHERE owner=?", (time.time(), owner))

    def release(self, owner: str, interrupted: Iterable[tuple[bytes, str, np.ndarray]] = ()
                ) -> None:
        """Drop ``owner``'s claims; mark ``(key, model_id, x)`` in flight as interrupted."""
        if self.readonly:
            return  # (a read-only store holds no claims of this process)
        now = time.time()
        by_model: dict[str, list[tuple[bytes, np.ndarray]]] = {}
        for k, mid, x in interrupted:
            by_model.setdefault(mid, []).append((k, x))
        with self._transaction() as conn:
            conn.execute("DELETE FROM claims WHERE owner=?", (owner,))
            for mid, rows in by_model.items():
                ref = self._ref(mid)
                write_rows(conn, model_ref=ref, keys=key_array([k for k, _ in rows]),
                           X=np.array([x for _, x in rows], dtype="<f8").reshape(
                               len(rows), self._shape(ref)[0]),
                           Y=None, status=np.full(len(rows), STATUS_CODE["interrupted"]),
                           attempts=np.ones(len(rows), dtype=np.int64), duration=None,
                           host=HOST, pid=os.getpid(), updated=now, error="interrupted")

    def pending_keys(self, keys: Sequence[bytes]) -> set[bytes]:
        """Keys of ``keys`` still under a live claim of another process."""
        keys = list(keys)
        with self._transaction():
            live = self._live_claims(self.conn, time.time())
        hit = np.isin(_keys.key_prefixes(key_array(keys)), live)
        return {k for k, h in zip(keys, hit.tolist()) if h}

    # -- results ---------------------------------------------------------------------------
    def put_results(self, model_id: str, keys: Sequence[bytes], X: np.ndarray, Y: np.ndarray,
                    status: Sequence[str], *, attempts: Sequence[int], duration: Any,
                    host: Any = None, pid: Any = None, jobs: Any = None) -> None:
        """Commit results (one transaction): never overwrites a completed result.

        ``duration``, ``host`` and ``pid`` are one value for all rows or one per row;
        ``jobs`` (optional) the batch job of each row (``{"job_id", "node", "state"}``
        or None), kept in the ``jobs`` table.
        """
        now = time.time()
        ref = self._ref(model_id)
        karr = key_array(keys)
        n = len(karr)
        X = np.asarray(X, dtype="<f8").reshape(n, -1)
        Y = np.asarray(Y, dtype="<f8").reshape(n, -1)
        codes = _status_codes(status, n)
        att = np.asarray(attempts, dtype=np.int64).reshape(-1)
        if len(att) != n:
            att = np.full(n, att[0] if len(att) else 1, dtype=np.int64)
        with self._transaction() as conn:
            for (d, h, p), rows in _groups(n, duration, host, pid):
                whole = len(rows) == n
                write_rows(conn, model_ref=ref, keys=karr if whole else karr[rows],
                           X=X if whole else X[rows], Y=Y if whole else Y[rows],
                           status=codes if whole else codes[rows],
                           attempts=att if whole else att[rows], duration=d, host=h or HOST,
                           pid=p, updated=now, error=None)
            if jobs is not None:
                _slurm.put_jobs(conn, model_id, karr, jobs, now)

    def put_failure(self, model_id: str, keys: Sequence[bytes], X: np.ndarray, *,
                    attempt: int, final: bool, kind: str, error_type: str, message: str,
                    traceback: str | None, details: dict[str, Any] | None,
                    duration: float | None, host: str | None = None,
                    pid: int | None = None, attempts: Sequence[int] | None = None) -> None:
        """Record one failed attempt of the rows ``keys`` (and mark them failed if final).

        ``message`` and ``traceback`` are stored cut to about
        :data:`MAX_MESSAGE_CHARS` characters, and each text in ``details`` to
        :data:`MAX_DETAIL_CHARS`, with a note ``[truncated N characters]``.
        """
        now = time.time()
        host = host or HOST
        det = json.dumps(_bounded_details(details), default=repr)
        message = truncate_text(str(message))
        traceback = truncate_text(traceback)
        keys = list(keys)
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO failures(key, model_id, attempt, kind, error_type, message, "
                "traceback, details, duration, host, pid, time) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(k, model_id, attempt, kind, error_type, message, traceback, det, duration,
                  host, pid, now) for k in keys])
            if final:
                n = len(keys)
                write_rows(conn, model_ref=self._ref(model_id), keys=key_array(keys),
                           X=np.asarray(X, dtype="<f8").reshape(n, -1), Y=None,
                           status=np.full(n, STATUS_CODE["failed"]),
                           attempts=np.asarray(attempts if attempts else [attempt] * n,
                                               dtype=np.int64),
                           duration=duration, host=host, pid=pid, updated=now,
                           error=f"{kind}: {message}"[:2000])

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
            Columns ``key, model, status, attempts, duration, host, error``, then
            the inputs and outputs by name (NaN where a row has no output). Rows
            whose inputs are unknown (a dead process's claim) are left out.
        """
        models = self._resolve_models(model)
        with self._snapshot():
            if failures:
                return _store_read.failures_frame(self, models)
            return _store_read.evaluations_frame(self, models)

    def summary(self):
        """Counts per model and status, running claims, checkpoints and studies.

        Returns
        -------
        pandas.DataFrame
            Index = model name; columns ``ok, nonfinite, failed, interrupted,
            total, failed_attempts``.
        """
        with self._snapshot():
            return _store_read.summary_frame(self, self.models())

    def info(self) -> dict[str, Any]:
        """Store-level facts: path, size, schema, claims, checkpoints, studies, integrity."""
        with self._snapshot() as conn:
            n_eval = sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                         for t in ("keyindex", "collisions"))
            n_eval += conn.execute(_store_read.LOST_COUNT).fetchone()[0]
            return {
                "path": str(self.path),
                "size_bytes": self.path.stat().st_size if self.path.exists() else 0,
                "schema_version": SCHEMA_VERSION,
                "evaluations": n_eval,
                "failed_attempts": conn.execute("SELECT count(*) FROM failures").fetchone()[0],
                "running_claims": conn.execute("SELECT count(*) FROM claims").fetchone()[0],
                "checkpoints": [r[0] for r in conn.execute("SELECT name FROM checkpoints")],
                "studies": [r[0] for r in conn.execute("SELECT study_id FROM studies")],
            }

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` (``"ok"`` when healthy)."""
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    def check(self) -> dict[str, Any]:
        """A full check: SQLite's ``PRAGMA integrity_check``, every block's checksum, and
        every index entry pointing into an intact block.

        Returns
        -------
        dict
            ``integrity`` (SQLite's verdict, ``"ok"`` when healthy), ``blocks``,
            ``damaged_blocks`` (ids), ``index_entries``, ``damaged_entries`` and
            ``ok`` (everything healthy). Reads the whole file.
        """
        return _store_read.full_check(self)

    @property
    def mode(self) -> int:
        """File permission bits of the store (0o600 when created by uqkit)."""
        return stat.S_IMODE(self.path.stat().st_mode)


guard_sqlite_errors(Store, [
    "register_model", "lookup", "lookup_raw", "claim", "heartbeat", "release", "pending_keys",
    "put_results", "put_failure", "models", "to_dataframe", "summary", "info",
    "integrity_check", "check"])
