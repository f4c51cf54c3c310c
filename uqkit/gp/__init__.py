"""Gaussian-process emulators (kriging) with fitted ARD kernels and universal-kriging trends.

The engine is :mod:`uqkit.gp._core` (one output on unit-cube inputs; its private API is
documented at the top of that module).
"""

from __future__ import annotations

__all__: list[str] = []
