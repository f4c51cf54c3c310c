"""A user-supplied log-likelihood with its own parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InvalidParameterError
from ..parameters import Parameters
from ._noise import NoiseModel

__all__ = ["Likelihood"]


@dataclass(frozen=True, repr=False, eq=False)
class Likelihood(NoiseModel):
    """A log-likelihood written by the user, with optional extra parameters.

    Parameters
    ----------
    function : callable
        ``function(y_model, data, **extra) -> ndarray (n,)``: the
        log-likelihood of each row. ``y_model`` is ``(n, k)``, the model
        outputs at the ``k`` observed columns (in the model's output order);
        ``data`` is the observed array, ``(k,)`` for one experiment or
        ``(m, k)`` for ``m`` experiments (NaN where missing); ``extra`` holds
        one ``(n,)`` array per parameter of ``parameters``. Return ``-inf``
        for impossible rows; NaN is treated as ``-inf``.
    parameters : Parameters, optional
        Extra likelihood parameters (noise scales, dispersions, biases...)
        with their priors. They are sampled with the model's inputs and
        appear in the posterior samples; an entry of the same name in the
        ``prior`` passed to :func:`uqkit.calibrate` takes precedence.

    Notes
    -----
    The function is called on the same batches as the model (one call per
    sampler step), so write it for arrays. Posterior-predictive bands with
    observation noise are not available for a custom likelihood (the model
    bands are).

    Examples
    --------
    A Laplace (double-exponential) error with an inferred scale ``b``:

    >>> import numpy as np, uqkit
    >>> def laplace(y, data, b):
    ...     return (-np.abs(data - y).sum(axis=1) / b - y.shape[1] * np.log(2 * b))
    >>> uqkit.Likelihood(laplace, uqkit.Parameters(b=uqkit.LogUniform(0.01, 10)))
    Likelihood(laplace, parameters=('b',))
    """

    function: Callable[..., Any] = None  # type: ignore[assignment]
    parameters: Parameters | None = None

    def __init__(self, function: Callable[..., Any],
                 parameters: Parameters | None = None) -> None:
        if not callable(function):
            raise InvalidParameterError(
                "The 'function' parameter of Likelihood must be a callable "
                "function(y_model, data, **extra) -> log-likelihood per row. Got "
                f"{type(function).__name__} instead.")
        if parameters is not None and not isinstance(parameters, Parameters):
            raise InvalidParameterError(
                "The 'parameters' parameter of Likelihood must be a uqkit.Parameters of the "
                f"extra likelihood parameters and their priors, or None. Got "
                f"{type(parameters).__name__} instead.")
        object.__setattr__(self, "function", function)
        object.__setattr__(self, "parameters", parameters)
        object.__setattr__(self, "prior", None)
        object.__setattr__(self, "groups", None)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the extra parameters."""
        return () if self.parameters is None else tuple(self.parameters.names)

    def loglike(self, Y: np.ndarray, data: np.ndarray, mask: np.ndarray,
                theta: Any = None) -> np.ndarray:
        extra = {} if theta is None else {
            name: np.ascontiguousarray(theta[:, j]) for j, name in enumerate(self.names)}
        out = self.function(Y, data[0] if len(data) == 1 else data, **extra)
        out = np.asarray(out, dtype=float)
        if out.shape != (Y.shape[0],):
            out = out.reshape(-1) if out.size == Y.shape[0] else out
        if out.shape != (Y.shape[0],):
            raise InvalidParameterError(
                f"The function of Likelihood must return one log-likelihood per row of y_model, "
                f"shape ({Y.shape[0]},). Got shape {np.shape(out)} instead. Sum over the "
                "observations inside the function.")
        out = out.copy()
        out[~(out < np.inf)] = -np.inf  # NaN and +inf rows are rejected
        return out

    def __repr__(self) -> str:
        name = getattr(self.function, "__name__", type(self.function).__name__)
        return f"Likelihood({name}, parameters={self.names})"
