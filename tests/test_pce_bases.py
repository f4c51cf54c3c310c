"""Orthonormal bases, Gauss rules and truncation sets of uqkit.pce.

Orthonormality is checked against adaptive double-exponential quadrature
(``scipy.integrate.tanhsinh``) of ``E[p_i p_j] = int p_i(z(x)) p_j(z(x)) f(x) dx`` over
the support with the marginal's own scipy density, independent of the recurrences
under test. The tolerance 1e-7 covers the worst quadrature accuracy reached
(~1e-8, for densities singular at an end point such as the arcsine law).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import special, stats
from scipy.integrate import tanhsinh

import uqkit
from uqkit.distributions import as_distribution
from uqkit.pce._bases import basis_for
from uqkit.pce._truncation import multi_indices

DISTRIBUTIONS = {
    "uniform": uqkit.Uniform(-1.0, 3.0),
    "normal": uqkit.Normal(2.0, 0.5),
    "lognormal": uqkit.LogNormal(0.3, 0.4),
    "loguniform": uqkit.LogUniform(1.0, 100.0),
    "gamma": uqkit.Gamma(2.5, 2.0),
    "beta": uqkit.Beta(2.0, 5.0, 1.0, 3.0),
    "beta_arcsine": uqkit.Beta(0.5, 0.5),
    "triangular": uqkit.Triangular(0.0, 0.3, 1.0),
    "truncnormal_bounded": uqkit.TruncatedNormal(0.0, 1.0, -1.0, 2.0),
    "truncnormal_half": uqkit.TruncatedNormal(0.0, 1.0, 0.0),
    "scipy_weibull": as_distribution(stats.weibull_min(1.5)),
    "scipy_cosine": as_distribution(stats.cosine()),
}

EXPECTED_FAMILY = {
    "uniform": "Legendre", "normal": "Hermite", "lognormal": "Hermite(log)",
    "loguniform": "Legendre(log)", "gamma": "Laguerre", "beta": "Jacobi",
    "beta_arcsine": "Jacobi", "triangular": "Stieltjes", "truncnormal_bounded": "Stieltjes",
    "truncnormal_half": "Hermite(probit)", "scipy_weibull": "Hermite(probit)",
    "scipy_cosine": "Stieltjes",
}


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_basis_is_orthonormal_under_its_marginal(name):
    dist = DISTRIBUTIONS[name]
    basis = basis_for(dist)
    assert basis.label == EXPECTED_FAMILY[name]
    degree = 6
    rows_i, cols_j = np.triu_indices(degree + 1)

    def integrand(x, i, j):
        shape = x.shape
        flat = x.ravel()
        with np.errstate(all="ignore"):  # the density may be infinite at an end point
            V = basis.evaluate(basis.to_standard(flat), degree)
            rows = np.arange(flat.size)
            out = (V[rows, np.broadcast_to(i, shape).ravel()]
                   * V[rows, np.broadcast_to(j, shape).ravel()] * dist.pdf(flat))
        return np.nan_to_num(out).reshape(shape)

    lo, hi = dist.support
    # split at the mode of the triangular law (a kink in the density)
    cuts = [lo, dist.params["mode"], hi] if dist.kind == "triangular" else [lo, hi]
    gram = np.zeros((degree + 1, degree + 1))
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        res = tanhsinh(integrand, np.full(rows_i.size, a), np.full(rows_i.size, b),
                       args=(rows_i, cols_j), atol=1e-13, rtol=1e-12)
        gram[rows_i, cols_j] += res.integral
    gram = np.triu(gram) + np.triu(gram, 1).T
    np.testing.assert_allclose(gram, np.eye(degree + 1), atol=1e-7)


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_gauss_rule_is_exact_for_the_basis(name):
    # an n-point Gauss rule integrates degree <= 2n - 1 exactly: Gram = identity
    basis = basis_for(DISTRIBUTIONS[name])
    z, w = basis.gauss(8)
    assert np.all(w > 0) and math.isclose(w.sum(), 1.0, rel_tol=1e-13)
    V = basis.evaluate(z, 7)
    np.testing.assert_allclose(V.T @ (w[:, None] * V), np.eye(8), atol=1e-10)


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_isoprobabilistic_map_round_trips(name):
    dist = DISTRIBUTIONS[name]
    basis = basis_for(dist)
    x = dist.ppf(np.linspace(0.01, 0.99, 25))
    np.testing.assert_allclose(basis.from_standard(basis.to_standard(x)), x, rtol=1e-9)


def test_askey_families_match_closed_forms():
    z = np.linspace(-2, 2, 11)
    # Hermite: He_k / sqrt(k!) (numpy.polynomial.hermite_e)
    V = basis_for(uqkit.Normal(0, 1)).evaluate(z, 5)
    for k in range(6):
        coef = np.zeros(k + 1)
        coef[k] = 1
        ref = np.polynomial.hermite_e.hermeval(z, coef) / math.sqrt(math.factorial(k))
        np.testing.assert_allclose(V[:, k], ref, rtol=1e-12, atol=1e-12)
    # Legendre: sqrt(2k + 1) P_k
    u = np.linspace(-1, 1, 11)
    V = basis_for(uqkit.Uniform(-1, 1)).evaluate(u, 5)
    for k in range(6):
        np.testing.assert_allclose(V[:, k], math.sqrt(2 * k + 1) * special.eval_legendre(k, u),
                                   rtol=1e-12, atol=1e-12)
    # Laguerre: L_k^(a) normalised by sqrt(Gamma(k + a + 1) / (k! Gamma(a + 1)))
    a = 1.5
    t = np.linspace(0, 6, 11)
    V = basis_for(uqkit.Gamma(a + 1, 1.0)).evaluate(t, 4)
    for k in range(5):
        norm = math.sqrt(math.gamma(k + a + 1) / (math.factorial(k) * math.gamma(a + 1)))
        ref = special.eval_genlaguerre(k, a, t) / norm
        np.testing.assert_allclose(np.abs(V[:, k]), np.abs(ref), rtol=1e-10, atol=1e-12)


def _brute_force(d, p, q, r):
    out = []
    for alpha in itertools.product(range(p + 1), repeat=d):
        a = np.array(alpha, float)
        if np.sum(a**q) ** (1 / q) <= p + 1e-9 and np.count_nonzero(a) <= r:
            out.append(alpha)
    return sorted(out)


@pytest.mark.parametrize("d,p,q,r", [(3, 4, 1.0, 3), (4, 5, 0.5, 4), (5, 4, 0.75, 2),
                                     (2, 7, 0.4, 2), (6, 3, 1.0, 1)])
def test_truncation_sets_match_brute_force(d, p, q, r):
    got = multi_indices(d, p, q, r)
    assert got[0].sum() == 0
    assert np.all(np.diff(got.sum(axis=1)) >= 0)  # sorted by total degree
    assert sorted(map(tuple, got.tolist())) == _brute_force(d, p, q, r)


def test_total_degree_set_size_is_binomial():
    for d, p in [(3, 12), (8, 4), (8, 5), (10, 3)]:
        assert multi_indices(d, p).shape[0] == math.comb(d + p, d)
