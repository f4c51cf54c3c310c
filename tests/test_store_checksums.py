"""A damaged store never serves wrong values (RELIABILITY F5): block checksums, the
quick check on open, `uqkit store check|recover`, StoreError instead of raw sqlite3
errors, and the migration of schema-2 stores."""

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import uqkit
from uqkit.cli import main

V2 = Path(__file__).parent / "reference" / "store_v2.db"


def _model():
    return uqkit.as_model(lambda X: (X[:, :1] + 2 * X[:, 1:2]) * X[:, 2:3],
                          inputs=("a", "b", "c"), vectorized=True, name="lin")


def _design(n=20_000):
    return np.random.default_rng(7).random((n, 3))


def _evaluate_or_store_error(path, X, **store_args):
    """Rerun on a damaged store: a StoreError (never a raw sqlite3 error) or results."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", uqkit.StoreCorruptedWarning)
        try:
            return uqkit.Runner(store=uqkit.Store(path, **store_args)).evaluate(_model(), X)
        except uqkit.StoreError as exc:
            return exc


@pytest.mark.parametrize("seed", [0, 1])
def test_scattered_random_spans_never_serve_wrong_values(tmp_path, seed):
    """20 scattered 64-byte spans of random bytes in a 20,000-row store: a rerun either
    refuses the store with a StoreError naming the damage, or serves only right values."""
    path = tmp_path / "s.db"
    X = _design()
    truth = _model()(X)
    uqkit.Runner(store=path).evaluate(_model(), X)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    for at in rng.choice(np.arange(4096, len(data) - 64), size=20, replace=False):
        data[at:at + 64] = rng.bytes(64)
    path.write_bytes(bytes(data))
    got = _evaluate_or_store_error(path, X)
    if isinstance(got, uqkit.StoreError):
        assert "corrupted" in str(got) and "uqkit store recover" in str(got)
        # recovery copies every verifiable row; the rerun evaluates the rest
        dst = tmp_path / "recovered.db"
        assert main(["store", "recover", str(path), str(dst)]) == 0
        got = uqkit.Runner(store=dst).evaluate(_model(), X)
        assert got.n_cached > 10_000  # the blocks the spans hit are lost, the rest copied
    assert got.ok.all()
    np.testing.assert_array_equal(got.Y, truth)


def test_garbage_mid_file_is_a_store_error_everywhere(tmp_path, capsys):
    path = tmp_path / "s.db"
    X = _design(5000)
    uqkit.Runner(store=path).evaluate(_model(), X)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4096] = np.random.default_rng(0).bytes(4096)
    path.write_bytes(bytes(data))
    got = _evaluate_or_store_error(path, X)
    if not isinstance(got, uqkit.StoreError):
        np.testing.assert_array_equal(got.Y, _model()(X))
    capsys.readouterr()
    assert main(["store", "info", str(path)]) in (0, 1)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert main(["store", "check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "uqkit store recover" in out
    assert main(["report", str(path)]) in (1,)
    assert "Traceback" not in capsys.readouterr().err


def test_damaged_block_rows_are_named_and_evaluated_again(tmp_path, capsys):
    path = tmp_path / "s.db"
    X = _design(2000)
    uqkit.Runner(store=path).evaluate(_model(), X)
    con = sqlite3.connect(path)  # one flipped output bit in the first block
    (y,) = con.execute("SELECT y FROM blocks ORDER BY id LIMIT 1").fetchone()
    y = bytearray(y)
    y[8] ^= 1
    con.execute("UPDATE blocks SET y=? WHERE id=(SELECT min(id) FROM blocks)", (bytes(y),))
    con.commit()
    con.close()
    with pytest.raises(uqkit.StoreCorruptedError, match="rows stored in") as info:
        uqkit.Runner(store=uqkit.Store(path, on_corrupt="raise")).evaluate(_model(), X)
    n_bad = len(info.value.keys)
    assert 0 < n_bad < 2000
    with pytest.warns(uqkit.StoreCorruptedWarning, match=f"{n_bad} rows stored in"):
        ev = uqkit.Runner(store=path).evaluate(_model(), X)
    assert ev.n_new == n_bad
    np.testing.assert_array_equal(ev.Y, _model()(X))
    with uqkit.Store(path) as store:
        assert store.check()["damaged_blocks"] == [1]  # the old block stays as history
        assert len(store.to_dataframe()) == 2000  # the index points at the new rows
    capsys.readouterr()
    assert main(["store", "info", "--check", str(path)]) == 0
    assert "1 of" in capsys.readouterr().out  # "1 of N blocks fail their checksum"
    assert main(["store", "check", str(path)]) == 1


def test_store_info_on_a_file_that_is_not_a_store(tmp_path, capsys):
    path = tmp_path / "notes.db"
    path.write_text("hello, these are my notes\n" * 20)
    assert main(["store", "info", str(path)]) == 1
    err = capsys.readouterr().err
    assert "is not a uqkit store" in err and "corrupted" not in err


def test_schema_2_store_is_migrated_with_checksums(tmp_path):
    path = tmp_path / "v2.db"
    shutil.copy(V2, path)
    con = sqlite3.connect(path)
    old = sorted(con.execute("SELECT x, y, status, attempts FROM evaluations").fetchall())
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("2",)
    con.close()
    with uqkit.Store(path) as store:
        assert store.info()["schema_version"] == 3
        report = store.check()
        assert report["ok"] and report["blocks"] >= 4 and not report["damaged_blocks"]
        assert store.load_checkpoint("mcmc")[1] == {"step": 3}
        assert store.conn.execute("SELECT count(*) FROM blocks WHERE crc IS NULL"
                                  ).fetchone()[0] == 0
    con = sqlite3.connect(path)
    new = sorted(con.execute("SELECT x, y, status, attempts FROM evaluations").fetchall())
    con.close()
    assert new == old  # bit-exact, -0.0 and 5e-324 included
    # cache keys did not change: the Ishigami rows are served, not evaluated again
    model, params, _ = uqkit.examples.ishigami()
    ev = uqkit.Runner(store=path).evaluate(model, params.sample(16, rng=0))
    assert ev.n_cached == 16 and ev.n_new == 0
