"""Surrogate-accelerated calibration: exact delayed acceptance and the approximate mode.

Reference posterior: a dense grid, as in test_calibration.py; tolerances are
4.5 Monte-Carlo standard errors at the run's ESS (sd / sqrt(ESS) for means,
sd / sqrt(2 ESS) for standard deviations).
"""

from __future__ import annotations

import numpy as np
import pytest

import uqkit

T = np.linspace(0.0, 4.0, 9)
SIGMA = 0.15
DATA = 2.0 * np.exp(-0.8 * T) + SIGMA * np.random.default_rng(5).standard_normal(9)


def _decay(X):
    return X[:, :1] * np.exp(-X[:, 1:2] * T[None, :])


def _biased(X):  # a deliberately wrong cheap model: 5% high plus an offset
    return 1.05 * _decay(X) + 0.03


MODEL = uqkit.as_model(_decay, inputs=("a", "b"), outputs={"y": 9}, vectorized=True)
SURROGATE = uqkit.as_model(_biased, inputs=("a", "b"), outputs={"y": 9}, vectorized=True)
PRIOR = uqkit.Parameters(a=uqkit.Uniform(0.0, 5.0), b=uqkit.Uniform(0.0, 3.0))


def _grid(fun):
    ga, gb = np.meshgrid(np.linspace(1.0, 3.2, 500), np.linspace(0.3, 1.6, 500), indexing="ij")
    P = np.c_[ga.ravel(), gb.ravel()]
    lp = -0.5 * np.sum((DATA[None, :] - fun(P)) ** 2, axis=1) / SIGMA**2
    w = np.exp(lp - lp.max())
    w /= w.sum()
    mean = w @ P
    return mean, np.sqrt(w @ (P - mean) ** 2)


def _close(post, mean, sd, z=4.5):
    ess = post.ess_bulk.to_numpy()
    m = post.samples.mean().to_numpy()
    s = post.samples.std(ddof=1).to_numpy()
    return (np.all(np.abs(m - mean) <= z * sd / np.sqrt(ess))
            and np.all(np.abs(s - sd) <= z * sd / np.sqrt(2 * ess)))


def test_delayed_acceptance_is_exact_with_a_biased_surrogate():
    mean, sd = _grid(_decay)
    post = uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, noise=uqkit.Gaussian(SIGMA),
                           surrogate=SURROGATE, target_ess=1000, rng=8)
    assert post.mode == "delayed_acceptance" and post.converged
    assert post.n_surrogate_evaluations > post.n_model_evaluations > 0
    assert _close(post, mean, sd), (post.samples.mean(), mean, post.samples.std(), sd)
    # the surrogate's own posterior is measurably different: exactness is not vacuous
    mean_s, sd_s = _grid(_biased)
    assert np.any(np.abs(mean_s - mean) > 10 * sd / np.sqrt(post.ess_bulk.to_numpy()))
    assert "delayed acceptance" in repr(post)


def test_delayed_acceptance_matches_plain_sampling():
    kw = dict(noise=uqkit.Gaussian(SIGMA), target_ess=1000)
    plain = uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, rng=9, **kw)
    da = uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, surrogate=SURROGATE, rng=10, **kw)
    # difference of two independent estimates: SE adds in quadrature
    sd = plain.samples.std().to_numpy()
    se = sd * np.sqrt(1 / plain.ess_bulk.to_numpy() + 1 / da.ess_bulk.to_numpy())
    assert np.all(np.abs(plain.samples.mean().to_numpy() - da.samples.mean().to_numpy())
                  <= 4.5 * se)


def test_approximate_mode_samples_the_surrogate_and_says_so(tmp_path):
    mean_s, sd_s = _grid(_biased)
    post = uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, noise=uqkit.Gaussian(SIGMA),
                           surrogate=SURROGATE, surrogate_mode="approximate",
                           target_ess=1000, rng=11)
    assert post.mode == "approximate" and post.n_model_evaluations == 0
    assert _close(post, mean_s, sd_s)
    assert "APPROXIMATE" in repr(post) and "APPROXIMATE" in post._repr_html_()
    text = open(post.report(tmp_path / "r.html"), encoding="utf-8").read()
    assert "APPROXIMATE" in text


def test_surrogate_must_match_the_model():
    bad = uqkit.as_model(_decay, inputs=("b", "a"), outputs={"y": 9}, vectorized=True)
    with pytest.raises(uqkit.InvalidParameterError, match="inputs"):
        uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, noise=uqkit.Gaussian(SIGMA), surrogate=bad)


def _has_fit_pce() -> bool:
    import importlib.util
    if importlib.util.find_spec("uqkit.pce") is None:
        return False
    import uqkit.pce
    return hasattr(uqkit.pce, "fit_pce")


@pytest.mark.skipif(not _has_fit_pce(), reason="uqkit.fit_pce not in this tree yet")
def test_pce_surrogate_path():
    mean, sd = _grid(_decay)
    post = uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, noise=uqkit.Gaussian(SIGMA),
                           surrogate="pce", target_ess=1000, rng=12)
    assert post.mode == "delayed_acceptance"
    assert _close(post, mean, sd)
