"""The Runner's in-process path that uqkit.sobol's designs go through (no store).

uqkit.sobol's framework time includes the Runner, so its no-store path finds identical
rows by hashing (uqkit/runner/_rows.py: ``_dedupe_rows``). These tests pin that
path's semantics against a brute-force reference: identical rows (``-0.0 == 0.0``)
are evaluated once and share their outputs, rows outside the support are marked and
never evaluated, and hash collisions never merge different rows.
"""

from __future__ import annotations

import numpy as np
import pytest

import uqkit
from uqkit.runner import _rows


class Counting:
    inputs, outputs, vectorized, name, version = ("a", "b", "c"), ("y", "z"), True, "count", "1"

    def __init__(self):
        self.rows = []

    def __call__(self, X):
        self.rows.extend(map(tuple, X.tolist()))
        return np.column_stack([X[:, 0] + 10 * X[:, 1] - X[:, 2], X.sum(1)])


def _design(rng, n=3000):
    base = rng.integers(-3, 4, size=(n, 3)).astype(float) / 2  # many exact repeats
    base[rng.random(n) < 0.05, 0] = -0.0  # -0.0 must equal 0.0
    return base


def _distinct(X):
    return {tuple(r) for r in (X + 0.0).tolist()}


@pytest.mark.parametrize("seed, n", [(0, 3000), (1, 3000), (2, 40000)])
def test_identical_rows_are_evaluated_once_and_share_outputs(seed, n):
    # (below and above 32768 rows, where the duplicate search changes strategy)
    X = _design(np.random.default_rng(seed), n)
    X[-5:] = np.random.default_rng(seed).random((5, 3))  # a few unique rows too
    model = Counting()
    ev = uqkit.Runner().evaluate(model, X)
    assert ev.n_new == len(_distinct(X)) == len(model.rows)
    assert len(set(model.rows)) == len(model.rows)  # nothing evaluated twice
    assert ev.n_cached == len(X) - ev.n_new and ev.ok.all()
    np.testing.assert_array_equal(ev.Y, Counting()(X))


def test_distinct_rows_take_the_fast_path():
    X = np.random.default_rng(3).random((5000, 3))
    model = Counting()
    ev = uqkit.Runner().evaluate(model, X)
    assert ev.n_new == 5000 and ev.n_cached == 0 and (ev.status == "ok").all()
    assert ev.errors == (None,) * 5000
    np.testing.assert_array_equal(np.array(model.rows), X)  # in order, once each


def test_hash_collisions_never_merge_different_rows(monkeypatch):
    # every row gets the same hash: the exact comparison alone must separate them
    monkeypatch.setattr(_rows, "_row_hashes",
                        lambda X: np.full(len(X), 0x1234_5678_9ABC_DEF0, dtype=np.uint64))
    X = _design(np.random.default_rng(4), n=800)
    model = Counting()
    ev = uqkit.Runner().evaluate(model, X)
    assert ev.n_new == len(_distinct(X)) == len(model.rows)
    np.testing.assert_array_equal(ev.Y, Counting()(X))


def test_rows_outside_the_support_are_marked_not_evaluated():
    X = _design(np.random.default_rng(5), n=1000)
    params = uqkit.Parameters(a=uqkit.Uniform(-1.0, 1.0), b=uqkit.Uniform(-2, 2),
                              c=uqkit.Uniform(-2, 2))
    model = Counting()
    ev = uqkit.Runner().evaluate(model, X, parameters=params, on_invalid="mark")
    outside = np.abs(X[:, 0]) > 1
    assert (ev.status[outside] == "invalid").all() and not ev.ok[outside].any()
    assert np.isnan(ev.Y[outside]).all()
    assert ev.n_new == len(_distinct(X[~outside])) == len(model.rows)
    np.testing.assert_array_equal(ev.Y[~outside], Counting()(X[~outside]))


def test_failed_rows_in_a_batch_still_reported_per_row():
    class Failing(Counting):
        def __call__(self, X):
            if np.any(X[:, 0] > 1.2):
                raise RuntimeError("boom")
            return super().__call__(X)

    X = np.random.default_rng(6).random((64, 3)) * 1.3
    ev = uqkit.Runner(on_failure="skip").evaluate(Failing(), X)
    bad = X[:, 0] > 1.2
    assert (ev.status[bad] == "failed").all() and ev.ok[~bad].all()
    assert all("boom" in e for e in np.array(ev.errors, dtype=object)[bad])


@pytest.mark.parametrize("d", [2, 3, 8, 20])
def test_row_hash_separates_structured_rows(d):
    # Collisions cost an exact comparison, not correctness, but a weak mix makes them
    # the rule: half-integer and 0/1 designs (float bits with all-zero low mantissas)
    # must get one hash per distinct row.
    rng = np.random.default_rng(0)
    for X in (rng.integers(-3, 4, size=(20000, d)) / 2.0,
              rng.integers(0, 2, size=(20000, d)).astype(float)):
        assert len(np.unique(_rows._row_hashes(X))) == len(_distinct(X))


def test_lean_path_matches_the_general_path_on_a_study_sized_design():
    # Up to 65536 rows, in-process vectorized calls without a store take the runner's
    # lean path (a Sobol' design at n = 2^10 has 5120 rows); passing parameters forces
    # the general path. Same Evaluations either way.
    X = _design(np.random.default_rng(7), n=5000)
    params = uqkit.Parameters(a=uqkit.Uniform(-2, 2), b=uqkit.Uniform(-2, 2),
                              c=uqkit.Uniform(-2, 2))
    lean = uqkit.Runner().evaluate(Counting(), X)
    general = uqkit.Runner().evaluate(Counting(), X, parameters=params)
    for field in ("Y", "ok", "status"):
        np.testing.assert_array_equal(getattr(lean, field), getattr(general, field))
    assert (lean.errors, lean.n_new, lean.n_cached, lean.n_attempts) == (
        general.errors, general.n_new, general.n_cached, general.n_attempts)
