"""Likelihoods for calibration (Gaussian groups, LogGaussian, Poisson, NegativeBinomial,
user Likelihood) and failed model runs inside a calibration.

Posterior checks compare with a dense grid on a 2-parameter problem. Tolerances come
from the run's own effective sample size: a mean estimate has Monte-Carlo standard
error ``sd / sqrt(ESS)`` and an sd estimate ``sd / sqrt(2 ESS)`` (Vehtari et al. 2021);
each check allows 4.5 standard errors (two-sided failure probability below 1e-5).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import uqkit

Z = 4.5
T = np.linspace(0.0, 1.0, 8)


def _check_moments(post, mean, sd, names):
    ess = post.ess_bulk[names].to_numpy()
    got_mean = post.samples[names].mean().to_numpy()
    got_sd = post.samples[names].std(ddof=1).to_numpy()
    assert np.all(np.abs(got_mean - mean) <= Z * sd / np.sqrt(ess)), (got_mean, mean, sd, ess)
    assert np.all(np.abs(got_sd - sd) <= Z * sd / np.sqrt(2 * ess)), (got_sd, sd, ess)


def _grid_moments(logpost, grids):
    mesh = np.meshgrid(*grids, indexing="ij")
    pts = np.stack([m.ravel() for m in mesh], axis=1)
    lp = logpost(pts)
    w = np.exp(lp - lp.max())
    w /= w.sum()
    mean = w @ pts
    return mean, np.sqrt(w @ (pts - mean) ** 2)


def _rate(X):
    """Mean count exp(a + b t) at 8 times: a log-linear (Poisson regression) model."""
    return np.exp(X[:, :1] + X[:, 1:2] * T[None, :])


class _Counting:
    """A vectorized model that counts its calls (none may happen before validation)."""

    def __init__(self, f, inputs=("a", "b"), outputs=None):
        self.calls = 0
        self.f = f
        outs = outputs or {"y": len(T)}
        self.model = uqkit.as_model(self, inputs=inputs, outputs=outs, vectorized=True)

    def __call__(self, X):
        self.calls += 1
        return self.f(X)


PRIOR = uqkit.Parameters(a=uqkit.Normal(1.0, 1.0), b=uqkit.Normal(0.0, 1.0))
COUNTS = np.array([2, 4, 3, 6, 5, 9, 8, 12], float)  # drawn once from Poisson(exp(1 + t))
POSITIVE = np.array([2.9, 3.1, 3.8, 4.1, 5.2, 5.5, 6.4, 7.6])


def _laplace(y, data, b):
    return -np.abs(data - y).sum(axis=1) / b - y.shape[1] * np.log(2 * b)


def _prior_lp(P):
    return stats.norm.logpdf(P[:, 0], 1.0, 1.0) + stats.norm.logpdf(P[:, 1], 0.0, 1.0)


CASES = {
    "loggaussian": (uqkit.LogGaussian(0.1), POSITIVE, lambda mu, d: stats.norm.logpdf(
        np.log(d), np.log(mu), 0.1) - np.log(d)),
    "poisson": (uqkit.Poisson(), COUNTS, lambda mu, d: stats.poisson.logpmf(d, mu)),
    "negbinomial": (uqkit.NegativeBinomial(5.0), COUNTS,
                    lambda mu, d: stats.nbinom.logpmf(d, 5.0, 5.0 / (5.0 + mu))),
    "likelihood": (uqkit.Likelihood(lambda y, data: _laplace(y, data, 0.5)), POSITIVE,
                   lambda mu, d: stats.laplace.logpdf(d, mu, 0.5)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_loglike_matches_scipy(case):
    noise, data, ref = CASES[case]
    problem = uqkit.calibration._problem.build_problem(
        _Counting(_rate).model, PRIOR, {"y": data}, noise)
    X = np.array([[1.0, 0.5], [0.3, 1.2], [2.0, -0.5]])
    Y = _rate(X)
    want = ref(Y, data[None, :]).sum(axis=1)
    np.testing.assert_allclose(problem.loglike(X, Y), want, rtol=1e-12)


@pytest.mark.parametrize("case", list(CASES))
def test_posterior_matches_dense_grid(case):
    noise, data, ref = CASES[case]
    post = uqkit.calibrate(_Counting(_rate).model, PRIOR, {"y": data}, noise=noise,
                           target_ess=300, rng=1)
    assert post.converged and post.n_failed == 0

    def logpost(P):
        return ref(_rate(P), data[None, :]).sum(axis=1) + _prior_lp(P)

    grids = [np.linspace(-1.0, 3.0, 401), np.linspace(-2.5, 3.5, 401)]
    mean, sd = _grid_moments(logpost, grids)
    assert np.all(sd < 0.25 * np.array([4.0, 6.0]))  # the grid holds the posterior
    _check_moments(post, mean, sd, ["a", "b"])


def test_negative_binomial_phi_and_user_likelihood_parameters_are_sampled():
    model = _Counting(_rate).model
    post = uqkit.calibrate(model, PRIOR, {"y": COUNTS}, noise=uqkit.NegativeBinomial(),
                           n_steps=30, n_walkers=8, rng=0)
    assert post.names == ("a", "b", "phi")
    assert post.parameters["phi"] == uqkit.Distribution(stats.invgamma(1.0, scale=5.0))
    noise = uqkit.Likelihood(_laplace, uqkit.Parameters(b=uqkit.LogUniform(0.01, 10.0)))
    with pytest.raises(uqkit.InvalidParameterError, match="must not be model inputs"):
        uqkit.calibrate(model, PRIOR, {"y": POSITIVE}, noise=noise, n_steps=10)
    noise = uqkit.Likelihood(_laplace, uqkit.Parameters(scale=uqkit.LogUniform(0.01, 10.0)))
    with pytest.raises(TypeError):  # the function's keyword is b, not scale
        uqkit.calibrate(model, PRIOR, {"y": POSITIVE}, noise=noise, n_steps=10)

    def laplace(y, data, scale):
        return _laplace(y, data, scale)

    noise = uqkit.Likelihood(laplace, uqkit.Parameters(scale=uqkit.LogUniform(0.01, 10.0)))
    post = uqkit.calibrate(model, PRIOR, {"y": POSITIVE}, noise=noise, n_steps=30,
                           n_walkers=8, rng=0)
    assert post.names == ("a", "b", "scale") and "scale" in post.samples


def test_one_sigma_shared_by_default_and_recovered():
    """40 outputs y0..y39 with Gaussian('infer'): one sigma (not 40), and it is recovered."""
    t = np.linspace(0.0, 1.0, 40)
    outputs = tuple(f"y{i}" for i in range(40))
    model = uqkit.as_model(lambda X: X[:, :1] + X[:, 1:2] * t[None, :], inputs=("a", "b"),
                           outputs=outputs, vectorized=True)
    rng = np.random.default_rng(4)
    data = 1.0 + 2.0 * t + 0.3 * rng.standard_normal(40)
    prior = uqkit.Parameters(a=uqkit.Normal(0, 5), b=uqkit.Normal(0, 5))
    post = uqkit.calibrate(model, prior, data, noise=uqkit.Gaussian("infer"), target_ess=200,
                           rng=2)
    assert post.names == ("a", "b", "sigma") and post.converged
    # marginal posterior of sigma on a grid (a and b integrated out in closed form: with a
    # flat-enough prior, sum of squared residuals at the least-squares fit, n - 2 dof)
    A = np.c_[np.ones(40), t]
    rss = float(np.sum((data - A @ np.linalg.lstsq(A, data, rcond=None)[0]) ** 2))
    s = np.linspace(0.15, 0.6, 2000)
    lp = -(40 - 2) * np.log(s) - rss / (2 * s**2) + stats.halfnorm.logpdf(s, scale=np.std(data))
    w = np.exp(lp - lp.max())
    w /= w.sum()
    mean = w @ s
    sd = np.sqrt(w @ (s - mean) ** 2)
    ess = post.ess_bulk["sigma"]
    # the Normal(0, 5) priors on a, b add a small bias: allow 5 % of an sd on top of MC error
    assert abs(post.samples["sigma"].mean() - mean) <= Z * sd / np.sqrt(ess) + 0.05 * sd
    assert abs(mean - 0.3) < 3 * sd


def test_inferred_scale_needs_three_observations_before_any_run():
    counting = _Counting(lambda X: np.c_[X, X, X * 2], inputs=("a",),
                         outputs={"V": 2, "p": 1})
    prior = uqkit.Parameters(a=uqkit.Normal(0, 1))
    with pytest.raises(uqkit.InvalidParameterError, match="at least 3") as err:
        uqkit.calibrate(counting.model, prior, {"V": [0.1, 0.2], "p": 0.3},
                        noise=uqkit.Gaussian("infer", groups="output"), n_steps=10)
    assert "sigma_V" in str(err.value) and "groups=None" in str(err.value)
    with pytest.raises(uqkit.InvalidParameterError, match="at least 3"):
        uqkit.calibrate(counting.model, prior, {"p": [0.3, 0.4]},
                        noise=uqkit.StudentT("infer"), n_steps=10)
    with pytest.raises(uqkit.InvalidParameterError, match="no group for"):
        uqkit.calibrate(counting.model, prior, [[0.1, 0.2, 0.3]] * 3,
                        noise=uqkit.Gaussian("infer", groups={"v": ["V"]}), n_steps=10)
    assert counting.calls == 0
    # three observations in one shared sigma are enough; explicit groups name the scales
    post = uqkit.calibrate(counting.model, prior, {"V": [0.1, 0.2], "p": 0.3},
                           noise=uqkit.Gaussian("infer"), n_steps=10, n_walkers=8, rng=0)
    assert post.names == ("a", "sigma")
    post = uqkit.calibrate(counting.model, prior, [[0.1, 0.2, 0.3]] * 3,
                           noise=uqkit.Gaussian("infer", groups={"v": ["V"], "q": ["p"]}),
                           n_steps=10, n_walkers=8, rng=0)
    assert post.names == ("a", "sigma_v", "sigma_q")


@pytest.mark.parametrize("noise, data, match", [
    (uqkit.Poisson(), [1, 2, -1, 4, 5, 6, 7, 8], "counts"),
    (uqkit.Poisson(), [1, 2, 2.5, 4, 5, 6, 7, 8], "counts"),
    (uqkit.NegativeBinomial(), [1, 2, 3, 4, 5, -6, 7, 8], "counts"),
    (uqkit.LogGaussian(0.1), [1, 2, 0.0, 4, 5, 6, 7, 8], "> 0"),
])
def test_data_the_likelihood_cannot_take_fails_before_any_run(noise, data, match):
    counting = _Counting(_rate)
    with pytest.raises(uqkit.InvalidParameterError, match=match):
        uqkit.calibrate(counting.model, PRIOR, {"y": data}, noise=noise, n_steps=10, rng=0)
    assert counting.calls == 0


def test_non_positive_model_output_is_a_rejection():
    data = np.array([[3.0, 1.0]])
    mask = np.ones_like(data, bool)
    Y = np.array([[2.0, 0.0], [2.0, 1.0], [-1.0, 1.0]])
    for noise, theta in ((uqkit.Poisson(), None), (uqkit.NegativeBinomial(4.0), [4.0, 4.0]),
                         (uqkit.LogGaussian(0.2), [0.2, 0.2])):
        ll = noise.loglike(Y, data, mask, theta)
        assert ll[0] == -np.inf and ll[2] == -np.inf and np.isfinite(ll[1])


def test_borehole_failures_are_rejections_under_the_default_runner():
    """The borehole's own Normal prior proposes rw < 0, where the model returns NaN."""
    model, prior, _ = uqkit.examples.borehole()
    with np.errstate(invalid="ignore"):  # the model's own log(r / rw) at rw < 0
        post = uqkit.calibrate(model, prior, [72.0], noise=uqkit.Gaussian(2.0),
                               max_evaluations=2000, rng=0)
    assert post.n_failed > 0 and not post.cut_off
    assert f"{post.n_failed} failed" in repr(post)
    assert post.summary().attrs["n_failed"] == post.n_failed
    assert np.all(post.samples["rw"] > 0)


def _cliff(kind):
    def f(X):
        if kind == "raise" and X[0, 0] > 0.5:
            raise ValueError("solver diverged")
        Y = X.copy()
        Y[X[:, 0] > 0.5] = np.nan
        return Y
    return f


@pytest.mark.parametrize("policy", ["raise", "skip", "nan"])
def test_a_posterior_cut_off_by_failures_warns(policy):
    """y = k observed at 0 with sigma 1, the model fails for k > 0.5: a cut through the bulk."""
    vectorized = policy != "raise"  # the raising model runs row by row
    model = uqkit.as_model(_cliff("raise" if policy == "raise" else "nan"), inputs=("k",),
                           outputs=("y",), vectorized=vectorized) if vectorized else \
        uqkit.as_model(lambda k: _cliff("raise")(np.array([[k]]))[0, 0], outputs=("y",))
    runner = uqkit.Runner(on_failure=policy, progress=False)
    prior = uqkit.Parameters(k=uqkit.Normal(0.0, 3.0))
    with pytest.warns(uqkit.PosteriorCutOffWarning, match="cut off where the model fails"):
        post = uqkit.calibrate(model, prior, [0.0], noise=uqkit.Gaussian(1.0), runner=runner,
                               max_evaluations=2000, rng=0)
    assert post.cut_off and post.n_failed > 0 and post.samples["k"].max() <= 0.5
    assert "CUT OFF" in repr(post) and "Cut off" in post._repr_html_()


def test_failures_far_in_the_tails_do_not_warn():
    """The model fails for k > 4 (4 posterior sds out): rejections, no warning."""
    model_far = uqkit.as_model(lambda X: np.where(X > 4.0, np.nan, X), inputs=("k",),
                               outputs=("y",), vectorized=True)
    prior = uqkit.Parameters(k=uqkit.Normal(0.0, 3.0))
    post = uqkit.calibrate(model_far, prior, [0.0], noise=uqkit.Gaussian(1.0),
                           max_evaluations=3000, rng=0)
    assert post.n_failed > 0 and not post.cut_off


def test_a_batch_with_many_failures_does_not_trip_the_breaker():
    """32 walkers from a prior where 75 % of the runs fail: more than the runner's 10 failures
    in one batch are rejections, not a circuit-breaker stop; the cut at k = -2 (1 posterior sd
    from the mode at -3) is reported."""
    def f(X):
        return np.where(X[:, :1] > -2.0, np.nan, X)

    model = uqkit.as_model(f, inputs=("k", "l"), outputs=("y", "z"), vectorized=True)
    prior = uqkit.Parameters(k=uqkit.Normal(0.0, 3.0), l=uqkit.Normal(0.0, 3.0))
    with pytest.warns(uqkit.PosteriorCutOffWarning):
        post = uqkit.calibrate(model, prior, [-3.0, 0.0], noise=uqkit.Gaussian(1.0),
                               n_walkers=32, max_evaluations=2000, rng=0)
    assert post.n_failed > 32 and post.cut_off


def test_a_model_that_fails_everywhere_is_stopped():
    model = uqkit.as_model(lambda X: np.full_like(X, np.nan), inputs=("k",), outputs=("y",),
                           vectorized=True)
    with pytest.raises(uqkit.ModelEvaluationError, match="looks broken"):
        uqkit.calibrate(model, uqkit.Parameters(k=uqkit.Normal(0, 1)), [0.0],
                        noise=uqkit.Gaussian(1.0), max_evaluations=3000, rng=0)


def test_runner_per_call_failure_overrides():
    # one model call per row, so the 20 failing rows are 20 failed evaluations in a row
    model = uqkit.as_model(lambda k: np.nan if k > 0 else k, outputs=("y",))
    runner = uqkit.Runner(progress=False)  # on_failure="raise", breaker at 10
    X = np.linspace(-1.0, 1.0, 40)[:, None]  # 20 failing rows
    with pytest.raises(uqkit.ModelEvaluationError):
        runner.evaluate(model, X)
    with pytest.raises(uqkit.ModelEvaluationError, match="Circuit breaker"):
        runner.evaluate(model, X, on_failure="skip")
    ev = runner.evaluate(model, X, on_failure="skip", max_consecutive_failures=41)
    assert ev.ok.sum() == 20 and runner.on_failure == "raise"
    with pytest.raises(uqkit.InvalidParameterError, match="on_failure"):
        runner.evaluate(model, X, on_failure="ignore")


def test_noise_parameter_prior_from_the_prior_parameters():
    prior = uqkit.Parameters(a=uqkit.Normal(1.0, 1.0), b=uqkit.Normal(0.0, 1.0),
                             phi=uqkit.LogUniform(0.1, 100.0))
    post = uqkit.calibrate(_Counting(_rate).model, prior, {"y": COUNTS},
                           noise=uqkit.NegativeBinomial(), n_steps=10, n_walkers=8, rng=0)
    assert post.parameters["phi"] == uqkit.LogUniform(0.1, 100.0)
    with pytest.raises(uqkit.InvalidParameterError, match="non-negative support"):
        uqkit.calibrate(_Counting(_rate).model, PRIOR.__class__(
            a=uqkit.Normal(1.0, 1.0), b=uqkit.Normal(0.0, 1.0), phi=uqkit.Normal(1.0, 1.0)),
            {"y": COUNTS}, noise=uqkit.NegativeBinomial(), n_steps=10)


def test_an_inferred_scale_may_not_shadow_a_model_input():
    model = uqkit.as_model(lambda X: X, inputs=("sigma",), outputs=("y",), vectorized=True)
    prior = uqkit.Parameters(sigma=uqkit.Normal(0, 1))
    with pytest.raises(uqkit.InvalidParameterError, match="name of a model input"):
        uqkit.calibrate(model, prior, [[0.1], [0.2], [0.3]], noise=uqkit.Gaussian("infer"),
                        n_steps=10)
