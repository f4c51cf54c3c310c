"""Global sensitivity analysis: Sobol' indices, Morris screening and the SALib methods."""

from ._morris import MorrisResult, morris
from ._results import SobolResult
from ._sobol import sobol

__all__ = ["SobolResult", "sobol", "morris", "MorrisResult"]
