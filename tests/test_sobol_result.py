"""SobolResult: tables, xarray, repr, HTML, plot and the HTML variance report."""

from __future__ import annotations

import dataclasses
import html
import re

import matplotlib
import numpy as np
import pytest

import uqkit
from uqkit.examples import ishigami

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def res():
    model, params, _ = ishigami()
    return uqkit.sobol(model, params, 256, second_order=True, rng=0, n_resamples=200)


@pytest.fixture(scope="module")
def series():
    t = np.linspace(0, 1, 12)

    def f(X):
        return X[:, :1] * t + X[:, 1:2] * (1 - t) + X[:, 2:3]

    model = uqkit.as_model(lambda X: np.column_stack([f(X), f(X).max(1)]),
                           inputs=("a", "b", "c"), outputs={"V": t.size, "peak": 1},
                           vectorized=True)
    params = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Uniform(0, 1), c=uqkit.Normal(0, 0.1))
    return uqkit.sobol(model, params, 256, rng=1, n_resamples=200)


def test_frozen_and_field_contract(res):
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.n_evaluations = 0
    assert list(res.first.index) == ["x1", "x2", "x3"] and list(res.first.columns) == ["y"]
    assert res.first_ci["low"].shape == res.first.shape
    assert (res.first_ci["low"] <= res.first_ci["high"]).all().all()
    assert list(res.second.index) == [("x1", "x2"), ("x1", "x3"), ("x2", "x3")]
    assert res.second_ci["high"].shape == res.second.shape
    assert res.confidence == 0.95 and res.method == "saltelli_2010"
    assert res.aggregated_first is None
    assert res.info["estimators"]["second"] == "Saltelli (2002)"
    assert res.info["seed"] == 0 and res.info["uqkit_version"] == uqkit.__version__


def test_to_dataframe_long_format(res):
    df = res.to_dataframe()
    assert list(df.columns) == ["order", "input", "input_j", "output", "value", "low", "high",
                                "se"]
    assert (df["order"] == "first").sum() == 3 and (df["order"] == "second").sum() == 3
    row = df[(df.order == "total") & (df.input == "x2")].iloc[0]
    assert row.value == res.total.loc["x2", "y"]
    assert row.low == res.total_ci["low"].loc["x2", "y"]
    assert row.se == res.total_se.loc["x2", "y"]
    sec = df[df.order == "second"].iloc[1]
    assert (sec.input, sec.input_j) == ("x1", "x3")


def test_to_xarray(res):
    ds = res.to_xarray()
    assert ds["first"].dims == ("input", "output")
    assert ds["total_ci"].sel(bound="high", input="x1", output="y") == res.total_ci[
        "high"].loc["x1", "y"]
    assert ds.attrs["n_evaluations"] == res.n_evaluations
    # second order: one value per pair, selectable by the two input names
    assert ds["second"].dims == ("pair", "output")
    assert ds["second_ci"].dims == ("bound", "pair", "output")
    for (i, j), row in res.second.iterrows():
        assert ds["second"].sel(input_i=i, input_j=j, output="y") == row["y"]
        for bound in ("low", "high"):
            assert ds["second_ci"].sel(bound=bound, input_i=i, input_j=j, output="y") == \
                res.second_ci[bound].loc[(i, j), "y"]
    assert list(ds.indexes["pair"]) == list(res.second.index)


def test_to_xarray_second_order_without_intervals_and_first_order_only():
    model, params, _ = ishigami()
    bare = uqkit.sobol(model, params, 128, second_order=True, rng=3, n_resamples=0)
    ds = bare.to_xarray()
    assert "second" in ds and "second_ci" not in ds and "bound" not in ds.dims
    np.testing.assert_array_equal(ds["second"].to_numpy(), bare.second.to_numpy())
    first_only = uqkit.sobol(model, params, 128, rng=3, n_resamples=50).to_xarray()
    assert "second" not in first_only and "pair" not in first_only.dims
    assert "first_ci" in first_only


def test_repr_and_html(res):
    text = repr(res)
    assert text.startswith("SobolResult(method='saltelli_2010', n_samples=256")
    assert "x2" in text and "±" in text and len(text.splitlines()) < 10
    html = res._repr_html_()
    assert "<table" in html and "x3" in html


def test_vector_output_aggregated_and_plots(series):
    assert list(series.aggregated_first.columns) == ["V"]
    assert "peak" in series.first.columns
    # variance-weighted aggregation equals sum of partial variances / summed variance
    cols = [f"V[{i}]" for i in range(12)]
    w = series.variance[cols]
    manual = (series.total[cols] * w).sum(axis=1) / w.sum()
    np.testing.assert_allclose(series.aggregated_total["V"], manual, rtol=1e-10)
    ax = series.plot()  # default: the vector group, indices over time
    assert ax.get_xlabel() == "V index"
    ax2 = series.plot("peak")
    assert len(ax2.patches) == 6  # first and total bars for 3 inputs
    with pytest.raises(uqkit.InvalidParameterError, match="'output' parameter"):
        series.plot("nope")
    assert "aggregated V" in repr(series)


def test_report_is_self_contained_html(res, tmp_path):
    path = res.report(tmp_path / "sobol.html", title="Ishigami <study>")
    text = open(path, encoding="utf-8").read()
    assert text.startswith("<!DOCTYPE html>")
    assert "Ishigami &lt;study&gt;" in text and "<study>" not in text  # escaped
    assert re.search(r"src='data:image/png;base64,[A-Za-z0-9+/=]{1000,}'", text)
    for needle in (html.escape("Sobol' indices"), "Variance shares", "Second-order indices",
                   "model evaluations", "2048", "seed", uqkit.__version__,
                   "Saltelli et al. (2010)", "dropped base samples"):
        needle = needle if "'" in needle or "&" in needle else html.escape(needle)
        assert needle in text, needle
    assert "http://" not in text and "https://" not in text  # no external resources


def test_methods_work_without_intervals_like_pce_results(tmp_path):
    # the polynomial-chaos engineer builds SobolResult without CIs, with unnamed indexes
    import pandas as pd

    names = ["a", "b"]
    res = uqkit.SobolResult(
        first=pd.DataFrame({"y": [0.6, 0.3]}, index=names),
        total=pd.DataFrame({"y": [0.7, 0.4]}, index=names),
        second=pd.DataFrame({"y": [0.1]}, index=pd.MultiIndex.from_tuples([("a", "b")])),
        variance=pd.Series({"y": 2.0}), mean=pd.Series({"y": 1.0}), n_evaluations=100,
        method="pce")
    df = res.to_dataframe()
    assert len(df) == 5 and df["low"].isna().all()
    assert tuple(df.iloc[4][["input", "input_j"]]) == ("a", "b")
    assert "first_ci" not in res.to_xarray()
    assert "0.6000" in repr(res) and "±" not in repr(res)
    assert res.plot().get_title() == "y"
    text = open(res.report(tmp_path / "pce.html"), encoding="utf-8").read()
    assert "data:image/png;base64," in text and "pce" in text
