"""The circuit breaker (RELIABILITY B7): it trips on a model a user would call broken,
not on scattered failures of a vectorized batch, nor on known failures retried by a rerun."""

import numpy as np
import pytest
from _toy import ToyModel, log_lines

import uqkit


def _scattered_nan(n_bad, n):
    bad = np.random.default_rng(0).choice(n, size=n_bad, replace=False)
    bad = set(bad.tolist())

    def f(X):
        y = X.sum(axis=1)
        rows = np.array([i in bad for i in np.round(X[:, 0] * n).astype(int)])
        return np.where(rows, np.nan, y)

    X = np.column_stack([np.arange(n) / n, np.ones(n), np.zeros(n)])
    return uqkit.as_model(f, inputs=("a", "b", "c"), vectorized=True, name="scattered"), X


def test_scattered_nan_rows_of_one_vectorized_batch_do_not_trip():
    """20 of 1,000 non-adjacent rows NaN, in process, skip: one evaluation of 1,000 rows."""
    model, X = _scattered_nan(20, 1000)
    ev = uqkit.Runner(on_failure="skip").evaluate(model, X)
    assert ev.n_failed == 20 and ev.ok.sum() == 980


def test_scattered_failures_through_a_store_do_not_trip(tmp_path):
    model, X = _scattered_nan(100, 1000)  # 10 % of the design fails
    ev = uqkit.Runner(store=tmp_path / "s.db", on_failure="nan").evaluate(model, X)
    assert ev.n_failed == 100


def test_rerun_with_known_failures_does_not_trip(tmp_path):
    """A rerun retries the stored failures (all failing again, one after another): they
    are reported as before and are no new evidence against the study."""
    log = tmp_path / "calls.log"
    model = ToyModel(log, fault="fail10")
    _, params, _ = uqkit.examples.ishigami()
    X = params.sample(80, rng=0)
    runner = uqkit.Runner(store=tmp_path / "s.db", on_failure="skip", max_consecutive_failures=5)
    first = runner.evaluate(model, X)
    assert first.n_failed > 5
    calls = len(log_lines(log))
    again = uqkit.Runner(store=tmp_path / "s.db", on_failure="skip",
                         max_consecutive_failures=5).evaluate(model, X)
    assert again.n_failed == first.n_failed  # retried once each, reported as before
    assert len(log_lines(log)) == calls + first.n_failed
    np.testing.assert_array_equal(again.ok, first.ok)
    assert set(again.errors) == set(first.errors)


def test_rerun_of_vectorized_known_failures_does_not_trip(tmp_path):
    model, X = _scattered_nan(30, 300)
    for _ in range(2):
        ev = uqkit.Runner(store=tmp_path / "s.db", on_failure="skip").evaluate(model, X)
        assert ev.n_failed == 30


def test_broken_model_still_trips_with_a_clear_message(tmp_path):
    log = tmp_path / "calls.log"
    _, params, _ = uqkit.examples.ishigami()
    with pytest.raises(uqkit.ModelEvaluationError,
                       match=r"Circuit breaker: 10 consecutive evaluations .* failed"):
        uqkit.Runner(store=tmp_path / "s.db", on_failure="skip").evaluate(
            ToyModel(log, fault="all"), params.sample(50, rng=0))
    assert len(log_lines(log)) == 10


def test_vectorized_batches_that_fail_almost_entirely_trip():
    """A batch counts as one failed evaluation when (nearly) all its rows fail."""
    model = uqkit.as_model(  # 19 of every 20 rows fail
        lambda X: np.where(np.round(X[:, 0] * 400) % 20 == 0, X[:, 0], np.nan),
        inputs=("a",), vectorized=True, name="mostly_nan")
    X = np.arange(400)[:, None] / 400
    with pytest.raises(uqkit.ModelEvaluationError, match="Circuit breaker: 10 consecutive"):
        uqkit.Runner(on_failure="skip", batch_size=20, max_failure_rate=1.0).evaluate(model, X)


def test_failure_rate_over_the_window_trips():
    """Failing 9 rows in 10 never makes 10 failures in a row, but is broken."""
    model = uqkit.as_model(lambda a: np.nan if round(a * 1000) % 10 else a, name="flaky",
                           inputs=("a",))
    X = np.arange(1000)[:, None] / 1000
    with pytest.raises(uqkit.ModelEvaluationError,
                       match=r"Circuit breaker: 90 of the last 100 evaluated rows"):
        uqkit.Runner(on_failure="skip").evaluate(model, X)
    ev = uqkit.Runner(on_failure="skip", max_failure_rate=1.0).evaluate(model, X)
    assert ev.n_failed == 900
    with pytest.raises(ValueError, match="max_failure_rate"):
        uqkit.Runner(max_failure_rate=0)


def test_cli_rerun_of_a_study_with_skipped_failures(tmp_path, monkeypatch, capsys):
    """`uqkit run study.toml` twice on a study whose model fails on ~10 % of its inputs."""
    from test_cli import TOY_STUDY, write

    from uqkit.cli import main

    monkeypatch.setenv("UQKIT_TEST_LOG", str(tmp_path / "calls.log"))
    monkeypatch.setenv("UQKIT_TEST_SLEEP", "0")
    monkeypatch.setenv("UQKIT_TEST_FAULT", "fail10")
    study = write(tmp_path, TOY_STUDY.replace(
        'store = "toy.db"', 'store = "toy.db"\non_failure = "skip"').replace("n = 32", "n = 64"))
    assert main(["run", "-q", str(study)]) == 0
    with uqkit.Store(tmp_path / "toy.db") as store:
        n_failed = int(store.summary()["failed"].sum())
    assert n_failed > 10
    assert main(["run", "-q", str(study)]) == 0, capsys.readouterr().err


def test_huge_failure_messages_are_stored_truncated(tmp_path):
    """A 2 MB exception message is stored as a few KiB with a note (issue 15 item 5)."""

    def f(a):
        raise RuntimeError("x" * 2_000_000 + "END")

    model = uqkit.as_model(f, name="loud")
    uqkit.Runner(store=tmp_path / "s.db", on_failure="skip").evaluate(model, [[0.5]])
    with uqkit.Store(tmp_path / "s.db") as store:
        fails = store.to_dataframe(failures=True)
    msg, tb = fails.message[0], fails.traceback[0]
    assert len(msg) < 5000 and "[truncated 1995907 characters]" in msg and msg.endswith("END")
    assert len(tb) < 5000 and "[truncated" in tb
    assert (tmp_path / "s.db").stat().st_size < 2**20


def test_scalar_rerun_with_more_than_ten_known_failures(tmp_path):
    """The report's case: a scalar model, the default breaker, > 10 stored failures."""

    def f(a, b):
        if a > 0.9:
            raise ValueError("diverged")
        return a + b

    model = uqkit.as_model(f, name="f")
    X = np.random.default_rng(3).random((150, 2))
    first = uqkit.Runner(store=tmp_path / "s.db", on_failure="skip").evaluate(model, X)
    assert first.n_failed > 10
    again = uqkit.Runner(store=tmp_path / "s.db", on_failure="skip").evaluate(model, X)
    assert again.n_failed == first.n_failed and again.n_new == first.n_failed
