"""Observation-noise models and the vectorized log-likelihood.

A noise model turns model outputs ``Y`` (one row per walker) and the observed
``data`` (one row per experiment) into one log-likelihood per walker. The
likelihood is written once, for arrays, and used by every sampler and by the
delayed-acceptance surrogate stage alike.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import gammaln

from .._errors import InvalidParameterError

__all__ = ["Gaussian", "StudentT", "NoiseModel"]

_LOG_2PI = math.log(2.0 * math.pi)


def _check_sigma(cls: str, sigma: Any) -> Any:
    if isinstance(sigma, str):
        if sigma != "infer":
            raise InvalidParameterError(
                f"The 'sigma' parameter of {cls} must be a positive number, one positive number "
                f"per output, or 'infer'. Got {sigma!r} instead.")
        return sigma
    if isinstance(sigma, dict):
        out = {}
        for k, v in sigma.items():
            out[str(k)] = _check_sigma(cls, v)
            if isinstance(out[str(k)], str):
                raise InvalidParameterError(
                    f"The 'sigma' parameter of {cls} maps outputs to positive numbers; "
                    f"Got {k!r}: {v!r} instead. Use sigma='infer' to infer all noise levels.")
        return out
    if isinstance(sigma, bool):
        raise InvalidParameterError(
            f"The 'sigma' parameter of {cls} must be a positive number. Got {sigma!r} instead.")
    arr = np.asarray(sigma, dtype=float) if not isinstance(sigma, numbers.Real) else None
    if arr is None:
        value = float(sigma)
        if not (math.isfinite(value) and value > 0):
            raise InvalidParameterError(
                f"The 'sigma' parameter of {cls} must be a finite number > 0. Got {sigma!r} "
                "instead.")
        return value
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InvalidParameterError(
            f"The 'sigma' parameter of {cls} must be a positive number or a 1-D array of "
            f"positive numbers (one per observed output). Got {sigma!r} instead.")
    return tuple(float(v) for v in arr)


@dataclass(frozen=True)
class NoiseModel:
    """Base class of the observation-noise models (use :class:`Gaussian` or :class:`StudentT`)."""

    sigma: Any = "infer"
    prior: Any = None

    @property
    def infers_sigma(self) -> bool:
        return isinstance(self.sigma, str)

    def _logdensity(self, z: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def loglike(self, Y: np.ndarray, data: np.ndarray, mask: np.ndarray,
                sigma: np.ndarray) -> np.ndarray:
        """Log-likelihood of each row of ``Y``.

        Parameters
        ----------
        Y : ndarray, shape (n, k)
            Model outputs at the observed columns.
        data : ndarray, shape (n_experiments, k)
            Observations (NaN where missing; ``mask`` marks the observed entries).
        mask : ndarray of bool, shape (n_experiments, k)
        sigma : ndarray, shape (k,) or (n, k)
            Noise scale per observed column (per row when inferred).

        Returns
        -------
        ndarray, shape (n,)
        """
        sigma = np.asarray(sigma, dtype=float)
        if sigma.ndim == 1:
            sigma = sigma[None, :]
        resid = (np.where(mask, data, 0.0)[None, :, :] - Y[:, None, :]) / sigma[:, None, :]
        dens = np.where(mask[None], self._logdensity(resid), 0.0)
        counts = mask.sum(axis=0)  # observations per column
        out = dens.sum(axis=(1, 2)) - np.log(sigma) @ counts
        out[~np.isfinite(out)] = -np.inf
        return out

    def __repr__(self) -> str:
        extra = "" if self.prior is None else ", prior=..."
        return f"{type(self).__name__}(sigma={self.sigma!r}{self._extra_repr()}{extra})"

    def _extra_repr(self) -> str:
        return ""


@dataclass(frozen=True, repr=False)
class Gaussian(NoiseModel):
    """Independent Gaussian observation noise, ``data = model + sigma * N(0, 1)``.

    Parameters
    ----------
    sigma : float, sequence of float, mapping, or "infer"
        Noise standard deviation: one number for every observation, one per
        observed output column (in the order of the model's outputs), a
        mapping by output name, or ``"infer"``. With ``"infer"`` the noise
        level becomes a posterior parameter, ``sigma`` when every observed
        output belongs to one output group, else ``sigma_<group>`` per group
        (vector outputs ``V[0]..V[k]`` share ``sigma_V``).
    prior : Distribution or mapping of str to Distribution, optional
        Prior of the inferred noise level(s). The default is weakly
        informative: a half-normal with scale equal to the spread of the
        observations of that group (their standard deviation, or their
        mean absolute value when they are constant). A ``sigma`` or
        ``sigma_<group>`` entry in the ``prior`` Parameters passed to
        :func:`uqkit.calibrate` overrides it too.

    Examples
    --------
    >>> import uqkit
    >>> uqkit.Gaussian(0.3)
    Gaussian(sigma=0.3)
    >>> uqkit.Gaussian("infer")
    Gaussian(sigma='infer')
    """

    def __init__(self, sigma: Any = "infer", *, prior: Any = None) -> None:
        object.__setattr__(self, "sigma", _check_sigma("Gaussian", sigma))
        object.__setattr__(self, "prior", prior)

    def _logdensity(self, z: np.ndarray) -> np.ndarray:
        return -0.5 * z * z - 0.5 * _LOG_2PI


@dataclass(frozen=True, repr=False)
class StudentT(NoiseModel):
    """Student-t observation noise for data with outliers.

    ``data = model + sigma * t_nu``: heavy tails make the posterior robust to
    a few gross errors (Lange, Little & Taylor 1989).

    Parameters
    ----------
    sigma : float, sequence of float, mapping, or "infer"
        Scale of the noise, as for :class:`Gaussian`.
    nu : float
        Degrees of freedom (> 0); small values give heavier tails. Default 4.
    prior : Distribution or mapping, optional
        Prior of the inferred scale(s), as for :class:`Gaussian`.

    References
    ----------
    Lange, K. L., Little, R. J. A. and Taylor, J. M. G. (1989). Robust statistical
    modeling using the t distribution. JASA 84(408), 881-896.

    Examples
    --------
    >>> import uqkit
    >>> uqkit.StudentT(0.5, nu=3)
    StudentT(sigma=0.5, nu=3.0)
    """

    nu: float = 4.0

    def __init__(self, sigma: Any = "infer", *, nu: float = 4.0, prior: Any = None) -> None:
        if isinstance(nu, bool) or not isinstance(nu, numbers.Real) or not (
                math.isfinite(nu) and nu > 0):
            raise InvalidParameterError(
                f"The 'nu' parameter of StudentT must be a finite number > 0. Got {nu!r} instead.")
        object.__setattr__(self, "sigma", _check_sigma("StudentT", sigma))
        object.__setattr__(self, "prior", prior)
        object.__setattr__(self, "nu", float(nu))

    def _logdensity(self, z: np.ndarray) -> np.ndarray:
        nu = self.nu
        const = gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * math.log(nu * math.pi)
        return const - 0.5 * (nu + 1) * np.log1p(z * z / nu)

    def _extra_repr(self) -> str:
        return f", nu={self.nu!r}"
