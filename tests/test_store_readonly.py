"""Read-only stores (a read-only mount, an immutable file): opened read-only, readable by
`uqkit store info`, `uqkit report` and fully cached designs; a write says read-only."""

import gc
import os
import shutil
import subprocess

import numpy as np
import pytest

import uqkit
from uqkit.cli import main


def _model():
    return uqkit.as_model(lambda X: X[:, :1] * 2 + X[:, 1:], inputs=("a", "b"),
                          vectorized=True, name="lin")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished `uqkit run` study (report kept in the store) plus a cached design."""
    from test_cli import TOY_STUDY

    folder = tmp_path_factory.mktemp("study")
    os.environ.setdefault("UQKIT_TEST_SLEEP", "0")
    (folder / "study.toml").write_text(TOY_STUDY.replace("n = 32", "n = 8"), encoding="utf-8")
    assert main(["run", "-q", str(folder / "study.toml")]) == 0
    X = np.random.default_rng(0).random((50, 2))
    with uqkit.Store(folder / "toy.db") as store:
        uqkit.Runner(store=store).evaluate(_model(), X)
    return folder / "toy.db", X


def _check_read_only(path, X, tmp_path, capsys):
    with uqkit.Store(path) as store:
        assert store.readonly
        assert store.info()["evaluations"] > 50 and len(store.to_dataframe()) > 50
    capsys.readouterr()
    assert main(["store", "info", str(path)]) == 0
    out = capsys.readouterr()
    assert "integrity ok" in out.out and "corrupted" not in out.out + out.err
    assert main(["report", str(path), "-o", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").exists()
    ev = uqkit.Runner(store=path).evaluate(_model(), X)  # fully cached: works
    assert ev.n_cached == 50 and ev.ok.all()
    with pytest.raises(uqkit.StoreError, match="read-only") as info:
        uqkit.Runner(store=path).evaluate(_model(), X + 1.0)
    assert not isinstance(info.value, uqkit.StoreCorruptedError)
    with uqkit.Store(path) as store, pytest.raises(uqkit.StoreError, match="read-only"):
        store.save_checkpoint("x", {"a": np.zeros(1)})


def test_store_on_a_read_only_mount(finished, tmp_path, capsys):
    src = tmp_path / "src"
    mnt = tmp_path / "mnt"
    src.mkdir()
    mnt.mkdir()
    shutil.copy(finished[0], src / "toy.db")
    ok = subprocess.run(["mount", "--bind", str(src), str(mnt)], capture_output=True)
    if ok.returncode:
        pytest.skip(f"cannot bind-mount ({ok.stderr.decode().strip()})")
    try:
        ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(mnt)], capture_output=True)
        if ro.returncode:
            pytest.skip(f"cannot remount read-only ({ro.stderr.decode().strip()})")
        _check_read_only(mnt / "toy.db", finished[1], tmp_path, capsys)
    finally:
        gc.collect()  # close connections of stores a failed assertion left open
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_immutable_store_file(finished, tmp_path, capsys):
    path = tmp_path / "toy.db"
    shutil.copy(finished[0], path)
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available on this filesystem")
    try:
        _check_read_only(path, finished[1], tmp_path, capsys)
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def test_read_only_logic_without_privileges(finished, tmp_path, monkeypatch, capsys):
    """The same, with the store's file reported as not writable (any user, any OS)."""
    from uqkit.runner import _store_db

    path = tmp_path / "toy.db"
    shutil.copy(finished[0], path)
    real = os.access
    monkeypatch.setattr(_store_db.os, "access", lambda p, mode, **kw: False if (
        mode & os.W_OK and str(p) in (str(path), str(tmp_path))) else real(p, mode, **kw))
    _check_read_only(path, finished[1], tmp_path / "out", capsys)
