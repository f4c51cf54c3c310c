"""Runner behaviour: caching, failure policies, retries, breaker, executors
(RELIABILITY B1, B2, B3, B7, D1, D2, D7, E7, I7 for Python callables)."""

import concurrent.futures as cf
import math
import struct

import numpy as np
import pytest
from _toy import ToyModel, input_hash, log_lines

import uqkit


@pytest.fixture
def design():
    _, params, _ = uqkit.examples.ishigami()
    return params.sample(64, rng=3)


def test_evaluate_matches_direct_call_and_caches(tmp_path, design):
    log = tmp_path / "calls.log"
    model = ToyModel(log)
    runner = uqkit.Runner(store=tmp_path / "s.db")
    ev = runner.evaluate(model, design)
    np.testing.assert_array_equal(ev.Y, ToyModel(tmp_path / "other.log")(design))
    assert ev.n_new == 64 and ev.n_cached == 0 and ev.ok.all() and len(log_lines(log)) == 64
    # I7: an identical rerun makes 0 model calls and gives identical results
    again = uqkit.Runner(store=tmp_path / "s.db").evaluate(model, design)
    assert again.n_new == 0 and again.n_cached == 64 and len(log_lines(log)) == 64
    np.testing.assert_array_equal(again.Y, ev.Y)
    assert again.keys == ev.keys


def test_duplicate_rows_evaluated_once(tmp_path):
    model = ToyModel(tmp_path / "calls.log")
    X = np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [-0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    ev = uqkit.evaluate(model, X)
    assert len(log_lines(tmp_path / "calls.log")) == 2
    assert ev.n_new == 2 and ev.n_cached == 2
    assert ev.Y[0, 0] == ev.Y[1, 0] and ev.Y[2, 0] == ev.Y[3, 0]


def test_failures_recorded_per_policy(tmp_path, design):
    """B1 for callables: the failures table holds exactly the failing inputs."""
    model = ToyModel(tmp_path / "calls.log", fault="fail10")
    failing = {i for i, row in enumerate(design) if input_hash(row) % 10 == 0}
    assert 2 <= len(failing) <= 20
    runner = uqkit.Runner(store=tmp_path / "s.db", on_failure="skip")
    ev = runner.evaluate(model, design)
    assert set(np.flatnonzero(~ev.ok)) == failing and ev.n_failed == len(failing)
    assert np.isnan(ev.Y[~ev.ok]).all() and np.isfinite(ev.Y[ev.ok]).all()
    fails = runner.store.to_dataframe(failures=True)
    assert len(fails) == len(failing)
    assert set(fails["error_type"]) == {"RuntimeError"}
    assert fails["message"].str.startswith("injected failure").all()
    assert fails["traceback"].str.contains("RuntimeError").all()
    assert (fails["attempt"] == 1).all() and fails["host"].notna().all()
    stored = runner.store.to_dataframe(model)
    assert sorted(stored.status.value_counts().items()) == [
        ("failed", len(failing)), ("ok", 64 - len(failing))]
    failed_x = stored.loc[stored.status == "failed", ["x1", "x2", "x3"]].to_numpy()
    expected = design[sorted(failing)]
    assert sorted(map(tuple, failed_x)) == sorted(map(tuple, expected))
    # "nan" keeps the rows as NaN, flagged and counted
    ev_nan = uqkit.Runner(on_failure="nan").evaluate(model, design)
    assert ev_nan.n_failed == len(failing) and np.isnan(ev_nan.Y[~ev_nan.ok]).all()


def test_raise_stores_earlier_results_and_names_row(tmp_path, design):
    model = ToyModel(tmp_path / "calls.log", fault="fail10")
    first_bad = next(i for i, row in enumerate(design) if input_hash(row) % 10 == 0)
    runner = uqkit.Runner(store=tmp_path / "s.db")
    with pytest.raises(uqkit.ModelEvaluationError) as info:
        runner.evaluate(model, design)
    err = info.value
    assert err.row == first_bad and err.kind == "exception"
    assert err.inputs == dict(zip(model.inputs, design[first_bad].tolist()))
    assert f"row {first_bad}" in str(err) and "injected failure" in str(err)
    summary = runner.store.summary()
    assert summary.loc["toy", "ok"] == first_bad and summary.loc["toy", "failed"] == 1


def test_transient_failures_retried(tmp_path, design):
    """B2 for callables: retries=2 makes every input succeed with 2 attempts recorded."""
    markers = tmp_path / "markers"
    markers.mkdir()
    model = ToyModel(tmp_path / "calls.log", fault="transient", marker_dir=str(markers))
    runner = uqkit.Runner(store=tmp_path / "s.db", retries=2, retry_backoff=0.001)
    ev = runner.evaluate(model, design[:10])
    assert ev.ok.all() and ev.n_attempts == 20
    df = runner.store.to_dataframe(model)
    assert (df.attempts == 2).all()
    assert len(runner.store.to_dataframe(failures=True)) == 10
    # without retries, they are recorded as failures
    markers2 = tmp_path / "markers2"
    markers2.mkdir()
    model2 = ToyModel(tmp_path / "calls2.log", fault="transient", marker_dir=str(markers2),
                      name="toy2")
    ev2 = uqkit.Runner(store=tmp_path / "s.db", on_failure="skip",
                       max_consecutive_failures=20).evaluate(model2, design[:10])
    assert ev2.n_failed == 10


class _Interrupting:
    inputs = ("a",)
    outputs = ("y",)

    def __init__(self, exc):
        self.exc = exc

    def __call__(self, X):
        if X[0, 0] > 0.5:
            raise self.exc
        return X


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3)])
def test_interrupts_are_not_swallowed(tmp_path, exc):
    """B3: KeyboardInterrupt and SystemExit propagate; they are not model failures."""
    runner = uqkit.Runner(store=tmp_path / "s.db", on_failure="skip")
    with pytest.raises(type(exc)):
        runner.evaluate(_Interrupting(exc), [[0.1], [0.9], [0.2]])
    info = runner.store.info()
    assert info["failed_attempts"] == 0 and info["running_claims"] == 0
    df = runner.store.to_dataframe()
    assert list(df.status) == ["ok"]


def test_exception_type_message_traceback_stored(tmp_path):
    """B3: type, message and traceback per evaluation."""
    def bad(a):
        raise ZeroDivisionError(f"cannot divide {a}")

    runner = uqkit.Runner(store=tmp_path / "s.db", on_failure="skip")
    runner.evaluate(uqkit.as_model(bad), [[1.0], [2.0]])
    fails = runner.store.to_dataframe(failures=True)
    assert list(fails.error_type) == ["ZeroDivisionError"] * 2
    assert set(fails.message) == {"cannot divide 1.0", "cannot divide 2.0"}
    assert fails.traceback.str.contains("in bad").all()


def test_circuit_breaker_stops_all_failing_study(tmp_path, design):
    """B7: stops after K consecutive failures, no endless loop."""
    log = tmp_path / "calls.log"
    runner = uqkit.Runner(on_failure="skip", max_consecutive_failures=5, retries=1,
                          retry_backoff=0.0)
    with pytest.raises(uqkit.ModelEvaluationError, match="Circuit breaker: 5 consecutive"):
        runner.evaluate(ToyModel(log, fault="all"), design)
    assert len(log_lines(log)) == 10  # 5 inputs x (1 + 1 retry), then it stops
    with pytest.raises(ValueError, match="max_consecutive_failures"):
        uqkit.Runner(max_consecutive_failures=0)


def test_nonfinite_outputs_marked_and_kept(tmp_path, design):
    """D1/D2: marked nonfinite, raw value kept, stored (not NULL), excluded from ok."""
    def f(a):
        return {0: math.nan, 1: math.inf, 2: -math.inf}.get(int(a), a)

    runner = uqkit.Runner(store=tmp_path / "s.db", on_failure="skip")
    model = uqkit.as_model(f)
    ev = runner.evaluate(model, [[0.0], [1.0], [2.0], [3.0]])
    assert list(ev.status) == ["nonfinite"] * 3 + ["ok"]
    assert list(ev.ok) == [False, False, False, True]
    assert np.isnan(ev.Y[0, 0]) and ev.Y[1, 0] == math.inf and ev.Y[2, 0] == -math.inf
    again = uqkit.Runner(store=tmp_path / "s.db", on_failure="skip").evaluate(
        model, [[0.0], [1.0], [2.0], [3.0]])
    assert again.n_new == 0 and list(again.status) == list(ev.status)
    assert again.Y[1, 0] == math.inf and np.isnan(again.Y[0, 0])
    accepted = uqkit.Runner(allow_nonfinite=True).evaluate(model, [[1.0]])
    assert accepted.ok.all()
    with pytest.raises(uqkit.ModelEvaluationError, match="non-finite"):
        uqkit.Runner().evaluate(model, [[0.0]])


EXTREMES = [5e-324, 1.7976931348623157e308, -0.0, 0.1 + 0.2, -5e-324, 2.0**-1074 * 3]


def test_extreme_values_round_trip_bit_exactly(tmp_path):
    """D7 (and F7 for outputs): extreme values survive the store bit for bit."""
    model = uqkit.as_model(lambda a: (a, -a, a * 0.5), outputs=("p", "q", "r"))
    X = np.array([[v] for v in EXTREMES])
    uqkit.Runner(store=tmp_path / "s.db").evaluate(model, X)
    ev = uqkit.Runner(store=tmp_path / "s.db").evaluate(model, X)
    assert ev.n_new == 0
    bits = lambda v: struct.pack("<d", v)
    direct = model(X)
    for got, want in zip(ev.Y.ravel(), direct.ravel()):
        assert bits(got) == bits(want)
    df = uqkit.Store(tmp_path / "s.db").to_dataframe(model)
    assert {bits(v) for v in df["p"]} >= {bits(v) for v in EXTREMES if v != -0.0}


def test_points_outside_support(tmp_path):
    """E7: rejected before any call, or marked invalid on request."""
    params = uqkit.Parameters(a=uqkit.Uniform(0, 1))
    log = tmp_path / "c.log"

    def f(a):
        with open(log, "a") as fh:
            fh.write("x\n")
        return a

    model = uqkit.as_model(f)
    with pytest.raises(ValueError, match="support"):
        uqkit.evaluate(model, [[0.5], [1.5]], parameters=params)
    assert not log.exists()
    ev = uqkit.evaluate(model, [[0.5], [1.5]], parameters=params, on_invalid="mark")
    assert list(ev.status) == ["ok", "invalid"] and len(log_lines(log)) == 1


@pytest.mark.parametrize("kwargs, arg", [
    ({"on_failure": "ignore"}, "on_failure"), ({"retries": -1}, "retries"),
    ({"batch_size": 0}, "batch_size"), ({"executor": "gpu"}, "executor"),
    ({"executor": 0}, "executor"), ({"progress": "yes"}, "progress"),
    ({"store": 3}, "store"), ({"executor": object()}, "executor"),
])
def test_bad_runner_arguments(kwargs, arg, tmp_path):
    with pytest.raises(ValueError, match=f"'{arg}'"):
        uqkit.Runner(**kwargs)
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_fail_before_any_call(tmp_path):
    log = tmp_path / "calls.log"
    model = ToyModel(log)
    for X, msg in [([[1.0, 2.0]], "3 columns"), ([[1.0, np.nan, 2.0]], "finite"),
                   ([["a", "b", "c"]], "real-valued"), (np.ones((2, 3, 1)), "2-D")]:
        with pytest.raises(ValueError, match=msg):
            uqkit.evaluate(model, X, store=tmp_path / "s.db")
    assert not log.exists()


def test_vectorized_batches(tmp_path):
    calls = []

    def f(X):
        calls.append(len(X))
        return X.sum(axis=1)

    model = uqkit.as_model(f, inputs=("a", "b"), vectorized=True)
    X = np.random.default_rng(0).random((100, 2))
    uqkit.evaluate(model, X)
    assert calls == [100]
    calls.clear()
    ev = uqkit.evaluate(model, X + 1, batch_size=30)
    assert calls == [30, 30, 30, 10] and ev.n_new == 100


def test_failed_vectorized_batch_is_bisected(tmp_path):
    def f(X):
        if (X[:, 0] > 0.95).any():
            raise ValueError("bad row in batch")
        return X[:, 0]

    model = uqkit.as_model(f, inputs=("a",), vectorized=True)
    X = np.linspace(0, 1, 64)[:, None]
    ev = uqkit.evaluate(model, X, on_failure="skip")
    assert set(np.flatnonzero(~ev.ok)) == set(np.flatnonzero(X[:, 0] > 0.95))


@pytest.mark.parametrize("executor", [2, "threads"])
def test_pools_give_same_results(tmp_path, design, executor):
    log = tmp_path / "calls.log"
    model = ToyModel(log, fault="fail10")
    serial = uqkit.evaluate(model, design, on_failure="skip")
    with uqkit.Runner(executor=executor, on_failure="skip", store=tmp_path / "s.db") as runner:
        par = runner.evaluate(model, design)
    np.testing.assert_array_equal(par.Y, serial.Y)
    np.testing.assert_array_equal(par.ok, serial.ok)


def test_process_pool_runs_lambdas_and_survives_worker_death(tmp_path):
    """Lambdas travel by cloudpickle; a crashing input kills its worker, is recorded as
    worker_died, and innocent inputs in flight at the time are not blamed."""
    model = ToyModel(tmp_path / "calls.log", fault="exit10")
    _, params, _ = uqkit.examples.ishigami()
    X = params.sample(40, rng=5)
    bad = {i for i, row in enumerate(X) if input_hash(row) % 10 == 0}
    assert bad
    with uqkit.Runner(executor=2, on_failure="skip") as runner:
        ev = runner.evaluate(model, X)
        assert set(np.flatnonzero(~ev.ok)) == bad
        assert all(ev.errors[i].startswith("worker_died") for i in bad)
        lam = runner.evaluate(uqkit.as_model(lambda a, b: a * b), [[2.0, 3.0], [4.0, 5.0]])
    np.testing.assert_array_equal(lam.Y.ravel(), [6.0, 20.0])


def test_user_executor_not_shut_down(design, tmp_path):
    with cf.ThreadPoolExecutor(2) as pool:
        runner = uqkit.Runner(executor=pool)
        runner.evaluate(ToyModel(tmp_path / "a.log"), design[:4])
        runner.close()
        assert pool.submit(lambda: 5).result() == 5


def test_evaluations_dataframe_and_repr(design, tmp_path):
    ev = uqkit.evaluate(ToyModel(tmp_path / "a.log"), design[:5], store=tmp_path / "s.db")
    df = ev.to_dataframe()
    assert list(df.columns[:4]) == ["x1", "x2", "x3", "y"] and len(df) == 5
    assert "5 new" in repr(ev) and "<table>" in ev._repr_html_()


def test_changed_implementation_warns_on_reuse(tmp_path):
    """A8 for callables: same name and version, different code: uqkit warns, never silently
    reuses; bumping the version recomputes."""
    def make(offset):
        ns = {}
        exec(f"def sim(a):\n    return a + {offset}\n", ns)  # same qualname, other code
        return ns["sim"]

    store = tmp_path / "s.db"
    uqkit.evaluate(uqkit.as_model(make(1), name="sim", version="1"), [[1.0]], store=store)
    with pytest.warns(uqkit.UQKitWarning, match="changed"):
        ev = uqkit.evaluate(uqkit.as_model(make(2), name="sim", version="1"), [[1.0]],
                            store=store)
    assert ev.n_new == 0
    ev2 = uqkit.evaluate(uqkit.as_model(make(2), name="sim", version="2"), [[1.0]],
                         store=store)
    assert ev2.n_new == 1 and ev2.Y[0, 0] == 3.0


def test_progress_bar_runs(capsys, design, tmp_path):
    ev = uqkit.Runner(progress=True).evaluate(ToyModel(tmp_path / "a.log"), design[:8])
    assert ev.ok.all()
    assert "evaluating toy" in capsys.readouterr().err
