"""Polynomial chaos expansions: sparse, degree-adaptive surrogates with exact moments and indices.

:func:`fit_pce` builds a :class:`PolynomialChaos` from a model (uqkit draws and
runs the design) or from data, by hybrid least-angle regression, orthogonal
matching pursuit, least squares or quadrature.
"""

from ._chaos import PolynomialChaos
from ._fit import fit_pce
from ._quality import PoorSurrogateWarning

__all__ = ["fit_pce", "PolynomialChaos", "PoorSurrogateWarning"]
