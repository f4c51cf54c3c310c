"""The model wrapper protocol every simulator adapter and surrogate implements."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .._errors import InvalidParameterError
from .._validation import check_name

__all__ = ["Model", "check_model", "model_identity", "output_groups", "expand_outputs"]


@runtime_checkable
class Model(Protocol):
    """Anything uqkit can evaluate.

    A model has ``inputs`` and ``outputs`` (tuples of names) and is called on a
    2-D array ``X`` of shape ``(n_samples, len(inputs))``, returning ``Y`` of
    shape ``(n_samples, len(outputs))``. Optional attributes:

    - ``name`` and ``version`` (str): part of the cache key, so bump
      ``version`` when the simulator changes.
    - ``identity`` (str): a full identity string replacing name/version in the
      cache key (external codes put their executable and template hashes here).
    - ``fingerprint`` (str): a hash of the implementation (e.g. source code);
      a changed fingerprint under the same identity makes the runner warn.
    - ``vectorized`` (bool): ``True`` if calling on many rows at once is
      efficient; otherwise the runner evaluates row by row (and in parallel).
    """

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def __call__(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - protocol
        ...


_VECTOR_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\[(\d+)\]$")


def expand_outputs(outputs: Any, func: str = "as_model") -> tuple[tuple[str, ...], dict[str, int]]:
    """Normalise an ``outputs`` declaration.

    ``("a", "b")`` -> columns ``a, b``; ``{"V": 200, "apd": 1}`` -> ``V[0]..V[199], apd``
    where a size of ``1`` (or ``None``) declares a scalar output.
    Returns the column names and the declared vector sizes (``{name: size}``).
    """
    if isinstance(outputs, str):
        outputs = (outputs,)
    columns: list[str] = []
    sizes: dict[str, int] = {}
    if isinstance(outputs, dict):
        for name, size in outputs.items():
            check_name(func, "outputs", name)
            if size is None or size == 1 and not isinstance(size, (tuple, list)):
                columns.append(name)
                continue
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
                raise InvalidParameterError(
                    f"The 'outputs' parameter of {func} must map names to positive integer "
                    f"sizes. Got {name!r}: {size!r} instead."
                )
            sizes[name] = int(size)
            columns.extend(f"{name}[{i}]" for i in range(int(size)))
    else:
        try:
            outputs = tuple(outputs)
        except TypeError:
            raise InvalidParameterError(
                f"The 'outputs' parameter of {func} must be a sequence of names or a mapping of "
                f"names to sizes. Got {outputs!r} instead."
            ) from None
        for name in outputs:
            check_name(func, "outputs", name)
        columns = list(outputs)
    if not columns:
        raise InvalidParameterError(f"The 'outputs' parameter of {func} must not be empty.")
    if len(set(columns)) != len(columns):
        raise InvalidParameterError(f"The 'outputs' parameter of {func} has duplicate names.")
    return tuple(columns), sizes


def output_groups(outputs) -> dict[str, list[int]]:
    """Group output columns: ``V[0]..V[n]`` become one group ``V``; scalars stand alone.

    Returns ``{group_name: [column indices]}`` in first-appearance order.
    """
    groups: dict[str, list[int]] = {}
    for j, name in enumerate(outputs):
        m = _VECTOR_NAME.match(name)
        groups.setdefault(m.group(1) if m else name, []).append(j)
    return groups


def check_model(model: Any, func: str = "evaluate") -> None:
    """Validate the Model protocol with a clear error (before any run)."""
    if not isinstance(model, Model) or not callable(model):
        raise InvalidParameterError(
            f"The 'model' parameter of {func} must implement the uqkit Model protocol "
            f"(attributes 'inputs' and 'outputs' and __call__(X) -> Y); wrap a Python function "
            f"with uqkit.as_model. Got {type(model).__name__} instead."
        )
    for attr in ("inputs", "outputs"):
        names = getattr(model, attr)
        if isinstance(names, str) or not isinstance(names, (tuple, list)) or not names:
            raise InvalidParameterError(
                f"The model's {attr!r} must be a non-empty tuple of names. Got {names!r}."
            )
        if len(set(names)) != len(names):
            raise InvalidParameterError(f"The model's {attr!r} has duplicate names: {names!r}.")


def model_identity(model: Any) -> dict[str, Any]:
    """Identity of a model for cache keys: ``{"id", "name", "version", "identity"}``.

    ``id`` is a SHA-256 hex digest over the identity string, the ordered input
    names and the output names. Changing the name, the version, the identity
    or renaming an input changes it.
    """
    name = getattr(model, "name", None) or type(model).__qualname__
    version = getattr(model, "version", None)
    identity = getattr(model, "identity", None) or f"{name}@{version}"
    payload = json.dumps(
        {"identity": str(identity), "inputs": list(model.inputs),
         "outputs": list(model.outputs)},
        sort_keys=True, separators=(",", ":"),
    ).encode()
    return {
        "id": hashlib.sha256(payload).hexdigest(),
        "name": str(name),
        "version": None if version is None else str(version),
        "identity": str(identity),
        "fingerprint": getattr(model, "fingerprint", None),
    }
