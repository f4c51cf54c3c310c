"""Gaussian-process emulators (kriging) with fitted ARD kernels and universal-kriging trends.

:func:`fit_gp` returns a :class:`GaussianProcess`. The engine is :mod:`uqkit.gp._core` (one
output on unit-cube inputs; its private API is documented at the top of that module).
"""

from __future__ import annotations

from ._fit import fit_gp
from ._process import GaussianProcess

__all__ = ["GaussianProcess", "fit_gp"]
