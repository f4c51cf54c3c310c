"""The screening density of delayed acceptance (uqkit/calibration/_screening.py).

Reference: a linear-Gaussian surrogate, whose posterior and normalising constant
are closed-form (uniform prior on a wide box: the box clips a negligible mass).
"""

from __future__ import annotations

import math

import numpy as np

import uqkit
from uqkit.calibration._problem import build_problem
from uqkit.calibration._screening import DEFENSIVE_WEIGHT, screening_density

SIGMA = 0.5


def _linear(X):
    return np.c_[X[:, 0] + X[:, 1], X[:, 0] - X[:, 1]]


MODEL = uqkit.as_model(_linear, inputs=("a", "b"), outputs=("y1", "y2"), vectorized=True)
PRIOR = uqkit.Parameters(a=uqkit.Uniform(-20.0, 20.0), b=uqkit.Uniform(-20.0, 20.0))
DATA = {"y1": 1.0, "y2": 0.2}


def _problem():
    return build_problem(MODEL, PRIOR, DATA, uqkit.Gaussian(SIGMA))


def _posterior_draws(n, rng):
    # y = A x with A = [[1, 1], [1, -1]]: posterior N(A^-1 d, sigma^2 (A^T A)^-1)
    A = np.array([[1.0, 1.0], [1.0, -1.0]])
    mean = np.linalg.solve(A, [1.0, 0.2])
    cov = SIGMA**2 * np.linalg.inv(A.T @ A)
    return rng.multivariate_normal(mean, cov, size=n), mean, cov


def test_defensive_mass_is_the_stated_weight():
    """The t component carries DEFENSIVE_WEIGHT of the screening mass.

    The tempered surrogate posterior's normalising constant is closed-form here:
    integral of prior * exp(beta * ll) = (1/1600) (2 pi sigma^2)^(-beta) (2 pi)
    det(Sigma_beta)^(1/2) with Sigma_beta = sigma^2 / beta (A^T A)^-1. The importance
    estimate of it (4096 t draws; weights bounded by the t's heavier tails) had a
    standard deviation of 0.015 in log over 20 seeds: the tolerance is 5 of those.
    """
    problem = _problem()
    rng = np.random.default_rng(1)
    draws, mean, cov = _posterior_draws(400, rng)
    screen = screening_density(problem, MODEL, draws, rng)
    beta = screen.beta
    log_z = (-math.log(1600.0) - beta * math.log(2 * math.pi * SIGMA**2)
             + math.log(2 * math.pi) + 0.5 * math.log(np.linalg.det(cov / beta)))
    expected = math.log(DEFENSIVE_WEIGHT / (1 - DEFENSIVE_WEIGHT)) + log_z
    assert abs(screen.log_k - expected) < 0.08, (screen.log_k, expected)


def test_screening_has_heavy_tails_and_stays_in_the_support():
    problem = _problem()
    rng = np.random.default_rng(2)
    draws, mean, cov = _posterior_draws(400, rng)
    screen = screening_density(problem, MODEL, draws, rng)
    sd = np.sqrt(np.diag(cov))
    far = mean + np.outer([3.0, 6.0, 12.0], sd)
    lp, ll, _ = screen(far)
    lpt, llt, _ = screen.tempered(far)
    # beyond a few sd the t component dominates: log pi* falls polynomially, not quadratically
    assert np.all(lp + ll >= lpt + llt)
    assert (lp + ll)[2] - (lp + ll)[1] > -10 > (lpt + llt)[2] - (lpt + llt)[1]
    # outside the prior box: zero density, whatever the t says
    lp, ll, _ = screen(np.array([[25.0, 0.0]]))
    assert lp[0] + ll[0] == -np.inf


def test_failed_surrogate_rows_keep_a_positive_screening_density():
    def flaky(X):
        Y = _linear(X)
        Y[X[:, 0] > 1.5] = np.nan
        return Y
    model = uqkit.as_model(flaky, inputs=("a", "b"), outputs=("y1", "y2"), vectorized=True)
    problem = _problem()
    rng = np.random.default_rng(3)
    draws, mean, _ = _posterior_draws(400, rng)
    screen = screening_density(problem, model, draws, rng)
    lp, ll, _ = screen(np.array([[2.0, 0.5], [0.5, 0.5]]))
    assert np.all(np.isfinite(lp + ll))


def test_too_few_draws_give_the_tempered_surrogate_alone():
    problem = _problem()
    rng = np.random.default_rng(4)
    draws, _, _ = _posterior_draws(5, rng)
    screen = screening_density(problem, MODEL, draws, rng)
    X = np.array([[0.6, 0.4], [5.0, 5.0]])
    assert np.array_equal(screen(X)[1], screen.tempered(X)[1])


def test_frontier_follows_bulk_runs_beyond_the_frame_and_stops_inside():
    from uqkit.calibration._surrogate import FRONTIER, _frontier
    problem = _problem()
    rng = np.random.default_rng(5)
    mean, chol = np.zeros(2), np.eye(2)
    # a run 5 frame-sd out with a log-posterior 2 below the best: the posterior reaches there
    X = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 2.0], [-9.0, 0.0]])
    lp = np.array([0.0, -2.0, -1.0, -40.0])
    new = _frontier(X, lp, 0.0, mean, chol, problem, rng)
    assert new.shape == (1, 2)
    assert 5.5 < new[0, 0] < 8.5 and abs(new[0, 1]) < 1.5  # 35 % further out, jittered
    # inside the 99 % radius, or outside the bulk (-40): no frontier
    assert len(_frontier(X[[0, 2, 3]], lp[[0, 2, 3]], 0.0, mean, chol, problem, rng)) == 0
    # at most FRONTIER points, the outermost first
    far = np.c_[np.linspace(4.0, 8.0, 3 * FRONTIER), np.zeros(3 * FRONTIER)]
    pts = _frontier(far, np.full(len(far), -1.0), 0.0, mean, chol, problem, rng)
    assert len(pts) == FRONTIER and pts[:, 0].min() > 1.35 * 6.0 - 1.5
