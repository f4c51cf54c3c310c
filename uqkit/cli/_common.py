"""Helpers shared by the subcommands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["CommandError", "read_existing_store"]

T = TypeVar("T")


class CommandError(Exception):
    """A subcommand cannot go on: print ``uqkit: <message>`` and exit with ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def read_existing_store(path: Path, read: Callable[[Any], T]) -> T:
    """Open the existing store at ``path``, apply ``read`` to it and close it.

    Never creates a store. Raises :class:`CommandError` (exit 2 when there is no
    file, 1 when the store cannot be read: locked, corrupted, newer schema).
    """
    import sqlite3

    from .._errors import StoreError
    from ..runner import Store

    if not path.is_file():
        raise CommandError(f"no store at {path}", 2)
    try:
        with Store(path) as store:
            return read(store)
    except StoreError as exc:
        raise CommandError(str(exc), 1) from exc
    except sqlite3.Error as exc:  # a direct query of the open store
        raise CommandError(f"the store {path} cannot be read ({exc}); `uqkit store check "
                           f"{path}` runs a full check", 1) from exc
