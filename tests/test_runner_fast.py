"""The Runner's lean in-process path (small vectorized batches, no store) against the general one.

Both paths must return the same Evaluations for the same call: duplicates, non-finite
outputs, failures under every policy. The general path is forced by passing
``parameters=`` (every row inside the support), which the lean path does not take.
"""

from __future__ import annotations

import numpy as np
import pytest

import uqkit


def _model(fail_above=None, nan_above=None):
    def f(X):
        if fail_above is not None and np.any(X[:, 0] > fail_above):
            raise ValueError("boom")
        Y = np.c_[X[:, 0] + X[:, 1], X[:, 0] * X[:, 1]]
        if nan_above is not None:
            Y[X[:, 0] > nan_above] = np.nan
        return Y
    return uqkit.as_model(f, inputs=("a", "b"), outputs=("s", "p"), vectorized=True, name="m")


def _both(model, X, **opts):
    params = uqkit.Parameters(a=uqkit.Uniform(-10, 10), b=uqkit.Uniform(-10, 10))
    out = []
    for kw in ({}, {"parameters": params}):
        r = uqkit.Runner(progress=False, **opts)
        try:
            out.append(r.evaluate(model, X, **kw))
        except uqkit.ModelEvaluationError as exc:
            out.append(str(exc))
    return out


def _same(a, b):
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    np.testing.assert_array_equal(a.Y, b.Y)
    np.testing.assert_array_equal(a.ok, b.ok)
    np.testing.assert_array_equal(a.status, b.status)
    assert a.errors == b.errors
    assert (a.n_new, a.n_cached, a.n_attempts, a.keys) == (b.n_new, b.n_cached, b.n_attempts,
                                                          b.keys)


X = np.array([[0.1, 0.2], [0.5, 0.3], [0.1, 0.2], [0.9, 0.1], [0.3, 0.3], [0.5, 0.3]])


@pytest.mark.parametrize("opts", [{}, {"allow_nonfinite": True}])
def test_fast_path_matches_general_ok_and_duplicates(opts):
    fast, general = _both(_model(), X, **opts)
    _same(fast, general)
    assert fast.n_new == 4 and fast.n_cached == 2


@pytest.mark.parametrize("policy", ["raise", "skip", "nan"])
def test_fast_path_matches_general_on_failures(policy):
    _same(*_both(_model(fail_above=0.8), X, on_failure=policy))
    _same(*_both(_model(nan_above=0.4), X, on_failure=policy))


def test_fast_path_nonfinite_allowed():
    fast, general = _both(_model(nan_above=0.4), X, allow_nonfinite=True)
    _same(fast, general)
    assert fast.ok.all() and (fast.status == "nonfinite").sum() == 3
