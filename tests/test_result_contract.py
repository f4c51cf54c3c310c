"""One contract for every result type: the members a user can rely on whatever the method.

In the spirit of scikit-learn's ``parametrize_with_checks``: each result type is built
once on a small problem and checked for the same members: a frozen dataclass, a short
``repr``, ``_repr_html_``, ``to_dataframe()``, ``plot()`` returning matplotlib axes,
``report(path)`` writing the HTML and its JSON, and ``n_evaluations``.
"""

from __future__ import annotations

import dataclasses
import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

import uqkit

ISHIGAMI = uqkit.examples.ishigami()


class _Identity:
    """y1 = a, y2 = b, vectorized."""

    inputs, outputs, vectorized, name = ("a", "b"), ("y1", "y2"), True, "identity2"

    def __call__(self, X):
        return np.asarray(X, dtype=float).copy()


class _Emulator:
    """A fitted stand-in emulator of the identity model (history matching's own kind)."""

    inputs, outputs = ("a", "b"), ("y1", "y2")

    def predict(self, X, return_std=False):
        X = np.asarray(X, dtype=float)
        return (X, np.full_like(X, 0.01)) if return_std else X


def _sobol():
    model, params, _ = ISHIGAMI
    return uqkit.sobol(model, params, 64, rng=0)


def _morris():
    model, params, _ = ISHIGAMI
    return uqkit.morris(model, params, 8, rng=0)


def _sensitivity():
    model, params, _ = ISHIGAMI
    return uqkit.sensitivity(model, params, 256, method="rbd_fast", rng=0)


def _pce():
    model, params, _ = ISHIGAMI
    return uqkit.fit_pce(model, params, n=120, rng=0)


def _gp():
    model, params, _ = ISHIGAMI
    return uqkit.fit_gp(model, params, n=30, rng=0)


def _multifidelity():
    params = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Uniform(0, 1))
    low = uqkit.as_model(lambda a, b: a + b, outputs=("y",), name="low")
    high = uqkit.as_model(lambda a, b: 2 * (a + b) + 0.1 * a * b, outputs=("y",), name="high")
    return uqkit.fit_multifidelity([low, high], params, n=(20, 6), rng=0)


def _history():
    prior = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Uniform(0, 1))
    return uqkit.history_match(_Emulator(), prior, [0.5, 0.5], obs_variance=(0.2 / 6) ** 2,
                               rng=0)


def _posterior():
    model = uqkit.as_model(lambda a, b: (a + b, a - b), outputs=("s", "d"), name="lin")
    prior = uqkit.Parameters(a=uqkit.Normal(0, 1), b=uqkit.Normal(0, 1))
    data = {"s": [0.3], "d": [0.1]}
    return uqkit.calibrate(model, prior, data, noise=uqkit.Gaussian(0.5), rng=0,
                           max_evaluations=3000, target_ess=100)


def _evaluations():
    return uqkit.Runner().evaluate(_Identity(), np.array([[0.1, 0.2], [0.3, 0.4]]))


BUILDERS = {"SobolResult": _sobol, "MorrisResult": _morris,
            "SensitivityResult": _sensitivity, "PolynomialChaos": _pce,
            "GaussianProcess": _gp, "MultiFidelityGP": _multifidelity,
            "HistoryMatch": _history, "Posterior": _posterior, "Evaluations": _evaluations}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def result(request):
    out = BUILDERS[request.param]()
    assert type(out).__name__ == request.param
    return out


def test_every_public_result_type_is_in_the_contract():
    public = {name for name in uqkit._EXPORTS
              if isinstance(getattr(uqkit, name), type)
              and dataclasses.is_dataclass(getattr(uqkit, name))
              and hasattr(getattr(uqkit, name), "to_dataframe")}
    assert public <= set(BUILDERS), sorted(public - set(BUILDERS))


def test_is_a_frozen_dataclass(result):
    assert dataclasses.is_dataclass(result)
    field = dataclasses.fields(result)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(result, field, None)


def test_repr_is_short_and_names_the_type(result):
    text = repr(result)
    assert type(result).__name__ in text
    assert len(text) < 3000 and "array(" not in text


def test_repr_html_is_html(result):
    html = result._repr_html_()
    assert isinstance(html, str) and html.lstrip().startswith("<") and len(html) > 100


def test_to_dataframe_is_a_nonempty_frame(result):
    df = result.to_dataframe()
    assert isinstance(df, pd.DataFrame) and df.size > 0


def test_plot_returns_axes(result):
    import matplotlib.pyplot as plt

    axes = result.plot()
    flat = np.ravel(np.asarray(axes, dtype=object))
    assert flat.size and all(isinstance(a, matplotlib.axes.Axes) for a in flat)
    plt.close("all")


def test_report_writes_html_and_json(result, tmp_path):
    out = result.report(tmp_path / "r.html")
    assert str(out).endswith("r.html") and (tmp_path / "r.html").stat().st_size > 1000
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["sections"]


def test_n_evaluations_is_a_count(result):
    n = result.n_evaluations
    assert int(n) >= 0
