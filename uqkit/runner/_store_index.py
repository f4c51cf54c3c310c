"""Writing and finding evaluations in the block + key-index layout (schema 2).

Pure functions over an open ``sqlite3.Connection``; the :class:`~uqkit.Store`
owns the transactions. See :mod:`uqkit.runner._store_schema` for the layout.

A key ``K`` of model ``m`` with canonical inputs ``x`` is SHA-256 over ``m``'s
identity and ``x`` (:mod:`uqkit.runner._keys`). The index is keyed by the first
8 bytes of ``K``; a hit is *verified* by comparing the stored model and inputs
with ``(m, x)`` (or, when only keys are known, by recomputing the stored row's
key), which is exactly the equality of full keys. A different key sharing the
8-byte prefix is kept in ``collisions`` under its full key.

Bulk statements go through SQLite's ``json_each`` over a JSON array of
prefixes, so 2^17 index rows are inserted or looked up by one statement run
in C rather than by a Python loop over ``executemany``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import StoreCorruptedError
from . import _keys
from ._store_schema import BLOCK_BYTES, DONE_CODES, block_crc

__all__ = ["Found", "write_rows", "locate", "gather", "block_rows", "block_refs", "prefix_bytes",
           "requeue", "lost_attempts", "void_lost"]

#: writes or lookups of more rows than this use one json_each statement
_BULK = 256
#: writes of at most this many rows take the plain-Python path (one block)
_SMALL = 16
_IN_CHUNK = 900  # bound parameters per "IN (...)" (SQLite's limit is 32766 or 999)


def block_rows(n_in: int, n_out: int) -> int:
    """Rows per block: about :data:`BLOCK_BYTES` of inputs and outputs (at most 2048,
    so a lookup may pack ``block * 65536 + pos`` into one integer)."""
    return max(1, BLOCK_BYTES // max(8, 8 * (n_in + n_out)))


def prefix_bytes(prefix: int) -> bytes:
    """An index prefix back as the first 8 bytes of its keys."""
    return int(prefix).to_bytes(8, "big", signed=True)


def _json(values: np.ndarray) -> str:
    return json.dumps(values.tolist())


def _in(n: int) -> str:
    return "(" + ",".join("?" * n) + ")"


# -- finding -----------------------------------------------------------------------------------
@dataclass
class Found:
    """Stored evaluations of some queried keys (arrays aligned with ``index``)."""

    index: np.ndarray     # positions in the query
    block: np.ndarray
    pos: np.ndarray
    status: np.ndarray    # status codes
    attempts: np.ndarray

    @classmethod
    def of(cls, rows) -> Found:
        cols = np.array(rows, dtype=np.int64).reshape(-1, 5).T
        return cls(*cols)

    def take(self, sel: np.ndarray) -> Found:
        return Found(self.index[sel], self.block[sel], self.pos[sel], self.status[sel],
                     self.attempts[sel])

    def __len__(self) -> int:
        return len(self.index)

    def concat(self, other: Found) -> Found:
        return Found(*(np.concatenate([a, b]) for a, b in zip(
            (self.index, self.block, self.pos, self.status, self.attempts),
            (other.index, other.block, other.pos, other.status, other.attempts))))


def _index_hits(conn: sqlite3.Connection, prefix: np.ndarray) -> Found:
    """Index rows whose ``k`` is one of ``prefix`` (``index`` = position in ``prefix``)."""
    n = len(prefix)
    if n == 0:
        return Found.of([])
    if n <= _BULK:
        where: dict[int, list[int]] = {}
        for i, p in enumerate(prefix.tolist()):
            where.setdefault(p, []).append(i)
        plist = list(where)
        hits = []
        for s in range(0, len(plist), _IN_CHUNK):
            part = plist[s:s + _IN_CHUNK]
            for k, *rest in conn.execute(
                    "SELECT k, block, pos, status, attempts FROM keyindex WHERE k IN "
                    + _in(len(part)), part):
                hits.extend((i, *rest) for i in where[k])
        found = Found.of(hits)
    else:
        # CROSS JOIN keeps json_each as the outer loop: one rowid seek per key, in key
        # order (3x faster than in random order); three packed columns to decode
        order = np.argsort(prefix)
        row = conn.execute(
            "SELECT json_group_array(j.key), json_group_array(e.block * 65536 + e.pos), "
            "json_group_array(e.status * 4294967296 + e.attempts) "
            "FROM json_each(?) AS j CROSS JOIN keyindex AS e ON e.k = j.value",
            (_json(prefix[order]),)).fetchone()
        at, loc, sa = (np.array(json.loads(c), dtype=np.int64) for c in row)
        found = Found(order[at], loc >> 16, loc & 0xFFFF, sa >> 32, sa & 0xFFFFFFFF)
    return found.take(np.argsort(found.index, kind="stable"))


def locate(conn: sqlite3.Connection, keys: np.ndarray, *, model_ref: int | None = None,
           X: np.ndarray | None = None, damaged: list[int] | None = None) -> Found:
    """Find the stored evaluations of ``keys`` ((n, 32) uint8).

    With ``model_ref`` and the inputs ``X`` of the keys, a hit is verified by
    comparing the stored model and inputs (exact); otherwise by recomputing the
    stored rows' keys. Unverified hits are looked up in ``collisions``. Hits in
    a block that fails its checksum are misses; their positions in ``keys`` are
    appended to ``damaged`` (see :func:`gather`).
    """
    n = len(keys)
    if n == 0:
        return Found.of([])
    found = _index_hits(conn, _keys.key_prefixes(keys))
    if len(found):
        same = _verify(conn, found, keys, model_ref, X, damaged)
        if same.all():
            return found
        missed, found = found.index[~same], found.take(same)
    else:
        missed = np.zeros(0, dtype=np.int64)
    if not len(missed) or not conn.execute("SELECT EXISTS(SELECT 1 FROM collisions)"
                                           ).fetchone()[0]:
        return found
    mk = [keys[i].tobytes() for i in missed.tolist()]
    at = dict(zip(mk, missed.tolist()))
    extra = []
    for s in range(0, len(mk), _IN_CHUNK):
        part = mk[s:s + _IN_CHUNK]
        extra += [(at[bytes(r[0])], *r[1:]) for r in conn.execute(
            "SELECT key, block, pos, status, attempts FROM collisions WHERE key IN "
            + _in(len(part)), part)]
    if not extra:
        return found
    more = Found.of(extra)
    hurt: list[int] = []
    gather(conn, more, None, 0, damaged=hurt)  # checksums only
    if hurt:
        if damaged is not None:
            damaged.extend(hurt)
        more = more.take(~np.isin(more.index, hurt))
    merged = found.concat(more)
    return merged.take(np.argsort(merged.index, kind="stable"))


def _verify(conn: sqlite3.Connection, found: Found, keys: np.ndarray, model_ref: int | None,
            X: np.ndarray | None, damaged: list[int] | None) -> np.ndarray:
    """Which hits hold exactly the queried key (same model, same canonical inputs) in an
    intact block (the others' query positions are appended to ``damaged``)."""
    hurt: list[int] = []
    same = _same_key(conn, found, keys, model_ref, X, hurt)
    if hurt:
        same &= ~np.isin(found.index, hurt)
        if damaged is not None:
            damaged.extend(hurt)
    return same


def _same_key(conn, found, keys, model_ref, X, hurt) -> np.ndarray:
    if model_ref is not None and X is not None:
        X = np.asarray(X, dtype=float).reshape(len(keys), -1)
        stored, refs = gather(conn, found, "x", X.shape[1], with_refs=True, damaged=hurt)
        # float equality is bit equality of canonical inputs (-0.0 == 0.0, no NaN inputs)
        return (refs == model_ref) & np.all(stored == X[found.index], axis=1)
    same = np.zeros(len(found), dtype=bool)
    refs = block_refs(conn, found.block)
    ids = dict(conn.execute("SELECT ref, model_id FROM models").fetchall())
    for ref in np.unique(refs).tolist():
        sel = np.flatnonzero(refs == ref)
        mid = ids.get(ref)
        if mid is None:
            continue
        n_in = len(json.loads(conn.execute("SELECT inputs FROM models WHERE ref=?",
                                           (ref,)).fetchone()[0]))
        part = found.take(sel)
        stored = gather(conn, part, "x", n_in, damaged=hurt)
        again = _keys.key_array(_keys.make_keys(mid, stored))
        same[sel] = np.all(again == keys[part.index], axis=1)
    return same


def block_refs(conn: sqlite3.Connection, blocks: np.ndarray) -> np.ndarray:
    ids = np.unique(blocks).tolist()
    got: dict[int, int] = {}
    for s in range(0, len(ids), _IN_CHUNK):
        part = ids[s:s + _IN_CHUNK]
        got.update(conn.execute("SELECT id, model_ref FROM blocks WHERE id IN "
                                + _in(len(part)), part).fetchall())
    return np.array([got.get(b, -1) for b in blocks.tolist()], dtype=np.int64)


def gather(conn: sqlite3.Connection, found: Found, column: str | None, width: int, *,
           with_refs: bool = False, damaged: list[int] | None = None, need: bool = False):
    """Rows of ``column`` (``"x"`` or ``"y"``) at the found places: ``(h, width)``
    float64, NaN rows where a block has no outputs. With ``with_refs``, also each
    row's model reference. ``column`` None only verifies the blocks.

    Every block read is verified against its checksum (and its shape). The rows
    of a damaged or missing block, and with ``need`` the rows of a block without
    ``column``, are left NaN with reference -1 and their ``found.index`` values
    are appended to ``damaged``; when ``damaged`` is None they raise
    :class:`~uqkit.StoreCorruptedError` instead.
    """
    h = len(found)
    out = np.full((h, width), np.nan)
    refs = np.full(h, -1, dtype=np.int64)
    bad: list[np.ndarray] = []
    if h:
        order = np.argsort(found.block, kind="stable")
        blocks = found.block[order]
        starts = np.flatnonzero(np.r_[True, blocks[1:] != blocks[:-1]])
        ends = np.r_[starts[1:], h]
        ids = blocks[starts].tolist()
        got: dict[int, tuple] = {}
        for s in range(0, len(ids), _IN_CHUNK):
            part = ids[s:s + _IN_CHUNK]
            got.update((r[0], r[1:]) for r in conn.execute(
                "SELECT id, model_ref, n, n_in, n_out, x, y, crc FROM blocks WHERE id IN "
                + _in(len(part)), part))
        for b, a, e in zip(ids, starts.tolist(), ends.tolist()):
            rows = order[a:e]
            rec = got.get(b)
            if rec is None or not _intact(rec):
                bad.append(rows)
                continue
            ref, n, n_in, n_out, x, y, _ = rec
            pos = found.pos[rows]
            if pos.min() < 0 or pos.max() >= n:
                bad.append(rows)
                continue
            if column is None:
                continue
            blob, w = (x, n_in) if column == "x" else (y, n_out)
            if blob is None:
                if need:
                    bad.append(rows)
                else:
                    refs[rows] = ref
                continue  # rows without outputs (failed, interrupted)
            if w != width:
                bad.append(rows)
                continue
            refs[rows] = ref
            out[rows] = np.frombuffer(blob, dtype="<f8").reshape(n, w)[pos]
    if bad:
        rows = np.concatenate(bad)
        if damaged is None:
            raise StoreCorruptedError(
                f"{len(rows)} stored rows are damaged (blocks "
                f"{sorted(set(found.block[rows].tolist()))[:10]} fail their checksum or "
                "are missing)")
        damaged.extend(found.index[rows].tolist())
    return (out, refs) if with_refs else out


def _intact(rec: tuple) -> bool:
    """Does a block row ``(model_ref, n, n_in, n_out, x, y, crc)`` match its checksum?"""
    ref, n, n_in, n_out, x, y, crc = rec
    if not (isinstance(x, bytes) and (y is None or isinstance(y, bytes))
            and all(type(v) is int for v in (ref, n, n_in, n_out, crc))):
        return False
    if len(x) != 8 * n * n_in or (y is not None and len(y) != 8 * n * n_out):
        return False
    return block_crc(ref, n, n_in, n_out, x, y) == crc


# -- writing -----------------------------------------------------------------------------------
def write_rows(conn: sqlite3.Connection, *, model_ref: int, keys: np.ndarray, X: np.ndarray,
               Y: np.ndarray | None, status: np.ndarray, attempts: np.ndarray,
               duration: float | None, host: str | None, pid: int | None, updated: float,
               error: str | None) -> None:
    """Store rows that share one commit's metadata (inside the caller's transaction).

    Parameters
    ----------
    keys : ndarray (n, 32) uint8
        Full cache keys of the rows (of model ``model_ref`` with inputs ``X``).
    X : ndarray (n, n_in)
        Inputs.
    Y : ndarray (n, n_out) or None
        Outputs (None: the rows have none, e.g. failures).
    status, attempts : ndarray (n,)
        Status codes (:data:`~uqkit.runner._store_schema.STATUS`) and the attempts
        made now; a superseded failed or interrupted row adds its earlier attempts.

    Notes
    -----
    A key already stored as completed keeps its first result (at-least-once
    delivery is harmless); a failed or interrupted one is superseded.
    """
    n = len(keys)
    if n == 0:
        return
    X = np.asarray(X, dtype="<f8").reshape(n, -1)
    n_in = X.shape[1]
    n_out = 0 if Y is None else np.shape(Y)[1]
    keys = _keys.key_array(keys)
    if n <= _SMALL and n <= block_rows(n_in, n_out):
        _write_one_block(conn, model_ref, keys, X, Y, status, attempts,
                         (duration, host, pid, updated, error))
        return
    prefix = _keys.key_prefixes(keys)
    status = np.asarray(status, dtype=np.int64)
    attempts = np.asarray(attempts, dtype=np.int64)
    # rows sorted by (status, attempts, prefix): each (status, attempts) group is one
    # contiguous range of positions, inserted in B-tree order
    if n > 1:
        order = np.lexsort((prefix, attempts, status))
        prefix, status, attempts = prefix[order], status[order], attempts[order]
        keys, X = keys[order], X[order]
        Y = None if Y is None else np.asarray(Y, dtype="<f8")[order]
    xs = np.ascontiguousarray(X, dtype="<f8")
    ys = None if Y is None else np.ascontiguousarray(Y, dtype="<f8")
    per = block_rows(n_in, n_out)
    first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM blocks").fetchone()[0]

    def blocks():
        for j in range(-(-n // per)):
            size = min(per, n - j * per)
            x = xs[j * per:(j + 1) * per].tobytes()
            y = None if ys is None else ys[j * per:(j + 1) * per].tobytes()
            yield (first + j, model_ref, size, n_in, n_out, x, y, duration, host, pid, updated,
                   error, block_crc(model_ref, size, n_in, n_out, x, y))

    conn.executemany(
        "INSERT INTO blocks(id, model_ref, n, n_in, n_out, x, y, duration, host, pid, "
        "updated, error, crc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", blocks())
    before = conn.total_changes
    if n <= _BULK:
        positions = np.arange(n)
        conn.executemany(
            "INSERT INTO keyindex(k, block, pos, status, attempts) VALUES (?,?,?,?,?) "
            "ON CONFLICT(k) DO NOTHING",
            zip(prefix.tolist(), (first + positions // per).tolist(),
                (positions % per).tolist(), status.tolist(), attempts.tolist()))
    else:
        cuts = np.flatnonzero((np.diff(status) != 0) | (np.diff(attempts) != 0)) + 1
        bounds = [0, *cuts.tolist(), n]
        for a, b in zip(bounds[:-1], bounds[1:]):
            conn.execute(
                "INSERT INTO keyindex(k, block, pos, status, attempts) "
                "SELECT value, ?1 + (key + ?2) / ?3, (key + ?2) % ?3, ?4, ?5 "
                "FROM json_each(?6) WHERE 1 ON CONFLICT(k) DO NOTHING",
                (first, a, per, int(status[a]), int(attempts[a]), _json(prefix[a:b])))
    if conn.total_changes - before != n:
        _resolve_conflicts(conn, model_ref, first, per, keys, X, prefix, status, attempts)
    if conn.execute("SELECT EXISTS(SELECT 1 FROM lost)").fetchone()[0]:
        _merge_lost(conn, model_ref, first, per, prefix)


def _write_one_block(conn: sqlite3.Connection, model_ref: int, keys: np.ndarray,
                     X: np.ndarray, Y: np.ndarray | None, status: Any, attempts: Any,
                     meta: tuple) -> None:
    """:func:`write_rows` for a few rows (one result, or a small batch): one block,
    plain Python lists, SQLite's rowid as the block id (the same ``max + 1``)."""
    n = len(keys)
    prefix = _keys.key_prefixes(keys)
    plist = prefix.tolist()
    st = np.asarray(status, dtype=np.int64).tolist()
    at = np.asarray(attempts, dtype=np.int64).tolist()
    order = sorted(range(n), key=lambda i: (st[i], at[i], plist[i]))
    if order != list(range(n)):
        keys, X, prefix = keys[order], X[order], prefix[order]
        Y = None if Y is None else np.asarray(Y, dtype="<f8")[order]
        plist, st, at = prefix.tolist(), [st[i] for i in order], [at[i] for i in order]
    n_in, n_out = X.shape[1], 0 if Y is None else np.shape(Y)[1]
    x = np.ascontiguousarray(X, dtype="<f8").tobytes()
    y = None if Y is None else np.ascontiguousarray(Y, dtype="<f8").tobytes()
    block = conn.execute(
        "INSERT INTO blocks(model_ref, n, n_in, n_out, x, y, duration, host, pid, updated, "
        "error, crc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (model_ref, n, n_in, n_out, x, y, *meta, block_crc(model_ref, n, n_in, n_out, x, y))
    ).lastrowid
    before = conn.total_changes
    # attempts lost with a dead process (``lost``) are added in the same statement; the
    # ledger row is void from then on (its key is indexed)
    sql = ("INSERT INTO keyindex(k, block, pos, status, attempts) SELECT ?1, ?2, ?3, ?4, "
           "?5 + coalesce((SELECT attempts FROM lost WHERE k = ?1 AND model_ref = ?6), 0) "
           "WHERE 1 ON CONFLICT(k) DO NOTHING")
    if n == 1:
        conn.execute(sql, (plist[0], block, 0, st[0], at[0], model_ref))
    else:
        conn.executemany(sql, [(plist[p], block, p, st[p], at[p], model_ref)
                               for p in range(n)])
    if conn.total_changes - before != n:
        _resolve_conflicts(conn, model_ref, block, n, keys, X, prefix,
                           np.array(st, dtype=np.int64), np.array(at, dtype=np.int64))


def _resolve_conflicts(conn: sqlite3.Connection, model_ref: int, first: int, per: int,
                       keys: np.ndarray, X: np.ndarray, prefix: np.ndarray,
                       status: np.ndarray, attempts: np.ndarray) -> None:
    """Rows whose prefix was already indexed: the same key stored before (kept if
    completed, else superseded, adding its attempts) or a different key sharing the
    8-byte prefix (kept in ``collisions`` by its full key, by the same rule)."""
    rows = conn.execute(
        "SELECT j.key, e.block, e.pos, e.status FROM json_each(?1) AS j "
        "CROSS JOIN keyindex AS e ON e.k = j.value "
        "WHERE e.block != ?2 + j.key / ?3 OR e.pos != j.key % ?3",
        (_json(prefix), first, per)).fetchall()
    if not rows:
        return
    occ = Found.of([(r[0], r[1], r[2], r[3], 0) for r in rows])
    hurt: list[int] = []
    stored, refs = gather(conn, occ, "x", X.shape[1], with_refs=True, damaged=hurt)
    same = (refs == model_ref) & np.all(stored == X[occ.index], axis=1)
    if hurt:
        # an occupant in a damaged block is superseded by the row written now
        lost = np.isin(occ.index, hurt)
        same |= lost
        occ.status[lost] = 2
    for p, old_status, is_same in zip(occ.index.tolist(), occ.status.tolist(), same.tolist()):
        block, pos = first + p // per, p % per
        if is_same:
            if old_status in DONE_CODES:
                continue  # completed before: keep the first result
            conn.execute(
                "UPDATE keyindex SET block=?, pos=?, status=?, attempts=attempts+? WHERE k=?",
                (block, pos, int(status[p]), int(attempts[p]), int(prefix[p])))
        else:
            conn.execute(
                "INSERT INTO collisions(key, block, pos, status, attempts) VALUES (?,?,?,?,?) "
                "ON CONFLICT(key) DO UPDATE SET block=excluded.block, pos=excluded.pos, "
                "status=excluded.status, attempts=collisions.attempts+excluded.attempts "
                "WHERE collisions.status NOT IN (0, 1)",
                (keys[p].tobytes(), block, pos, int(status[p]), int(attempts[p])))


def _merge_lost(conn: sqlite3.Connection, model_ref: int, first: int, per: int,
                prefix: np.ndarray) -> None:
    """Add the attempts lost with a dead process (``lost``) to the rows just written.

    A ledger row whose prefix is indexed is void (its attempts were added when the
    row was written); :func:`void_lost` removes such rows."""
    rows = conn.execute(
        "SELECT j.key, l.attempts FROM json_each(?1) AS j CROSS JOIN lost AS l "
        "ON l.k = j.value WHERE l.model_ref = ?2", (_json(prefix), model_ref)).fetchall()
    for p, lost in rows:
        k = int(prefix[p])
        conn.execute("UPDATE keyindex SET attempts=attempts+? WHERE k=? AND block=? AND pos=?",
                     (lost, k, first + p // per, p % per))
        conn.execute("DELETE FROM lost WHERE k=?", (k,))


def requeue(conn: sqlite3.Connection, model_ref: int, prefix: np.ndarray, now: float) -> None:
    """The claims of a dead process on ``prefix``: count the lost attempt
    (tests/test_store_schema.py::test_lost_attempts_of_a_dead_claim_are_counted).

    Stored rows that are not complete become ``interrupted`` with one more
    attempt; keys never stored go to the ``lost`` ledger (merged into their
    row when it is written). Claims hold 8-byte prefixes, so a prefix shared
    by two keys (probability ~2^-64 per pair) marks both.
    """
    if not len(prefix):
        return
    text = _json(prefix)
    conn.execute(
        "UPDATE keyindex SET status=3, attempts=attempts+1 WHERE k IN "
        "(SELECT value FROM json_each(?1)) AND status NOT IN (0, 1) "
        "AND (SELECT model_ref FROM blocks WHERE id=keyindex.block) = ?2", (text, model_ref))
    if conn.execute("SELECT EXISTS(SELECT 1 FROM collisions)").fetchone()[0]:
        for p in prefix.tolist():
            lo = prefix_bytes(p)
            conn.execute(
                "UPDATE collisions SET status=3, attempts=attempts+1 WHERE key >= ? AND "
                "key < ? AND status NOT IN (0, 1) AND "
                "(SELECT model_ref FROM blocks WHERE id=collisions.block) = ?",
                (lo + b"\0" * 24, lo + b"\xff" * 25, model_ref))
    conn.execute(
        "INSERT INTO lost(k, model_ref, attempts, updated) "
        "SELECT value, ?2, 1, ?3 FROM json_each(?1) AS j "
        "WHERE NOT EXISTS (SELECT 1 FROM keyindex WHERE k = j.value) "
        "ON CONFLICT(k) DO UPDATE SET attempts=attempts+1, updated=excluded.updated",
        (text, model_ref, now))


def void_lost(conn: sqlite3.Connection) -> None:
    """Drop ledger rows whose key has been stored since (their attempts were added)."""
    conn.execute("DELETE FROM lost WHERE EXISTS (SELECT 1 FROM keyindex WHERE "
                 "keyindex.k = lost.k)")


def lost_attempts(conn: sqlite3.Connection, model_ref: int, prefix: np.ndarray) -> Found:
    """Ledger entries of ``prefix`` (status interrupted; ``block`` and ``pos`` -1)."""
    if not len(prefix) or not conn.execute("SELECT EXISTS(SELECT 1 FROM lost)").fetchone()[0]:
        return Found.of([])
    rows = conn.execute(
        "SELECT j.key, -1, -1, 3, l.attempts FROM json_each(?1) AS j CROSS JOIN lost AS l "
        "ON l.k = j.value WHERE l.model_ref = ?2", (_json(prefix), model_ref)).fetchall()
    return Found.of(rows)
