"""Global sensitivity analysis."""

from ._results import SobolResult

__all__ = ["SobolResult"]
