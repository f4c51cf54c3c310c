"""uqkit.sobol with the Runner and the Store: failures, resume, extension (B1, A7, I7)."""

from __future__ import annotations

import numpy as np
import pytest

import uqkit
from uqkit.examples import ishigami


class _Counting:
    """Ishigami that counts model rows and raises on a deterministic subset of inputs."""

    def __init__(self, fail_above=None):
        self.base, _, _ = ishigami()
        self.inputs, self.outputs = self.base.inputs, self.base.outputs
        self.name, self.version, self.vectorized = "counting_ishigami", "1", False
        self.calls = 0
        self.fail_above = fail_above

    def __call__(self, X):
        X = np.atleast_2d(X)
        self.calls += len(X)
        if self.fail_above is not None and np.any(X[:, 1] > self.fail_above):
            raise RuntimeError("solver diverged")
        return self.base(X)


def test_skip_policy_drops_whole_blocks_and_reports(tmp_path):
    _, params, ref = ishigami()
    model = _Counting(fail_above=3.0)  # about 2% of x2 values
    runner = uqkit.Runner(on_failure="skip", max_consecutive_failures=10**6)
    res = uqkit.sobol(model, params, 512, rng=1, runner=runner, n_resamples=200)
    # a failing row in A or B (x2 of A or of B > 3) drops its base sample with every
    # AB row; an AB_i row fails only if A's or B's x2 fails, so each block is dropped whole
    n_bad_base = res.info["n_dropped_blocks"]
    assert n_bad_base > 0
    assert res.info["n_base_used"] + n_bad_base == 512
    assert res.n_failed >= n_bad_base  # failed evaluations, at least one per dropped block
    assert res.n_evaluations == 512 * 5
    assert np.all(np.isfinite(res.first.to_numpy()))


def test_raise_policy_stops_with_model_evaluation_error():
    _, params, _ = ishigami()
    with pytest.raises(uqkit.ModelEvaluationError, match="solver diverged"):
        uqkit.sobol(_Counting(fail_above=3.0), params, 64, rng=0)


def test_store_resume_extend_and_refuse_changed_study(tmp_path):
    _, params, _ = ishigami()
    store = tmp_path / "study.sqlite"
    model = _Counting()
    first = uqkit.sobol(model, params, 64, rng=5, runner=uqkit.Runner(store=store))
    assert model.calls == 64 * 5
    assert first.info["study"].startswith("sobol:")

    # I7: the identical study again makes 0 model calls and gives the same result
    model.calls = 0
    again = uqkit.sobol(model, params, 64, rng=5, runner=uqkit.Runner(store=store))
    assert model.calls == 0
    assert again.first.equals(first.first) and again.total_ci.equals(first.total_ci)

    # A7: an explicit extension n 64 -> 128 reuses the first 64 base samples exactly
    model.calls = 0
    ext = uqkit.sobol(model, params, 128, rng=5, runner=uqkit.Runner(store=store))
    assert model.calls == 64 * 5
    assert ext.info["n_cached"] == 64 * 5

    # A7: a changed seed, estimator or distribution is refused, naming the field
    for kwargs, field in (({"rng": 6}, "seed"), ({"rng": 5, "method": "janon_2014"},
                                                 "estimator")):
        with pytest.raises(uqkit.StudyMismatchError, match=field):
            uqkit.sobol(model, params, 128, runner=uqkit.Runner(store=store), **kwargs)
    changed = uqkit.Parameters({**dict(params), "x3": uqkit.Uniform(-3, 3)})
    with pytest.raises(uqkit.StudyMismatchError, match="parameters"):
        uqkit.sobol(model, changed, 128, rng=5, runner=uqkit.Runner(store=store))
