"""The bootstrap behind uqkit.sobol's intervals: coverage, widths, and the fast paths.

The intervals come from an exchangeably weighted (Bernoulli(1/2)) bootstrap of the
per-base-sample quantities, resampling the sums of a random partition into 1024
groups when there are more base samples (uqkit/sensitivity/_estimators.py cites the
sources). These tests check that this is a statistically valid bootstrap: with a
Monte-Carlo design (i.i.d. base samples, where the bootstrap's assumptions hold) the
95% intervals cover the known indices 95% of the time, and the standard errors and
widths agree with Efron's multinomial bootstrap over rows, computed here
independently of uqkit's estimator code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import uqkit
from uqkit.examples import ishigami

# y = sum c_i x_i with x_i ~ N(mu_i, s_i): S_i = ST_i = c_i^2 s_i^2 / sum_j c_j^2 s_j^2
C = np.array([1.0, -2.0, 0.5])
S = np.array([1.0, 0.5, 2.0])
MU = np.array([1.0, 0.0, -2.0])
EXACT = C**2 * S**2 / np.sum(C**2 * S**2)


def _linear():
    # (elementwise, not X @ C: a BLAS call per study is not what is being tested)
    model = uqkit.as_model(lambda X: X[:, 0] * C[0] + X[:, 1] * C[1] + X[:, 2] * C[2],
                           inputs=("a", "b", "c"), vectorized=True)
    params = uqkit.Parameters({n: uqkit.Normal(m, sd) for n, m, sd in zip("abc", MU, S)})
    return model, params


def _coverage(model, params, exact_first, exact_total, n, studies):
    hits = np.zeros((2, len(exact_first)))
    for seed in range(studies):
        res = uqkit.sobol(model, params, n, sampling="random", rng=10_000 + seed)
        for row, (ci, exact) in enumerate(((res.first_ci, exact_first),
                                           (res.total_ci, exact_total))):
            lo, hi = ci["low"]["y"].to_numpy(), ci["high"]["y"].to_numpy()
            hits[row] += (lo <= exact) & (exact <= hi)
    return hits / studies


@pytest.mark.parametrize("n, studies", [(512, 400), (4096, 300)])
def test_intervals_cover_at_their_level_with_a_monte_carlo_design(n, studies):
    # n = 512: every base sample resampled on its own; n = 4096: groups of 4 base
    # samples (4096 > 1024 groups). Each of the 6 intervals (first and total order of
    # 3 inputs) is checked on its own: if its coverage is 0.95, the empirical coverage
    # over K independent studies has binomial standard error sqrt(0.95 * 0.05 / K)
    # (0.0109 for K = 400, 0.0126 for K = 300). Tolerance 4 SE: a false alarm among the
    # 6 has probability 6 * 6.3e-5 < 4e-4, while a bootstrap whose variance is off by
    # 20% (coverage 0.91 or 0.98) fails.
    model, params = _linear()
    cov = _coverage(model, params, EXACT, EXACT, n, studies)
    se = math.sqrt(0.95 * 0.05 / studies)
    assert np.all(np.abs(cov - 0.95) < 4 * se), cov


@pytest.mark.slow
def test_ishigami_coverage_matches_efrons_row_bootstrap():
    # On Ishigami (closed forms in Sobol' & Levitan 1999) the percentile bootstrap
    # itself under-covers some indices at n = 2048 (skewed products: measured 0.91 for
    # S1 of x1 with Efron's row bootstrap over 300 studies), so the reference here is
    # Efron's bootstrap on the same designs: the two coverages differ by less than 4
    # standard errors of a difference of two proportions over K = 200 studies.
    model, params, ref = ishigami()
    rec = _Recorder(model)
    K = 200
    ours = np.zeros((2, 3))
    efron = np.zeros((2, 3))
    exact = (ref.first.to_numpy(), ref.total.to_numpy())
    for seed in range(K):
        res = uqkit.sobol(rec, params, 2048, sampling="random", rng=20_000 + seed)
        boot = _row_bootstrap_se(rec.Y, 3, 1000, np.random.default_rng(seed))
        for row, (ci, reps, ex) in enumerate(zip((res.first_ci, res.total_ci), boot, exact)):
            ours[row] += (ci["low"]["y"].to_numpy() <= ex) & (ex <= ci["high"]["y"].to_numpy())
            q = np.quantile(reps, [0.025, 0.975], axis=0)
            efron[row] += (q[0] <= ex) & (ex <= q[1])
    ours, efron = ours / K, efron / K
    se = np.sqrt((ours * (1 - ours) + efron * (1 - efron)) / K)
    assert np.all(np.abs(ours - efron) < 4 * np.maximum(se, 0.01)), (ours, efron)
    assert np.all(ours > 0.85)


class _Recorder:
    """Wraps a vectorized model and keeps the design and outputs it was called on."""

    def __init__(self, model):
        self.model = model
        self.inputs, self.outputs = model.inputs, model.outputs
        self.vectorized, self.name, self.version = True, "recorder", "1"
        self.X = self.Y = None

    def __call__(self, X):
        Y = self.model(X)
        self.X, self.Y = X.copy(), np.asarray(Y).reshape(len(X), -1)
        return Y


def _row_bootstrap_se(Y, d, n_resamples, rng):
    """Efron's bootstrap over base samples, written out: Saltelli 2010 first order,
    Jansen 1999 total order (Saltelli et al. 2010, Table 2 (b) and (f)), each
    replicate from the multinomial resampling counts of the n rows."""
    blocks = Y[:, 0].reshape(d + 2, -1)
    a, b, ab = blocks[0], blocks[1], blocks[2:]
    n = a.size
    rows = np.column_stack([a, b, a * a, b * b, (b * (ab - a)).T, ((a - ab) ** 2).T])
    idx = rng.integers(0, n, size=(n_resamples, n)) + n * np.arange(n_resamples)[:, None]
    counts = np.bincount(idx.ravel(), minlength=n * n_resamples).reshape(n_resamples, n)
    M = counts @ rows / n
    mean = (M[:, 0] + M[:, 1]) / 2
    var = (M[:, 2] + M[:, 3]) / 2 - mean**2
    return M[:, 4:4 + d] / var[:, None], 0.5 * M[:, 4 + d:] / var[:, None]


def test_standard_errors_and_widths_match_efrons_row_bootstrap():
    # n = 2^13 base samples: uqkit resamples 1024 groups of 8; Efron's bootstrap here
    # resamples the 8192 rows. Both estimate the same sampling distribution, so their
    # SEs agree up to Monte-Carlo error: relative SD 1/sqrt(2(R-1)) of an SE from R
    # resamples (1.1% for uqkit's R = 4000, 1.6% for R = 2000 here) and 1/sqrt(2G) = 2.2%
    # for estimating the variance from G = 1024 groups; combined 2.9%, tolerance 4x
    # (12%). Percentile half-widths have relative SD 0.96/sqrt(R) instead (1.5% and
    # 2.1%): combined with the groups 3.4%, tolerance 4x (14%).
    model, params = _linear()
    rec = _Recorder(model)
    n, R = 2**13, 2000
    res = uqkit.sobol(rec, params, n, sampling="random", n_resamples=4000, rng=7)
    first, total = _row_bootstrap_se(rec.Y, 3, R, np.random.default_rng(8))
    for mine, mine_ci, boot in ((res.first_se, res.first_ci, first),
                                (res.total_se, res.total_ci, total)):
        ratio = mine["y"].to_numpy() / boot.std(0, ddof=1)
        assert np.all(np.abs(ratio - 1) < 0.12), ratio
        q = np.quantile(boot, [0.025, 0.975], axis=0)
        width = (mine_ci["high"]["y"] - mine_ci["low"]["y"]).to_numpy()
        assert np.all(np.abs(width / (q[1] - q[0]) - 1) < 0.14)
    assert "1024 random groups" in res.info["bootstrap"]


def test_random_sampling_is_unbiased_and_reproducible():
    # Plain Monte Carlo: estimates within 4.5 bootstrap SE of the closed forms.
    model, params = _linear()
    res = uqkit.sobol(model, params, 2**12, sampling="random", rng=3)
    for key in ("first", "total"):
        err = np.abs(getattr(res, key)["y"].to_numpy() - EXACT)
        assert np.all(err < 4.5 * getattr(res, f"{key}_se")["y"].to_numpy())
    again = uqkit.sobol(model, params, 2**12, sampling="random", rng=3)
    assert again.first.equals(res.first) and again.first_ci.equals(res.first_ci)
    assert res.info["sampling"] == "random" and "Monte Carlo" in res.info["design"]
    with pytest.raises(uqkit.InvalidParameterError, match="'sampling' parameter of sobol"):
        uqkit.sobol(model, params, 256, sampling="lhs")


def test_bootstrap_moments_reproduce_the_exact_weighted_means():
    # The chunked float32 products give the self-normalised weighted means to float32
    # accuracy on centred data (checked against float64 arithmetic with the same bits).
    from uqkit.sensitivity import _estimators as est

    rng = np.random.default_rng(0)
    Q = rng.normal(size=(300, 5)) * [1, 10, 1e-3, 5, 1]
    mean = Q.mean(0)
    got = est.bootstrap_moments(Q, np.ones(300), mean, 50, np.random.default_rng(1))
    # the same weights, reproduced from the same generator state
    words = np.random.default_rng(1).integers(0, 2**64 - 1, size=-(-50 * 38 // 8),
                                              dtype=np.uint64, endpoint=True)
    bits = words.astype("<u8").view(np.uint8)[:50 * 38].reshape(50, 38)
    W = np.unpackbits(bits, axis=1, count=300).astype(float)
    want = W @ Q / W.sum(1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * Q.std(0).max())


def test_group_sums_partition_every_row_once():
    from uqkit.sensitivity import _estimators as est

    Q = np.arange(5003.0)[:, None] * [1.0, 2.0]
    sums, counts = est.group_sums(Q, 1024, np.random.default_rng(2))
    assert sums.shape == (1024, 2) and counts.sum() == 5003
    assert set(np.unique(counts)) == {4.0, 5.0}
    np.testing.assert_allclose(sums.sum(0), Q.sum(0))
    small, ones = est.group_sums(Q[:100], 1024, np.random.default_rng(2))
    assert small is not None and np.array_equal(small, Q[:100]) and np.all(ones == 1)


@pytest.mark.parametrize("dist", [uqkit.Uniform(-2.0, 5.0), uqkit.Normal(3.0, 0.7),
                                  uqkit.LogNormal(0.3, 0.9), uqkit.Gamma(2.0, 1.5)])
def test_closed_form_inverse_cdfs_equal_scipy(dist):
    from uqkit.sensitivity._sobol import _inverse_cdf

    u = np.random.default_rng(0).random(1000)
    u[:2] = [2.0**-31, 1 - 2.0**-31]
    np.testing.assert_array_equal(_inverse_cdf(dist, u), dist.ppf(u))


def test_scrambled_sobol_blocks_are_nets_and_extend_the_same_sequence():
    # Joe & Kuo (2008) direction numbers with Matousek (1998) linear scrambling: the
    # unscrambled points are scipy's, every 1-D projection of 2^m points is stratified,
    # and drawing 256 + 256 + 512 points gives the first 1024.
    from scipy.stats import qmc

    from uqkit.sensitivity._qmc import ScrambledSobol, _direction_numbers

    v = _direction_numbers(6)
    assert v is not None
    plain = ScrambledSobol(6, np.random.default_rng(0), v)
    plain.v, plain.shift = v.copy(), np.zeros(6, dtype=np.uint32)
    ours = plain.random(256) - 2.0**-31
    ref = qmc.Sobol(6, scramble=False).random(256)
    assert sorted(map(tuple, ours)) == sorted(map(tuple, ref))
    eng = ScrambledSobol(6, np.random.default_rng(5), v)
    parts = np.vstack([eng.random(256), eng.random(256), eng.random(512)])
    full = ScrambledSobol(6, np.random.default_rng(5), v).random(1024)
    np.testing.assert_array_equal(parts, full)
    for j in range(6):
        assert len(np.unique(np.floor(full[:, j] * 1024))) == 1024
    # two-dimensional elementary intervals of volume 2^-10 hold one point each
    for a in range(11):
        cells = (np.floor(full[:, 0] * 2**a) * 2 ** (10 - a)
                 + np.floor(full[:, 1] * 2 ** (10 - a)))
        assert len(np.unique(cells)) == 1024
    with pytest.raises(ValueError):
        eng.random(3)


def test_scrambled_sobol_is_unbiased_over_scrambles():
    # E[U] = 1/2 for a random scramble: the mean of 16 points over 2000 scrambles is
    # within 4.5 SE of 1/2 in every coordinate.
    from uqkit.sensitivity._qmc import sobol_engine

    means = np.array([sobol_engine(4, np.random.default_rng(s)).random(16).mean(0)
                      for s in range(2000)])
    se = means.std(0, ddof=1) / np.sqrt(len(means))
    assert np.all(np.abs(means.mean(0) - 0.5) < 4.5 * se)
    # and each point is uniform: a KS test on the first coordinate of point 3
    pts = np.array([sobol_engine(4, np.random.default_rng(s)).random(4)[3, 0]
                    for s in range(500)])
    assert stats.kstest(pts, "uniform").pvalue > 1e-3


def test_private_scipy_direction_numbers_equal_the_public_engines():
    # scipy's private _initialize_v is pinned to the public unscrambled qmc.Sobol, whose
    # Gray-code points 2^b - 1 and 2^b differ by direction number b, for every dimension
    # a study is likely to use and the bits of designs up to 2^14 points
    from uqkit.sensitivity._qmc import _direction_numbers, public_direction_numbers

    for dim in (1, 2, 3, 5, 8, 13, 20, 41):
        private = _direction_numbers(dim)
        assert private is not None
        np.testing.assert_array_equal(private[:, :14], public_direction_numbers(dim, 14))


def test_without_the_private_scipy_function_the_design_is_the_same(monkeypatch):
    # the fallback recovers the direction numbers from the public engine, so a study's
    # design, and with it its cache keys, does not change with the SciPy version
    from uqkit.sensitivity import _qmc

    reference = _qmc.sobol_engine(6, np.random.default_rng(3))
    expected = [reference.random(k) for k in (64, 64, 128)]
    monkeypatch.setattr(_qmc, "_direction_numbers", lambda dim: None)
    engine = _qmc.sobol_engine(6, np.random.default_rng(3))
    for block, k in zip(expected, (64, 64, 128)):
        np.testing.assert_array_equal(engine.random(k), block)
    model, params, ref = ishigami()
    res = uqkit.sobol(model, params, 2**11, rng=1)
    err = np.abs(res.first["y"].to_numpy() - ref.first.to_numpy())
    assert np.all(err < 4.5 * res.first_se["y"].to_numpy())
