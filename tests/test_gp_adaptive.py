"""fit_gp(adaptive=True): IMSE batches, one runner batch each, stopping on the LOO target."""

from __future__ import annotations

import numpy as np

import uqkit
from uqkit.gp._adaptive import imse_batch


class _CountingRunner:
    """A runner with three workers that records the size of every batch it evaluates."""

    n_workers = 3

    def __init__(self):
        self.batches = []
        self._runner = uqkit.Runner()

    def evaluate(self, model, X):
        self.batches.append(len(X))
        return self._runner.evaluate(model, X)


def _model():
    params = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Uniform(0, 1))
    model = uqkit.as_model(lambda X: np.sin(5 * X[:, 0]) * np.exp(X[:, 1]),
                           inputs=params.names, vectorized=True)
    return model, params


def test_adaptive_batches_follow_the_runner_and_stop_on_target():
    model, params = _model()
    runner = _CountingRunner()
    gp = uqkit.fit_gp(model, params, n=8, adaptive=True, target=0.05, max_evaluations=40,
                      rng=0, runner=runner)
    assert runner.batches[0] == 8 and all(b == 3 for b in runner.batches[1:-1])
    assert sum(runner.batches) == gp.n_evaluations < 40
    history = gp.info["history"]
    assert [h["n_evaluations"] for h in history] == list(np.cumsum(runner.batches))
    assert history[-1]["loo_error"] <= 0.05 < history[-2]["loo_error"]
    assert gp.info["stop_reason"].startswith("leave-one-out")
    Xv = params.sample(500, method="random", rng=3)
    # leave-one-out on a small design is pessimistic: the validation error is below it
    assert gp.validate(Xv, model(Xv)).loc["y", "relative_error"] < 0.05


def test_imse_batch_spreads_points_away_from_the_design():
    model, params = _model()
    X = np.array([[0.1, 0.1], [0.2, 0.15], [0.15, 0.2], [0.9, 0.9], [0.1, 0.9], [0.5, 0.5]])
    gp = uqkit.fit_gp(X=X, Y=model(X), parameters=params, rng=0)
    new = imse_batch(gp, 4, np.random.default_rng(0))
    assert new.shape == (4, 2)
    # no new point lands on an existing one, and the batch is not a cluster
    dist = np.linalg.norm(new[:, None] - X[None], axis=-1).min(axis=1)
    assert dist.min() > 0.05
    spread = np.linalg.norm(new[:, None] - new[None], axis=-1)[np.triu_indices(4, 1)]
    assert spread.min() > 0.1
