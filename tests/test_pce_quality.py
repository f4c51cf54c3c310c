"""A poor polynomial chaos surrogate is flagged: PoorSurrogateWarning names the outputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import uqkit


def _problem():
    # V[0] is a quadratic (exact for degree >= 2); V[1] varies by 1e-9 (not judged: it
    # hardly varies against V[0]); "wiggle" = sin(3 pi x1) exp(2 x2), which 30 points
    # cannot resolve (leave-one-out Q2 about -0.1, far below 0.9).
    def f(X):
        return np.column_stack([X[:, 0] + X[:, 1] ** 2, 1e-9 * np.sin(40 * X[:, 0]),
                                np.sin(3 * np.pi * X[:, 0]) * np.exp(2 * X[:, 1])])

    model = uqkit.as_model(f, inputs=("x1", "x2"), outputs={"V": 2, "wiggle": 1},
                           vectorized=True)
    params = uqkit.Parameters(x1=uqkit.Uniform(-1, 1), x2=uqkit.Uniform(-1, 1))
    return model, params


def test_poor_fit_warns_with_output_names_and_remedy():
    model, params = _problem()
    with pytest.warns(uqkit.PoorSurrogateWarning, match=r"wiggle \(Q2 = ") as record:
        pce = uqkit.fit_pce(model, params, n=30, rng=0)
    message = str(record[0].message)
    assert "V[" not in message and "more model runs" in message
    assert pce.info["poor_outputs"] == ["wiggle"]
    assert 1 - pce.loo_error["wiggle"] < 0.9 <= 1 - pce.loo_error["V[0]"]


def test_validation_warns_for_poor_outputs_only():
    model, params = _problem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", uqkit.PoorSurrogateWarning)
        pce = uqkit.fit_pce(model, params, n=30, rng=0)
    X = params.sample(64, rng=1)
    with pytest.warns(uqkit.PoorSurrogateWarning, match="validation") as record:
        table = pce.validate(X, model(X))
    assert "wiggle" in str(record[0].message) and "V[" not in str(record[0].message)
    assert table.loc["wiggle", "q2"] < 0.9 < table.loc["V[0]", "q2"]


def test_a_good_fit_does_not_warn():
    simple = uqkit.as_model(lambda X: 2 * X[:, 0] + X[:, 1] ** 2, inputs=("a", "b"),
                            vectorized=True)
    p = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Uniform(0, 1))
    pce = uqkit.fit_pce(simple, p, n=20, rng=0)  # UQKitWarning is an error in this suite
    assert pce.info["poor_outputs"] == []


def test_the_report_shows_the_poor_outputs(tmp_path):
    model, params = _problem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", uqkit.PoorSurrogateWarning)
        pce = uqkit.fit_pce(model, params, n=30, rng=0)
    text = open(uqkit.report(pce, path=tmp_path / "r.html"), encoding="utf-8").read()
    summary = text[text.index("<h2>Summary</h2>"):text.index("<h2>Polynomial chaos")]
    assert "poor surrogate (leave-one-out Q2 &lt; 0.9) for 1 of 3 outputs: wiggle" in summary
    assert "POOR SURROGATE" in text and "more model runs" in text
