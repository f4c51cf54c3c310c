"""The Posterior result: containers, summaries, prediction, display and report."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

import uqkit


@pytest.fixture(scope="module")
def post():
    t = np.linspace(0, 2, 6)
    model = uqkit.as_model(lambda X: X[:, :1] + X[:, 1:2] * t[None, :], inputs=("a", "b"),
                           outputs={"y": 6}, vectorized=True)
    prior = uqkit.Parameters(a=uqkit.Normal(0, 2), b=uqkit.Normal(0, 2))
    data = 0.5 + 1.5 * t + 0.2 * np.random.default_rng(0).standard_normal(6)
    return uqkit.calibrate(model, prior, {"y": data}, noise=uqkit.Gaussian("infer"),
                           target_ess=300, rng=7)


def test_containers(post):
    assert list(post.samples.columns) == ["a", "b", "sigma"]
    assert len(post.samples) == post.n_walkers * post.n_draws
    idata = post.idata
    for group in ("posterior", "sample_stats", "observed_data", "posterior_predictive"):
        assert hasattr(idata, group), group
    assert idata.posterior["a"].shape == (post.n_walkers, post.n_draws)
    np.testing.assert_array_equal(idata.posterior["b"].values, post.chain[:, :, 1])
    assert set(idata.observed_data.data_vars) == {f"y[{i}]" for i in range(6)}
    assert post.to_dataframe().equals(post.samples)


def test_summary_columns_and_values(post):
    s = post.summary()
    assert list(s.index) == ["a", "b", "sigma"]
    assert list(s.columns) == ["mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "ess_tail",
                               "r_hat"]
    assert np.all(s["hdi_3%"] < s["mean"]) and np.all(s["mean"] < s["hdi_97%"])
    np.testing.assert_allclose(s["mean"], post.samples.mean(), rtol=1e-12)


def test_predict_bands(post):
    pred = post.predict(n=100, rng=0)
    assert list(pred.index) == [f"y[{i}]" for i in range(6)]
    assert np.all(pred["lower"] <= pred["mean"]) and np.all(pred["mean"] <= pred["upper"])
    assert np.all(pred["lower_obs"] <= pred["lower"]) and np.all(pred["upper"] <= pred["upper_obs"])
    # explicit parameter rows: outputs of the model at those rows
    rows = post.samples.iloc[:3]
    pred2 = post.predict(rows)
    np.testing.assert_allclose(pred2["mean"].iloc[0], rows["a"].mean(), rtol=1e-12)


def test_repr_html_and_plots(post):
    r = repr(post)
    assert r.startswith("Posterior(3 parameters") and "model evaluations" in r
    assert len(r.splitlines()) == 4
    h = post._repr_html_()
    assert "<table" in h and "<b>" not in h.replace("<b>Posterior</b>", "")
    for kind in ("pair", "trace", "predictive"):
        ax = post.plot(kind)
        assert ax is not None
    import matplotlib.pyplot as plt
    plt.close("all")
    with pytest.raises(uqkit.InvalidParameterError, match="kind"):
        post.plot("violin")


def test_report_is_self_contained(post, tmp_path):
    path = post.report(tmp_path / "posterior.html")
    text = open(path, encoding="utf-8").read()
    imgs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(imgs) == 3
    assert base64.b64decode(imgs[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in text and "https://" not in text and "<script" not in text


def test_no_draws_when_the_budget_ends_in_warm_up(tmp_path):
    # the smallest budget (2 x n_walkers: the starting points and one warm-up step) leaves
    # no sampling step: no draws
    t = np.linspace(0, 2, 6)
    model = uqkit.as_model(lambda X: X[:, :1] + X[:, 1:2] * t[None, :], inputs=("a", "b"),
                           outputs={"y": 6}, vectorized=True)
    prior = uqkit.Parameters(a=uqkit.Normal(0, 2), b=uqkit.Normal(0, 2))
    post = uqkit.calibrate(model, prior, {"y": 0.5 + t}, noise=uqkit.Gaussian(0.2),
                           max_evaluations=32, n_walkers=16, rng=0)
    assert post.n_model_evaluations <= 32
    assert post.n_draws == 0 and not post.has_draws and not post.converged
    s = post.summary()
    assert s.attrs["no_draws"] and s.shape == (2, 7) and s.isna().all().all()
    assert "no posterior draws" in repr(post)
    assert "No posterior draws" in post._repr_html_()
    for kind in ("pair", "trace", "predictive"):
        assert post.plot(kind) is not None
    import matplotlib.pyplot as plt
    plt.close("all")
    text = open(post.report(tmp_path / "r.html"), encoding="utf-8").read()
    assert "No posterior draws" in text
    with pytest.raises(uqkit.InvalidParameterError, match="no posterior draws"):
        post.predict()
    assert post.idata.posterior["a"].shape == (16, 0)


def test_small_budget_is_respected_and_leaves_draws():
    # a 64-evaluation budget was overrun by the 20-step minimum warm-up (336 runs); now the
    # warm-up is shortened so that the budget holds and sampling steps remain
    t = np.linspace(0, 2, 6)
    model = uqkit.as_model(lambda X: X[:, :1] + X[:, 1:2] * t[None, :], inputs=("a", "b"),
                           outputs={"y": 6}, vectorized=True)
    prior = uqkit.Parameters(a=uqkit.Normal(0, 2), b=uqkit.Normal(0, 2))
    for budget in (64, 200, 1000):
        post = uqkit.calibrate(model, prior, {"y": 0.5 + t}, noise=uqkit.Gaussian(0.2),
                               max_evaluations=budget, n_walkers=16, rng=0)
        assert post.n_model_evaluations <= budget
        assert post.stop_reason == "max_evaluations" and post.n_draws >= 1


def test_summary_flags_draws(post):
    assert post.has_draws and post.summary().attrs["no_draws"] is False
