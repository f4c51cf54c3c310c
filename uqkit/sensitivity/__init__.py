"""Global sensitivity analysis: Sobol' indices, Morris screening and the other methods."""

from ._methods import SensitivityResult, sensitivity, sensitivity_from_data
from ._morris import MorrisResult, morris
from ._results import SobolResult
from ._sobol import sobol

__all__ = ["SobolResult", "sobol", "morris", "MorrisResult", "sensitivity",
           "sensitivity_from_data", "SensitivityResult"]
