"""CommandModel through the Runner and Store: failures table, retries, process pools
(RELIABILITY B1, B2, A8-style identity, one model call per invocation)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import uqkit
from uqkit import parsers

FAKESIM = Path(__file__).parent / "fakesim"
SIM = str(FAKESIM / "sim.py")
IN_JSON = '{"a": {{ a }}, "b": {{b}}, "fault": {{ fault }}}'


@pytest.fixture
def sim(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("FAKESIM_LOG", str(log))
    monkeypatch.setenv("FAKESIM_STATE", str(state))
    model = uqkit.CommandModel(
        [sys.executable, SIM], inputs=["a", "b", "fault"], outputs=["y1", "y2"],
        files={"in.json": IN_JSON}, parse=parsers.json("out.json", keys=["y1", "y2"]),
        workdir=tmp_path / "study", keep="none")
    model.calls = lambda: len(log.read_text().splitlines()) if log.exists() else 0
    return model


def _hash_fails(a: float) -> bool:
    return int(hashlib.sha256(repr(a).encode()).hexdigest(), 16) % 10 == 0


def test_b1_failures_table_records_exactly_the_failing_inputs(sim, tmp_path):
    a = np.round(np.linspace(0.0, 1.0, 40), 6)
    X = np.column_stack([a, np.ones_like(a), np.full_like(a, 12)])
    failing = {float(v) for v in a if _hash_fails(float(v))}
    assert 0 < len(failing) < 15
    store = uqkit.Store(tmp_path / "store.sqlite")
    with uqkit.Runner(executor=2, store=store, on_failure="nan",
                      max_consecutive_failures=100) as runner:
        ev = runner.evaluate(sim, X)
    assert ev.n_failed == len(failing)
    assert {float(x) for x in ev.X[~ev.ok, 0]} == failing
    np.testing.assert_array_equal(ev.Y[ev.ok, 0], ev.X[ev.ok, 0] + 1.0)
    assert np.isnan(ev.Y[~ev.ok]).all()
    df = store.to_dataframe(failures=True)
    assert len(df) == len(failing)
    for _, row in df.iterrows():
        assert row["kind"] == "nonzero_exit"
        assert row["details"]["returncode"] == 4
        assert "hash fault" in row["details"]["stderr_tail"]
        assert row["duration"] > 0 and row["host"]
        assert row["attempt"] == 1
    assert sim.calls() == len(a)
    # a rerun makes no model call for the stored successes
    with uqkit.Runner(store=store, on_failure="nan") as runner:
        again = runner.evaluate(sim, X[ev.ok])
    assert again.n_new == 0 and sim.calls() == len(a)
    store.close()


def test_b1_raise_names_the_row_and_stderr_tail(sim):
    X = [[0.5, 1.0, 0], [0.25, 1.0, 1]]
    with pytest.raises(uqkit.ModelEvaluationError, match="diverged at step 17") as info:
        uqkit.Runner().evaluate(sim, X)
    assert info.value.row == 1 and info.value.kind == "nonzero_exit"
    assert info.value.details["returncode"] == 3


@pytest.mark.parametrize("retries,ok", [(2, True), (0, False)])
def test_b2_transient_failure_retried(sim, tmp_path, retries, ok):
    X = np.array([[0.1 * i, 1.0, 10] for i in range(1, 5)])
    store = uqkit.Store(tmp_path / f"s{retries}.sqlite")
    with uqkit.Runner(store=store, retries=retries, on_failure="nan", retry_backoff=0.01) as r:
        ev = r.evaluate(sim, X)
    assert bool(ev.ok.all()) is ok
    df = store.to_dataframe(failures=True)
    assert len(df) == 4 and set(df["kind"]) == {"nonzero_exit"}
    evals = store.to_dataframe()
    if ok:
        assert list(evals["attempts"]) == [2, 2, 2, 2]
        assert sim.calls() == 8
    else:
        assert (evals["status"] == "failed").all() and sim.calls() == 4
    store.close()


def test_signal_and_missing_output_recorded_not_as_success(sim):
    X = [[1.0, 1.0, 2], [1.0, 2.0, 3], [1.0, 3.0, 7], [1.0, 4.0, 0]]
    ev = uqkit.Runner(on_failure="nan").evaluate(sim, X)
    assert list(ev.status) == ["failed", "failed", "failed", "ok"]
    assert "signal" in ev.errors[0] and "signal" in ev.errors[1]
    assert "missing_output" in ev.errors[2]


def test_nan_output_is_nonfinite_by_default(sim):
    ev = uqkit.Runner(on_failure="nan").evaluate(sim, [[1.0, 2.0, 5]])
    assert list(ev.status) == ["nonfinite"] and ev.Y[0, 0] == 3.0


def test_process_pool_evaluates_every_row_once(sim):
    X = np.column_stack([np.arange(12) / 4, np.arange(12) / 8, np.zeros(12)])
    with uqkit.Runner(executor=2) as runner:
        ev = runner.evaluate(sim, X)
    np.testing.assert_array_equal(ev.Y[:, 0], X[:, 0] + X[:, 1])
    np.testing.assert_array_equal(ev.Y[:, 1], X[:, 0] * X[:, 1])
    pids = {json.loads(ln)["pid"] for ln in (Path(sim.workdir).parent / "calls.log")
            .read_text().splitlines()}
    assert sim.calls() == 12 and len(pids) == 12


def test_changed_simulator_is_not_served_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKESIM_LOG", str(tmp_path / "calls.log"))
    script = tmp_path / "sim.py"
    script.write_text((FAKESIM / "sim.py").read_text())
    kw = dict(inputs=["a", "b", "fault"], outputs=["y1", "y2"], files={"in.json": IN_JSON},
              parse=parsers.json("out.json"), workdir=tmp_path / "w")
    store = uqkit.Store(tmp_path / "store.sqlite")
    runner = uqkit.Runner(store=store)
    X = [[1.0, 2.0, 0]]
    assert runner.evaluate(uqkit.CommandModel([sys.executable, str(script)], **kw), X).n_new == 1
    assert runner.evaluate(uqkit.CommandModel([sys.executable, str(script)], **kw), X).n_new == 0
    script.write_text(script.read_text().replace('"y1": a + b', '"y1": a + b + 1'))
    ev = runner.evaluate(uqkit.CommandModel([sys.executable, str(script)], **kw), X)
    assert ev.n_new == 1 and ev.Y[0, 0] == 4.0
    store.close()


@pytest.mark.slow
def test_dask_workers_on_loopback(sim):
    """Security 4 as it concerns simulators: CommandModel runs on a Dask cluster that binds
    loopback only, with no dashboard (uqkit itself never starts a cluster)."""
    distributed = pytest.importorskip("distributed")
    import logging

    logging.getLogger("distributed").setLevel(logging.ERROR)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None, processes=True) as cluster, \
            distributed.Client(cluster) as client:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert all(w.startswith("tcp://127.0.0.1:") for w in client.scheduler_info()["workers"])
        X = np.column_stack([np.arange(6.0), np.ones(6), np.zeros(6)])
        ev = uqkit.Runner(executor=client).evaluate(sim, X)
    np.testing.assert_array_equal(ev.Y[:, 0], X[:, 0] + 1)
    assert sim.calls() == 6
