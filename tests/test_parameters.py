"""Distributions and Parameters (RELIABILITY E1, E2, E3)."""

import math

import numpy as np
import pytest
from scipy import stats

import uqkit

VALID = [
    (uqkit.Uniform(-1, 2), stats.uniform(-1, 3)),
    (uqkit.Normal(1.5, 0.3), stats.norm(1.5, 0.3)),
    (uqkit.LogNormal(0.2, 0.5), stats.lognorm(s=0.5, scale=math.exp(0.2))),
    (uqkit.LogUniform(1e-3, 10), stats.loguniform(1e-3, 10)),
    (uqkit.TruncatedNormal(0, 1, -1, 2), stats.truncnorm(-1, 2)),
    (uqkit.Beta(2, 3, 1, 5), stats.beta(2, 3, loc=1, scale=4)),
    (uqkit.Gamma(2.5, 1.5), stats.gamma(2.5, scale=1.5)),
    (uqkit.Triangular(0, 1, 4), stats.triang(0.25, loc=0, scale=4)),
]


@pytest.mark.parametrize("dist, ref", VALID, ids=lambda d: repr(d)[:20])
def test_distribution_matches_scipy(dist, ref):
    q = np.linspace(0.01, 0.99, 17)
    np.testing.assert_allclose(dist.ppf(q), ref.ppf(q), rtol=1e-12)
    x = ref.ppf(q)
    np.testing.assert_allclose(dist.cdf(x), q, rtol=1e-10)
    np.testing.assert_allclose(dist.logpdf(x), ref.logpdf(x), rtol=1e-12)
    assert dist.mean == pytest.approx(ref.mean(), rel=1e-12)
    assert dist == type(dist)(*dist.params.values())
    assert repr(dist).startswith(type(dist).__name__)


BAD = [
    (lambda: uqkit.Uniform(1, 1), "high"),
    (lambda: uqkit.Uniform(2, 1), "high"),
    (lambda: uqkit.Uniform(math.nan, 1), "low"),
    (lambda: uqkit.Uniform(0, math.inf), "high"),
    (lambda: uqkit.Normal(0, 0), "std"),
    (lambda: uqkit.Normal(0, -1), "std"),
    (lambda: uqkit.Normal(math.inf, 1), "mean"),
    (lambda: uqkit.Beta(0, 1), "alpha"),
    (lambda: uqkit.Beta(1, -2), "beta"),
    (lambda: uqkit.LogNormal(0, -0.1), "sigma"),
    (lambda: uqkit.LogUniform(0, 1), "low"),
    (lambda: uqkit.TruncatedNormal(0, 1, 2, 1), "high"),
    (lambda: uqkit.TruncatedNormal(0, 1, math.nan, 1), "low"),
    (lambda: uqkit.Gamma(-1, 1), "shape"),
    (lambda: uqkit.Triangular(0, 5, 4), "mode"),
    (lambda: uqkit.Normal("a", 1), "mean"),
]


@pytest.mark.parametrize("make, field", BAD)
def test_bad_distribution_arguments_name_the_field(make, field, tmp_path):
    """E1: ValueError naming the field; nothing else happens (no store is created)."""
    with pytest.raises(ValueError, match=f"'{field}'"):
        make()
    assert list(tmp_path.iterdir()) == []


def test_invalid_parameter_error_is_value_and_type_error():
    with pytest.raises(TypeError):
        uqkit.Normal(0, -1)
    assert issubclass(uqkit.InvalidParameterError, ValueError)


def test_scipy_frozen_accepted_and_discrete_refused():
    p = uqkit.Parameters(a=stats.weibull_min(2.0, scale=3.0))
    x = p.sample(64, rng=1)
    assert (x > 0).all()
    with pytest.raises(ValueError, match="continuous"):
        uqkit.Parameters(a=stats.poisson(3))
    with pytest.raises(ValueError, match="distribution of 'a'"):
        uqkit.Parameters(a=3.0)


@pytest.mark.parametrize("name", ["", "1x", "a b", "a;b", "{{a}}", "a-b", "$(x)", "a\n", "é"])
def test_bad_parameter_names_rejected(name):
    """E2: names must match ^[A-Za-z_][A-Za-z0-9_]*$."""
    with pytest.raises(ValueError, match="identifier"):
        uqkit.Parameters({name: uqkit.Uniform(0, 1)})


def test_duplicate_and_casefold_names_rejected():
    with pytest.raises(ValueError, match="clashes"):
        uqkit.Parameters({"k": uqkit.Uniform(0, 1), "K": uqkit.Uniform(0, 1)})
    with pytest.raises(ValueError, match="unique"):
        uqkit.Parameters({"k": uqkit.Uniform(0, 1)}, k=uqkit.Uniform(0, 1))
    with pytest.raises(ValueError, match="at least one"):
        uqkit.Parameters()


def test_parameters_mapping_and_order():
    p = uqkit.Parameters({"b": uqkit.Uniform(0, 1)}, a=uqkit.Normal(0, 1))
    assert p.names == ("b", "a") and len(p) == 2 and list(p) == ["b", "a"]
    assert p["a"] == uqkit.Normal(0, 1)
    np.testing.assert_array_equal(p.bounds, [[0, 1], [-np.inf, np.inf]])
    assert "Normal(mean=0, std=1)" in repr(p)


@pytest.mark.parametrize("method", ["sobol", "lhs", "random"])
def test_sample_reproducible_and_marginals_right(method):
    p = uqkit.Parameters(u=uqkit.Uniform(2, 5), g=uqkit.Gamma(2.0, 1.0))
    a = p.sample(1024, method=method, rng=7)
    b = p.sample(1024, method=method, rng=7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, p.sample(1024, method=method, rng=8))
    # Kolmogorov-Smirnov at 1024 points: the 0.1% critical value is 1.95/sqrt(n);
    # QMC/LHS designs are far more uniform than that, Monte Carlo fails w.p. 1e-3
    crit = 1.95 / math.sqrt(1024)
    assert stats.kstest(a[:, 0], stats.uniform(2, 3).cdf).statistic < crit
    assert stats.kstest(a[:, 1], stats.gamma(2.0).cdf).statistic < crit


def test_sample_and_unit_maps_validate():
    p = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Normal(0, 2))
    with pytest.raises(ValueError, match="'n'"):
        p.sample(0)
    with pytest.raises(ValueError, match="'method'"):
        p.sample(8, method="halton9")
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        p.from_unit([[0.5, 1.5]])
    with pytest.raises(ValueError, match="2 columns"):
        p.from_unit([[0.5, 0.5, 0.5]])
    U = np.array([[0.25, 0.5], [0.5, 0.975]])
    X = p.from_unit(U)
    np.testing.assert_allclose(X, [[0.25, 0.0], [0.5, 2 * stats.norm.ppf(0.975)]])
    np.testing.assert_allclose(p.to_unit(X), U, rtol=1e-12)


def test_logpdf_is_sum_of_marginals():
    p = uqkit.Parameters(a=uqkit.Uniform(0, 2), b=uqkit.Normal(1, 2))
    X = np.array([[0.5, 0.0], [3.0, 1.0]])
    expected0 = math.log(0.5) + stats.norm(1, 2).logpdf(0.0)
    out = p.logpdf(X)
    assert out[0] == pytest.approx(expected0, rel=1e-12)
    assert out[1] == -np.inf


def test_repr_html_escapes():
    p = uqkit.Parameters(a=uqkit.Uniform(0, 1))
    html = p._repr_html_()
    assert "<table" in html and "Uniform(low=0, high=1)" in html


def test_check_support_rejects_outside_points():
    """E7: user points outside the support are rejected with the offending value."""
    p = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Gamma(2, 1))
    with pytest.raises(ValueError, match="'b'"):
        p.check_support([[0.5, -1.0]])
    with pytest.raises(ValueError, match="finite"):
        p.check_support([[np.nan, 1.0]])
