"""Sampling methods of ``calibrate`` (ensemble, SMC, emcee, auto) and ``compare``.

Exact references: the linear-Gaussian model has a Gaussian posterior and a
Gaussian evidence ``y ~ N(A m0, A S0 A' + sigma^2 I)`` in closed form (Bishop
2006, Pattern Recognition and Machine Learning, eq. 3.49-3.51 and 3.86).
Tolerances are the run's Monte-Carlo standard errors (means ``sd / sqrt(ESS)``,
sds ``sd / sqrt(2 ESS)``, Vehtari et al. 2021), 4.5 of them per check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import uqkit

Z = 4.5
A = np.array([[1.0, 0.5], [0.2, -1.0], [1.5, 0.3], [-0.4, 0.8], [0.7, 0.7]])
M0, S0, SIGMA = np.array([0.5, -0.3]), np.array([1.0, 2.0]), 0.4
DATA = A @ np.array([1.0, -0.5]) + SIGMA * np.random.default_rng(0).standard_normal(5)
PRIOR = uqkit.Parameters(a=uqkit.Normal(M0[0], S0[0]), b=uqkit.Normal(M0[1], S0[1]))


def _model(name="linear", design=A):
    return uqkit.as_model(lambda X: X @ design.T, inputs=("a", "b"),
                          outputs=tuple(f"y{i}" for i in range(len(design))), vectorized=True,
                          name=name)


def _exact(design=A, data=DATA):
    """Posterior mean, sd and the exact log evidence of the linear-Gaussian model."""
    S0inv = np.diag(1 / S0**2)
    Sn = np.linalg.inv(S0inv + design.T @ design / SIGMA**2)
    mn = Sn @ (S0inv @ M0 + design.T @ data / SIGMA**2)
    cov = design @ np.diag(S0**2) @ design.T + SIGMA**2 * np.eye(len(data))
    log_z = stats.multivariate_normal(design @ M0, cov).logpdf(data)
    return mn, np.sqrt(np.diag(Sn)), float(log_z)


def _check_moments(post, mean, sd):
    ess = post.ess_bulk.to_numpy()
    got_mean = post.samples.mean().to_numpy()
    got_sd = post.samples.std(ddof=1).to_numpy()
    assert np.all(np.abs(got_mean - mean) <= Z * sd / np.sqrt(ess)), (got_mean, mean, ess)
    assert np.all(np.abs(got_sd - sd) <= Z * sd / np.sqrt(2 * ess)), (got_sd, sd, ess)


@pytest.mark.parametrize("method, kw", [
    ("ensemble", {"target_ess": 300}),
    ("smc", {"n_walkers": 400, "target_ess": 300}),
    # emcee's walkers reach R-hat < 1.01 slowly (each walker's own chain mixes slowly):
    # a fixed number of steps, checked against its own ESS
    ("emcee", {"n_walkers": 16, "n_steps": 300, "target_ess": None}),
    ("auto", {"target_ess": 300}),
])
def test_linear_gaussian_posterior_and_evidence_for_every_method(method, kw):
    mn, sd, log_z = _exact()
    post = uqkit.calibrate(_model(), PRIOR, DATA, noise=uqkit.Gaussian(SIGMA), method=method,
                           rng=5, **kw)
    assert post.converged or kw["target_ess"] is None
    _check_moments(post, mn, sd)
    if method == "auto":
        assert post.method == "smc+ensemble" and "prior draws" in post.method_reason
    else:
        assert post.method == method
    if method in ("smc", "auto"):
        # the evidence's standard error covers its error; with SMC's 400 particles (auto's
        # stage has 200) the error is also within 0.2 nats
        err = abs(post.log_evidence - log_z)
        assert err <= 3 * post.log_evidence_se, (post.log_evidence, log_z, post.log_evidence_se)
        assert method == "auto" or err <= 0.2
    else:
        assert math.isnan(post.log_evidence) and math.isnan(post.log_evidence_se)


def test_smc_weighs_the_modes_of_a_bimodal_posterior():
    """y = theta^2 + noise with an off-centre prior: two modes at +-1 whose weights follow
    the prior; the reference weight comes from a dense grid, the tolerance from the
    binomial standard error ``sqrt(p (1 - p) / ESS)``."""
    model = uqkit.as_model(lambda X: X[:, :1] ** 2, inputs=("t",), outputs=("y",),
                           vectorized=True, name="square")
    prior = uqkit.Parameters(t=uqkit.Normal(0.4, 1.0))
    noise = 0.1
    grid = np.linspace(-3, 3, 200_001)
    logp = stats.norm(0.4, 1.0).logpdf(grid) + stats.norm(grid**2, noise).logpdf(1.0)
    w = np.exp(logp - logp.max())
    p_plus = w[grid > 0].sum() / w.sum()
    post = uqkit.calibrate(model, prior, [1.0], noise=uqkit.Gaussian(noise), method="smc",
                           n_walkers=1000, target_ess=None, rng=2)
    got = float((post.samples["t"] > 0).mean())
    ess = post.ess_bulk["t"]
    assert abs(got - p_plus) <= Z * math.sqrt(p_plus * (1 - p_plus) / ess), (got, p_plus, ess)


def test_compare_picks_the_model_that_generated_the_data(tmp_path):
    other = np.c_[np.ones(len(A)), A[:, 1]]  # an intercept instead of the slope in a
    posts = [uqkit.calibrate(_model(name, design), PRIOR, DATA, noise=uqkit.Gaussian(SIGMA),
                             method="smc", n_walkers=300, target_ess=None, rng=1)
             for name, design in (("true", A), ("other", other))]
    table = uqkit.compare(*posts)
    assert list(table.index) == ["true", "other"]
    assert table.loc["true", "log_bayes_factor"] == 0.0
    assert abs(table["probability"].sum() - 1.0) < 1e-12
    # the exact Bayes factor, to the two runs' standard errors (in quadrature)
    exact = _exact(other)[2] - _exact()[2]
    se = math.hypot(*table["log_evidence_se"])
    assert abs(table.loc["other", "log_bayes_factor"] - exact) <= Z * se + 0.2
    assert table.loc["true", "probability"] > 0.95
    assert table.attrs["title"]
    page = uqkit.report(table, path=tmp_path / "compare.html")
    assert "Model comparison" in open(page, encoding="utf-8").read()
    named = uqkit.compare(*posts, names=["A", "B"])
    assert set(named.index) == {"A", "B"}
    with pytest.raises(uqkit.InvalidParameterError, match="one name per posterior"):
        uqkit.compare(*posts, names=["A"])


class _Counting:
    def __init__(self):
        self.inputs, self.outputs = ("a", "b"), tuple(f"y{i}" for i in range(5))
        self.name, self.version, self.vectorized, self.calls = "linear", "1", True, 0

    def __call__(self, X):
        self.calls += 1
        return X @ A.T


@pytest.mark.parametrize("method, kw, match", [
    ("emcee", {"surrogate": "pce"}, "surrogate"),
    ("smc", {"surrogate": "pce"}, "surrogate"),
    ("smc", {"initial": [0.0, 0.0]}, "initial"),
    ("smc", {"n_steps": 100}, "n_steps"),
    ("emcee", {"n_walkers": 3}, "n_walkers"),
    ("mcmc", {}, "method"),
])
def test_unsupported_combinations_fail_before_any_run(method, kw, match):
    model = _Counting()
    with pytest.raises(uqkit.InvalidParameterError, match=match):
        uqkit.calibrate(model, PRIOR, DATA, noise=uqkit.Gaussian(SIGMA), method=method, rng=0,
                        **kw)
    assert model.calls == 0


class _Interrupting(_Counting):
    """Raises KeyboardInterrupt at call ``stop`` (a killed process, in-process)."""

    def __init__(self, stop):
        super().__init__()
        self.stop = stop

    def __call__(self, X):
        if self.calls + 1 == self.stop:
            self.calls += 1
            raise KeyboardInterrupt
        return super().__call__(X)


@pytest.mark.parametrize("method, kw, stop", [
    ("smc", {"n_walkers": 200, "max_evaluations": 6000}, 5),
    ("emcee", {"n_walkers": 8, "max_evaluations": 480}, 20),
    ("auto", {"max_evaluations": 1200}, 30),  # in the ensemble stage, after SMC's
])
def test_interrupted_run_resumes_bitwise(tmp_path, method, kw, stop):
    args = dict(noise=uqkit.Gaussian(SIGMA), method=method, target_ess=None, rng=4, **kw)
    ref = uqkit.calibrate(_Counting(), PRIOR, DATA, **args)
    store = tmp_path / "s.db"
    with pytest.raises(KeyboardInterrupt):
        uqkit.calibrate(_Interrupting(stop=stop), PRIOR, DATA,
                        runner=uqkit.Runner(store=store, progress=False), **args)
    again = uqkit.calibrate(_Counting(), PRIOR, DATA,
                            runner=uqkit.Runner(store=store, progress=False), **args)
    assert again.resumed_at is not None
    np.testing.assert_array_equal(again.chain, ref.chain)
    np.testing.assert_array_equal(again.log_posterior, ref.log_posterior)
    assert again.n_model_evaluations == ref.n_model_evaluations
    assert again.log_evidence == ref.log_evidence or (
        math.isnan(again.log_evidence) and math.isnan(ref.log_evidence))


def test_a_changed_method_is_refused_naming_it(tmp_path):
    runner = uqkit.Runner(store=tmp_path / "m.db", progress=False)
    args = dict(noise=uqkit.Gaussian(SIGMA), target_ess=None, rng=3, max_evaluations=4000)
    uqkit.calibrate(_model(), PRIOR, DATA, runner=runner, method="smc", n_walkers=200, **args)
    with pytest.raises(uqkit.StudyMismatchError, match="method"):
        uqkit.calibrate(_model(), PRIOR, DATA, runner=runner, method="emcee", n_walkers=200,
                        **args)


def test_progress_bar_follows_the_runner_setting(monkeypatch):
    from types import SimpleNamespace

    from uqkit.calibration import _progress
    assert _progress.Progress(SimpleNamespace(progress="auto"), 100).bar is None  # no terminal
    assert _progress.Progress(SimpleNamespace(progress=False), 100).bar is None
    seen = []
    update = _progress.Progress.update

    def spy(self, done, status=""):
        seen.append((self.bar is not None, done, status))
        update(self, done, status)
    monkeypatch.setattr(_progress.Progress, "update", spy)
    post = uqkit.calibrate(_model(), PRIOR, DATA, noise=uqkit.Gaussian(SIGMA), method="smc",
                           n_walkers=100, target_ess=None, rng=0,
                           runner=uqkit.Runner(progress=True))
    assert all(shown for shown, _, _ in seen) and len(seen) > 2
    assert seen[-1][1] == post.n_model_evaluations and "temperature 1" in seen[-1][2]
