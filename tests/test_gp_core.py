"""The GP engine (uqkit.gp._core): interpolation, gradients, closed-form leave-one-out."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from uqkit.gp._core import _Objective, constant_trend, fit_core, linear_trend


def _data(n=25, d=3, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    U = rng.uniform(size=(n, d))
    y = np.sin(3 * U[:, 0]) + U[:, 1] ** 2 + 0.3 * U[:, 2] + noise * rng.standard_normal(n)
    return U, y


@pytest.mark.parametrize("kernel", ["matern52", "matern32", "rbf"])
@pytest.mark.parametrize("likelihood", ["ml", "reml"])
def test_gradient_matches_finite_differences(kernel, likelihood):
    U, y = _data()
    ys = (y - y.mean()) / y.std()
    obj = _Objective(U, ys, linear_trend()(U), kernel, True, 0.0, likelihood, True)
    theta = np.log([0.5, 0.7, 2.0, 1e-3])
    numeric = approx_fprime(theta, lambda t: obj(t)[0], 1e-6)
    # central-difference-free forward differences: error O(h * curvature) ~ 1e-4
    np.testing.assert_allclose(obj(theta)[1], numeric, atol=2e-4 * (1 + np.abs(numeric).max()))


@pytest.mark.parametrize("kernel", ["matern52", "matern32", "rbf"])
def test_noise_free_data_is_interpolated(kernel):
    U, y = _data()
    gp = fit_core(U, y, kernel=kernel, rng=0)
    mean, var = gp.predict(U, return_var=True)
    # exact up to the jitter that keeps the near-singular correlation matrix factorable
    np.testing.assert_allclose(mean, y, atol=1e-3 * y.std())
    assert np.all(var < 1e-4 * y.var())
    Z, z = _data(n=200, seed=9)
    mean_z, var_z = gp.predict(Z, return_var=True)
    assert np.abs(mean_z - z).max() > 10 * np.abs(mean - y).max()
    assert var_z.max() > 100 * var.max()


@pytest.mark.parametrize("trend", [constant_trend(), linear_trend()], ids=lambda t: t.name)
def test_closed_form_loo_equals_brute_force_refits(trend):
    U, y = _data(n=20, noise=0.05)
    gp = fit_core(U, y, trend=trend, rng=1)
    res, var = gp.loo()
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        # same hyperparameters and process variance; beta re-estimated without point i
        sub = fit_core(U[keep], y[keep], trend=trend, lengthscales=gp.lengthscales,
                       nugget=gp.nugget)
        mean, v = sub.predict(U[i:i + 1], return_var=True, include_noise=True)
        np.testing.assert_allclose(res[i], y[i] - mean[0], rtol=1e-7, atol=1e-10)
        scale = gp.sigma2 * gp.y_scale ** 2 / (sub.sigma2 * sub.y_scale ** 2)
        np.testing.assert_allclose(var[i], v[0] * scale, rtol=1e-7)


def test_noisy_data_gets_a_nugget():
    U, y = _data(n=60, noise=0.1, seed=3)
    gp = fit_core(U, y, rng=0)
    noise_sd = np.sqrt(gp.nugget * gp.sigma2) * gp.y_scale
    assert 0.05 < noise_sd < 0.2


def test_sample_and_condition_agree_with_predict():
    U, y = _data(n=15)
    gp = fit_core(U, y, rng=0)
    Z = np.random.default_rng(5).uniform(size=(6, 3))
    draws = gp.sample(Z, 4000, rng=0)
    mean, var = gp.predict(Z, return_var=True)
    # 4000 draws: the sample mean is within 5 standard errors
    assert np.all(np.abs(draws.mean(0) - mean) < 5 * np.sqrt(var / 4000) + 1e-12)
    np.testing.assert_allclose(draws.var(0), var, rtol=0.15, atol=1e-12)
    more = gp.condition(Z, mean)
    np.testing.assert_allclose(more.predict(Z), mean, atol=1e-6 * y.std())
    assert np.all(more.predict(Z, return_var=True)[1] < 1e-6 * y.var())
