"""Argument checks shared by the public functions (one message shape everywhere)."""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

import numpy as np

from ._errors import InvalidParameterError

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def fail(func: str, arg: str, expected: str, got: Any, remedy: str | None = None):
    """Raise the standard error: what, which argument, expected, got, remedy."""
    msg = f"The {arg!r} parameter of {func} must be {expected}. Got {got!r} instead."
    if remedy:
        msg += f" {remedy}"
    raise InvalidParameterError(msg)


def check_real(func: str, arg: str, value: Any, *, positive=False, nonnegative=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        fail(func, arg, "a real number", value)
    value = float(value)
    if not math.isfinite(value):
        fail(func, arg, "finite", value)
    if positive and not value > 0:
        fail(func, arg, "> 0", value)
    if nonnegative and not value >= 0:
        fail(func, arg, ">= 0", value)
    return value


def check_int(func: str, arg: str, value: Any, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        fail(func, arg, "an integer", value)
    value = int(value)
    if minimum is not None and value < minimum:
        fail(func, arg, f"an integer >= {minimum}", value)
    return value


def check_choice(func: str, arg: str, value: Any, choices) -> Any:
    if value not in choices:
        fail(func, arg, "one of " + ", ".join(repr(c) for c in choices), value)
    return value


def check_name(func: str, arg: str, name: Any) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        fail(
            func,
            arg,
            "an identifier matching ^[A-Za-z_][A-Za-z0-9_]*$",
            name,
            "Use letters, digits and underscores only.",
        )
    return name


def check_names(func: str, arg: str, names) -> tuple[str, ...]:
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    seen: dict[str, str] = {}
    for name in names:
        check_name(func, arg, name)
        folded = name.casefold()
        if folded in seen:
            fail(func, arg, "unique names (case-insensitively)", name,
                 f"{name!r} clashes with {seen[folded]!r}.")
        seen[folded] = name
    return names


def as_2d_float(func: str, arg: str, X: Any, n_columns: int | None = None) -> np.ndarray:
    """Return X as a C-contiguous float64 (n, d) array; reject NaN/inf and bad shapes."""
    if (type(X) is np.ndarray and X.ndim == 2 and X.dtype == np.float64
            and X.flags.c_contiguous and (n_columns is None or X.shape[1] == n_columns)
            and math.isfinite(np.add.reduce(X, axis=None))):
        # the common case (a sampler's batch, already a float array), returned as is: a sum
        # is finite only if every entry is (an overflowing sum takes the full check below)
        return X
    try:
        arr = np.asarray(X)
    except Exception:  # pragma: no cover - exotic objects
        fail(func, arg, "an array of shape (n_samples, n_inputs)", type(X).__name__)
    if arr.dtype == object or arr.dtype.kind not in "fiub":
        fail(func, arg, "a real-valued array", f"dtype {arr.dtype}")
    if arr.ndim == 1 and n_columns is not None:
        if n_columns == 1:
            arr = arr[:, None]
        elif arr.shape[0] == n_columns:
            arr = arr[None, :]
    if arr.ndim != 2:
        fail(func, arg, "a 2-D array of shape (n_samples, n_inputs)", f"shape {arr.shape}")
    if n_columns is not None and arr.shape[1] != n_columns:
        fail(func, arg, f"an array with {n_columns} columns (one per input)",
             f"shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        fail(func, arg, "finite (no NaN or inf inputs)",
             f"{arr[bad[0], bad[1]]} at row {bad[0]}, column {bad[1]}")
    return arr


def normalize_rng(rng: Any) -> np.random.Generator:
    """``numpy.random.default_rng`` with a clear error for bad seeds."""
    if isinstance(rng, np.random.Generator):
        return rng
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"The 'rng' parameter must be None, an int seed, a SeedSequence or a "
            f"numpy.random.Generator. Got {rng!r} instead."
        ) from exc


def is_power_of_two(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


def check_parameters(func: str, parameters: Any) -> Any:
    """``parameters`` as a :class:`uqkit.Parameters` (a mapping of names to
    distributions is converted), or an error naming ``func``'s argument."""
    from .parameters import Parameters

    if isinstance(parameters, Parameters):
        return parameters
    if parameters is None:
        fail(func, "parameters", "a uqkit.Parameters (the input distributions)", None)
    try:
        return Parameters(parameters)
    except InvalidParameterError:
        raise
    except Exception:
        fail(func, "parameters", "a uqkit.Parameters or a mapping of names to distributions",
             type(parameters).__name__)


def match_inputs(func: str, model: Any, parameters: Any) -> Any:
    """``parameters`` in the order of ``model.inputs``; an error names the missing and
    the extra names when they are not the same set."""
    inputs = tuple(model.inputs)
    if inputs == parameters.names:
        return parameters
    if set(inputs) == set(parameters.names):
        return parameters.subset(inputs)
    missing = sorted(set(inputs) - set(parameters.names))
    extra = sorted(set(parameters.names) - set(inputs))
    fail(func, "parameters", f"the model's inputs {list(inputs)}", list(parameters.names),
         f"Missing: {missing}; not model inputs: {extra}.")
