"""Multi-fidelity GPs: AR1 reduces to one GP, NARGP on a nonlinear pair, designs, bad input."""

import numpy as np
import pytest

import uqkit


def _models(f_low, f_high, inputs=("x",)):
    low = uqkit.as_model(f_low, inputs=inputs, vectorized=True, name="low")
    high = uqkit.as_model(f_high, inputs=inputs, vectorized=True, name="high")
    return low, high


def test_ar1_with_identical_fidelities_reduces_to_a_single_gp():
    from uqkit.gp._core import fit_core

    f = lambda X: np.sin(6 * X[:, 0]) + X[:, 1] ** 2  # noqa: E731
    low, same = _models(f, f, inputs=("a", "b"))
    params = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Uniform(0, 1))
    mf = uqkit.fit_multifidelity([low, same], params, n=(30, 10), rng=0)
    # the top level's data are the base level's own values: rho = 1, delta = 0, and the
    # prediction is the GP fitted on the 30 base runs alone (same kernel, same data)
    base = mf.levels[0][0].fit
    single = fit_core(params.to_unit(mf.X[0]), mf.Y[0][:, 0], kernel=base.kernel, rng=5)
    Xt = params.sample(200, rng=1)
    mean, sd = mf.predict(Xt, return_std=True)
    m1, v1 = single.predict(params.to_unit(Xt), return_var=True)
    scale = mf.Y[0].std()
    np.testing.assert_allclose(mean[:, 0], m1, atol=1e-4 * scale)
    np.testing.assert_allclose(sd[:, 0], np.sqrt(v1), atol=1e-3 * scale)
    assert mf.rho.iloc[0, 0] == pytest.approx(1.0, abs=1e-4)
    # nested design: the 10 top-level points are among the 30
    assert all(any(np.array_equal(x, y) for y in mf.X[0]) for x in mf.X[1])


def test_nargp_beats_ar1_on_the_nonlinear_pair():
    # Perdikaris et al. (2017), section 3a: 50 low- and 15 high-fidelity runs, target 5 %
    # relative L2. Over seeds 0-9 ours was at most 1.24 % (nested maximin designs); AR1 cannot
    # express f_h = (x - sqrt 2) f_l^2 and stays above 37 %.
    (low, high), params = uqkit.examples.nonlinear_fidelities()
    x = np.linspace(0, 1, 500)[:, None]
    truth = np.asarray(high(x))[:, 0]
    errors = {}
    for method in ("ar1", "nargp"):
        mf = uqkit.fit_multifidelity([low, high], params, n=(50, 15), method=method, rng=0)
        errors[method] = np.linalg.norm(mf(x)[:, 0] - truth) / np.linalg.norm(truth)
    assert errors["nargp"] < 0.05
    assert errors["ar1"] > 5 * errors["nargp"]


def test_ar1_uses_the_cheap_runs_and_is_a_model():
    # linear relation f_h = 2 f_l + b: co-kriging with 40 cheap runs beats a GP on 8 runs
    low, high = _models(lambda X: np.sin(5 * X[:, 0]) * np.exp(X[:, 1]),
                        lambda X: 2 * np.sin(5 * X[:, 0]) * np.exp(X[:, 1]) + X[:, 1],
                        inputs=("a", "b"))
    params = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Uniform(0, 1))
    mf = uqkit.fit_multifidelity([low, high], params, n=(40, 8), rng=1)
    assert tuple(mf.n_evaluations) == (40, 8) and int(mf.n_evaluations) == 48
    Xt = params.sample(300, rng=2)
    Yt = np.asarray(high(Xt))
    val = mf.validate(Xt, Yt)
    from uqkit.gp._core import fit_core

    hf_only = fit_core(params.to_unit(mf.X[1]), mf.Y[1][:, 0], rng=0)
    err_hf = np.sqrt(np.mean((hf_only.predict(params.to_unit(Xt)) - Yt[:, 0]) ** 2)) / Yt.std()
    assert val["relative_rmse"].iloc[0] < 0.2 * err_hf
    assert 0.8 <= val["coverage_95"].iloc[0] <= 1.0
    assert mf.rho.iloc[0, 0] == pytest.approx(2.0, rel=0.05)
    # Model protocol and result display
    assert mf.inputs == ("a", "b") and mf.outputs == ("y",)
    assert mf(Xt[:3]).shape == (3, 1)
    low_pred = mf.predict(Xt[:3], level=0)
    np.testing.assert_allclose(low_pred[:, 0], np.asarray(low(Xt[:3]))[:, 0], rtol=0.05)
    assert "MultiFidelityGP(method='ar1'" in repr(mf)
    assert "<table" in mf._repr_html_()
    assert set(mf.to_dataframe().index.get_level_values("level")) == {0, 1}
    sob = mf.sobol(256, rng=0)
    assert sob.first.shape == (2, 1)
    from uqkit.reports._sections import build_section

    assert build_section(mf, "").kind == "multifidelity"


def test_given_data_are_not_run_again():
    low, high = _models(lambda X: X[:, 0], lambda X: 2 * X[:, 0])
    params = uqkit.Parameters(x=uqkit.Uniform(0, 1))
    Xl = np.linspace(0, 1, 12)[:, None]
    Xh = Xl[::3]
    mf = uqkit.fit_multifidelity([low, high], params, X=[Xl, Xh], Y=[Xl, 2 * Xh + 0.1])
    np.testing.assert_allclose(mf([[0.5]]), [[1.1]], atol=1e-3)


class _Counting:
    vectorized = True

    def __init__(self, inputs, outputs=("y",)):
        self.inputs, self.outputs, self.calls = inputs, outputs, 0

    def __call__(self, X):
        self.calls += 1
        return np.asarray(X)[:, :1]


@pytest.mark.parametrize("models, kwargs, match", [
    ((("x", "y"), ("x", "z")), {}, "same inputs"),
    ((("x", "y"), ("y", "x")), {}, "same inputs"),
    ((("x", "y"), ("x", "y")), {"n": (10, 20)}, "non-increasing"),
    ((("x", "y"), ("x", "y")), {"n": (10,)}, "tuple of 2"),
    ((("x", "y"), ("x", "y")), {"method": "linear"}, "method"),
    ((("x", "y"),), {}, "at least two"),
])
def test_bad_input_is_refused_before_any_run(models, kwargs, match):
    ms = [_Counting(m) for m in models]
    params = uqkit.Parameters(x=uqkit.Uniform(0, 1), y=uqkit.Uniform(0, 1))
    with pytest.raises(uqkit.InvalidParameterError, match=match):
        uqkit.fit_multifidelity(ms, params, **kwargs)
    assert all(m.calls == 0 for m in ms)


def test_mismatched_outputs_and_data_shapes():
    a, b = _Counting(("x",)), _Counting(("x",), outputs=("z",))
    params = uqkit.Parameters(x=uqkit.Uniform(0, 1))
    with pytest.raises(uqkit.InvalidParameterError, match="same outputs"):
        uqkit.fit_multifidelity([a, b], params)
    with pytest.raises(uqkit.InvalidParameterError, match="rows"):
        uqkit.fit_multifidelity([a, a], params, X=[np.zeros((5, 1)), np.zeros((3, 1))],
                                Y=[np.zeros((5, 1)), np.zeros((2, 1))])
    assert a.calls == 0 and b.calls == 0
