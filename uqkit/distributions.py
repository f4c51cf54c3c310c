"""Univariate input distributions (scipy.stats underneath).

Each class validates its arguments (a :class:`uqkit.InvalidParameterError`,
a ``ValueError``, naming the argument) and exposes ``kind`` and ``params`` so
methods such as polynomial chaos can pick the matching orthogonal basis.
Any frozen ``scipy.stats`` continuous distribution is accepted wherever a
distribution is expected; :func:`as_distribution` wraps it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from ._errors import InvalidParameterError
from ._validation import check_real, fail, normalize_rng

__all__ = [
    "Distribution",
    "Uniform",
    "Normal",
    "LogNormal",
    "LogUniform",
    "TruncatedNormal",
    "Beta",
    "Gamma",
    "Triangular",
    "as_distribution",
]


class Distribution:
    """A univariate continuous distribution.

    Parameters
    ----------
    frozen : scipy.stats frozen continuous distribution
        The distribution doing the numerical work.
    kind : str, optional
        Family name used by methods that specialise on the family
        (``"uniform"``, ``"normal"``, ``"lognormal"``, ``"gamma"``, ``"beta"``...);
        ``None`` for a generic scipy distribution.
    params : dict, optional
        The constructor arguments, for ``repr``, hashing and study files.
    """

    __slots__ = ("dist", "kind", "params")

    def __init__(self, frozen: Any, *, kind: str | None = None,
                 params: dict[str, float] | None = None) -> None:
        self.dist = frozen
        self.kind = kind
        self.params = dict(params or {})

    # -- numerical interface -------------------------------------------------
    def ppf(self, q):
        """Inverse CDF."""
        return self.dist.ppf(q)

    def cdf(self, x):
        """Cumulative distribution function."""
        return self.dist.cdf(x)

    def pdf(self, x):
        """Probability density."""
        return self.dist.pdf(x)

    def logpdf(self, x):
        """Log density (``-inf`` outside the support)."""
        return self.dist.logpdf(x)

    def rvs(self, size, *, rng=None):
        """Random variates drawn with a seeded generator."""
        return self.dist.rvs(size=size, random_state=normalize_rng(rng))

    @property
    def mean(self) -> float:
        return float(self.dist.mean())

    @property
    def std(self) -> float:
        return float(self.dist.std())

    @property
    def var(self) -> float:
        return float(self.dist.var())

    @property
    def support(self) -> tuple[float, float]:
        lo, hi = self.dist.support()
        return float(lo), float(hi)

    # -- description ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (used in study fingerprints)."""
        if self.kind is not None and type(self) is not Distribution:
            return {"dist": type(self).__name__, **self.params}
        d = self.dist
        return {
            "dist": f"scipy.stats.{d.dist.name}",
            "args": [float(a) for a in d.args],
            "kwds": {k: float(v) for k, v in sorted(d.kwds.items())},
        }

    def __repr__(self) -> str:
        if type(self) is Distribution:
            d = self.dist
            args = ", ".join([*(f"{a:g}" for a in d.args),
                              *(f"{k}={v:g}" for k, v in d.kwds.items())])
            return f"scipy.stats.{d.dist.name}({args})"
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Distribution):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def __reduce__(self):
        if type(self) is Distribution:
            return (Distribution, (self.dist,), {"kind": self.kind, "params": self.params})
        return (type(self), tuple(self.params.values()))

    def __setstate__(self, state):
        self.kind = state["kind"]
        self.params = state["params"]


def _finite(cls: str, **values: Any) -> list[float]:
    return [check_real(cls, k, v) for k, v in values.items()]


class Uniform(Distribution):
    """Uniform distribution on ``[low, high]``."""

    __slots__ = ()

    def __init__(self, low: float, high: float) -> None:
        low, high = _finite("Uniform", low=low, high=high)
        if not high > low:
            fail("Uniform", "high", f"greater than low={low:g}", high)
        super().__init__(stats.uniform(loc=low, scale=high - low), kind="uniform",
                         params={"low": low, "high": high})


class Normal(Distribution):
    """Normal distribution with mean ``mean`` and standard deviation ``std``."""

    __slots__ = ()

    def __init__(self, mean: float, std: float) -> None:
        mean = check_real("Normal", "mean", mean)
        std = check_real("Normal", "std", std, positive=True)
        super().__init__(stats.norm(loc=mean, scale=std), kind="normal",
                         params={"mean": mean, "std": std})


class LogNormal(Distribution):
    """Log-normal distribution: ``log(X) ~ Normal(mu, sigma)``."""

    __slots__ = ()

    def __init__(self, mu: float, sigma: float) -> None:
        mu = check_real("LogNormal", "mu", mu)
        sigma = check_real("LogNormal", "sigma", sigma, positive=True)
        super().__init__(stats.lognorm(s=sigma, scale=math.exp(mu)), kind="lognormal",
                         params={"mu": mu, "sigma": sigma})


class LogUniform(Distribution):
    """Log-uniform (reciprocal) distribution on ``[low, high]``, ``0 < low < high``."""

    __slots__ = ()

    def __init__(self, low: float, high: float) -> None:
        low = check_real("LogUniform", "low", low, positive=True)
        high = check_real("LogUniform", "high", high)
        if not high > low:
            fail("LogUniform", "high", f"greater than low={low:g}", high)
        super().__init__(stats.loguniform(low, high), kind="loguniform",
                         params={"low": low, "high": high})


class TruncatedNormal(Distribution):
    """Normal(mean, std) truncated to ``[low, high]`` (either may be infinite)."""

    __slots__ = ()

    def __init__(self, mean: float, std: float, low: float = -math.inf,
                 high: float = math.inf) -> None:
        mean = check_real("TruncatedNormal", "mean", mean)
        std = check_real("TruncatedNormal", "std", std, positive=True)
        for name, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) \
                    or math.isnan(v):
                fail("TruncatedNormal", name, "a real number or +-inf", v)
        low, high = float(low), float(high)
        if not high > low:
            fail("TruncatedNormal", "high", f"greater than low={low:g} (inverted truncation)",
                 high)
        a, b = (low - mean) / std, (high - mean) / std
        frozen = stats.truncnorm(a, b, loc=mean, scale=std)
        if not frozen.cdf(high) - frozen.cdf(low) > 0 or not np.isfinite(frozen.mean()):
            fail("TruncatedNormal", "low", "an interval with non-negligible probability", low)
        super().__init__(frozen, kind="truncnormal",
                         params={"mean": mean, "std": std, "low": low, "high": high})


class Beta(Distribution):
    """Beta(alpha, beta) distribution scaled to ``[low, high]``."""

    __slots__ = ()

    def __init__(self, alpha: float, beta: float, low: float = 0.0, high: float = 1.0) -> None:
        alpha = check_real("Beta", "alpha", alpha, positive=True)
        beta = check_real("Beta", "beta", beta, positive=True)
        low, high = _finite("Beta", low=low, high=high)
        if not high > low:
            fail("Beta", "high", f"greater than low={low:g}", high)
        super().__init__(stats.beta(alpha, beta, loc=low, scale=high - low), kind="beta",
                         params={"alpha": alpha, "beta": beta, "low": low, "high": high})


class Gamma(Distribution):
    """Gamma distribution with shape ``shape`` and scale ``scale``."""

    __slots__ = ()

    def __init__(self, shape: float, scale: float = 1.0) -> None:
        shape = check_real("Gamma", "shape", shape, positive=True)
        scale = check_real("Gamma", "scale", scale, positive=True)
        super().__init__(stats.gamma(shape, scale=scale), kind="gamma",
                         params={"shape": shape, "scale": scale})


class Triangular(Distribution):
    """Triangular distribution on ``[low, high]`` with mode ``mode``."""

    __slots__ = ()

    def __init__(self, low: float, mode: float, high: float) -> None:
        low, mode, high = _finite("Triangular", low=low, mode=mode, high=high)
        if not high > low:
            fail("Triangular", "high", f"greater than low={low:g}", high)
        if not low <= mode <= high:
            fail("Triangular", "mode", f"within [low, high] = [{low:g}, {high:g}]", mode)
        super().__init__(stats.triang((mode - low) / (high - low), loc=low, scale=high - low),
                         kind="triangular", params={"low": low, "mode": mode, "high": high})


def as_distribution(value: Any, *, name: str = "distribution") -> Distribution:
    """Return ``value`` as a :class:`Distribution`.

    Accepts a uqkit distribution or any frozen ``scipy.stats`` continuous
    distribution. Raises :class:`uqkit.InvalidParameterError` otherwise.
    """
    if isinstance(value, Distribution):
        return value
    dist = getattr(value, "dist", None)
    if isinstance(dist, stats.rv_continuous) and hasattr(value, "ppf"):
        lo, hi = value.support()
        if np.isnan(lo) or np.isnan(hi):
            raise InvalidParameterError(
                f"The distribution of {name!r} has invalid shape parameters: {value.args} "
                f"{value.kwds}."
            )
        return Distribution(value)
    if isinstance(dist, stats.rv_discrete):
        raise InvalidParameterError(
            f"The distribution of {name!r} must be continuous. Got a discrete scipy "
            f"distribution ({dist.name}) instead."
        )
    raise InvalidParameterError(
        f"The distribution of {name!r} must be a uqkit distribution (e.g. uqkit.Uniform(0, 1)) "
        f"or a frozen scipy.stats continuous distribution. Got {value!r} instead."
    )
