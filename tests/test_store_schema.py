"""Store layout (schema 2): migration from schema 1, 8-byte prefix collisions, the
lost-attempts ledger, bulk writes with mixed statuses, and the ``evaluations`` view."""

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import subprocess_env

import uqkit
from uqkit.models import model_identity
from uqkit.runner import _keys, make_keys

V1 = Path(__file__).parent / "reference" / "store_v1.db"
M = {"id": "m", "name": "m", "version": None, "identity": "m"}


def _v1_rows(path):
    con = sqlite3.connect(path)
    rows = con.execute("SELECT key, model_ref, x, y, status, attempts, error FROM evaluations"
                       ).fetchall()
    con.close()
    return rows


def test_schema_1_store_is_migrated(tmp_path):
    """A store written by the schema-1 code (tests/reference/make_store_v1.py) opens as
    schema 2 with every row, status, attempt, error, study and checkpoint intact."""
    path = tmp_path / "old.db"
    shutil.copy(V1, path)
    old = _v1_rows(path)
    assert len(old) == 24
    with uqkit.Store(path) as store:
        assert store.info()["schema_version"] == 3
        assert store.integrity_check() == "ok"
        df = store.to_dataframe()
        models = {m["ref"]: m for m in store.models()}
        got = {k: r for k, r in zip(df.key, df.itertuples(index=False))}
        with_x = [r for r in old if r[2]]
        assert len(df) == len(with_x) == 23
        for key, ref, x, y, status, attempts, error in with_x:
            row = got[key.hex()]
            m = models[ref]
            assert row.model == m["name"] and row.status == status
            assert row.attempts == attempts
            assert row.error == error or (error is None and row.error != row.error)  # NaN
            xs = np.array([getattr(row, c) for c in m["inputs"]])
            assert xs.tobytes() == x  # bit-exact, -0.0 and 5e-324 included
            ys = np.array([getattr(row, c) for c in m["outputs"]])
            if y is None:
                assert np.isnan(ys).all()
            else:
                assert ys.tobytes() == y
        # the row without inputs (a dead process's claim) is kept as an interrupted count
        summary = store.summary()
        assert summary["interrupted"].sum() == 1 and summary["total"].sum() == 24
        assert store.info()["evaluations"] == 24
        assert store.check_study("study:demo", {"n": 16, "seed": 0}) == {"n": 16, "seed": 0}
        arrays, meta = store.load_checkpoint("mcmc")
        assert meta == {"step": 3} and arrays["a"].tolist() == [0.0, 1.0, 2.0]
        migrated = store.conn.execute("SELECT value FROM meta WHERE key='migrated'").fetchone()
        assert json.loads(migrated[0])["from"] == 1
    # the migrated results are served from the cache; the lost attempt is counted
    model, params, _ = uqkit.examples.ishigami()
    runner = uqkit.Runner(store=path)
    ev = runner.evaluate(model, params.sample(16, rng=0))
    assert ev.n_new == 0 and ev.ok.all()

    def flaky(a, b):
        return a / b if b else float("nan")

    fixed = uqkit.as_model(flaky, name="flaky", version="2")
    with pytest.warns(uqkit.UQKitWarning, match="implementation of model 'flaky' changed"):
        ev = uqkit.Runner(store=path, on_failure="skip").evaluate(
            fixed, [[0.1, 2.0], [0.9, 1.0], [0.2, 0.0], [0.4, 1.0]])
    assert ev.n_new == 2  # the failed row and the never-stored interrupted one
    assert ev.status.tolist() == ["ok", "ok", "nonfinite", "ok"]
    df = runner.store.to_dataframe("flaky").set_index("a")
    assert df.loc[0.9, "attempts"] == 2 and df.loc[0.9, "status"] == "ok"
    assert df.loc[0.4, "attempts"] == 2  # 1 lost with the dead process + 1 now
    assert runner.store.summary().loc["flaky", "interrupted"] == 0


def test_failed_migration_leaves_the_old_store(tmp_path, monkeypatch):
    """The migration is one transaction: a crash in the middle changes nothing."""
    path = tmp_path / "old.db"
    shutil.copy(V1, path)
    before = _v1_rows(path)
    import uqkit.runner._store_db as db

    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk on fire")

    monkeypatch.setattr(db, "write_rows", broken)
    with pytest.raises(OSError, match="disk on fire"):
        uqkit.Store(path)
    assert _v1_rows(path) == before
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    monkeypatch.undo()
    with uqkit.Store(path) as store:
        assert len(store.to_dataframe()) == 23


@pytest.fixture
def colliding(monkeypatch):
    """Every key gets one of 4 index prefixes: almost every row is a prefix collision."""
    orig = _keys.key_prefixes
    monkeypatch.setattr(_keys, "key_prefixes", lambda keys: orig(keys) & 3)


def test_prefix_collisions_keep_every_key_apart(tmp_path, colliding):
    path = tmp_path / "s.db"
    calls = []

    def f(X):
        calls.append(len(X))
        out = X[:, :1] + 10 * X[:, 1:]
        out[X[:, 0] > 0.9] = np.nan  # some rows fail (non-finite)
        return out

    model = uqkit.as_model(f, inputs=("a", "b"), vectorized=True, name="f")
    X = np.random.default_rng(1).random((300, 2))
    runner = uqkit.Runner(store=path, on_failure="skip", max_consecutive_failures=1000)
    ev = runner.evaluate(model, X)
    want = X[:, :1] + 10 * X[:, 1:]
    np.testing.assert_array_equal(ev.Y[ev.ok], want[ev.ok])
    store = runner.store
    con = store.conn
    assert con.execute("SELECT count(*) FROM keyindex").fetchone()[0] == 4
    assert con.execute("SELECT count(*) FROM collisions").fetchone()[0] == 296
    # a rerun is served from the store, row for row
    again = runner.evaluate(model, X)
    assert again.n_new == 0
    np.testing.assert_array_equal(again.Y, ev.Y)
    assert again.status.tolist() == ev.status.tolist()
    # lookup by key alone (verification by recomputing the stored keys)
    keys = make_keys(model_identity(model)["id"], X)
    found = store.lookup(keys)
    assert len(found) == 300
    for k, y, st in zip(keys, ev.Y, ev.status):
        assert found[k][0] == st
        np.testing.assert_array_equal(found[k][1], y)
    # a forged key sharing a stored key's prefix and bytes 8..31 differing is not found
    forged = keys[0][:8] + bytes(24)
    assert forged not in store.lookup([forged])
    df = store.to_dataframe()
    assert sorted(df.key) == sorted(k.hex() for k in keys)
    assert store.summary().loc["f", "total"] == 300


def test_superseding_failed_rows_adds_attempts(tmp_path, colliding):
    """A failed row (in the index or among collisions) is superseded by a later success
    with its attempts added; a completed row is never overwritten."""
    path = tmp_path / "s.db"
    X = np.random.default_rng(2).random((40, 2))
    broken = [True]

    def g(a, b):
        if broken[0]:
            return 1 / 0 if a > 0.5 else a
        return -a

    model = uqkit.as_model(g, name="g")
    uqkit.Runner(store=path, on_failure="skip", max_consecutive_failures=100).evaluate(
        model, X)
    broken[0] = False
    ev = uqkit.Runner(store=path).evaluate(model, X)
    high = X[:, 0] > 0.5
    assert ev.n_new == high.sum() and ev.ok.all()
    np.testing.assert_array_equal(ev.Y[~high, 0], X[~high, 0])  # first results kept
    np.testing.assert_array_equal(ev.Y[high, 0], -X[high, 0])
    with uqkit.Store(path) as store:
        df = store.to_dataframe().set_index("a")
        assert (df.loc[X[high, 0], "attempts"] == 2).all()
        assert (df.loc[X[~high, 0], "attempts"] == 1).all()
        assert (df.status == "ok").all() and len(df) == 40


def _store_with_model(path, inputs=("a", "b"), outputs=("y",)):
    store = uqkit.Store(path)
    store.register_model(M, list(inputs), list(outputs))
    return store


def test_bulk_write_with_mixed_status_and_attempts(tmp_path):
    """The json_each bulk path (more than 256 rows) places every row: statuses and
    attempts of several groups, duplicates of stored keys, and a superseded failure."""
    rng = np.random.default_rng(3)
    X = rng.random((1000, 2))
    Y = rng.random((1000, 1))
    status = np.where(rng.random(1000) < 0.2, "nonfinite", "ok")
    attempts = rng.integers(1, 4, 1000)
    keys = make_keys("m", X)
    with _store_with_model(tmp_path / "s.db") as store:
        store.put_failure("m", keys[:300], X[:300], attempt=1, final=True, kind="exception",
                          error_type="E", message="boom", traceback=None, details=None,
                          duration=None, attempts=[2] * 300)
        store.put_results("m", keys[100:600], X[100:600], Y[100:600], status[100:600],
                          attempts=attempts[100:600], duration=0.5)
        # overlapping redelivery with other values: completed rows keep the first result
        store.put_results("m", keys, X, Y + 1, status, attempts=attempts, duration=0.1)
        got = store.lookup(keys)
        for i, k in enumerate(keys):
            st, y, att = got[k]
            assert st == status[i]
            first = Y[i] if 100 <= i < 600 else Y[i] + 1
            np.testing.assert_array_equal(y, first)
            assert att == attempts[i] + (2 if i < 300 else 0)
        assert store.integrity_check() == "ok"
        assert store.info()["evaluations"] == 1000


def test_lost_attempts_of_a_dead_claim_are_counted(tmp_path):
    """A4 for keys never stored: a dead process's claim becomes one lost attempt each,
    added to the row when it is finally written."""
    path = tmp_path / "s.db"
    model = uqkit.as_model(lambda a: 2 * a, name="h")
    X = np.arange(5.0)[:, None]
    keys = make_keys(model_identity(model)["id"], X)
    store = uqkit.Store(path)
    store.register_model(model_identity(model), ["a"], ["y"])
    prefixes = _keys.key_prefixes(_keys.key_array(keys[:3])).astype(">i8").tobytes()
    store.conn.execute("INSERT INTO claims VALUES ('dead', ?, 'o', ?, ?, 0, ?)",
                       (model_identity(model)["id"], socket.gethostname(), 2**22 + 7,
                        prefixes))
    store.close()
    ev = uqkit.Runner(store=path).evaluate(model, X)
    assert ev.n_new == 5
    with uqkit.Store(path) as store:
        df = store.to_dataframe().set_index("a").sort_index()
        assert df.attempts.tolist() == [2, 2, 2, 1, 1]
        assert store.info()["running_claims"] == 0 and store.info()["evaluations"] == 5
        assert store.summary().loc["h", "interrupted"] == 0
        store.claim(model_identity(model)["id"], [], "o")  # drops the void ledger rows
        assert store.conn.execute("SELECT count(*) FROM lost").fetchone()[0] == 0


def test_evaluations_view_matches_dataframe(tmp_path):
    model, params, _ = uqkit.examples.ishigami()
    runner = uqkit.Runner(store=tmp_path / "s.db")
    runner.evaluate(model, params.sample(700, rng=4))
    store = runner.store
    rows = store.conn.execute("SELECT x, y, status, attempts FROM evaluations").fetchall()
    df = store.to_dataframe()
    assert len(rows) == len(df) == 700
    view = {bytes(x): bytes(y) for x, y, _, _ in rows}
    for x, y in zip(df[list(model.inputs)].to_numpy(), df[list(model.outputs)].to_numpy()):
        assert view[x.tobytes()] == y.tobytes()
    assert {r[2] for r in rows} == {"ok"} and {r[3] for r in rows} == {1}


def test_damaged_block_is_reported_as_corruption(tmp_path):
    model, params, _ = uqkit.examples.ishigami()
    path = tmp_path / "s.db"
    uqkit.Runner(store=path).evaluate(model, params.sample(50, rng=5))
    con = sqlite3.connect(path)
    con.execute("UPDATE blocks SET y = substr(y, 1, 12)")
    con.commit()
    con.close()
    with uqkit.Store(path, on_corrupt="raise") as store, pytest.raises(
            uqkit.StoreCorruptedError, match="fails its checksum"):
        store.to_dataframe()
    with pytest.raises(uqkit.StoreCorruptedError, match="50 rows stored"):
        uqkit.Runner(store=uqkit.Store(path, on_corrupt="raise")).evaluate(
            model, params.sample(50, rng=5))
    # the default policy: warn, evaluate the damaged rows again, never serve them
    with pytest.warns(uqkit.StoreCorruptedWarning, match="evaluated again"):
        ev = uqkit.Runner(store=path).evaluate(model, params.sample(50, rng=5))
    assert ev.n_new == 50 and ev.ok.all()
    np.testing.assert_array_equal(ev.Y, model(params.sample(50, rng=5)))
    again = uqkit.Runner(store=path).evaluate(model, params.sample(50, rng=5))
    assert again.n_cached == 50


SCHEMA_1 = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE models(
    ref INTEGER PRIMARY KEY, model_id TEXT UNIQUE NOT NULL, name TEXT, version TEXT,
    identity TEXT, inputs TEXT, outputs TEXT, fingerprint TEXT, created REAL);
CREATE TABLE evaluations(
    key BLOB PRIMARY KEY, model_ref INTEGER NOT NULL, x BLOB NOT NULL, y BLOB,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1, duration REAL,
    host TEXT, pid INTEGER, updated REAL, error TEXT) WITHOUT ROWID;
CREATE INDEX evaluations_by_model ON evaluations(model_ref);
CREATE TABLE failures(
    id INTEGER PRIMARY KEY AUTOINCREMENT, key BLOB, model_id TEXT, attempt INTEGER,
    kind TEXT, error_type TEXT, message TEXT, traceback TEXT, details TEXT,
    duration REAL, host TEXT, pid INTEGER, time REAL);
CREATE INDEX failures_by_key ON failures(key);
CREATE TABLE claims(
    claim_id TEXT PRIMARY KEY, model_id TEXT, owner TEXT, host TEXT, pid INTEGER,
    heartbeat REAL, keys BLOB);
CREATE TABLE checkpoints(name TEXT PRIMARY KEY, arrays BLOB, meta TEXT, updated REAL);
CREATE TABLE studies(study_id TEXT PRIMARY KEY, spec TEXT, created REAL, updated REAL);
INSERT INTO meta VALUES ('schema_version', '1');
"""


def test_large_schema_1_store_is_migrated_in_pieces(tmp_path):
    """A schema-1 store written with raw SQL: one 70 000-row batch (more than one
    migration piece) and a live claim of full keys; every row is then served."""
    path = tmp_path / "big.db"
    model = uqkit.as_model(lambda X: X[:, :1] - X[:, 1:], inputs=("a", "b"), vectorized=True,
                           name="big")
    ident = model_identity(model)
    X = np.random.default_rng(6).random((70_000, 2))
    Y = X[:, :1] - X[:, 1:]
    keys = make_keys(ident["id"], X)
    con = sqlite3.connect(path)
    con.executescript(SCHEMA_1)
    con.execute("INSERT INTO models VALUES (1, ?, 'big', NULL, 'big@None', '[\"a\", \"b\"]', "
                "'[\"y\"]', NULL, 0)", (ident["id"],))
    con.executemany("INSERT INTO evaluations VALUES (?, 1, ?, ?, 'ok', 1, 0.5, 'h', 1, 7.0, "
                    "NULL)", zip(keys, map(bytes, X), map(bytes, Y)))
    # a live claim (this process) on two unstored keys, in the schema-1 form
    extra = make_keys(ident["id"], np.array([[5.0, 6.0], [7.0, 8.0]]))
    con.execute("INSERT INTO claims VALUES ('c', ?, 'o', ?, ?, 1e12, ?)",
                (ident["id"], socket.gethostname(), os.getpid(),
                 b"".join(extra)))
    con.commit()
    con.close()
    with uqkit.Store(path) as store:
        assert store.info()["evaluations"] == 70_000
        assert store.pending_keys(extra + keys[:2]) == set(extra)
        store.conn.execute("DELETE FROM claims")
    ev = uqkit.Runner(store=path).evaluate(model, X)
    assert ev.n_new == 0
    np.testing.assert_array_equal(ev.Y, Y)


BULK_CRASH_WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    from uqkit.runner import Store, make_keys
    store = Store(sys.argv[1])
    store.register_model({"id": "m", "name": "m", "version": None, "identity": "m"},
                         ["a", "b"], ["y"])
    rng = np.random.default_rng(int(sys.argv[2]))
    for _ in range(20):
        X = rng.random((300, 2))
        keys = make_keys("m", X)
        store.put_results("m", keys, X, X[:, :1] * 2, "ok", attempts=1, duration=0.1)
        print(keys[0].hex(), flush=True)  # acknowledged: the commit returned
""")


def test_kill_inside_bulk_commit(tmp_path):
    """A3 for 300-row batches (blocks + one json_each index statement): os._exit(9)
    before a commit never leaves a partial batch, a dangling index row or a lost
    acknowledged batch."""
    script = tmp_path / "w.py"
    script.write_text(BULK_CRASH_WORKER)
    path = tmp_path / "s.db"
    uqkit.Store(path).close()
    acked: set[str] = set()
    # the process dies before its k-th commit; the first one also commits the model
    for trial, k in enumerate([3, 4, 8]):
        out = subprocess.run([sys.executable, str(script), str(path), str(trial)],
                             env=subprocess_env(UQKIT_TEST_CRASH_BEFORE_COMMIT=str(k)),
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 9, out.stderr
        acked |= set(out.stdout.split())
        with uqkit.Store(path) as store:
            assert store.integrity_check() == "ok"
            df = store.to_dataframe()  # every index row resolves to its block
            assert len(df) % 300 == 0 and (df.status == "ok").all()
            np.testing.assert_array_equal(df.y, 2 * df.a)
            assert acked <= set(df.key) and len(df) == 300 * len(acked)
            assert store.conn.execute("SELECT count(*) FROM keyindex").fetchone()[0] == len(df)
    assert len(acked) == 1 + 3 + 7


def test_killed_migration_leaves_the_old_store(tmp_path):
    """A process killed in the middle of the migration leaves schema 1 intact."""
    path = tmp_path / "old.db"
    shutil.copy(V1, path)
    before = _v1_rows(path)
    code = textwrap.dedent("""
        import os, sys
        import uqkit, uqkit.runner._store_db as db
        real = db.write_rows
        calls = []
        def dying(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                os._exit(9)
            return real(*args, **kwargs)
        db.write_rows = dying
        uqkit.Store(sys.argv[1])
    """)
    out = subprocess.run([sys.executable, "-c", code, str(path)], env=subprocess_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 9, out.stderr
    assert _v1_rows(path) == before
    with uqkit.Store(path) as store:
        assert store.integrity_check() == "ok" and len(store.to_dataframe()) == 23
