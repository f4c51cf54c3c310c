"""Likelihoods for count data: Poisson and negative binomial (Stan's ``neg_binomial_2``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.special import gammaln

from .._errors import InvalidParameterError
from ..distributions import Distribution
from ._noise import NoiseModel, check_groups, check_scale

__all__ = ["Poisson", "NegativeBinomial"]


def _check_counts(cls: str, obs: np.ndarray) -> None:
    v = obs[np.isfinite(obs)]
    bad = v[(v < 0) | (v != np.floor(v))]
    if bad.size:
        raise InvalidParameterError(
            f"The 'data' parameter of calibrate must hold counts (integers >= 0) for the {cls} "
            f"likelihood. Got {bad[:5].tolist()} instead. Pass the raw counts (not rates or "
            "averages), or use uqkit.Gaussian / uqkit.LogGaussian for continuous data.")


def _positive_rows(Y: np.ndarray) -> np.ndarray:
    """Rows whose every mean is > 0 (a mean <= 0 gives likelihood zero: a rejection)."""
    return np.logical_and.reduce(Y > 0, axis=1)


@dataclass(frozen=True, repr=False)
class Poisson(NoiseModel):
    """Poisson likelihood for counts: ``data ~ Poisson(model)``.

    The model output at each observed entry is the mean count ``mu``; the
    variance equals the mean. For over-dispersed counts (variance larger
    than the mean, the rule for cases, spikes and cells) use
    :class:`NegativeBinomial`.

    Notes
    -----
    Observations must be integers ``>= 0`` (checked before any model run).
    A model output ``<= 0`` at an observed entry is a rejection.

    Examples
    --------
    >>> import uqkit
    >>> uqkit.Poisson()
    Poisson()
    """

    def __init__(self) -> None:
        object.__setattr__(self, "prior", None)
        object.__setattr__(self, "groups", None)

    def _check_data(self, obs: np.ndarray) -> None:
        _check_counts("Poisson", obs)

    def loglike(self, Y: np.ndarray, data: np.ndarray, mask: np.ndarray,
                theta: Any = None) -> np.ndarray:
        positive = _positive_rows(Y)
        with np.errstate(divide="ignore", invalid="ignore"):
            logmu = np.log(np.where(positive[:, None], Y, 1.0))
        d = np.where(mask, data, 0.0)
        counts = mask.sum(axis=0)
        # sum over experiments of d * log(mu) - mu - log(d!)
        out = logmu @ d.sum(axis=0) - Y @ counts - gammaln(d + 1.0)[mask].sum()
        out[~positive | ~np.isfinite(out)] = -np.inf
        return out

    def replicate(self, Y: np.ndarray, theta: Any, rng: np.random.Generator) -> np.ndarray:
        mu = np.where(Y > 0, Y, np.nan)
        return np.where(np.isfinite(mu), rng.poisson(np.nan_to_num(mu)), np.nan)


@dataclass(frozen=True, repr=False)
class NegativeBinomial(NoiseModel):
    """Negative-binomial likelihood for over-dispersed counts (Stan's ``neg_binomial_2``).

    ``data ~ NB(mu, phi)`` with mean ``mu`` (the model output) and variance
    ``mu + mu**2 / phi``: a small ``phi`` means strong over-dispersion, and
    ``phi -> inf`` is the Poisson limit.

    Parameters
    ----------
    phi : float, sequence of float, mapping, or "infer"
        Dispersion: known (one number, one per observed output, or a mapping
        by output) or ``"infer"``: a posterior parameter named ``phi`` (see
        ``groups``).
    prior : Distribution or mapping, optional
        Prior of the inferred ``phi``. Default: ``1 / phi ~ Exponential(5)``
        (``scipy.stats.invgamma(1, scale=5)`` on ``phi``; Grinsztajn et al.
        2021): weakly informative, centred on moderate over-dispersion, and
        heavy-tailed towards the Poisson limit. A ``phi`` entry in the
        ``prior`` Parameters passed to :func:`uqkit.calibrate` takes
        precedence.
    groups : None, "output" or mapping, optional
        Which observations share an inferred ``phi``, as for
        :class:`uqkit.Gaussian` (names ``phi_<group>``).

    Notes
    -----
    The log-probability of a count ``y`` is
    ``lgamma(y + phi) - lgamma(phi) - lgamma(y + 1) + phi log(phi / (mu + phi))
    + y log(mu / (mu + phi))``. Observations must be integers ``>= 0``
    (checked before any model run); a model output ``<= 0`` at an observed
    entry is a rejection. An inferred ``phi`` needs at least 3 observations.

    References
    ----------
    Stan Development Team. Stan Functions Reference, "NegBinomial2
    distribution" (``neg_binomial_2``).
    Grinsztajn, L., Semenova, E., Margossian, C. C. and Riou, J. (2021).
    Bayesian workflow for disease transmission modeling in Stan. Statistics in
    Medicine 40(27), 6209-6234.

    Examples
    --------
    >>> import uqkit
    >>> uqkit.NegativeBinomial()
    NegativeBinomial(phi='infer')
    >>> uqkit.NegativeBinomial(10.0)
    NegativeBinomial(phi=10.0)
    """

    phi: Any = "infer"

    _param: ClassVar[str | None] = "phi"

    def __init__(self, phi: Any = "infer", *, groups: Any = None, prior: Any = None) -> None:
        phi = check_scale("NegativeBinomial", phi, "phi")
        groups = check_groups("NegativeBinomial", groups)
        if groups is not None and not isinstance(phi, str):
            raise InvalidParameterError(
                f"The 'groups' parameter of NegativeBinomial applies to an inferred phi "
                f"(phi='infer'). Got groups={groups!r} with a known phi instead.")
        object.__setattr__(self, "phi", phi)
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "prior", prior)

    def _default_prior(self, values: np.ndarray) -> Distribution:
        from scipy import stats
        return Distribution(stats.invgamma(1.0, scale=5.0))

    def _check_data(self, obs: np.ndarray) -> None:
        _check_counts("NegativeBinomial", obs)

    def loglike(self, Y: np.ndarray, data: np.ndarray, mask: np.ndarray,
                theta: Any) -> np.ndarray:
        phi = np.asarray(theta, dtype=float)
        phi = np.broadcast_to(phi[None, :] if phi.ndim == 1 else phi, Y.shape)
        positive = _positive_rows(Y) & np.logical_and.reduce(phi > 0, axis=1)
        mu = np.where(positive[:, None], Y, 1.0)[:, None, :]   # (n, 1, k)
        ph = np.where(positive[:, None], phi, 1.0)[:, None, :]
        d = np.where(mask, data, 0.0)[None]                     # (1, m, k)
        log_mu_phi = np.log(mu + ph)
        term = (gammaln(d + ph) - gammaln(ph) - gammaln(d + 1.0)
                + ph * (np.log(ph) - log_mu_phi) + d * (np.log(mu) - log_mu_phi))
        out = np.where(mask[None], term, 0.0).sum(axis=(1, 2))
        out[~positive | ~np.isfinite(out)] = -np.inf
        return out

    def replicate(self, Y: np.ndarray, theta: Any, rng: np.random.Generator) -> np.ndarray:
        phi = np.broadcast_to(np.asarray(theta, dtype=float), Y.shape)
        ok = (Y > 0) & np.isfinite(Y)
        mu = np.where(ok, Y, 1.0)
        draws = rng.negative_binomial(phi, phi / (phi + mu)).astype(float)
        return np.where(ok, draws, np.nan)
