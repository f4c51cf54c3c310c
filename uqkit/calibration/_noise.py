"""Observation-noise models with a scale: Gaussian, Student-t and log-normal.

A noise model turns model outputs ``Y`` (one row per walker) and the observed
``data`` (one row per experiment) into one log-likelihood per walker. The
likelihood is written once, for arrays, and used by every sampler and by the
delayed-acceptance surrogate stage alike. Count likelihoods live in
``_counts.py``, the user-supplied one in ``_likelihood.py``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.special import gammaln

from .._errors import InvalidParameterError
from ..distributions import Distribution, TruncatedNormal

__all__ = ["Gaussian", "StudentT", "LogGaussian", "NoiseModel", "ScaleNoise"]

_LOG_2PI = math.log(2.0 * math.pi)


def check_scale(cls: str, value: Any, arg: str = "sigma") -> Any:
    """A positive number, a tuple of them, a mapping by output, or ``"infer"``."""
    if isinstance(value, str):
        if value != "infer":
            raise InvalidParameterError(
                f"The '{arg}' parameter of {cls} must be a positive number, one positive number "
                f"per output, or 'infer'. Got {value!r} instead.")
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            out[str(k)] = check_scale(cls, v, arg)
            if isinstance(out[str(k)], str):
                raise InvalidParameterError(
                    f"The '{arg}' parameter of {cls} maps outputs to positive numbers; "
                    f"Got {k!r}: {v!r} instead. Use {arg}='infer' to infer it.")
        return out
    if isinstance(value, bool):
        raise InvalidParameterError(
            f"The '{arg}' parameter of {cls} must be a positive number. Got {value!r} instead.")
    if isinstance(value, numbers.Real):
        v = float(value)
        if not (math.isfinite(v) and v > 0):
            raise InvalidParameterError(
                f"The '{arg}' parameter of {cls} must be a finite number > 0. Got {value!r} "
                "instead.")
        return v
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        arr = np.empty(0)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InvalidParameterError(
            f"The '{arg}' parameter of {cls} must be a positive number or a 1-D array of "
            f"positive numbers (one per observed output). Got {value!r} instead.")
    return tuple(float(v) for v in arr)


def check_groups(cls: str, groups: Any) -> Any:
    """``None`` (one shared parameter), ``"output"`` or a mapping of group name to outputs."""
    if groups is None or groups == "output":
        return groups
    if isinstance(groups, Mapping) and groups:
        out = {}
        for name, members in groups.items():
            if isinstance(members, str):
                members = [members]
            if (not isinstance(name, str) or not name.isidentifier()
                    or not all(isinstance(m, str) for m in members) or not members):
                raise InvalidParameterError(
                    f"The 'groups' parameter of {cls} must map group names (identifiers) to "
                    f"lists of output names. Got {name!r}: {members!r} instead.")
            out[name] = tuple(members)
        return out
    raise InvalidParameterError(
        f"The 'groups' parameter of {cls} must be None (one parameter shared by every "
        f"observation), 'output' (one per output, vector outputs sharing one) or a mapping "
        f"such as {{'apd': ['apd50', 'apd90'], 'cv': ['cv']}}. Got {groups!r} instead.")


@dataclass(frozen=True)
class NoiseModel:
    """Base class of the likelihoods accepted by :func:`uqkit.calibrate`.

    Subclasses with a per-observation parameter (a noise scale ``sigma``, or
    the negative-binomial ``phi``) name it in ``_param``; its value is either
    known or ``"infer"`` (a posterior parameter, one per group of outputs).
    """

    prior: Any = None
    groups: Any = None

    _param: ClassVar[str | None] = None

    @property
    def infers_sigma(self) -> bool:
        """True when the noise model's parameter is inferred."""
        return self._param is not None and isinstance(self._value, str)

    @property
    def _value(self) -> Any:
        return getattr(self, self._param) if self._param is not None else None

    def _default_prior(self, values: np.ndarray) -> Distribution:  # pragma: no cover
        raise NotImplementedError

    def _check_data(self, obs: np.ndarray) -> None:
        """Raise InvalidParameterError for observations this likelihood cannot take."""

    def loglike(self, Y: np.ndarray, data: np.ndarray, mask: np.ndarray,
                theta: Any) -> np.ndarray:  # pragma: no cover - abstract
        """Log-likelihood of each row of ``Y`` (n, k) given ``data`` (n_experiments, k)."""
        raise NotImplementedError

    def replicate(self, Y: np.ndarray, theta: Any, rng: np.random.Generator) -> np.ndarray:
        """Replicated observations drawn around the model outputs ``Y`` (n, k)."""
        return np.full(Y.shape, np.nan)

    def __repr__(self) -> str:
        args = [] if self._param is None else [f"{self._param}={self._value!r}"]
        args += self._extra_repr()
        if self.groups is not None:
            args.append(f"groups={self.groups!r}")
        if self.prior is not None:
            args.append("prior=...")
        return f"{type(self).__name__}({', '.join(args)})"

    def _extra_repr(self) -> list[str]:
        return []


@dataclass(frozen=True, repr=False)
class ScaleNoise(NoiseModel):
    """Additive noise ``data = model + sigma * eps`` with a standardised density of ``eps``."""

    sigma: Any = "infer"

    _param: ClassVar[str | None] = "sigma"

    def _default_prior(self, values: np.ndarray) -> Distribution:
        """Half-normal with the spread of the group's observations as scale."""
        v = values[np.isfinite(values)]
        scale = float(np.std(v)) if v.size > 1 else 0.0
        if not scale > 0:
            scale = float(np.mean(np.abs(v))) if v.size else 0.0
        if not scale > 0:
            scale = 1.0
        return TruncatedNormal(0.0, scale, low=0.0)

    def _logdensity(self, z: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _noise(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal(shape)

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

    def replicate(self, Y: np.ndarray, theta: Any, rng: np.random.Generator) -> np.ndarray:
        sigma = np.asarray(theta, dtype=float)
        return Y + sigma * self._noise(Y.shape, rng)


_GROUPS_DOC = """groups : None, "output" or mapping, optional
        Which observations share an inferred scale. ``None`` (default): one
        ``sigma`` for every observation. ``"output"``: one per output, named
        ``sigma_<output>`` (a vector output ``V[0]..V[k]`` shares ``sigma_V``;
        plain ``sigma`` when only one output is observed). A mapping such as
        ``{"apd": ["apd50", "apd90"], "cv": ["cv"]}`` sets the groups
        explicitly (``sigma_apd``, ``sigma_cv``); every observed output must
        be in exactly one group."""


@dataclass(frozen=True, repr=False)
class Gaussian(ScaleNoise):
    """Independent Gaussian observation noise, ``data = model + sigma * N(0, 1)``.

    Parameters
    ----------
    sigma : float, sequence of float, mapping, or "infer"
        Noise standard deviation: one number for every observation, one per
        observed output column (in the order of the model's outputs), a
        mapping by output name, or ``"infer"`` (the scale becomes a posterior
        parameter, ``sigma``; see ``groups``).
    prior : Distribution or mapping of str to Distribution, optional
        Prior of the inferred scale(s); a mapping is keyed by parameter or
        group name. The default is weakly informative: a half-normal whose
        scale is the spread of the group's observations (their standard
        deviation, or their mean absolute value when they are constant). A
        ``sigma`` (or ``sigma_<group>``) entry in the ``prior`` Parameters
        passed to :func:`uqkit.calibrate` takes precedence.
    {groups}

    Notes
    -----
    An inferred scale needs at least 3 observations (experiments times
    outputs in its group); fewer is refused before any model run.

    Examples
    --------
    >>> import uqkit
    >>> uqkit.Gaussian(0.3)
    Gaussian(sigma=0.3)
    >>> uqkit.Gaussian("infer", groups="output")
    Gaussian(sigma='infer', groups='output')
    """

    def __init__(self, sigma: Any = "infer", *, groups: Any = None, prior: Any = None) -> None:
        _init_scale(self, "Gaussian", sigma, groups, prior)

    def _logdensity(self, z: np.ndarray) -> np.ndarray:
        return -0.5 * z * z - 0.5 * _LOG_2PI


Gaussian.__doc__ = Gaussian.__doc__.replace("{groups}", _GROUPS_DOC)


def _init_scale(self: NoiseModel, cls: str, sigma: Any, groups: Any, prior: Any) -> None:
    sigma = check_scale(cls, sigma)
    groups = check_groups(cls, groups)
    if groups is not None and not isinstance(sigma, str):
        raise InvalidParameterError(
            f"The 'groups' parameter of {cls} applies to an inferred scale (sigma='infer'). Got "
            f"groups={groups!r} with a known sigma instead; give one sigma per output instead.")
    object.__setattr__(self, "sigma", sigma)
    object.__setattr__(self, "groups", groups)
    object.__setattr__(self, "prior", prior)


@dataclass(frozen=True, repr=False)
class StudentT(ScaleNoise):
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
    {groups}

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

    def __init__(self, sigma: Any = "infer", *, nu: float = 4.0, groups: Any = None,
                 prior: Any = None) -> None:
        if isinstance(nu, bool) or not isinstance(nu, numbers.Real) or not (
                math.isfinite(nu) and nu > 0):
            raise InvalidParameterError(
                f"The 'nu' parameter of StudentT must be a finite number > 0. Got {nu!r} instead.")
        _init_scale(self, "StudentT", sigma, groups, prior)
        object.__setattr__(self, "nu", float(nu))

    def _logdensity(self, z: np.ndarray) -> np.ndarray:
        nu = self.nu
        const = gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * math.log(nu * math.pi)
        return const - 0.5 * (nu + 1) * np.log1p(z * z / nu)

    def _noise(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return rng.standard_t(self.nu, size=shape)

    def _extra_repr(self) -> list[str]:
        return [f"nu={self.nu!r}"]


StudentT.__doc__ = StudentT.__doc__.replace("{groups}", _GROUPS_DOC)


@dataclass(frozen=True, repr=False)
class LogGaussian(ScaleNoise):
    """Multiplicative (log-normal) noise: ``log(data) = log(model) + sigma * eps``.

    The usual error model of concentrations, titres, cell counts on a log
    scale and other positive quantities measured with a relative error:
    ``sigma`` is the standard deviation of ``log(data)`` (``sigma = 0.1`` is
    about a 10 % error). The likelihood is the log-normal density of the
    data (the Jacobian ``-sum(log data)`` included, so evidences are
    comparable with other noise models).

    Parameters
    ----------
    sigma : float, sequence of float, mapping, or "infer"
        Standard deviation of the log-data, as for :class:`Gaussian`.
    prior : Distribution or mapping, optional
        Prior of the inferred scale(s). Default: half-normal with scale 1 (a
        relative error up to a factor of about ``e**2``).
    {groups}

    Notes
    -----
    Every observed value must be > 0 (checked before any model run). A
    model output ``<= 0`` at an observed entry has likelihood zero: the
    proposal is rejected.

    Examples
    --------
    >>> import uqkit
    >>> uqkit.LogGaussian(0.1)
    LogGaussian(sigma=0.1)
    """

    def __init__(self, sigma: Any = "infer", *, groups: Any = None, prior: Any = None) -> None:
        _init_scale(self, "LogGaussian", sigma, groups, prior)

    def _default_prior(self, values: np.ndarray) -> Distribution:
        return TruncatedNormal(0.0, 1.0, low=0.0)

    def _check_data(self, obs: np.ndarray) -> None:
        v = obs[np.isfinite(obs)]
        if np.any(v <= 0):
            raise InvalidParameterError(
                "The 'data' parameter of calibrate must be > 0 for the LogGaussian noise model "
                f"(log(data) is modelled). Got {v[v <= 0][:5].tolist()} instead. Mark "
                "non-detects as NaN (missing), or use Gaussian noise for data that can be zero.")

    def _logdensity(self, z: np.ndarray) -> np.ndarray:
        return -0.5 * z * z - 0.5 * _LOG_2PI

    def loglike(self, Y: np.ndarray, data: np.ndarray, mask: np.ndarray,
                sigma: np.ndarray) -> np.ndarray:
        positive = np.logical_and.reduce(Y > 0, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            logY = np.log(np.where(positive[:, None], Y, 1.0))
        logd = np.log(np.where(mask, data, 1.0))
        out = super().loglike(logY, logd, mask, sigma) - logd[mask].sum()
        out[~positive] = -np.inf
        return out

    def replicate(self, Y: np.ndarray, theta: Any, rng: np.random.Generator) -> np.ndarray:
        sigma = np.asarray(theta, dtype=float)
        with np.errstate(invalid="ignore"):
            return np.where(Y > 0, Y, np.nan) * np.exp(sigma * rng.standard_normal(Y.shape))


LogGaussian.__doc__ = LogGaussian.__doc__.replace("{groups}", _GROUPS_DOC)
