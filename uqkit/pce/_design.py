"""Multivariate orthonormal basis: design matrices and fast prediction."""

from __future__ import annotations

import numpy as np

from ._bases import Basis1D

__all__ = ["ProductBasis"]

_CHUNK = 4096  # rows per block when predicting: keeps the block of the basis in cache


class ProductBasis:
    """Tensor products of univariate orthonormal polynomials (independent inputs).

    ``Psi_alpha(x) = prod_i p^(i)_{alpha_i}(z_i(x_i))`` with ``z_i`` the
    isoprobabilistic map of input ``i``; orthonormal under the joint input law.
    """

    __slots__ = ("bases",)

    def __init__(self, bases: tuple[Basis1D, ...]) -> None:
        self.bases = tuple(bases)

    def to_standard(self, X: np.ndarray) -> np.ndarray:
        """Map the inputs to the standard variables, column by column."""
        Z = np.empty_like(X, dtype=float)
        for j, b in enumerate(self.bases):
            Z[:, j] = b.to_standard(X[:, j])
        return Z

    def from_standard(self, Z: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_standard`."""
        X = np.empty_like(Z, dtype=float)
        for j, b in enumerate(self.bases):
            X[:, j] = b.from_standard(Z[:, j])
        return X

    def univariate(self, Z: np.ndarray, degrees) -> list[np.ndarray]:
        """Per input, the polynomials ``0..degrees[j]`` at ``Z[:, j]``, Fortran-ordered."""
        return [np.asfortranarray(b.evaluate(Z[:, j], int(degrees[j])))
                for j, b in enumerate(self.bases)]

    def matrix(self, Z: np.ndarray, alphas: np.ndarray, values: list[np.ndarray] | None = None
               ) -> np.ndarray:
        """Design matrix ``Psi[i, k] = Psi_{alpha_k}(z_i)``, shape ``(n, n_terms)``, Fortran order.

        Only the non-zero degrees of each term are multiplied (p_0 = 1), input by
        input on the columns that involve it.
        """
        n, d = Z.shape
        if values is None:
            values = self.univariate(Z, alphas.max(axis=0) if alphas.size else np.zeros(d))
        Psi = np.ones((n, alphas.shape[0]), order="F")
        for j in range(d):
            cols = np.flatnonzero(alphas[:, j])
            if cols.size:
                Psi[:, cols] *= values[j][:, alphas[cols, j]]
        return Psi

    def predict(self, X: np.ndarray, alphas: np.ndarray, coefficients: np.ndarray
                ) -> np.ndarray:
        """``Psi(X) @ coefficients`` in row blocks, shape ``(n, n_outputs)``."""
        n = X.shape[0]
        out = np.empty((n, coefficients.shape[1]))
        degrees = alphas.max(axis=0) if alphas.size else np.zeros(X.shape[1], dtype=int)
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            Z = self.to_standard(X[start:stop])
            Psi = self.matrix(Z, alphas, self.univariate(Z, degrees))
            out[start:stop] = Psi @ coefficients
        return out
