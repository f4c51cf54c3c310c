"""Global sensitivity analysis: Sobol' indices, Morris screening and the other methods.

The public function ``uqkit.sensitivity`` shares its name with this subpackage, and
importing a subpackage binds ``uqkit.sensitivity`` to the module. The module is
therefore made callable (delegating to :func:`sensitivity`), so
``uqkit.sensitivity(model, parameters, n, method=...)`` works in every import order.
"""

import sys
import types

from ._methods import SensitivityResult, sensitivity, sensitivity_from_data
from ._morris import MorrisResult, morris
from ._results import SobolResult
from ._sobol import sobol

__all__ = ["SobolResult", "sobol", "morris", "MorrisResult", "sensitivity",
           "sensitivity_from_data", "SensitivityResult"]


class _CallableModule(types.ModuleType):
    """``uqkit.sensitivity`` the module, callable as ``uqkit.sensitivity`` the function."""

    def __call__(self, *args, **kwargs):
        return sensitivity(*args, **kwargs)

    @property
    def __signature__(self):
        import inspect

        return inspect.signature(sensitivity)


sys.modules[__name__].__class__ = _CallableModule
