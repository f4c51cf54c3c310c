"""Bulk readers of a store: evaluations and failures as DataFrames, counts by status.

Called by :meth:`uqkit.Store.to_dataframe` and :meth:`uqkit.Store.summary`
inside one read transaction. Whole blocks are decoded with numpy, never row by
row.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ._keys import make_keys
from ._store_index import Found, gather
from ._store_schema import STATUS

__all__ = ["evaluations_frame", "failures_frame", "summary_frame", "full_check", "LOST_COUNT"]

_COLUMNS = ["key", "model", "status", "attempts", "duration", "host", "error"]
#: ledger rows still in force (a row whose key has been stored since is void)
LOST_COUNT = ("SELECT count(*) FROM lost WHERE NOT EXISTS "
              "(SELECT 1 FROM keyindex WHERE keyindex.k = lost.k)")


def _entries(conn) -> Found:
    """Every evaluation's ``(block, pos, status, attempts)``, ordered by block and row."""
    cols: list[list[int]] = [[], [], [], []]
    for table in ("keyindex", "collisions"):
        row = conn.execute(
            "SELECT json_group_array(block), json_group_array(pos), json_group_array(status), "
            f"json_group_array(attempts) FROM {table}").fetchone()
        for c, text in zip(cols, row):
            c.extend(json.loads(text))
    block, pos, status, attempts = (np.array(c, dtype=np.int64) for c in cols)
    order = np.lexsort((pos, block))
    return Found(np.arange(len(block)), block[order], pos[order], status[order],
                 attempts[order])


def _hex_keys(model_id: str, X: np.ndarray) -> list[str]:
    """The rows' cache keys, recomputed from the model and the stored inputs."""
    return [k.hex() for k in make_keys(model_id, X)]


def evaluations_frame(store: Any, models: list[dict[str, Any]]):
    import pandas as pd

    conn = store.conn
    meta = conn.execute("SELECT id, model_ref, duration, host, error FROM blocks "
                        "ORDER BY id").fetchall()
    if not models:
        return pd.DataFrame(columns=_COLUMNS)
    ids = np.array([m[0] for m in meta], dtype=np.int64)
    entries = _entries(conn)
    where = np.searchsorted(ids, entries.block)
    if len(entries.block) and (where.max() >= len(ids)
                               or not np.array_equal(ids[where], entries.block)):
        from .._errors import StoreCorruptedError

        raise StoreCorruptedError("the key index points at missing blocks")
    block_ref = np.array([m[1] for m in meta], dtype=np.int64)[where]
    frames = []
    for m in models:
        sel = block_ref == m["ref"]
        rows = entries.take(sel)
        rows.index = np.arange(len(rows.index))
        n_in, n_out = len(m["inputs"]), len(m["outputs"])
        damaged: list[int] = []
        X = gather(conn, rows, "x", n_in, damaged=damaged)
        Y = gather(conn, rows, "y", n_out, damaged=damaged)
        w = where[sel]
        if damaged:  # left out, reported by the store (warning or error per its policy)
            store._damaged((), blocks=set(rows.block[np.unique(damaged)].tolist()))
            keep = ~np.isin(rows.index, damaged)
            rows, X, Y, w = rows.take(keep), X[keep], Y[keep], w[keep]
        df = pd.DataFrame({
            "key": _hex_keys(m["id"], X), "model": m["name"],
            "status": np.array(STATUS)[rows.status] if len(rows.status) else [],
            "attempts": rows.attempts,
            "duration": [meta[i][2] for i in w.tolist()],
            "host": [meta[i][3] for i in w.tolist()],
            "error": [meta[i][4] for i in w.tolist()]})
        df = pd.concat([df, pd.DataFrame(X, columns=m["inputs"]),
                        pd.DataFrame(Y, columns=m["outputs"])], axis=1)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def failures_frame(store: Any, models: list[dict[str, Any]]):
    import pandas as pd

    by_id = {m["id"]: m for m in models}
    q = ("SELECT key, model_id, attempt, kind, error_type, message, details, duration, "
         "host, time, traceback FROM failures ORDER BY id")
    rows = [r for r in store.conn.execute(q) if r[1] in by_id]
    df = pd.DataFrame(rows, columns=["key", "model_id", "attempt", "kind", "error_type",
                                     "message", "details", "duration", "host", "time",
                                     "traceback"])
    df["key"] = [k.hex() for k in df["key"]]
    df.insert(1, "model", [by_id[m]["name"] for m in df["model_id"]])
    df["details"] = [json.loads(d) if d else {} for d in df["details"]]
    return df.drop(columns="model_id")


def summary_frame(store: Any, models: list[dict[str, Any]]):
    import pandas as pd

    conn = store.conn
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
    for table in ("keyindex", "collisions"):
        for ref, status, n in conn.execute(
                f"SELECT b.model_ref, e.status, count(*) FROM {table} AS e "
                "JOIN blocks AS b ON b.id = e.block GROUP BY b.model_ref, e.status"):
            name = STATUS[status] if 0 <= status < len(STATUS) else "unknown"
            c = counts.setdefault(ref, {})
            c[name] = c.get(name, 0) + n
    for ref, n in conn.execute(LOST_COUNT.replace("count(*)", "model_ref, count(*)")
                               + " GROUP BY model_ref"):
        c = counts.setdefault(ref, {})  # interrupted, inputs unknown (a dead process's claim)
        c["interrupted"] = c.get("interrupted", 0) + n
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


def full_check(store: Any) -> dict[str, Any]:
    """See :meth:`uqkit.Store.check` (also used on a raw connection by ``store check``)."""
    from ._store_recover import check_connection

    return check_connection(store.conn)
