"""Stationary anisotropic (ARD) correlation functions with analytic lengthscale gradients.

Every kernel is a function of the scaled squared distance
``r2 = sum_k (u_k - v_k)**2 / l_k**2``. For each kernel ``corr_and_g(name, r2)`` returns the
correlation ``K = k(r2)`` and the factor ``G = -2 dk/d(r2)``, so that the derivative with respect
to one log-lengthscale is ``dK/dlog l_k = G * (u_k - v_k)**2 / l_k**2``; for a symmetric weight
matrix ``M`` that contraction is computed without forming the ``(n, n, d)`` difference tensor by
:func:`weighted_sqdiff_sums`.

References
----------
Rasmussen, C. E. and Williams, C. K. I. (2006). Gaussian Processes for Machine Learning, MIT Press,
section 4.2 (Matern class, squared exponential).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist, squareform

__all__ = ["KERNELS", "corr", "corr_and_g", "corr_inplace", "sqdist_train", "sqdist_cross",
           "weighted_sqdiff_sums"]

KERNELS = ("matern52", "matern32", "rbf")

_SQRT5 = np.sqrt(5.0)
_SQRT3 = np.sqrt(3.0)


def corr(name: str, r2: np.ndarray) -> np.ndarray:
    """Correlation ``k(r2)`` of kernel ``name`` at scaled squared distances ``r2``."""
    if name == "rbf":
        return np.exp(-0.5 * r2)
    r = np.sqrt(r2)
    if name == "matern52":
        sr = _SQRT5 * r
        return (1.0 + sr + sr * sr / 3.0) * np.exp(-sr)
    if name == "matern32":
        sr = _SQRT3 * r
        return (1.0 + sr) * np.exp(-sr)
    raise ValueError(f"unknown kernel {name!r}")


def corr_inplace(name: str, r2: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """``corr(name, r2)`` computed in the memory of ``r2`` (overwritten and returned).

    ``scratch`` is a work array of shape ``(2, *r2.shape)``. Fewer passes over memory than
    :func:`corr`: prediction at many points is bound by these element-wise operations.
    """
    if name == "rbf":
        r2 *= -0.5
        return np.exp(r2, out=r2)
    sr = np.sqrt(r2, out=r2)
    sr *= _SQRT5 if name == "matern52" else _SQRT3
    e = np.negative(sr, out=scratch[0])
    np.exp(e, out=e)
    if name == "matern52":
        poly = np.multiply(sr, 1.0 / 3.0, out=scratch[1])
        poly += 1.0
        sr *= poly  # sr (1 + sr / 3)
    sr += 1.0
    sr *= e
    return sr


def corr_and_g(name: str, r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlation ``K`` and gradient factor ``G = -2 dk/d(r2)`` (see the module docstring)."""
    if name == "rbf":
        k = np.exp(-0.5 * r2)
        return k, k
    r = np.sqrt(r2)
    if name == "matern52":
        sr = _SQRT5 * r
        e = np.exp(-sr)
        g = (5.0 / 3.0) * (1.0 + sr) * e
        return (1.0 + sr + sr * sr / 3.0) * e, g
    if name == "matern32":
        sr = _SQRT3 * r
        e = np.exp(-sr)
        return (1.0 + sr) * e, 3.0 * e
    raise ValueError(f"unknown kernel {name!r}")


def sqdist_train(Us: np.ndarray) -> np.ndarray:
    """Exact squared distances between the rows of the scaled inputs ``Us`` (``(n, n)``)."""
    return squareform(pdist(Us, "sqeuclidean"))


def sqdist_cross(As: np.ndarray, Bs: np.ndarray) -> np.ndarray:
    """Squared distances between rows of ``As`` (``(m, d)``) and ``Bs`` (``(n, d)``), via one GEMM.

    Both inputs must be centred (the unit-cube centre subtracted) to keep the cancellation of
    ``|a|^2 + |b|^2 - 2 a.b`` small; negative round-off is clipped to zero.
    """
    d2 = As @ Bs.T
    d2 *= -2.0
    d2 += np.einsum("ij,ij->i", As, As)[:, None]
    d2 += np.einsum("ij,ij->i", Bs, Bs)[None, :]
    np.maximum(d2, 0.0, out=d2)
    return d2


def weighted_sqdiff_sums(M: np.ndarray, Us: np.ndarray) -> np.ndarray:
    """``sum_ij M_ij (Us_ik - Us_jk)**2`` for every column ``k``, for a symmetric ``M``.

    Uses ``sum_ij M_ij (a_i - a_j)^2 = 2 (sum_i (M 1)_i a_i^2 - a' M a)``: one matrix product.
    """
    rowsum = M.sum(axis=1)
    return 2.0 * (rowsum @ (Us * Us) - np.einsum("ik,ik->k", Us, M @ Us))
