"""Full checks of a store and recovery of its verifiable rows into a new store.

Both work on a read-only connection, so they also run on a file that
:class:`uqkit.Store` refuses to open (a failed quick check). A row is
*verifiable* when its block matches its checksum; its cache key is then
recomputed from the stored model identity and inputs.
"""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from .._errors import StoreError
from ._keys import make_keys
from ._store_index import _intact

__all__ = ["open_raw", "check_connection", "check_file", "recover_store"]

_SCAN = 256  # blocks read per statement


def open_raw(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to ``path`` that never writes (not even a WAL checkpoint)."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"No store at {str(path)!r}.")
    uri = "file:" + quote(str(path.resolve()))
    try:
        conn = sqlite3.connect(uri + "?mode=ro", uri=True)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError:
        conn = sqlite3.connect(uri + "?immutable=1", uri=True)
    return conn


def _blocks(conn: sqlite3.Connection, problems: list[str]):
    """Every readable block row ``(id, model_ref, n, n_in, n_out, x, y, crc)``, by id."""
    last = 0
    while True:
        try:
            rows = conn.execute("SELECT id, model_ref, n, n_in, n_out, x, y, crc FROM blocks "
                                "WHERE id > ? ORDER BY id LIMIT ?", (last, _SCAN)).fetchall()
        except sqlite3.DatabaseError as exc:
            # a damaged page: go on past it, one block id at a time
            problems.append(f"blocks after id {last} unreadable ({exc})")
            rows = []
            for b in range(last + 1, last + 1 + _SCAN):
                try:
                    rows += conn.execute("SELECT id, model_ref, n, n_in, n_out, x, y, crc "
                                         "FROM blocks WHERE id = ?", (b,)).fetchall()
                except sqlite3.DatabaseError:
                    continue
            if not rows:
                try:
                    top = conn.execute("SELECT max(id) FROM blocks").fetchone()[0] or 0
                except sqlite3.DatabaseError:
                    top = 0
                if top <= last + _SCAN:
                    return
                last += _SCAN
                continue
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def check_connection(conn: sqlite3.Connection) -> dict[str, Any]:
    """See :meth:`uqkit.Store.check`."""
    problems: list[str] = []
    try:
        integrity = "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check(20)"))
    except sqlite3.DatabaseError as exc:
        integrity = f"failed: {exc}"
    sizes: dict[int, int] = {}
    damaged: list[int] = []
    for rec in _blocks(conn, problems):
        if _intact(rec[1:]):
            sizes[rec[0]] = rec[2]
        else:
            damaged.append(rec[0])
    n_entries = bad_entries = 0
    for table in ("keyindex", "collisions"):
        try:
            for block, pos in conn.execute(f"SELECT block, pos FROM {table}"):
                n_entries += 1
                if not (block in sizes and 0 <= pos < sizes[block]):
                    bad_entries += 1
        except sqlite3.DatabaseError as exc:
            problems.append(f"{table} unreadable ({exc})")
    ok = integrity == "ok" and not damaged and not bad_entries and not problems
    return {"ok": ok, "integrity": integrity, "blocks": len(sizes) + len(damaged),
            "damaged_blocks": damaged, "index_entries": n_entries,
            "damaged_entries": bad_entries, "problems": problems}


def check_file(path: str | Path) -> dict[str, Any]:
    """:func:`check_connection` on the file ``path`` (read-only)."""
    conn = open_raw(path)
    try:
        return check_connection(conn)
    finally:
        conn.close()


def _attempts(conn: sqlite3.Connection) -> dict[tuple[int, int], tuple[int, int]]:
    """``(block, pos) -> (status, attempts)`` of every readable index entry."""
    out: dict[tuple[int, int], tuple[int, int]] = {}
    for table in ("keyindex", "collisions"):
        try:
            for block, pos, status, attempts in conn.execute(
                    f"SELECT block, pos, status, attempts FROM {table}"):
                out[(block, pos)] = (status, attempts)
        except sqlite3.DatabaseError:
            continue
    return out


def recover_store(src: str | Path, dst: str | Path) -> dict[str, Any]:
    """Copy every verifiable completed row of the store ``src`` into a new store ``dst``.

    Completed rows (``ok``, ``nonfinite``) of intact blocks are copied with their
    attempts (when the index still knows them), as are the models, studies,
    intact checkpoints and the failures table's readable rows. Failed or
    interrupted rows are not copied: a rerun evaluates them again.

    Returns
    -------
    dict
        Counts: ``rows`` copied, ``damaged_blocks`` skipped, ``checkpoints``
        copied and ``problems`` met.
    """
    from ._store import Store

    dst = Path(dst)
    if dst.exists():
        raise StoreError(f"{str(dst)!r} exists; recover into a new file.")
    conn = open_raw(src)
    problems: list[str] = []
    try:
        try:
            models = {r[0]: r[1:] for r in conn.execute(
                "SELECT ref, model_id, name, version, identity, inputs, outputs, fingerprint "
                "FROM models")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"The models table of {str(src)!r} is unreadable ({exc}); "
                             "nothing can be verified.") from exc
        index = _attempts(conn)
        copied = skipped = 0
        with Store(dst) as out:
            for mid, name, version, identity, inputs, outputs, fp in models.values():
                out.register_model({"id": mid, "name": name, "version": version,
                                    "identity": identity, "fingerprint": fp},
                                   json.loads(inputs), json.loads(outputs))
            for block, ref, n, n_in, n_out, x, y, crc in _blocks(conn, problems):
                if ref not in models or not _intact((ref, n, n_in, n_out, x, y, crc)):
                    skipped += 1
                    continue
                if y is None:
                    continue  # failed or interrupted rows: evaluated again by a rerun
                X = np.frombuffer(x, "<f8").reshape(n, n_in)
                Y = np.frombuffer(y, "<f8").reshape(n, n_out)
                status = np.where(np.isfinite(Y).all(axis=1), "ok", "nonfinite")
                attempts = [index.get((block, p), (0, 1))[1] for p in range(n)]
                out.put_results(models[ref][0], make_keys(models[ref][0], X), X, Y, status,
                                attempts=attempts, duration=None)
                copied += n
            n_ckpt = _copy_small_tables(conn, out, problems)
    finally:
        conn.close()
    return {"rows": copied, "damaged_blocks": skipped, "checkpoints": n_ckpt,
            "problems": problems}


def _copy_small_tables(conn: sqlite3.Connection, out: Any, problems: list[str]) -> int:
    """Studies, intact checkpoints and readable failures from ``conn`` into ``out``."""
    n_ckpt = 0
    with out._transaction() as dst:
        for table, columns in (("studies", 4), ("failures", 13)):
            try:
                rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            except sqlite3.DatabaseError as exc:
                problems.append(f"{table} unreadable ({exc})")
                continue
            dst.executemany(f"INSERT OR IGNORE INTO {table} VALUES "
                            f"({','.join('?' * columns)})", rows)
        try:
            ckpts = conn.execute("SELECT name, arrays, meta, updated FROM checkpoints").fetchall()
        except sqlite3.DatabaseError as exc:
            problems.append(f"checkpoints unreadable ({exc})")
            ckpts = []
        for name, arrays, meta, updated in ckpts:
            try:
                with np.load(io.BytesIO(arrays), allow_pickle=False) as data:
                    for k in data.files:
                        data[k]  # reading checks the array's CRC-32
                json.loads(meta)
            except Exception as exc:  # noqa: BLE001 - any damage: the checkpoint is dropped
                problems.append(f"checkpoint {name!r} damaged ({exc})")
                continue
            dst.execute("INSERT INTO checkpoints VALUES (?,?,?,?)", (name, arrays, meta, updated))
            n_ckpt += 1
    return n_ckpt
