"""Result type of every Sobol' analysis (Monte Carlo and polynomial chaos alike)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["SobolResult"]


@dataclass(frozen=True)
class SobolResult:
    """Sobol' sensitivity indices of one or more outputs.

    Conventions (shared by ``uqkit.sobol`` and ``PolynomialChaos.sobol``):

    - ``first``, ``total``: DataFrames, index = input names, columns = output names.
    - ``second``: DataFrame, index = MultiIndex of input pairs ``(i, j)`` with i before j,
      columns = output names; ``None`` unless requested.
    - ``first_ci``, ``total_ci``, ``second_ci``: DataFrames with MultiIndex columns
      ``(bound, output)``, bound in ``("low", "high")``, so ``first_ci["low"]`` has the
      shape of ``first``; ``None`` when not computed (e.g. exact PCE indices).
    - ``aggregated_first``, ``aggregated_total``: generalised indices of vector outputs
      (Gamboa et al. 2014 variance-weighted), index = input names, columns = output
      group names (``"V"`` for columns ``V[0]..V[k]``); ``None`` without vector outputs.
    - ``mean``, ``variance``: Series by output name.
    - ``info``: stopping reason, dropped blocks, seed, estimator names, and such.
    """

    first: pd.DataFrame
    total: pd.DataFrame
    second: pd.DataFrame | None = None
    first_ci: pd.DataFrame | None = None
    total_ci: pd.DataFrame | None = None
    second_ci: pd.DataFrame | None = None
    aggregated_first: pd.DataFrame | None = None
    aggregated_total: pd.DataFrame | None = None
    mean: pd.Series | None = None
    variance: pd.Series | None = None
    n_evaluations: int = 0
    n_failed: int = 0
    n_samples: int | None = None
    method: str = ""
    confidence: float | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
