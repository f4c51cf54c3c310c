"""The SQLite store (RELIABILITY A3, A7, F2, F5, security point 5)."""

import json
import os
import pickle
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import start_python, subprocess_env

import uqkit
from uqkit.runner import make_keys


def test_new_store_is_private_and_wal(store_path):
    with uqkit.Store(store_path) as store:
        assert store.mode == 0o600
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store.integrity_check() == "ok"
        assert store.info()["evaluations"] == 0


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(uqkit.StoreError, match="does not exist"):
        uqkit.Store(tmp_path / "nope" / "s.db")


def _populate(path, n=20):
    model, params, _ = uqkit.examples.ishigami()
    uqkit.Runner(store=path).evaluate(model, params.sample(n, rng=0))
    return path.read_bytes()


@pytest.mark.parametrize("damage", ["header", "truncate", "garbage", "foreign_sqlite"])
def test_corrupt_store_is_refused_and_never_overwritten(tmp_path, damage):
    """F5: a clear 'corrupted' error with recovery hints; the file is left untouched."""
    path = tmp_path / "s.db"
    if damage == "foreign_sqlite":
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE patients(id INTEGER)")
        con.commit()
        con.close()
    else:
        data = bytearray(_populate(path))
        if damage == "header":
            data[0:4] = b"XXXX"
        elif damage == "truncate":
            data = data[:50]
        else:
            data = bytearray(os.urandom(4096))
        path.write_bytes(bytes(data))
    before = path.read_bytes()
    if damage in ("garbage", "foreign_sqlite"):  # another kind of file: not called corrupted
        with pytest.raises(uqkit.NotAStoreError, match="is not a uqkit store"):
            uqkit.Store(path)
    else:
        with pytest.raises(uqkit.StoreCorruptedError, match="corrupted") as info:
            uqkit.Store(path)
        assert ".recover" in str(info.value) and "uqkit store recover" in str(info.value)
    assert path.read_bytes() == before
    with pytest.raises(uqkit.StoreCorruptedError):
        uqkit.Runner(store=path)


def test_locked_store_is_not_reported_as_corrupt(tmp_path):
    path = tmp_path / "s.db"
    uqkit.Store(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        store = uqkit.Store(path, timeout=0.2)  # WAL: reading is possible while locked
        with pytest.raises(uqkit.StoreError) as info:
            store.check_study("s", {"n": 1})
        assert not isinstance(info.value, uqkit.StoreCorruptedError)
        assert "locked" in str(info.value) and "not corrupted" in str(info.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_store_from_newer_uqkit_is_refused(store_path):
    uqkit.Store(store_path).close()
    con = sqlite3.connect(store_path)
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(uqkit.StoreError, match="newer uqkit"):
        uqkit.Store(store_path)


def test_malicious_pickles_never_executed(tmp_path):
    """Security 5: a store whose every blob column holds a malicious pickle opens,
    lists, looks up and loads checkpoints without running it."""
    path = tmp_path / "s.db"
    sentinel = tmp_path / "pwned"
    _populate(path, n=4)

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    payload = pickle.dumps(Evil())
    con = sqlite3.connect(path)
    con.execute("UPDATE blocks SET x=?, y=?", (payload, payload))
    con.execute("INSERT INTO checkpoints VALUES ('c', ?, '{}', 0)", (payload,))
    con.execute("INSERT INTO claims VALUES ('k', 'm', 'o', 'h', 1, 0, ?)", (payload,))
    con.commit()
    con.close()
    store = uqkit.Store(path)
    store.summary()
    store.info()
    store.lookup([b"\0" * 32])
    with pytest.raises(Exception):  # noqa: B017 - any refusal is fine, execution is not
        store.to_dataframe()
    with pytest.raises(Exception):  # noqa: B017
        store.load_checkpoint("c")
    assert not sentinel.exists()


def test_no_pickle_loading_in_store_modules():
    """Security 5, as a lint: the store and config modules never unpickle."""
    import uqkit.runner._store as store_mod

    folder = os.path.dirname(store_mod.__file__)
    modules = [f for f in os.listdir(folder) if f.startswith("_store")]
    assert len(modules) >= 5
    for name in modules:
        src = open(os.path.join(folder, name)).read()
        for banned in ("pickle.load", "dill", "allow_pickle=True", "cloudpickle"):
            assert banned not in src, name


def test_checkpoints_round_trip(store_path):
    with uqkit.Store(store_path) as store:
        assert store.load_checkpoint("mcmc") is None
        arrays = {"coords": np.arange(12.0).reshape(3, 4), "step": np.array(7)}
        store.save_checkpoint("mcmc", arrays, {"state": [1, 2, 3], "big": 2**100})
        got, meta = store.load_checkpoint("mcmc")
        np.testing.assert_array_equal(got["coords"], arrays["coords"])
        assert int(got["step"]) == 7 and meta == {"state": [1, 2, 3], "big": 2**100}
        store.delete_checkpoint("mcmc")
        assert store.load_checkpoint("mcmc") is None


def test_changed_study_refused_extension_allowed(store_path):
    """A7: a changed seed/method/distribution is refused naming the field; n may grow."""
    spec = {"method": "saltelli_2010", "seed": 1, "n": 256,
            "parameters": {"a": {"dist": "Uniform", "low": 0.0, "high": 1.0}}}
    with uqkit.Store(store_path) as store:
        assert store.check_study("sobol", spec) is None
        assert store.check_study("sobol", spec) == json.loads(json.dumps(spec))
        for field, value in [("seed", 2), ("method", "jansen_1999"),
                             ("parameters", {"a": {"dist": "Uniform", "low": 0.0,
                                                   "high": 2.0}})]:
            with pytest.raises(uqkit.StudyMismatchError, match=f"{field}=") as info:
                store.check_study("sobol", {**spec, field: value})
            assert info.value.field == field
        store.check_study("sobol", {**spec, "n": 512})
        with pytest.raises(uqkit.StudyMismatchError, match="n="):
            store.check_study("sobol", {**spec, "n": 128})


UPSERT_WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    from uqkit.runner import Store, make_keys
    path, worker = sys.argv[1], int(sys.argv[2])
    store = Store(path)
    store.register_model({"id": "m", "name": "m", "version": None, "identity": "m"},
                         ["a", "b"], ["y"])
    X = np.column_stack([np.full(500, worker, float), np.arange(500.0)])
    keys = make_keys("m", X)
    for i in range(500):
        store.put_results("m", keys[i:i + 1], X[i:i + 1], X[i:i + 1, 1:], ["ok"],
                          attempts=[1], duration=None)
        if i % 50 == 0:  # a duplicate delivery of an earlier key must stay one row
            store.put_results("m", keys[:1], X[:1], X[:1, 1:], ["ok"], attempts=[1],
                              duration=None)
""")


def test_eight_processes_upsert_concurrently(tmp_path):
    """F2: 8 processes x 500 upserts: exactly 4000 rows, no duplicates, integrity ok;
    'database is locked' never reaches the user."""
    path = tmp_path / "s.db"
    uqkit.Store(path).close()
    script = tmp_path / "w.py"
    script.write_text(UPSERT_WORKER)
    procs = [start_python([script, path, w], stderr=subprocess.PIPE) for w in range(8)]
    errs = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errs
    with uqkit.Store(path) as store:
        assert store.integrity_check() == "ok"
        con = store.conn
        assert con.execute("SELECT count(*) FROM evaluations").fetchone()[0] == 4000
        assert con.execute("SELECT count(DISTINCT x) FROM evaluations").fetchone()[0] == 4000
        assert store.to_dataframe().key.nunique() == 4000


CRASH_WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    from uqkit.runner import Store, make_keys
    path = sys.argv[1]
    store = Store(path)
    store.register_model({"id": "m", "name": "m", "version": None, "identity": "m"},
                         ["a", "b"], ["y"])
    rng = np.random.default_rng(int(sys.argv[2]))
    X = rng.random((200, 2))
    keys = make_keys("m", X)
    for i in range(200):
        store.put_results("m", keys[i:i + 1], X[i:i + 1], X[i:i + 1, :1] * 2, ["ok"],
                          attempts=[1], duration=None)
        print(keys[i].hex(), flush=True)  # acknowledged: the commit returned
""")


def test_kill_inside_commit(tmp_path):
    """A3: os._exit(9) between writing and committing, at 20 points: integrity ok,
    no partial rows, every acknowledged result present."""
    script = tmp_path / "w.py"
    script.write_text(CRASH_WORKER)
    path = tmp_path / "s.db"
    uqkit.Store(path).close()  # the schema exists; the crash hook counts result commits
    acked: set[str] = set()
    rng = np.random.default_rng(2024)
    for trial in range(20):
        k = int(rng.integers(1, 40))
        out = subprocess.run([sys.executable, str(script), str(path), str(trial)],
                             env=subprocess_env(UQKIT_TEST_CRASH_BEFORE_COMMIT=str(k)),
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 9
        acked |= set(out.stdout.split())
        with uqkit.Store(path) as store:
            assert store.integrity_check() == "ok"
            rows = store.conn.execute("SELECT x, y, status FROM evaluations").fetchall()
            present = set()
            for x, y, status in rows:  # no partial rows
                assert status == "ok" and len(x) == 16 and len(y) == 8
                xs = np.frombuffer(x, "<f8")
                assert np.frombuffer(y, "<f8")[0] == xs[0] * 2
                present.add(make_keys("m", xs[None, :])[0].hex())
            assert acked <= present
            assert present == set(store.to_dataframe().key)
    assert len(acked) >= 20


def test_summary_keeps_models_with_the_same_name_apart(store_path):
    """Two models sharing a name (different versions) are counted separately."""
    runner = uqkit.Runner(store=store_path)
    runner.evaluate(uqkit.as_model(lambda a: a, name="sim", version="1"), [[1.0], [2.0]])
    runner.evaluate(uqkit.as_model(lambda a: a, name="sim", version="2"), [[1.0]])
    summary = runner.store.summary()
    assert summary.loc["sim (version 1)", "ok"] == 2
    assert summary.loc["sim (version 2)", "ok"] == 1
