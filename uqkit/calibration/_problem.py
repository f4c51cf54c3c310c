"""The calibration problem: data, noise and prior assembled into one log-posterior.

Validation happens here, before any model run: the data are matched to the
model's outputs, inferred noise levels become extra parameters, and the
posterior parameter vector is fixed as ``prior.names`` followed by any noise
parameters the user did not give a prior for.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InvalidParameterError
from ..models._protocol import check_model, output_groups
from ..parameters import Parameters
from ._noise import NoiseModel
from ._noise_setup import noise_setup

__all__ = ["Problem", "build_problem", "parse_data"]

_FUNC = "calibrate"
_all_true = np.logical_and.reduce  # ``a.all(axis=...)`` without the method wrapper (hot path)


def _bad_data(expected: str, got: Any, remedy: str | None = None):
    msg = f"The 'data' parameter of calibrate must be {expected}. Got {got} instead."
    if remedy:
        msg += f" {remedy}"
    raise InvalidParameterError(msg)


def parse_data(data: Any, outputs: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Observed output columns and the observations, shape ``(n_experiments, k)``.

    Accepted forms: an array of length ``len(outputs)``; a 2-D array with one
    row per experiment; a mapping or ``pandas.Series`` by output (or vector
    group) name, a subset of the outputs being allowed, with scalars or one
    value per experiment; a ``pandas.DataFrame`` with output columns. NaN
    marks a missing observation.
    """
    m = len(outputs)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        data = {str(c): data[c].to_numpy() for c in data.columns}
    elif pd is not None and isinstance(data, pd.Series):
        data = {str(k): v for k, v in data.items()}
    if isinstance(data, Mapping):
        if not data:
            _bad_data("a non-empty mapping of output names to observations", "{}")
        groups = output_groups(outputs)
        cols: list[int] = []
        values: list[np.ndarray] = []
        for key, value in data.items():
            if key in outputs:
                idx = [outputs.index(key)]
            elif key in groups:
                idx = groups[key]
            else:
                _bad_data(f"keyed by the model's outputs {list(outputs)}", f"key {key!r}",
                          "Use the output names of the model (or the name of a vector output).")
            v = np.asarray(value, dtype=float) if _is_numeric(value) else None
            if v is None:
                _bad_data("real numbers", f"{key!r}: {value!r:.60}")
            if len(idx) == 1:
                v = v.reshape(-1, 1) if v.ndim <= 1 else v
            else:
                v = v.reshape(1, -1) if v.ndim == 1 else v
            if v.ndim != 2 or v.shape[1] != len(idx):
                _bad_data(f"of size {len(idx)} for output {key!r} (one value per column, "
                          "rows for experiments)", f"shape {np.shape(value)}")
            dup = set(idx) & set(cols)
            if dup:
                _bad_data("free of duplicate outputs", f"{key!r} given twice")
            cols.extend(idx)
            values.append(v)
        n_exp = {v.shape[0] for v in values}
        if len(n_exp - {1}) > 1:
            _bad_data("the same number of experiments for every output",
                      f"{sorted(n_exp)} rows")
        e = max(n_exp)
        arr = np.concatenate([np.broadcast_to(v, (e, v.shape[1])) for v in values], axis=1)
        order = np.argsort(cols, kind="stable")
        return np.asarray(cols)[order], _finish(np.ascontiguousarray(arr[:, order]))
    if not _is_numeric(data):
        _bad_data("an array, a mapping or a pandas Series/DataFrame of observations",
                  type(data).__name__)
    arr = np.asarray(data, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != m:
        _bad_data(f"an array of length {m} (one value per model output {list(outputs)[:6]}) or "
                  f"of shape (n_experiments, {m})", f"shape {np.shape(data)}",
                  "Pass a mapping by output name to observe a subset of the outputs.")
    return np.arange(m), _finish(arr)


def _is_numeric(value: Any) -> bool:
    try:
        a = np.asarray(value)
    except Exception:  # pragma: no cover - exotic objects
        return False
    return a.dtype.kind in "fiub"


def _finish(arr: np.ndarray) -> np.ndarray:
    if np.any(np.isinf(arr)):
        _bad_data("finite (NaN marks a missing value)", "an infinite value")
    if np.all(np.isnan(arr)):
        _bad_data("at least one observed value", "only NaN")
    return arr


@dataclass(frozen=True)
class Problem:
    """Everything needed to evaluate the log-posterior of a parameter vector."""

    model: Any
    parameters: Parameters          # posterior parameters: model inputs and noise levels
    model_index: np.ndarray         # column of each model input in the parameter vector
    columns: np.ndarray             # observed model output columns
    data: np.ndarray                # (n_experiments, k), NaN where missing
    mask: np.ndarray                # observed entries
    noise: NoiseModel
    # the likelihood's parameter (sigma, or phi) per observed column: known values (k,), or
    # the parameter column of each observed column (k,); for a user Likelihood, the columns
    # of its extra parameters (p,)
    sigma_fixed: np.ndarray | None
    sigma_index: np.ndarray | None
    noise_names: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return self.parameters.names

    @property
    def dim(self) -> int:
        return self.parameters.dim

    def model_inputs(self, X: np.ndarray) -> np.ndarray:
        if self._identity_inputs:
            return X
        return np.ascontiguousarray(X[:, self.model_index])

    @functools.cached_property
    def _identity_inputs(self) -> bool:
        return bool(np.array_equal(self.model_index, np.arange(self.dim)))

    def logprior(self, X: np.ndarray) -> np.ndarray:
        box = self._uniform_box
        if box is not None:  # every prior uniform: one comparison per entry
            lo, hi, const = box
            inside = X >= lo
            inside &= X <= hi
            return np.where(_all_true(inside, axis=1), const, -np.inf)
        return fast_logpdf(self.parameters, X)

    def loglike(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Log-likelihood of rows ``X`` given the model outputs ``Y`` (all columns)."""
        gauss = self._gaussian_fixed
        if gauss is not None:  # Gaussian, known sigma, every entry observed: one expression
            inv_sigma, const = gauss
            Yc = Y[:, self.columns] if self._all_columns is None else Y
            out = None
            data = self.data
            for row in (data[0],) if len(data) == 1 else data:  # one experiment: no iterator
                r = Yc - row
                r *= inv_sigma
                q = np.einsum("ij,ij->i", r, r)
                out = q if out is None else out + q
            out *= -0.5
            out += const
            # a sum of -squares is never +inf, so the total is NaN only if a row is NaN
            if math.isnan(np.add.reduce(out)):  # NaN from NaN outputs
                out[np.isnan(out)] = -np.inf
            return out
        theta = self.sigma_fixed if self.sigma_index is None else X[:, self.sigma_index]
        return self.noise.loglike(Y[:, self.columns], self.data, self.mask, theta)

    @functools.cached_property
    def _uniform_box(self) -> tuple[np.ndarray, np.ndarray, float] | None:
        dists = self.parameters.distributions
        if not all(d.kind == "uniform" for d in dists):
            return None
        lo = np.array([d.params["low"] for d in dists], dtype=float)
        hi = np.array([d.params["high"] for d in dists], dtype=float)
        return lo, hi, -float(np.sum(np.log(hi - lo)))

    @functools.cached_property
    def _gaussian_fixed(self) -> tuple[np.ndarray, float] | None:
        from ._noise import Gaussian
        if type(self.noise) is not Gaussian or self.sigma_fixed is None or not self.mask.all():
            return None
        n_exp = self.data.shape[0]
        const = -n_exp * (float(np.sum(np.log(self.sigma_fixed)))
                          + 0.5 * len(self.sigma_fixed) * math.log(2 * math.pi))
        return 1.0 / self.sigma_fixed, const

    @functools.cached_property
    def _all_columns(self) -> bool | None:
        cols = self.columns
        m = len(self.model.outputs)
        return True if len(cols) == m and np.array_equal(cols, np.arange(m)) else None

    def spec(self) -> dict[str, Any]:
        """JSON description for checkpoint identity."""
        return {
            "parameters": self.parameters.to_dict(),
            "columns": self.columns.tolist(),
            "data": [[None if math.isnan(v) else v for v in row] for row in self.data.tolist()],
            "noise": repr(self.noise),
            "sigma": None if self.sigma_fixed is None else self.sigma_fixed.tolist(),
        }


def fast_logpdf(parameters: Parameters, X: np.ndarray) -> np.ndarray:
    """Joint prior log density; closed forms for the common families (scipy is ~30 us a call)."""
    out = np.zeros(X.shape[0])
    for j, dist in enumerate(parameters.distributions):
        x = X[:, j]
        p = dist.params
        if dist.kind == "uniform":
            lo, hi = p["low"], p["high"]
            out += np.where((x >= lo) & (x <= hi), -math.log(hi - lo), -np.inf)
        elif dist.kind == "normal":
            z = (x - p["mean"]) / p["std"]
            out += -0.5 * z * z - math.log(p["std"]) - 0.5 * math.log(2 * math.pi)
        else:
            out += dist.logpdf(x)
    return out


def build_problem(model: Any, prior: Any, data: Any, noise: Any) -> Problem:
    """Validate the public arguments of :func:`calibrate` and assemble the problem.

    Everything is checked here, before any model run: the model, the prior,
    the data against the model's outputs and against the likelihood (counts,
    positivity), and the noise parameters (see ``_noise_setup``).
    """
    check_model(model, _FUNC)
    if not isinstance(prior, Parameters):
        raise InvalidParameterError(
            f"The 'prior' parameter of calibrate must be a uqkit.Parameters. Got "
            f"{type(prior).__name__} instead.")
    if not isinstance(noise, NoiseModel):
        raise InvalidParameterError(
            "The 'noise' parameter of calibrate must be a likelihood: uqkit.Gaussian(...), "
            "uqkit.StudentT(...), uqkit.LogGaussian(...), uqkit.Poisson(), "
            f"uqkit.NegativeBinomial(...) or uqkit.Likelihood(...). Got {noise!r:.80} instead.")
    inputs = tuple(model.inputs)
    outputs = tuple(model.outputs)
    missing = [n for n in inputs if n not in prior.names]
    if missing:
        raise InvalidParameterError(
            f"The 'prior' parameter of calibrate must give a distribution for every model input "
            f"{list(inputs)}. Got no prior for {missing} instead.")
    columns, obs = parse_data(data, outputs)
    mask = ~np.isnan(obs)
    col_names = [outputs[c] for c in columns]
    setup = noise_setup(noise, prior, inputs, col_names, obs, mask)
    noise_names = setup.names
    extra = [n for n in prior.names if n not in inputs and n not in noise_names]
    if extra:
        expected = ("the model inputs" + (f" and the noise parameters {list(noise_names)}"
                                          if noise_names else ""))
        raise InvalidParameterError(
            f"The 'prior' parameter of calibrate must only name {expected}. Got unknown "
            f"parameters {extra} instead.")
    dists: dict[str, Any] = dict(prior.items())
    for name in noise_names:
        if name not in dists:
            dists[name] = setup.distributions[name]
    parameters = Parameters(dists)
    names = parameters.names
    model_index = np.array([names.index(n) for n in inputs])
    sigma_fixed = sigma_index = None
    k = len(columns)
    if setup.column_names is not None:
        sigma_index = np.array([names.index(n) for n in setup.column_names])
    elif noise_names:  # a user likelihood: its parameters, in its order
        sigma_index = np.array([names.index(n) for n in noise_names])
    elif setup.fixed is not None:
        sigma_fixed = setup.fixed
        if len(sigma_fixed) == len(outputs) and len(sigma_fixed) != k:
            sigma_fixed = sigma_fixed[columns]
        elif len(sigma_fixed) != k:
            raise InvalidParameterError(
                f"The '{noise._param}' of {type(noise).__name__} must have one value per observed "
                f"output ({k}) or per model output ({len(outputs)}). Got {len(sigma_fixed)} "
                "values.")
    return Problem(model=model, parameters=parameters, model_index=model_index,
                   columns=np.asarray(columns), data=obs, mask=mask, noise=noise,
                   sigma_fixed=sigma_fixed, sigma_index=sigma_index, noise_names=noise_names)
