"""Argument checks of :func:`uqkit.history_match` (all before any model run)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InvalidParameterError
from .._validation import check_int, check_real, fail
from ..parameters import Parameters

__all__ = ["Spec", "history_match_iv"]

_FUNC = "history_match"


@dataclass(frozen=True)
class Spec:
    """The validated arguments."""

    model: Any
    fitted: bool                    # model is an already-fitted emulator
    parameters: Parameters          # in the order of model.inputs
    outputs: tuple[str, ...]        # observed outputs
    columns: np.ndarray             # their columns in model.outputs
    observed: np.ndarray            # (k,)
    obs_variance: np.ndarray        # (k,)
    discrepancy_variance: np.ndarray
    threshold: float
    rank: int
    n_waves: int
    waves_given: bool
    runs_per_wave: int
    emulator: Any


def _is_emulator(model: Any) -> bool:
    return callable(getattr(model, "predict", None))


def _observations(model_outputs: tuple[str, ...], observations: Any):
    if isinstance(observations, Mapping) or hasattr(observations, "index") and hasattr(
            observations, "to_dict") and not hasattr(observations, "columns"):
        items = dict(observations.items())
        unknown = [k for k in items if k not in model_outputs]
        if unknown:
            fail(_FUNC, "observations", f"output names of the model {list(model_outputs)}",
                 unknown, "Give observations only for outputs the model returns.")
        values = np.full(len(model_outputs), np.nan)
        for k, v in items.items():
            if v is None:
                continue
            v = check_real(_FUNC, f"observations[{k!r}]", v) if not (
                isinstance(v, float) and math.isnan(v)) else math.nan
            values[model_outputs.index(k)] = v
    else:
        try:
            values = np.asarray(observations, dtype=float).ravel()
        except (TypeError, ValueError):
            fail(_FUNC, "observations", "an array with one value per output or a mapping by "
                 "output name", type(observations).__name__)
        if values.size != len(model_outputs):
            fail(_FUNC, "observations", f"{len(model_outputs)} values (one per output "
                 f"{list(model_outputs)}; NaN where missing), or a mapping by output name",
                 f"{values.size} values")
        if np.isinf(values).any():
            fail(_FUNC, "observations", "finite values (NaN marks a missing output)",
                 values.tolist())
    columns = np.flatnonzero(~np.isnan(values))
    if columns.size == 0:
        fail(_FUNC, "observations", "at least one observed (non-NaN) output", values.tolist())
    return tuple(model_outputs[j] for j in columns), columns, values[columns]


def _variance(arg: str, value: Any, model_outputs: tuple[str, ...],
              observed: tuple[str, ...], columns: np.ndarray) -> np.ndarray:
    if isinstance(value, Mapping):
        missing = [o for o in observed if o not in value]
        if missing:
            fail(_FUNC, arg, "a variance for every observed output", f"none for {missing}")
        out = np.array([check_real(_FUNC, f"{arg}[{o!r}]", value[o]) for o in observed])
    elif isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(
            value, bool):
        out = np.full(len(observed), check_real(_FUNC, arg, value))
    else:
        try:
            arr = np.asarray(value, dtype=float).ravel()
        except (TypeError, ValueError):
            fail(_FUNC, arg, "a number, an array or a mapping by output name",
                 type(value).__name__)
        if arr.size == len(model_outputs):
            out = arr[columns]
        elif arr.size == len(observed):
            out = arr
        else:
            fail(_FUNC, arg, f"one value per output ({len(model_outputs)}) or per observed "
                 f"output ({len(observed)})", f"{arr.size} values")
        if not np.all(np.isfinite(out)):
            fail(_FUNC, arg, "finite", out.tolist())
    if np.any(out < 0):
        j = int(np.argmin(out))
        fail(_FUNC, arg, "non-negative (a variance)", f"{out[j]!r} for output {observed[j]!r}",
             "Pass variances (squared standard deviations), all >= 0.")
    return out


def history_match_iv(model, parameters, observations, obs_variance, discrepancy_variance,
                     threshold, rank, n_waves, runs_per_wave, emulator) -> Spec:
    fitted = _is_emulator(model)
    inputs = getattr(model, "inputs", None)
    outputs = getattr(model, "outputs", None)
    if inputs is None or outputs is None:
        fail(_FUNC, "model", "a uqkit Model (inputs, outputs, __call__) or a fitted emulator "
             "with inputs, outputs and predict(X, return_std=True)", type(model).__name__)
    inputs, outputs = tuple(inputs), tuple(outputs)
    if not isinstance(parameters, Parameters):
        fail(_FUNC, "parameters", "a uqkit.Parameters", type(parameters).__name__)
    missing = [n for n in inputs if n not in parameters.names]
    if missing or len(inputs) != len(parameters):
        fail(_FUNC, "parameters", f"a distribution for exactly the model inputs {list(inputs)}",
             list(parameters.names))
    parameters = parameters.subset(inputs)
    names, columns, observed = _observations(outputs, observations)
    obs_var = _variance("obs_variance", obs_variance, outputs, names, columns)
    disc_var = _variance("discrepancy_variance", discrepancy_variance, outputs, names, columns)
    if np.any(obs_var + disc_var <= 0):
        fail(_FUNC, "obs_variance", "> 0 in sum with discrepancy_variance for every observed "
             "output (the implausibility divides by it)", (obs_var + disc_var).tolist())
    threshold = check_real(_FUNC, "threshold", threshold, positive=True)
    rank = check_int(_FUNC, "rank", rank, minimum=1)
    if rank > 3 or rank > len(names):
        fail(_FUNC, "rank", f"1, 2 or 3 and at most the number of observed outputs "
             f"({len(names)})", rank)
    waves_given = n_waves is not None
    n_waves = 10 if n_waves is None else check_int(_FUNC, "n_waves", n_waves, minimum=1)
    d = len(inputs)
    if runs_per_wave is None:
        runs_per_wave = max(10 * d, 20)
    runs_per_wave = check_int(_FUNC, "runs_per_wave", runs_per_wave, minimum=d + 2)
    if not (emulator == "gp" or callable(emulator)):
        fail(_FUNC, "emulator", "'gp' or a callable fit(X, y) returning an object with "
             "predict(X, return_std=True)", emulator)
    if fitted and waves_given and n_waves != 1:
        raise InvalidParameterError(
            f"The 'n_waves' parameter of history_match must be None or 1 when 'model' is a "
            f"fitted emulator (no simulator runs). Got {n_waves!r} instead. Pass the "
            f"simulator to run waves.")
    return Spec(model, fitted, parameters, names, columns, observed, obs_var, disc_var,
                threshold, rank, 1 if fitted else n_waves, waves_given, runs_per_wave, emulator)
