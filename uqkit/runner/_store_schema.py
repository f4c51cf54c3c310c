"""The store's SQLite schema (version 3) and the migrations from versions 1 and 2.

Layout (schema 3)
-----------------
``blocks``
    The data, written once: up to ``BLOCK_BYTES`` of consecutive rows of one
    commit, as contiguous little-endian float64 blobs ``x`` (``n_in`` values a
    row) and ``y`` (``n_out`` a row; NULL when the rows have no outputs), plus
    the commit's duration, host, pid, time and error text. One blob write per
    block instead of two small blobs and a 32-byte key per row. ``crc`` is a
    CRC-32 over the block's model, shape, ``x`` and ``y`` (:func:`block_crc`),
    verified whenever the block is read: a damaged block is never served.
``keyindex``
    One row per evaluation: ``k`` = the first 8 bytes of its SHA-256 key as a
    signed 64-bit integer (the rowid: a compact B-tree, far cheaper to insert
    into than 32-byte ``WITHOUT ROWID`` blob keys), the ``(block, pos)`` holding
    the row, its status code and attempt count. A hit is verified against the
    full key: same model and same canonical inputs (``_store_index``).
``collisions``
    Evaluations whose 8-byte prefix is already taken by a *different* key
    (probability about ``n**2 / 2**65``), keyed by the full 32-byte key.
``lost``
    Attempts lost with a dead process on keys that were never stored
    (tests/test_store_schema.py::test_lost_attempts_of_a_dead_claim_are_counted), by
    prefix; added to the key's row when it is written.
``claims``
    Keys being evaluated (as 8-byte prefixes), with owner, host, pid and heartbeat.
``evaluations``
    A read-only view, one row per evaluation with the columns of schema 1 but
    the key (``model_ref, x, y, status, attempts, duration, host, pid, updated,
    error``), for ad-hoc SQL; :meth:`Store.to_dataframe` is the bulk reader and
    recomputes the keys.

Completed rows (``ok``, ``nonfinite``) are never superseded; a failed or
interrupted row is superseded by a later attempt (a new block row; the old one
stays as history, like the ``failures`` table).
"""

from __future__ import annotations

import json
import sqlite3
import struct
import zlib
from typing import Any

import numpy as np

__all__ = ["SCHEMA_VERSION", "STATUS", "DONE_CODES", "BLOCK_BYTES", "create_schema",
           "migrate", "block_crc"]

SCHEMA_VERSION = 3

#: status names by code; codes below 2 are completed results (served from the cache)
STATUS = ("ok", "nonfinite", "failed", "interrupted")
STATUS_CODE = {name: code for code, name in enumerate(STATUS)}
DONE_CODES = (0, 1)
_MIGRATE_ROWS = 65536

#: target size of one block's x + y: small enough that reading one row (a
#: lookup, the ``evaluations`` view) reads little, large enough for few block rows
BLOCK_BYTES = 16384

_TABLES = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models(
    ref INTEGER PRIMARY KEY, model_id TEXT UNIQUE NOT NULL, name TEXT, version TEXT,
    identity TEXT, inputs TEXT, outputs TEXT, fingerprint TEXT, created REAL);
CREATE TABLE IF NOT EXISTS blocks(
    id INTEGER PRIMARY KEY, model_ref INTEGER NOT NULL, n INTEGER NOT NULL,
    n_in INTEGER NOT NULL, n_out INTEGER NOT NULL, x BLOB NOT NULL, y BLOB,
    duration REAL, host TEXT, pid INTEGER, updated REAL NOT NULL, error TEXT, crc INTEGER);
CREATE TABLE IF NOT EXISTS keyindex(
    k INTEGER PRIMARY KEY, block INTEGER NOT NULL, pos INTEGER NOT NULL,
    status INTEGER NOT NULL, attempts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS collisions(
    key BLOB PRIMARY KEY, block INTEGER NOT NULL, pos INTEGER NOT NULL,
    status INTEGER NOT NULL, attempts INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lost(
    k INTEGER PRIMARY KEY, model_ref INTEGER NOT NULL, attempts INTEGER NOT NULL,
    updated REAL);
CREATE TABLE IF NOT EXISTS failures(
    id INTEGER PRIMARY KEY AUTOINCREMENT, key BLOB, model_id TEXT, attempt INTEGER,
    kind TEXT, error_type TEXT, message TEXT, traceback TEXT, details TEXT,
    duration REAL, host TEXT, pid INTEGER, time REAL);
CREATE INDEX IF NOT EXISTS failures_by_key ON failures(key);
CREATE TABLE IF NOT EXISTS claims(
    claim_id TEXT PRIMARY KEY, model_id TEXT, owner TEXT, host TEXT, pid INTEGER,
    heartbeat REAL, prefixes BLOB);
CREATE TABLE IF NOT EXISTS checkpoints(name TEXT PRIMARY KEY, arrays BLOB, meta TEXT,
    updated REAL);
CREATE TABLE IF NOT EXISTS studies(study_id TEXT PRIMARY KEY, spec TEXT, created REAL,
    updated REAL)
"""


_VIEW = """
CREATE VIEW IF NOT EXISTS evaluations AS
    SELECT b.model_ref AS model_ref,
           substr(b.x, 8 * b.n_in * e.pos + 1, 8 * b.n_in) AS x,
           substr(b.y, 8 * b.n_out * e.pos + 1, 8 * b.n_out) AS y,
           CASE e.status WHEN 0 THEN 'ok' WHEN 1 THEN 'nonfinite' WHEN 2 THEN 'failed'
                ELSE 'interrupted' END AS status,
           e.attempts AS attempts, b.duration AS duration, b.host AS host, b.pid AS pid,
           b.updated AS updated, b.error AS error, e.block AS block, e.pos AS pos
    FROM (SELECT block, pos, status, attempts FROM keyindex
          UNION ALL SELECT block, pos, status, attempts FROM collisions) AS e
    JOIN blocks AS b ON b.id = e.block
"""


_HEAD = struct.Struct("<qqqqb")


def block_crc(model_ref: int, n: int, n_in: int, n_out: int, x: bytes, y: bytes | None) -> int:
    """CRC-32 of a block's model, shape and data (``y`` None: a block without outputs)."""
    head = _HEAD.pack(model_ref, n, n_in, n_out, y is None)
    return zlib.crc32(y or b"", zlib.crc32(x, zlib.crc32(head)))


def _statements(script: str) -> list[str]:
    # the view's body holds no ';', so splitting on it is safe
    return [s.strip() for s in script.split(";") if s.strip()]


def create_schema(conn: sqlite3.Connection) -> None:
    """Create every table (inside the caller's transaction) and stamp the version."""
    # statement by statement: executescript() would commit the caller's transaction
    for statement in _statements(_TABLES):
        conn.execute(statement)
    conn.execute(_VIEW)
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                 (str(SCHEMA_VERSION),))


def migrate(conn: sqlite3.Connection, version: int, write_rows: Any) -> None:
    """Upgrade a store from ``version`` to :data:`SCHEMA_VERSION` in the caller's transaction.

    ``write_rows`` is :func:`uqkit.runner._store_index.write_rows`. The whole
    migration is one transaction: a crash leaves the old store untouched.
    """
    if version == 1:
        _migrate_v1(conn, write_rows)
    if version == 2:
        conn.execute("ALTER TABLE blocks ADD COLUMN crc INTEGER")
    _add_checksums(conn)
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                 (str(SCHEMA_VERSION),))


def _add_checksums(conn: sqlite3.Connection) -> None:
    """Checksum every block written without one (streamed, by ranges of block ids)."""
    last = 0
    while True:
        rows = conn.execute("SELECT id, model_ref, n, n_in, n_out, x, y FROM blocks "
                            "WHERE id > ? AND crc IS NULL ORDER BY id LIMIT 256",
                            (last,)).fetchall()
        if not rows:
            return
        conn.executemany("UPDATE blocks SET crc=? WHERE id=?",
                         [(block_crc(*r[1:]), r[0]) for r in rows])
        last = rows[-1][0]


def _migrate_v1(conn: sqlite3.Connection, write_rows: Any) -> None:
    """Schema 1 kept one ``evaluations`` row per key (32-byte ``WITHOUT ROWID`` key) and
    claimed full keys."""
    from .._errors import StoreCorruptedError
    from . import _keys

    shapes = {ref: (len(json.loads(inputs)), len(json.loads(outputs)))
              for ref, inputs, outputs in conn.execute("SELECT ref, inputs, outputs FROM models")}
    claims = conn.execute("SELECT claim_id, model_id, owner, host, pid, heartbeat, keys "
                          "FROM claims").fetchall()
    conn.execute("DROP TABLE claims")
    for statement in _statements(_TABLES):
        conn.execute(statement)
    for *head, keys in claims:
        keys = keys if isinstance(keys, bytes) else b""
        full = np.frombuffer(keys[:len(keys) // 32 * 32], dtype=np.uint8).reshape(-1, 32)
        conn.execute("INSERT INTO claims VALUES (?,?,?,?,?,?,?)",
                     (*head, _keys.key_prefixes(full).astype(">i8").tobytes()))

    def flush(group: list[tuple]) -> None:
        first = group[0]
        ref = first[1]
        n_in, n_out = shapes.get(ref, (None, None))
        if n_in is None:
            raise StoreCorruptedError(f"evaluations of an unknown model (ref {ref})")
        try:
            keys = np.frombuffer(b"".join(r[0] for r in group), np.uint8).reshape(-1, 32)
            attempts = np.array([int(r[5] or 1) for r in group], dtype=np.int64)
            if not first[2]:  # inputs unknown (a dead process's claim): attempts only
                conn.executemany(
                    "INSERT OR REPLACE INTO lost(k, model_ref, attempts, updated) "
                    "VALUES (?,?,?,?)", zip(_keys.key_prefixes(keys).tolist(), [ref] * len(group),
                                            attempts.tolist(), [first[9]] * len(group)))
                return
            X = np.frombuffer(b"".join(r[2] for r in group), "<f8").reshape(len(group), n_in)
            Y = None if first[3] is None else np.frombuffer(
                b"".join(r[3] for r in group), "<f8").reshape(len(group), n_out)
        except ValueError as exc:
            raise StoreCorruptedError(f"a schema-1 row of model ref {ref} has the wrong "
                                      f"size ({exc})") from exc
        status = np.array([STATUS_CODE.get(r[4], STATUS_CODE["interrupted"]) for r in group],
                          dtype=np.int64)
        write_rows(conn, model_ref=ref, keys=keys, X=X, Y=Y, status=status, attempts=attempts,
                   duration=first[6], host=first[7], pid=first[8],
                   updated=first[9] if first[9] is not None else 0.0, error=first[10])

    def shape(row: tuple) -> tuple:
        return (row[1], row[6], row[7], row[8], row[9], row[10], bool(row[2]), row[3] is None)

    # streamed: rows of one commit (same model, time, duration, host, pid, error) are
    # consecutive; at most _MIGRATE_ROWS of them are held in memory at once
    group: list[tuple] = []
    for row in conn.execute(
            "SELECT key, model_ref, x, y, status, attempts, duration, host, pid, updated, error "
            "FROM evaluations ORDER BY model_ref, updated, key"):
        if group and (shape(row) != shape(group[0]) or len(group) >= _MIGRATE_ROWS):
            flush(group)
            group = []
        group.append(row)
    if group:
        flush(group)
    conn.execute("DROP INDEX IF EXISTS evaluations_by_model")
    conn.execute("DROP TABLE evaluations")
    conn.execute(_VIEW)
