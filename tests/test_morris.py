"""uqkit.morris: exact effects of linear models, the design, screening ranking, API."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from scipy import stats

import uqkit
from uqkit.examples import sobol_g

matplotlib.use("Agg")


class _Recorder:
    def __init__(self, func, inputs):
        self.func, self.inputs, self.outputs = func, inputs, ("y",)
        self.vectorized, self.name, self.X = True, "recorder", []

    def __call__(self, X):
        self.X.append(np.array(X))
        return self.func(X)


def test_linear_model_effects_are_exact():
    # y = c . x: every elementary effect of x_i ~ U(a, b) is c_i (b - a) (per unit
    # quantile); for x ~ N(0, s) with 4 levels at quantiles 1/8..7/8 and a step of 2
    # levels, every effect is c s (ppf(5/8) - ppf(1/8)) / (1/2). Deterministic: rtol 1e-12.
    c = np.array([1.0, -2.0, 3.0])
    model = uqkit.as_model(lambda X: X @ c, inputs=("a", "b", "z"), vectorized=True)
    params = uqkit.Parameters(a=uqkit.Uniform(0, 2), b=uqkit.Uniform(-1, 1),
                              z=uqkit.Normal(5, 0.5))
    res = uqkit.morris(model, params, 20, rng=1)
    z_effect = 3.0 * 0.5 * (stats.norm.ppf(5 / 8) - stats.norm.ppf(1 / 8)) / 0.5
    np.testing.assert_allclose(res.mu["y"], [2.0, -4.0, z_effect], rtol=1e-12)
    np.testing.assert_allclose(res.mu_star["y"], [2.0, 4.0, z_effect], rtol=1e-12)
    np.testing.assert_allclose(res.sigma["y"], 0.0, atol=1e-12)
    assert res.n_evaluations == 20 * 4


def test_trajectories_move_one_factor_at_a_time():
    # the design itself (private helper: the runner deduplicates rows, so the model
    # does not see every trajectory point)
    from uqkit.sensitivity._morris import _trajectories

    points, order, signed = _trajectories(30, 5, 6, np.random.default_rng(2))
    steps = np.diff(points, axis=1)  # (trajectory, step, input)
    moved = np.abs(steps) > 1e-12
    assert np.all(moved.sum(2) == 1)  # one input per step
    assert np.all(moved.sum(1) == 1)  # each input moves once per trajectory
    assert np.all(np.argmax(moved, axis=2) == order)
    # step = levels / (2 (levels - 1)) = 3/5 grid units, on the grid {0, 1/5, ..., 1}
    np.testing.assert_allclose(np.abs(steps[moved]), 0.6, rtol=1e-12)
    np.testing.assert_allclose(steps[moved].reshape(30, 5), signed, rtol=1e-12)
    assert set(np.unique(np.round(points * 5, 9))) <= {0.0, 1.0, 2.0, 3.0, 4.0, 5.0}


def test_g_function_screening_ranking():
    # Saltelli & Sobol' (1995): importance decreases with a_i = 0, 1, 4.5, 9, 99...
    model, params, ref = sobol_g()
    res = uqkit.morris(model, params, 100, rng=3)
    assert res.ranking()[:4] == ["x1", "x2", "x3", "x4"]
    low, high = res.mu_star_ci["low"]["y"], res.mu_star_ci["high"]["y"]
    assert np.all((low <= res.mu_star["y"]) & (res.mu_star["y"] <= high))
    assert high["x4"] < low["x3"]  # separated at this n
    assert res.sigma.loc["x1", "y"] > 0  # x1 interacts with x2 (product form)


def test_same_rng_same_result():
    model, params, _ = sobol_g()
    a = uqkit.morris(model, params, 10, rng=4)
    b = uqkit.morris(model, params, 10, rng=4)
    assert a.mu_star.equals(b.mu_star) and a.mu_star_ci.equals(b.mu_star_ci)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_trajectories": 1}, "'n_trajectories' parameter of morris"),
    ({"levels": 5}, "'levels' parameter of morris"),
    ({"confidence": 0}, "'confidence' parameter of morris"),
])
def test_invalid_arguments_fail_before_any_run(kwargs, match):
    params = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Uniform(0, 1))
    rec = _Recorder(lambda X: X.sum(1), ("a", "b"))
    args = {"n_trajectories": 10, **kwargs}
    with pytest.raises(uqkit.InvalidParameterError, match=match):
        uqkit.morris(rec, params, args.pop("n_trajectories"), **args)
    assert rec.X == []


def test_failed_runs_drop_whole_trajectories():
    params = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Uniform(0, 1))
    model = uqkit.as_model(lambda X: np.where(X[:, 0] > 0.8, np.nan, X[:, 0] + 2 * X[:, 1]),
                           inputs=("a", "b"), vectorized=True)
    res = uqkit.morris(model, params, 40, rng=5,
                       runner=uqkit.Runner(on_failure="nan", max_consecutive_failures=10**6))
    assert res.n_failed > 0 and res.info["n_dropped_trajectories"] > 0
    np.testing.assert_allclose(res.mu["y"], [1.0, 2.0], rtol=1e-12)


def test_result_api(tmp_path):
    model, params, _ = sobol_g()
    res = uqkit.morris(model, params, 20, rng=6)
    df = res.to_dataframe()
    assert list(df.columns) == ["input", "output", "mu", "mu_star", "sigma", "mu_star_low",
                                "mu_star_high"]
    assert "MorrisResult(n_trajectories=20" in repr(res)
    assert "<table" in res._repr_html_()
    ax = res.plot()
    assert ax.get_xlabel().startswith("mu*")
    text = open(res.report(tmp_path / "m.html"), encoding="utf-8").read()
    assert "data:image/png;base64," in text and "x1" in text


def _salib_mu_star(func, bounds, r, seed):
    from SALib.analyze import morris as salib_analyze
    from SALib.sample import morris as salib_sample

    problem = {"num_vars": len(bounds), "names": [f"x{i + 1}" for i in range(len(bounds))],
               "bounds": bounds}
    X = salib_sample.sample(problem, r, num_levels=4, seed=seed)
    S = salib_analyze.analyze(problem, X, func(X), num_levels=4, seed=seed)
    return np.asarray(S["mu_star"]), np.asarray(S["mu_star_conf"]) / 1.96


def test_ishigami_x2_is_not_missed():
    # Ishigami x2 enters as 7 sin(x2)^2, whose period is half the range: with the
    # standard step 2/3 of the range (Morris 1991, p = 4), each elementary effect is
    # 7 * 0.75 / (2/3) = 7.875 exactly, as SALib gives with num_levels=4.
    model, params, _ = uqkit.examples.ishigami()
    res = uqkit.morris(model, params, 20, rng=0)
    np.testing.assert_allclose(res.mu_star.loc["x2", "y"], 7.875, rtol=1e-12)


def test_half_range_periodic_input_is_not_missed():
    # y = sin(4 pi x1) + x2 on U(0, 1)^2: grid {0, 1/3, 2/3, 1}, step 2/3, so every
    # |effect| of x1 is sin(2 pi / 3) / (2/3) = 1.299... exactly; x2's is 1.
    model = uqkit.as_model(lambda X: np.sin(4 * np.pi * X[:, 0]) + X[:, 1],
                           inputs=("x1", "x2"), vectorized=True)
    params = uqkit.Parameters(x1=uqkit.Uniform(0, 1), x2=uqkit.Uniform(0, 1))
    res = uqkit.morris(model, params, 20, rng=1, n_resamples=0)
    np.testing.assert_allclose(res.mu_star["y"], [np.sin(2 * np.pi / 3) * 1.5, 1.0],
                               rtol=1e-12)
    mu_salib, _ = _salib_mu_star(lambda X: np.sin(4 * np.pi * X[:, 0]) + X[:, 1],
                                 [[0, 1], [0, 1]], 20, seed=1)
    np.testing.assert_allclose(mu_salib, res.mu_star["y"], rtol=1e-12)


@pytest.mark.parametrize("example", ["ishigami", "sobol_g"])
def test_mu_star_agrees_with_salib(example):
    # Same grid and step as SALib (num_levels=4); independent designs, so the two
    # mu_star differ by Monte-Carlo error only: |diff| < 4 sqrt(se_uqkit^2 + se_salib^2),
    # each se from its bootstrap interval (95 %: half-width 1.96 se).
    model, params, _ = getattr(uqkit.examples, example)()
    res = uqkit.morris(model, params, 100, rng=7)
    bounds = [[-np.pi, np.pi]] * 3 if example == "ishigami" else [[0, 1]] * params.dim
    mu_salib, se_salib = _salib_mu_star(lambda X: model(X)[:, 0], bounds, 100, seed=7)
    ci = res.mu_star_ci
    se = (ci["high"]["y"] - ci["low"]["y"]).to_numpy() / (2 * 1.96)
    diff = np.abs(res.mu_star["y"].to_numpy() - mu_salib)
    assert np.all(diff <= 4 * np.hypot(se, se_salib) + 1e-12), (res.mu_star["y"], mu_salib)


def test_example_indexes_like_a_tuple():
    # the README indexes examples: uqkit.examples.sobol_g()[2] is the reference
    ex = uqkit.examples.sobol_g()
    model, params, ref = ex
    assert ex[0] is model and ex[1] is params and ex[2] is ref and ex[-1] is ref
    assert ex[:2] == (model, params) and len(ex) == 3


def test_no_run_on_a_degenerate_bound():
    # a lognormal's quantile 0 is E = 0, where y = 1 / E is infinite: that side of the
    # grid is cut at the quantile 1/8 (as for unbounded inputs), the uniform side is not
    model = uqkit.as_model(lambda X: X[:, 1] / X[:, 0], inputs=("E", "L"), vectorized=True)
    params = uqkit.Parameters(E=uqkit.LogNormal(0.0, 0.5), L=uqkit.Uniform(1, 2))
    res = uqkit.morris(model, params, 10, rng=0, n_resamples=0)
    assert res.n_failed == 0 and np.isfinite(res.mu_star["y"]).all()
