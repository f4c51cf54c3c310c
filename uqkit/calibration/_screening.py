"""The screening density of delayed acceptance: a tempered surrogate posterior with a
heavy-tailed defensive component.

Delayed acceptance (Christen & Fox 2005) is exact for any fixed screening density
``pi*`` that is positive wherever the posterior is, but it mixes only as well as an
independence sampler whose proposal is ``pi*``: where ``pi / pi*`` is unbounded
(``pi*`` lighter-tailed than the posterior) the chain rarely enters the tails and a
finite run under-states the spread (Mengersen & Tweedie 1996, independence
samplers are uniformly ergodic only for bounded weights). A surrogate fitted near
the posterior is accurate in its bulk but may fall off much faster beyond its
design: measured on the FitzHugh-Nagumo benchmark, the refined local PCE's
log-likelihood was 40 too low 3-4 sd out, and 12/12 delayed-acceptance runs gave
posterior sds 2-11 % narrower than a dense-grid reference (plain sampling and an
exact surrogate: within Monte-Carlo error).

The screening density is therefore the defensive mixture (Hesterberg 1995)

    pi*(x) = (1 - w) pi_s(x)^beta / Z  +  w t_3(x; m, (2 L)(2 L)^T)    (x in the prior support)

with ``pi_s`` the surrogate posterior, ``beta`` a mild tempering, ``m`` and ``L L^T``
the mean and covariance of the surrogate posterior's draws, and ``Z`` estimated
once by importance sampling from the t component (surrogate evaluations only).
Its polynomial tails bound ``pi / pi*`` for posteriors with lighter tails than a
t with 3 degrees of freedom. The density is fixed before sampling, so the chain
stays exact.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._target import LogPosterior

__all__ = ["SCREEN_BETA", "DEFENSIVE_WEIGHT", "ScreeningLogPosterior", "screening_density"]

# defaults; calibrate passes beta=1, weight=0.05 when the refinement converged
SCREEN_BETA = 0.85       # tempering of the surrogate's log-likelihood (a slightly wider bulk)
DEFENSIVE_WEIGHT = 0.1   # mass of the heavy-tailed component (measured, see the module notes)
DEFENSIVE_SCALE = 2.0    # its scale, in surrogate-posterior sds
DEFENSIVE_DF = 3.0       # its degrees of freedom
_IS_DRAWS = 4096         # importance draws for the surrogate posterior's normalising constant


class ScreeningLogPosterior(LogPosterior):
    """``log pi*``: the surrogate's log-posterior, tempered, mixed with a defensive t.

    Returns ``(log prior, log pi* - log prior, outputs)`` like :class:`LogPosterior`,
    so that the sampler treats it as any other target. Without a defensive part
    (``mean=None``) it is the tempered surrogate posterior.
    """

    def __init__(self, problem: Any, model: Any, beta: float = SCREEN_BETA,
                 mean: np.ndarray | None = None, chol: np.ndarray | None = None,
                 log_k: float = -math.inf) -> None:
        super().__init__(problem, model, None)
        self.beta = float(beta)
        self.mean = None if mean is None else np.asarray(mean, float)
        self.chol = None if chol is None else np.asarray(chol, float)
        self.log_k = float(log_k)
        if self.chol is not None:
            d = self.chol.shape[0]
            nu = DEFENSIVE_DF
            self._inv = np.linalg.inv(self.chol)
            self._norm = (math.lgamma((nu + d) / 2) - math.lgamma(nu / 2)
                          - 0.5 * d * math.log(nu * math.pi)
                          - float(np.sum(np.log(np.abs(np.diag(self.chol))))))

    def tempered(self, X: np.ndarray):
        """The tempered surrogate posterior alone: ``(log prior, beta log lik, outputs)``."""
        lp, ll, Y = super().__call__(X)
        return lp, self.beta * ll, Y

    def log_t(self, X: np.ndarray) -> np.ndarray:
        """Log density of the defensive multivariate t."""
        Z = (np.asarray(X, float) - self.mean) @ self._inv.T
        q = np.einsum("ij,ij->i", Z, Z)
        return self._norm - 0.5 * (DEFENSIVE_DF + Z.shape[1]) * np.log1p(q / DEFENSIVE_DF)

    def __call__(self, X: np.ndarray):
        lp, ll, Y = self.tempered(X)
        if self.mean is None or not math.isfinite(self.log_k):
            return lp, ll, Y
        inside = np.isfinite(lp)
        with np.errstate(invalid="ignore", over="ignore"):
            main = np.where(np.isfinite(ll), lp + ll, -np.inf)
            mixed = np.logaddexp(main, self.log_k + self.log_t(X))
            ll = np.where(inside, mixed - np.where(inside, lp, 0.0), -np.inf)
        return lp, ll, Y


def screening_density(problem: Any, surrogate: Any, draws: np.ndarray | None,
                      rng: np.random.Generator, *, beta: float = SCREEN_BETA,
                      weight: float = DEFENSIVE_WEIGHT) -> ScreeningLogPosterior:
    """The screening density for delayed acceptance with ``surrogate``.

    Parameters
    ----------
    problem : Problem
    surrogate : Model
        The fixed surrogate.
    draws : ndarray, shape (n, d), or None
        Draws of the surrogate's posterior (problem space, noise levels included):
        they place the defensive component. Too few (or none) gives the tempered
        surrogate posterior alone.
    rng : Generator
        Draws the importance sample for the normalising constant.
    beta, weight : float
        Tempering of the surrogate's log-likelihood and the defensive mass.

    Returns
    -------
    ScreeningLogPosterior
    """
    plain = ScreeningLogPosterior(problem, surrogate, beta)
    if draws is None or weight <= 0:
        return plain
    draws = np.asarray(draws, float)
    d = problem.dim
    draws = draws[np.all(np.isfinite(draws), axis=1)]
    if len(draws) < 4 * (d + 1):
        return plain
    mean = draws.mean(axis=0)
    cov = np.atleast_2d(np.cov(draws, rowvar=False))
    cov = cov + np.diag(1e-10 * np.maximum(np.diag(cov), 1e-300))
    try:
        chol = DEFENSIVE_SCALE * np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        chol = DEFENSIVE_SCALE * np.diag(np.sqrt(np.maximum(np.diag(cov), 1e-300)))
    screen = ScreeningLogPosterior(problem, surrogate, beta, mean, chol, -math.inf)
    # Z = E_t[pi_s^beta / t]: the t is wider and heavier-tailed than the surrogate posterior,
    # so the importance weights are bounded in practice
    z = rng.standard_normal((_IS_DRAWS, d))
    g = rng.chisquare(DEFENSIVE_DF, _IS_DRAWS)
    T = mean + (z * np.sqrt(DEFENSIVE_DF / g)[:, None]) @ chol.T
    lp, ll, _ = screen.tempered(T)
    lw = lp + ll - screen.log_t(T)
    lw = lw[np.isfinite(lw)]
    if not len(lw):
        return plain
    top = float(lw.max())
    log_z = top + math.log(float(np.exp(lw - top).sum()) / _IS_DRAWS)
    screen.log_k = math.log(weight / (1 - weight)) + log_z
    return screen
