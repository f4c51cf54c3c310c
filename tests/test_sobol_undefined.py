"""Sobol' indices of outputs that hardly vary: undefined (NaN), flagged, drawn in [0, 1]."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest

import uqkit

matplotlib.use("Agg")


def _series(X):
    # V[0..5]: scaled copies of x1 + x2^2; V[6]: a rare spike of size 1e-3 (variance
    # about 1e-8 against 0.17: the ratio of two noisy near-zero estimates);
    # V[7]: constant; z: a step in x1 that 32 base samples cannot resolve.
    base = X[:, 0] + X[:, 1] ** 2
    V = np.outer(base, np.linspace(1, 0.5, 6))
    return np.column_stack([V, 1e-3 * (X[:, 0] > 0.99), np.zeros(len(X)),
                            (X[:, 0] > 0.9) + 0.01 * X[:, 1]])


@pytest.fixture(scope="module")
def res():
    model = uqkit.as_model(_series, inputs=("x1", "x2"), outputs={"V": 8, "z": 1},
                           vectorized=True)
    model.times = np.arange(1, 9) * 2.5
    model.time_unit = "ms"
    params = uqkit.Parameters(x1=uqkit.Uniform(0, 1), x2=uqkit.Uniform(0, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 of the constant column
        return uqkit.sobol(model, params, 32, rng=0, n_resamples=200)


def test_negligible_variance_gives_nan_indices(res):
    assert res.info["undefined_outputs"] == ["V[6]", "V[7]"]
    for frame in (res.first, res.total, res.first_ci, res.total_ci):
        cols = frame.columns.get_level_values(-1).isin(["V[6]", "V[7]"])
        assert frame.loc[:, cols].isna().all().all()
    assert np.isfinite(res.total[["V[0]", "V[5]", "z"]].to_numpy()).all()
    long = res.to_dataframe()
    assert long.loc[long["output"] == "V[6]", "value"].isna().all()


def test_wide_interval_is_flagged_unreliable(res):
    # z's step at x1 = 0.9 is seen by about 3 of 32 base samples: interval wider than 1
    width = res.total_ci["high"]["z"] - res.total_ci["low"]["z"]
    assert width["x1"] > 1.0
    assert res.unreliable.loc["x1", "z"]
    assert not res.unreliable[["V[0]", "V[1]"]].to_numpy().any()


def test_series_plot_keeps_unit_range_and_time_axis(res):
    ax = res.plot("V")
    lo, hi = ax.get_ylim()
    assert -0.1 <= lo and hi <= 1.1
    assert ax.get_xlabel() == "time (ms)"
    xs = np.concatenate([line.get_xdata() for line in ax.get_lines()])
    np.testing.assert_allclose(np.unique(xs), np.arange(1, 9) * 2.5)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "undefined (no variance)" in labels
    ax = res.plot("z")
    assert ax.get_ylim()[1] <= 1.1
