"""Values written to the store: status codes, per-row columns, bounded failure texts."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import StoreError
from ._store_schema import STATUS, STATUS_CODE

__all__ = ["MAX_MESSAGE_CHARS", "MAX_DETAIL_CHARS", "truncate_text"]


def _status_codes(status: Any, n: int) -> np.ndarray:
    if isinstance(status, str):
        status = [status] * n
    names = status.tolist() if isinstance(status, np.ndarray) else list(status)
    if len(names) == 1 and n != 1:
        names = names * n
    if n <= 64:
        try:
            return np.array([STATUS_CODE[s] for s in names], dtype=np.int64)
        except KeyError as exc:
            raise StoreError(f"Unknown evaluation status {exc.args[0]!r}; expected one of "
                             f"{list(STATUS)}.") from None
    arr = np.asarray(names, dtype=str)
    codes = np.full(n, -1, dtype=np.int64)
    for name, code in STATUS_CODE.items():
        codes[arr == name] = code
    if (codes < 0).any():
        bad = arr[np.flatnonzero(codes < 0)[0]]
        raise StoreError(f"Unknown evaluation status {bad!r}; expected one of {list(STATUS)}.")
    return codes


def _per_row(value: Any, n: int) -> list | None:
    """``value`` as a list of n per-row values, or None when it is one value for all rows."""
    if isinstance(value, (list, tuple, np.ndarray)):
        values = list(value)
        if len(values) != n:
            raise StoreError(f"Expected one value per row ({n}); got {len(values)}.")
        return values
    return None


#: stored failure messages and tracebacks keep at most this many characters (head and tail)
MAX_MESSAGE_CHARS = 4096
#: ...and each text value of a failure's details (e.g. a stderr tail) at most this many
MAX_DETAIL_CHARS = 65536


def truncate_text(text: str | None, limit: int = MAX_MESSAGE_CHARS) -> str | None:
    """``text`` cut to about ``limit`` characters: its head and tail around a note
    ``[truncated N characters]``."""
    if text is None or len(text) <= limit:
        return text
    keep = limit // 2
    cut = len(text) - 2 * keep
    return f"{text[:keep]}\n[truncated {cut} characters]\n{text[-keep:]}"


def _bounded_details(details: dict[str, Any] | None) -> dict[str, Any]:
    return {k: truncate_text(v, MAX_DETAIL_CHARS) if isinstance(v, str) else v
            for k, v in (details or {}).items()}


def _groups(n: int, *columns: Any) -> list[tuple[tuple, np.ndarray]]:
    """Rows grouped by their values of per-row ``columns`` (first-seen order)."""
    lists = [_per_row(c, n) for c in columns]
    if all(v is None for v in lists):
        return [(tuple(columns), np.arange(n))]
    groups: dict[tuple, list[int]] = {}
    rows = zip(*[v if v is not None else [c] * n for v, c in zip(lists, columns)])
    for i, key in enumerate(rows):
        groups.setdefault(key, []).append(i)
    return [(key, np.asarray(idx, dtype=np.intp)) for key, idx in groups.items()]
