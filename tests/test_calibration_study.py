"""A resumed calibration must be the same study (RELIABILITY A7).

The store records the calibration's specification under a stable name
(``study=`` or the model's name). Rerunning with a changed study is refused
with :class:`uqkit.StudyMismatchError` naming the changed field, before any
model run; budgets (n_steps, max_evaluations, target_ess) may grow, and the
grown run continues the stored chain.
"""

from __future__ import annotations

import numpy as np
import pytest

import uqkit

T = np.linspace(0.0, 1.0, 5)
DATA = 0.5 + 1.5 * T


def _model(version="1"):
    return uqkit.as_model(lambda X: X[:, :1] + X[:, 1:2] * T[None, :], inputs=("a", "b"),
                          outputs={"y": 5}, vectorized=True, name="line", version=version)


PRIOR = uqkit.Parameters(a=uqkit.Normal(0, 2), b=uqkit.Normal(0, 2))
BASE = dict(noise=uqkit.Gaussian(0.2), n_walkers=8, n_steps=40, target_ess=None, rng=3)


def _run(store, model=None, prior=PRIOR, data=DATA, **kw):
    args = {**BASE, **kw}
    runner = uqkit.Runner(store=store, progress=False)
    return uqkit.calibrate(model or _model(), prior, {"y": data}, runner=runner, **args)


@pytest.fixture()
def store(tmp_path):
    path = tmp_path / "study.db"
    _run(path)
    return path


class _Counting:
    """A model that counts its calls: a refused rerun must not run it."""

    def __init__(self):
        self.inputs, self.outputs = ("a", "b"), tuple(f"y[{i}]" for i in range(5))
        self.name, self.version, self.vectorized, self.calls = "line", "1", True, 0

    def __call__(self, X):
        self.calls += 1
        return X[:, :1] + X[:, 1:2] * T[None, :]


@pytest.mark.parametrize("change, field", [
    ({"data": DATA + 0.1}, "data"),
    ({"noise": uqkit.Gaussian(0.3)}, "noise"),
    ({"prior": uqkit.Parameters(a=uqkit.Normal(0, 3), b=uqkit.Normal(0, 2))}, "prior"),
    ({"model": _model(version="2")}, "model"),
    ({"n_walkers": 10}, "n_walkers"),
    ({"rng": 4}, "seed"),
    ({"surrogate": _model(version="2")}, "surrogate"),
    ({"n_steps": 30}, "n_steps"),  # budgets may grow, not shrink
])
def test_a_changed_study_is_refused_naming_the_field(store, change, field):
    with pytest.raises(uqkit.StudyMismatchError, match=field) as err:
        _run(store, **change)
    assert err.value.field == field


def test_refused_before_any_model_run(store):
    model = _Counting()
    with pytest.raises(uqkit.StudyMismatchError, match="data"):
        _run(store, model=model, data=DATA + 0.1)
    assert model.calls == 0


def test_a_named_study_is_separate(store):
    post = _run(store, data=DATA + 0.1, study="shifted")
    assert post.resumed_at is None and post.n_draws > 0


def test_grown_budget_continues_the_stored_chain(store, tmp_path):
    first = _run(store)  # same study: read back from the checkpoint, no new step
    assert first.resumed_at == 40
    grown = _run(store, n_steps=70)
    assert grown.resumed_at == 40
    assert grown.n_warmup == first.n_warmup  # warm-up length of the first run is kept
    assert grown.n_draws == 70 - grown.n_warmup
    np.testing.assert_array_equal(grown.chain[:, :first.n_draws], first.chain)
    # growing max_evaluations and target_ess is allowed as well
    path = tmp_path / "budget.db"
    small = _run(path, n_steps=None, max_evaluations=400, target_ess=20)
    more = _run(path, n_steps=None, max_evaluations=800, target_ess=40)
    assert more.resumed_at == small.n_warmup + small.n_draws
    assert more.n_model_evaluations > small.n_model_evaluations


def test_unseeded_runs_are_not_checked(tmp_path):
    path = tmp_path / "u.db"
    _run(path, rng=None)
    post = _run(path, rng=None, data=DATA + 0.1)
    assert post.resumed_at is None


def test_delayed_acceptance_resumes_with_the_same_refined_surrogate(tmp_path):
    path = tmp_path / "da.db"
    first = _run(path, surrogate="pce", n_steps=30)
    model = _Counting()
    again = _run(path, model=model, surrogate="pce", n_steps=30)
    # the PCE fit and its refinement are rebuilt from the store's cache: no model call
    assert model.calls == 0 and again.resumed_at == 30
    np.testing.assert_array_equal(again.chain, first.chain)
    assert again.n_model_evaluations == first.n_model_evaluations
    assert again.surrogate_info == first.surrogate_info
