"""calibrate(..., surrogate="gp") and a fitted GaussianProcess as surrogate: exact delayed
acceptance with fewer full-model runs.

Reference posterior: a dense grid of the exact posterior (as in test_calibration_surrogate.py).
The issue's tolerance (means within 0.1 sd, sds within 10 %) is about 3 Monte-Carlo standard
errors of the mean and 4.5 of the sd at ESS 1000 (sd / sqrt(ESS), sd / sqrt(2 ESS)).
"""

from __future__ import annotations

import numpy as np
import pytest

import uqkit

T = np.linspace(0.0, 4.0, 9)
SIGMA = 0.15
DATA = 2.0 * np.exp(-0.8 * T) + SIGMA * np.random.default_rng(5).standard_normal(9)
PRIOR = uqkit.Parameters(a=uqkit.Uniform(0.0, 5.0), b=uqkit.Uniform(0.0, 3.0))


def _decay(X):
    return X[:, :1] * np.exp(-X[:, 1:2] * T[None, :])


MODEL = uqkit.as_model(_decay, inputs=("a", "b"), outputs={"y": 9}, vectorized=True)


def _grid():
    ga, gb = np.meshgrid(np.linspace(1.0, 3.2, 500), np.linspace(0.3, 1.6, 500), indexing="ij")
    P = np.c_[ga.ravel(), gb.ravel()]
    lp = -0.5 * np.sum((DATA[None, :] - _decay(P)) ** 2, axis=1) / SIGMA**2
    w = np.exp(lp - lp.max())
    w /= w.sum()
    mean = w @ P
    return mean, np.sqrt(w @ (P - mean) ** 2)


def _check(post, mean, sd):
    assert post.mode == "delayed_acceptance" and post.converged
    m = post.samples.mean().to_numpy()
    s = post.samples.std(ddof=1).to_numpy()
    assert np.all(np.abs(m - mean) <= 0.1 * sd), (m, mean, sd)
    assert np.all(np.abs(s / sd - 1) <= 0.10), (s, sd)


@pytest.mark.slow
def test_gp_surrogate_gives_the_plain_posterior_with_fewer_runs():
    mean, sd = _grid()
    kw = dict(noise=uqkit.Gaussian(SIGMA), target_ess=1000)
    post = uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, surrogate="gp", rng=12, **kw)
    _check(post, mean, sd)
    plain = uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, rng=12, **kw)
    assert post.n_model_evaluations < plain.n_model_evaluations / 3


@pytest.mark.slow
def test_fitted_gaussian_process_as_surrogate():
    mean, sd = _grid()
    gp = uqkit.fit_gp(MODEL, PRIOR, n=30, rng=0)
    assert gp.info["components"]["y"]["kept"] <= 9
    post = uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, noise=uqkit.Gaussian(SIGMA),
                           surrogate=gp, target_ess=1000, rng=3)
    _check(post, mean, sd)
