"""Exceptions and warnings raised by uqkit.

Every uqkit exception subclasses a builtin so that ``except ValueError`` and
``except RuntimeError`` keep working in user code.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "InvalidParameterError",
    "ModelEvaluationError",
    "EvaluationFailure",
    "StoreError",
    "StoreCorruptedError",
    "NotAStoreError",
    "StoreCorruptedWarning",
    "StudyMismatchError",
    "UQKitWarning",
]


class UQKitWarning(UserWarning):
    """Base class of the warnings uqkit issues."""


class InvalidParameterError(ValueError, TypeError):
    """An argument to a uqkit function is invalid.

    The message names the argument, what was expected and what was got.
    Raised before any model is run.
    """


class ModelEvaluationError(RuntimeError):
    """A model evaluation failed and the failure policy is ``"raise"``.

    Attributes
    ----------
    row : int or None
        Index of the failing row in the ``X`` that was passed to the runner.
    inputs : dict or None
        The failing row's inputs by name.
    kind : str
        Failure class (``"exception"``, ``"shape_mismatch"``, ``"timeout"``, ...).
    details : dict
        Everything recorded about the failure (exit code, stderr tail, ...).
    """

    def __init__(
        self,
        message: str,
        *,
        row: int | None = None,
        inputs: dict[str, float] | None = None,
        kind: str = "exception",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.row = row
        self.inputs = inputs
        self.kind = kind
        self.details = dict(details or {})


class EvaluationFailure(Exception):
    """Raised by a model adapter to report a classified failure of one evaluation.

    The runner records ``kind`` and ``details`` in the store's failures table.
    Adapters (command-line, UM-Bridge) raise it; user code rarely needs to.

    Parameters
    ----------
    kind : str
        Failure class, e.g. ``"nonzero_exit"``, ``"signal"``, ``"timeout"``,
        ``"missing_output"``, ``"parse_error"``, ``"shape_mismatch"``,
        ``"wrong_type"``, ``"invalid_input"``, ``"http_error"``.
    message : str
        Human-readable description.
    retryable : bool
        Whether a retry may succeed (transient faults).
    **details
        Extra JSON-serialisable facts (``returncode``, ``signal``, ``stderr_tail``...).
    """

    def __init__(self, kind: str, message: str, *, retryable: bool = True, **details: Any) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retryable = retryable
        self.details = details

    def __reduce__(self):  # keep kind and details across process boundaries
        return (_rebuild_failure, (self.kind, self.message, self.retryable, self.details))


def _rebuild_failure(kind, message, retryable, details):
    return EvaluationFailure(kind, message, retryable=retryable, **details)


class StoreError(RuntimeError):
    """The evaluation store cannot be used (locked for too long, disk full...)."""


class StoreCorruptedError(StoreError):
    """The store file is not a valid uqkit store; it is never overwritten.

    Attributes
    ----------
    keys : tuple of str
        Hex cache keys of the stored rows that failed their checksum (empty when
        the damage is not tied to rows, e.g. a broken file header).
    """

    def __init__(self, message: str, *, keys: Any = ()) -> None:
        super().__init__(message)
        self.keys = tuple(keys)

    def __reduce__(self):
        return (_rebuild_corrupted, (type(self), str(self), self.keys))


def _rebuild_corrupted(cls, message, keys):
    return cls(message, keys=keys)


class NotAStoreError(StoreCorruptedError):
    """The file is not a uqkit store (another file type, or another SQLite database)."""


class StoreCorruptedWarning(UQKitWarning):
    """Stored rows failed their checksum; they are evaluated again, never served."""


class StudyMismatchError(InvalidParameterError):
    """A resumed study differs from the one recorded in the store.

    Attributes
    ----------
    field : str
        The first field that differs.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field
