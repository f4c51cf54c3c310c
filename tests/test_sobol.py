"""Reference tests of uqkit.sobol.

Tolerances: comparisons with a reference value use the estimator's bootstrap
standard error at the test's n (``first_se`` / ``total_se``) times Z = 4.5. The
bootstrap resamples base samples as if they were i.i.d.; for these smooth models
the scrambled-Sobol' (randomised QMC) error is well below that SE, so a false
failure is essentially impossible while a biased estimator (an error of a few
SE) still fails. The G-function test uses the replicate SE over independent
scrambles instead, because there the QMC error of tiny indices can exceed the
i.i.d. bootstrap SE (see that test).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import uqkit
from uqkit.examples import borehole, ishigami, sobol_g

Z = 4.5


def _within(result, ref_first, ref_total, output="y", extra=0.0):
    names = list(result.first.index)
    s1 = result.first[output].to_numpy()
    st = result.total[output].to_numpy()
    se1 = result.first_se[output].to_numpy()
    set_ = result.total_se[output].to_numpy()
    r1 = np.asarray([ref_first[n] for n in names])
    rt = np.asarray([ref_total[n] for n in names])
    np.testing.assert_array_less(np.abs(s1 - r1), Z * se1 + extra + 1e-12)
    np.testing.assert_array_less(np.abs(st - rt), Z * set_ + extra + 1e-12)


@pytest.mark.parametrize("method", ["saltelli_2010", "jansen_1999", "janon_2014"])
def test_ishigami_closed_form(method):
    # Ishigami & Homma (1990); closed forms in Sobol' & Levitan (1999).
    model, params, ref = ishigami()
    res = uqkit.sobol(model, params, 2**12, method=method, rng=1)
    _within(res, ref.first, ref.total)
    assert res.n_evaluations == 2**12 * 5
    assert res.n_samples == 2**12
    assert res.n_failed == 0
    # the bootstrap SE is the right order of magnitude: 1/sqrt(n) scale, not 0 or huge
    assert 1e-3 < res.first_se["y"].max() < 0.05
    assert res.info["stopping_reason"] == "fixed n"
    assert math.isclose(res.mean["y"], ref.mean, abs_tol=Z * math.sqrt(ref.variance / 2**13))


def test_ishigami_second_order():
    # Saltelli (2002) estimator: S13 = V13 / V, S12 = S23 = 0 (Sobol' & Levitan 1999).
    model, params, ref = ishigami()
    res = uqkit.sobol(model, params, 2**12, second_order=True, rng=2)
    assert res.n_evaluations == 2**12 * 8
    v13 = 0.1**2 * math.pi**8 * (1 / 18 - 1 / 50)
    exact = {("x1", "x2"): 0.0, ("x1", "x3"): v13 / ref.variance, ("x2", "x3"): 0.0}
    for pair, value in exact.items():
        low, high = res.second_ci["low"].loc[pair, "y"], res.second_ci["high"].loc[pair, "y"]
        se = (high - low) / (2 * 1.96)  # percentile 95% interval -> SE
        assert abs(res.second.loc[pair, "y"] - value) < Z * se


@pytest.mark.parametrize("a", [(0, 1, 4.5, 9, 99, 99, 99, 99),
                               (0, 1, 4.5, 9) + (99,) * 16])
def test_g_function(a):
    # Saltelli & Sobol' (1995) closed form; d = 8 and d = 20. Here the tolerance comes
    # from the *replicate* SE (K independent scrambles): for some Sobol' dimension pairs
    # (e.g. x6 of G8 at n=2^11) the randomised-QMC error of a tiny index exceeds the
    # i.i.d. bootstrap SE, so the bootstrap SE is not a valid bound there. The mean of
    # K=8 replicates must lie within Z_T * sd / sqrt(K) of the exact value, Z_T = 5.4
    # (two-sided Student-t with 7 dof, p = 1e-3).
    model, params, ref = sobol_g(a)
    K = 8
    runs = [uqkit.sobol(model, params, 2**10, rng=100 + k, n_resamples=0) for k in range(K)]
    assert runs[0].n_evaluations == 2**10 * (len(a) + 2)
    for key in ("first", "total"):
        est = np.stack([getattr(r, key)["y"].to_numpy() for r in runs])
        exact = getattr(ref, key).to_numpy()
        sd = est.std(0, ddof=1)
        assert np.all(np.abs(est.mean(0) - exact) < 5.4 * sd / np.sqrt(K) + 1e-12)


def test_linear_model_normal_inputs():
    # y = sum c_i x_i, x_i ~ N(mu_i, s_i):  S_i = ST_i = c_i^2 s_i^2 / sum_j c_j^2 s_j^2.
    c = np.array([1.0, -2.0, 0.5, 3.0])
    s = np.array([1.0, 0.5, 2.0, 0.2])
    mu = np.array([1.0, 0.0, -2.0, 10.0])
    model = uqkit.as_model(lambda X: X @ c, inputs=("a", "b", "c", "d"), vectorized=True)
    params = uqkit.Parameters({n: uqkit.Normal(m, sd) for n, m, sd in zip("abcd", mu, s)})
    res = uqkit.sobol(model, params, 2**11, rng=4)
    exact = dict(zip("abcd", c**2 * s**2 / np.sum(c**2 * s**2)))
    _within(res, exact, exact)
    assert math.isclose(res.variance["y"], np.sum(c**2 * s**2), rel_tol=0.02)


def test_borehole_reference():
    # Harper & Gupta (1983) borehole; reference indices accurate to 1e-4 (their own
    # tolerance, added to the SE bound); mixed normal, lognormal and uniform inputs.
    model, params, ref = borehole()
    res = uqkit.sobol(model, params, 2**13, rng=5)
    _within(res, ref.first, ref.total, extra=ref.tolerance)


def test_time_series_closed_form_per_time_and_aggregated():
    # V(t) = g1(t) x1 + g2(t) x2 + h(t) x1 x3 with x_i ~ U(-1, 1) (Var x = 1/3, Var x1x3
    # = 1/9, all terms uncorrelated), so per time point
    # S1 = g1^2/3/V, S2 = g2^2/3/V, S3 = 0, ST1 = (g1^2/3 + h^2/9)/V, ST3 = h^2/9/V,
    # and the generalised indices (Gamboa et al. 2014) are sums over t of the partial
    # variances divided by the summed variance.
    t = np.linspace(0.0, 3.0, 40)
    g1, g2, h = 1 + t, 2 * np.cos(t), 2 * np.sin(t)

    def f(X):
        x1, x2, x3 = X[:, :1], X[:, 1:2], X[:, 2:3]
        return g1 * x1 + g2 * x2 + h * x1 * x3

    model = uqkit.as_model(f, inputs=("x1", "x2", "x3"), outputs={"V": t.size},
                           vectorized=True)
    params = uqkit.Parameters({n: uqkit.Uniform(-1, 1) for n in ("x1", "x2", "x3")})
    res = uqkit.sobol(model, params, 2**12, rng=6)
    assert list(res.first.columns) == [f"V[{i}]" for i in range(t.size)]
    V1, V2, V13 = g1**2 / 3, g2**2 / 3, h**2 / 9
    V = V1 + V2 + V13
    exact_first = np.vstack([V1 / V, V2 / V, 0 * V])
    exact_total = np.vstack([(V1 + V13) / V, V2 / V, V13 / V])
    assert np.all(np.abs(res.first.to_numpy() - exact_first) <= Z * res.first_se.to_numpy() + 1e-12)
    assert np.all(np.abs(res.total.to_numpy() - exact_total) <= Z * res.total_se.to_numpy() + 1e-12)
    agg1 = np.array([V1.sum(), V2.sum(), 0]) / V.sum()
    aggt = np.array([(V1 + V13).sum(), V2.sum(), V13.sum()]) / V.sum()
    for got, ci, exact in ((res.aggregated_first, res.aggregated_first_ci, agg1),
                           (res.aggregated_total, res.aggregated_total_ci, aggt)):
        se = (ci["high"]["V"] - ci["low"]["V"]).to_numpy() / (2 * 1.96)
        assert np.all(np.abs(got["V"].to_numpy() - exact) < Z * se)


def test_same_rng_same_result_and_different_rng_differs():
    model, params, _ = ishigami()
    a = uqkit.sobol(model, params, 256, rng=7)
    b = uqkit.sobol(model, params, 256, rng=7)
    c = uqkit.sobol(model, params, 256, rng=8)
    assert a.first.equals(b.first) and a.total.equals(b.total)
    assert a.first_ci.equals(b.first_ci)
    assert not np.allclose(a.first.to_numpy(), c.first.to_numpy())


def test_target_width_grows_same_sequence_and_reuses_runs():
    model, params, _ = ishigami()
    grown = uqkit.sobol(model, params, 256, target_width=0.05, rng=9)
    assert grown.info["stopping_reason"] == "target_width reached"
    widths = [h["max_half_width"] for h in grown.info["history"]]
    assert widths[-1] <= 0.05 < widths[-2]
    n = grown.n_samples
    assert n > 256 and n & (n - 1) == 0
    assert grown.n_evaluations == n * 5  # every earlier block reused, nothing re-run
    # the grown design is exactly the design of a fresh run with the final n
    fresh = uqkit.sobol(model, params, n, rng=9)
    np.testing.assert_allclose(grown.first.to_numpy(), fresh.first.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(grown.total.to_numpy(), fresh.total.to_numpy(), rtol=1e-12)
    half = (grown.first_ci["high"] - grown.first_ci["low"]).to_numpy() / 2
    assert half.max() <= 0.05


def test_target_width_budget_stop():
    model, params, _ = ishigami()
    res = uqkit.sobol(model, params, 256, target_width=1e-4, max_evaluations=256 * 5 * 4,
                      rng=10)
    assert res.info["stopping_reason"] == "max_evaluations reached"
    assert res.n_evaluations <= 256 * 5 * 4
    assert res.n_samples == 1024


class _Counting:
    def __init__(self, model):
        self.model, self.calls = model, 0
        self.inputs, self.outputs = model.inputs, model.outputs
        self.vectorized, self.name = True, "counting"

    def __call__(self, X):
        self.calls += len(X)
        return self.model(X)


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 1}, "'n' parameter of sobol"),
    ({"n": 2.5}, "'n' parameter of sobol"),
    ({"method": "sobol_1993"}, "'method' parameter of sobol"),
    ({"confidence": 1.0}, "'confidence' parameter of sobol"),
    ({"n_resamples": -1}, "'n_resamples' parameter of sobol"),
    ({"target_width": 0.0}, "'target_width' parameter of sobol"),
    ({"target_width": 0.1, "n_resamples": 10}, "'n_resamples' parameter of sobol"),
    ({"max_evaluations": 10}, "'max_evaluations' parameter of sobol"),
    ({"second_order": "yes"}, "'second_order' parameter of sobol"),
])
def test_invalid_arguments_fail_before_any_run(kwargs, match):
    model, params, _ = ishigami()
    counting = _Counting(model)
    args = {"n": 64, **kwargs}
    with pytest.raises(uqkit.InvalidParameterError, match=match):
        uqkit.sobol(counting, params, args.pop("n"), rng=0, **args)
    assert counting.calls == 0


def test_parameters_must_match_model_inputs():
    model, params, _ = ishigami()
    with pytest.raises(uqkit.InvalidParameterError, match="Missing: \\['x3'\\]"):
        uqkit.sobol(model, params.subset(["x1", "x2"]), 64)
    # same names in another order: reordered to the model's inputs
    res = uqkit.sobol(model, params.subset(["x3", "x1", "x2"]), 64, rng=0, n_resamples=0)
    assert list(res.first.index) == ["x1", "x2", "x3"]


def test_n_not_power_of_two_rounds_up_with_warning():
    model, params, _ = ishigami()
    with pytest.warns(uqkit.UQKitWarning, match="power of 2.*using n=128"):
        res = uqkit.sobol(model, params, 100, rng=0, n_resamples=0)
    assert res.n_samples == 128 and res.n_evaluations == 128 * 5
    assert res.first_ci is None and res.confidence is None


def test_nonfinite_rows_drop_whole_blocks_and_are_counted():
    # Rows returning NaN are never used: their base samples are dropped with their
    # whole A/B/AB block, counted, and the estimate stays unbiased (the NaN region
    # x1 > 3 is independent of the block structure).
    model, params, ref = ishigami()

    def f(X):
        y = model(X)[:, 0]
        return np.where(X[:, 0] > 3.0, np.nan, y)

    bad = uqkit.as_model(f, inputs=model.inputs, vectorized=True)
    res = uqkit.sobol(bad, params, 2**11, rng=11, runner=uqkit.Runner(on_failure="nan",
                                                           max_consecutive_failures=10**6))
    assert res.n_failed > 0
    dropped = res.info["n_dropped_blocks"]
    assert 0 < dropped < 2**11
    assert res.info["n_base_used"] == 2**11 - dropped
    assert np.all(np.isfinite(res.first.to_numpy()))


def test_agrees_with_salib_within_intervals():
    # Same n, both scrambled-Sobol' Saltelli designs; SALib's 'S1_conf' is 1.96 SE.
    from SALib.analyze import sobol as salib_analyze
    from SALib.sample import sobol as salib_sample

    model, params, _ = ishigami()
    n = 2**12
    ours = uqkit.sobol(model, params, n, rng=12)
    problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-math.pi, math.pi]] * 3}
    X = salib_sample.sample(problem, n, calc_second_order=False, seed=12)
    S = salib_analyze.analyze(problem, model(X)[:, 0], calc_second_order=False, seed=13)
    for key, mine, se in (("S1", ours.first, ours.first_se), ("ST", ours.total, ours.total_se)):
        se_salib = np.asarray(S[f"{key}_conf"]) / 1.96
        bound = Z * np.sqrt(se["y"].to_numpy() ** 2 + se_salib**2)
        assert np.all(np.abs(mine["y"].to_numpy() - np.asarray(S[key])) < bound)


def test_bootstrap_intervals_cover_the_truth():
    # Honest intervals: over 40 independent seeds the 95% intervals of the 6 Ishigami
    # indices at n=512 must cover the closed-form values at least 90% of the time
    # (if the true coverage were 95%, 240 trials fall below 90% with probability
    # < 1e-3; RQMC designs make the i.i.d. bootstrap conservative here).
    model, params, ref = ishigami()
    covered = total = 0
    for seed in range(40):
        res = uqkit.sobol(model, params, 512, rng=1000 + seed, n_resamples=500)
        for key, exact in (("first", ref.first), ("total", ref.total)):
            ci = getattr(res, f"{key}_ci")
            inside = (ci["low"]["y"] <= exact) & (exact <= ci["high"]["y"])
            covered += int(inside.sum())
            total += inside.size
    assert covered / total >= 0.90
