"""Helpers shared by the sensitivity methods: argument checks and model evaluation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from uqkit._validation import fail
from uqkit.models import check_model
from uqkit.parameters import Parameters

__all__ = ["check_problem", "evaluate", "integer_seed", "failure_mask", "series_axes"]


def check_problem(func: str, model: Any, parameters: Any) -> Parameters:
    """Validate model and parameters; return the parameters in the model's input order."""
    check_model(model, func)
    if not isinstance(parameters, Parameters):
        if isinstance(parameters, Mapping):
            parameters = Parameters(parameters)
        else:
            fail(func, "parameters", "a uqkit.Parameters", type(parameters).__name__)
    inputs = tuple(model.inputs)
    if set(inputs) != set(parameters.names):
        missing = [n for n in inputs if n not in parameters.names]
        extra = [n for n in parameters.names if n not in inputs]
        fail(func, "parameters", f"one distribution per model input {list(inputs)}",
             list(parameters.names), f"Missing: {missing}; not model inputs: {extra}.")
    if inputs != parameters.names:
        parameters = parameters.subset(inputs)
    return parameters


def evaluate(model: Any, X: np.ndarray, runner: Any) -> Any:
    """Send the design through ``runner.evaluate`` (``uqkit.Runner()`` when None).

    Returns the runner's ``Evaluations`` (``Y``, ``ok``, ``n_new``, ``n_cached``,
    ``n_failed``).
    """
    if runner is None:
        from uqkit.runner import Runner

        runner = Runner()
    return runner.evaluate(model, X)


def failure_mask(ev: Any) -> np.ndarray:
    """Rows that failed or returned a non-finite value (never used silently)."""
    Y = np.asarray(ev.Y, dtype=float)
    ok = np.asarray(ev.ok, dtype=bool) & np.all(np.isfinite(Y), axis=1)
    return ~ok


def integer_seed(rng: np.random.Generator) -> int:
    """A positive integer seed for libraries that take one (never 0: SALib's ``if seed:``)."""
    return int(rng.integers(1, 2**31 - 1))


def series_axes(model: Any) -> dict[str, dict[str, Any]]:
    """The axis of each vector output of ``model``: ``{group: {"values", "label"}}``.

    A model that records its series' times (``model.times``, in
    ``model.time_unit`` when it says) gets them for every vector output of that
    length; other series have no recorded axis.
    """
    from uqkit.models import output_groups

    times = getattr(model, "times", None)
    if times is None:
        return {}
    try:
        values = np.asarray(times, dtype=float).ravel()
    except (TypeError, ValueError):
        return {}
    unit = getattr(model, "time_unit", None)
    label = f"time ({unit})" if unit else "time"
    return {g: {"values": values.tolist(), "label": label}
            for g, cols in output_groups(list(model.outputs)).items()
            if len(cols) > 1 and len(cols) == values.size}
