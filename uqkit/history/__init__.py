"""History matching: rule out implausible inputs in waves of runs and emulators."""

from ._match import EmptyNROYWarning, history_match
from ._result import HistoryMatch

__all__ = ["history_match", "HistoryMatch", "EmptyNROYWarning"]
