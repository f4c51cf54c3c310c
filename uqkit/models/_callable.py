"""Wrap Python callables as uqkit models."""

from __future__ import annotations

import hashlib
import inspect
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._errors import EvaluationFailure, InvalidParameterError
from .._validation import as_2d_float, check_names
from ._protocol import expand_outputs

__all__ = ["as_model", "FunctionModel", "coerce_outputs"]


def _code_fingerprint(func: Callable) -> str | None:
    """Hash of the function's source (or bytecode): a changed function warns on reuse."""
    try:
        src = inspect.getsource(func).encode()
    except (OSError, TypeError):
        code = getattr(func, "__code__", None)
        if code is None:
            return None
        src = code.co_code + repr(code.co_consts).encode()
    return hashlib.sha256(src).hexdigest()[:16]


def _is_real_scalar(v: Any) -> bool:
    return (isinstance(v, (numbers.Real, np.floating, np.integer))
            and not isinstance(v, (bool, np.bool_)))


def coerce_outputs(result: Any, outputs: tuple[str, ...], sizes: dict[str, int]) -> np.ndarray:
    """Turn one evaluation's return value into a float row of ``len(outputs)`` values.

    Accepts a number (one output), a sequence (in declared order; vector outputs
    as arrays of their declared size), or a mapping by output name. Strict: no
    broadcasting, no coercion of None, strings, booleans or complex numbers.

    Raises
    ------
    EvaluationFailure
        ``kind="shape_mismatch"`` or ``kind="wrong_type"``.
    """
    groups = _declared_groups(outputs, sizes)
    if isinstance(result, Mapping):
        missing = [g for g in groups if g not in result]
        extra = [k for k in result if k not in groups]
        if missing or extra:
            raise EvaluationFailure(
                "shape_mismatch",
                f"returned keys {sorted(map(str, result))} do not match the declared outputs "
                f"{list(groups)} (missing {missing}, unexpected {extra})",
                retryable=False)
        parts = [result[g] for g in groups]
    elif len(groups) == 1 and not isinstance(result, (tuple, list)) and (
            _is_real_scalar(result) or isinstance(result, np.ndarray)):
        parts = [result]
    elif isinstance(result, (tuple, list)) or (
            isinstance(result, np.ndarray) and result.ndim == 1 and not sizes):
        parts = list(result)
        if len(parts) != len(groups):
            raise EvaluationFailure(
                "shape_mismatch",
                f"returned shape ({len(parts)},) vs declared ({len(groups)},) outputs "
                f"{list(groups)}", retryable=False)
    elif _is_real_scalar(result) or isinstance(result, np.ndarray):
        raise EvaluationFailure(
            "shape_mismatch",
            f"returned shape {np.shape(result)} vs declared ({len(groups)},) outputs "
            f"{list(groups)}", retryable=False)
    else:
        raise EvaluationFailure(
            "wrong_type",
            f"returned {type(result).__name__} ({result!r:.80}); expected a number, a sequence or "
            f"a mapping of the outputs {list(groups)}", retryable=False)
    row: list[float] = []
    for (name, size), value in zip(groups.items(), parts):
        if size is None:
            arr = np.asarray(value)
            if arr.shape != () and arr.shape != (1,):
                raise EvaluationFailure(
                    "shape_mismatch", f"output {name!r}: shape {arr.shape} vs declared ()",
                    retryable=False)
            _check_real(name, arr)
            row.append(float(arr.reshape(())))
        else:
            arr = np.asarray(value)
            if arr.shape != (size,):
                raise EvaluationFailure(
                    "shape_mismatch", f"output {name!r}: shape {arr.shape} vs declared ({size},)",
                    retryable=False)
            _check_real(name, arr)
            row.extend(arr.astype(float).tolist())
    return np.asarray(row, dtype=float)


def _check_real(name: str, arr: np.ndarray) -> None:
    if arr.dtype.kind not in "fiu":
        raise EvaluationFailure(
            "wrong_type", f"output {name!r} has type {arr.dtype} (value {arr!r:.60}); expected "
            "real numbers", retryable=False)


def _declared_groups(outputs, sizes) -> dict[str, int | None]:
    groups: dict[str, int | None] = {}
    for col in outputs:
        base = col.split("[", 1)[0]
        if base in sizes:
            groups[base] = sizes[base]
        else:
            groups[col] = None
    return groups


class FunctionModel:
    """A Python callable wrapped as a :class:`uqkit.Model` (see :func:`as_model`)."""

    def __init__(self, func: Callable, inputs, outputs, *, vectorized: bool,
                 name: str | None, version: str | None) -> None:
        self.func = func
        self.inputs = inputs
        self.outputs, self.output_sizes = expand_outputs(outputs)
        self.vectorized = bool(vectorized)
        qualname = getattr(func, "__qualname__", type(func).__name__)
        self.name = name or f"{getattr(func, '__module__', '')}.{qualname}"
        self.version = None if version is None else str(version)
        self.fingerprint = _code_fingerprint(func)
        if name is None and "<" in self.name:
            # lambdas and local functions share a qualname: key them by their code too
            self.identity = f"{self.name}#{self.fingerprint}@{self.version}"
        self._by_keyword = _accepts_keywords(func, inputs)
        self.__doc__ = getattr(func, "__doc__", None)

    def __call__(self, X: Any) -> np.ndarray:
        X = as_2d_float(self.name, "X", X, len(self.inputs))
        if self.vectorized:
            return self._call_vectorized(X)
        out = np.empty((X.shape[0], len(self.outputs)))
        for i, row in enumerate(X):
            values = row.tolist()
            if self._by_keyword:
                result = self.func(**dict(zip(self.inputs, values)))
            else:
                result = self.func(*values)
            out[i] = coerce_outputs(result, self.outputs, self.output_sizes)
        return out

    def _call_vectorized(self, X: np.ndarray) -> np.ndarray:
        n, m = X.shape[0], len(self.outputs)
        Y = self.func(X)
        if isinstance(Y, Mapping):
            groups = _declared_groups(self.outputs, self.output_sizes)
            if set(Y) != set(groups):
                raise EvaluationFailure(
                    "shape_mismatch", f"returned keys {sorted(Y)} vs declared {list(groups)}",
                    retryable=False)
            cols = []
            for g, size in groups.items():
                a = np.asarray(Y[g])
                want = (n,) if size is None else (n, size)
                if a.shape != want and not (size is None and a.shape == (n, 1)):
                    raise EvaluationFailure(
                        "shape_mismatch", f"output {g!r}: shape {a.shape} vs {want}",
                        retryable=False)
                cols.append(a.reshape(n, -1))
            Y = np.concatenate(cols, axis=1)
        Y = np.asarray(Y)
        if Y.dtype == object or Y.dtype.kind not in "fiu":
            raise EvaluationFailure("wrong_type", f"returned dtype {Y.dtype}; expected real "
                                    "numbers", retryable=False)
        if m == 1 and Y.shape == (n,):
            Y = Y[:, None]
        if Y.shape != (n, m):
            raise EvaluationFailure(
                "shape_mismatch", f"returned shape {Y.shape} vs expected ({n}, {m})",
                retryable=False)
        return Y.astype(float, copy=False)

    def __repr__(self) -> str:
        kind = "vectorized" if self.vectorized else "scalar"
        return (f"FunctionModel({self.name!r}, inputs={self.inputs}, "
                f"outputs={_short(self.outputs)}, {kind})")


def _short(names) -> str:
    if len(names) <= 6:
        return str(tuple(names))
    return f"({names[0]!r}, ..., {names[-1]!r}: {len(names)})"


def _accepts_keywords(func: Callable, inputs) -> bool:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return False
    params = sig.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return True
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return all(n in params and params[n].kind in kinds for n in inputs)


def _signature_inputs(func: Callable) -> tuple[str, ...]:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            "as_model cannot read the inputs from this callable's signature; pass "
            "inputs=('x1', 'x2', ...)."
        ) from None
    names = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise InvalidParameterError(
                "as_model cannot read the inputs of a function with *args or **kwargs; pass "
                "inputs=('x1', 'x2', ...)."
            )
        if p.default is not p.empty:
            continue
        names.append(p.name)
    return tuple(names)


def as_model(func: Callable | None = None, *, inputs=None, outputs=("y",), vectorized=False,
             name: str | None = None, version: str | None = None):
    """Wrap a Python callable as a :class:`uqkit.Model`.

    Parameters
    ----------
    func : callable, optional
        Scalar style ``f(x1, x2, ...)`` returning a number, a tuple or a dict of
        outputs; or, with ``vectorized=True``, ``f(X) -> Y`` on arrays of shape
        ``(n_samples, n_inputs)`` and ``(n_samples, n_outputs)`` (``(n_samples,)`` for
        one output; a dict of arrays by output name is accepted too).
        Omit it to use ``as_model(...)`` as a decorator.
    inputs : sequence of str, optional
        Input names; read from the signature (required positional parameters)
        when not given.
    outputs : sequence of str or mapping of str to int
        Output names, or ``{"V": 200}`` for vector-valued outputs (flattened to
        columns ``V[0]..V[199]`` and grouped again by results).
    vectorized : bool
        Whether ``func`` takes the whole 2-D array.
    name, version : str, optional
        Identity used in cache keys (default name: ``module.qualname``).
        Bump ``version`` when the function's behaviour changes.

    Returns
    -------
    FunctionModel
        A model; picklable with cloudpickle, so lambdas and notebook functions
        run on process pools and Dask.

    Examples
    --------
    >>> import uqkit
    >>> @uqkit.as_model(outputs=("y",))
    ... def f(a, b):
    ...     return a + 2 * b
    >>> f([[1.0, 2.0]])
    array([[5.]])
    """
    def wrap(f: Callable) -> FunctionModel:
        if not callable(f):
            raise InvalidParameterError(
                f"The 'func' parameter of as_model must be callable. Got {f!r} instead.")
        ins = _signature_inputs(f) if inputs is None and not vectorized else inputs
        if ins is None:
            raise InvalidParameterError(
                "The 'inputs' parameter of as_model is required when vectorized=True "
                "(f(X) has no per-input signature).")
        ins = check_names("as_model", "inputs", ins)
        if not ins:
            raise InvalidParameterError("The 'inputs' parameter of as_model must not be empty.")
        if version is not None and not isinstance(version, (str, int)):
            raise InvalidParameterError(
                f"The 'version' parameter of as_model must be a string. Got {version!r}.")
        return FunctionModel(f, ins, outputs, vectorized=vectorized, name=name, version=version)

    if func is None:
        return wrap
    return wrap(func)
