"""Spectral projection by Gauss quadrature: full tensor grids and Smolyak sparse grids.

The coefficients ``c_alpha = E[f Psi_alpha]`` are computed with the sparse
pseudo-spectral approximation (SPAM, Constantine et al. 2012): on each tensor
Gauss grid ``l`` of the Smolyak combination (``l_i + 1`` points per input) the
full tensor basis ``alpha <= l`` is projected exactly, and the projections are
combined with the Smolyak coefficients. Unlike projecting a total-degree basis
with the sparse quadrature rule directly, this has no aliasing: a polynomial in
the span of the level set is recovered exactly.

A level set that is the box ``l_i <= p`` gives the full tensor Gauss rule; the
total-degree set gives the classical Smolyak grid; q-norm and interaction limits
restrict it like the regression bases.

References
----------
Smolyak, S. A. (1963). Quadrature and interpolation formulas for tensor products
of certain classes of functions. Soviet Math. Dokl. 4, 240-243.
Constantine, P. G., Eldred, M. S. & Phipps, E. T. (2012). Sparse pseudospectral
approximation method. Comput. Methods Appl. Mech. Engrg. 229-232, 1-12.
Le Maitre, O. P. & Knio, O. M. (2010). Spectral Methods for Uncertainty
Quantification. Springer (non-intrusive spectral projection).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from ._design import ProductBasis
from ._truncation import multi_indices

__all__ = ["level_set", "combination", "node_bound", "sparse_grid", "project",
           "fit_quadrature"]


def level_set(d: int, degree: int, grid: str, q_norm: float,
              max_interaction: int | None) -> np.ndarray:
    """Levels of the tensor grids: the box ``[0, degree]^d`` or a truncation set."""
    if grid == "tensor":
        return np.array(list(itertools.product(range(degree + 1), repeat=d)), dtype=np.int64)
    return multi_indices(d, degree, q_norm, max_interaction)


def combination(levels: np.ndarray) -> dict[tuple[int, ...], int]:
    """Smolyak combination coefficients of a downward-closed level set (non-zero only).

    ``c_l = sum_{e in {0,1}^d, l+e in L} (-1)^|e|``, computed as a backward difference
    in each dimension in turn: ``O(d |L|)`` instead of ``O(2^d |L|)``.
    """
    coef = {tuple(int(v) for v in row): 1 for row in levels}
    d = levels.shape[1]
    for j in range(d):
        new = {}
        for key, val in coef.items():
            up = list(key)
            up[j] += 1
            new[key] = val - coef.get(tuple(up), 0)
        coef = new
    return {k: v for k, v in coef.items() if v != 0}


def node_bound(d: int, degree: int, grid: str, q_norm: float,
               max_interaction: int | None) -> int:
    """Upper bound of the number of nodes (before removing nodes shared by several grids)."""
    if grid == "tensor":
        return (degree + 1) ** d
    coefs = combination(level_set(d, degree, grid, q_norm, max_interaction))
    return int(sum(np.prod(np.asarray(level) + 1) for level in coefs))


def _tensor_grid(basis: ProductBasis, level: tuple[int, ...], cache: dict):
    rules = []
    for j, lj in enumerate(level):
        key = (j, lj)
        if key not in cache:
            cache[key] = basis.bases[j].gauss(lj + 1)
        rules.append(cache[key])
    nodes = np.array(list(itertools.product(*(r[0] for r in rules))))
    weights = np.prod(np.array(list(itertools.product(*(r[1] for r in rules)))), axis=1)
    return nodes.reshape(-1, len(level)), weights


def sparse_grid(basis: ProductBasis, degree: int, grid: str, q_norm: float,
                max_interaction: int | None):
    """The distinct nodes (standard variables) of all tensor grids of the combination.

    Returns ``(Z_unique, grids)`` where ``grids`` lists ``(level, c_l, weights,
    rows into Z_unique)``.
    """
    d = len(basis.bases)
    levels = level_set(d, degree, grid, q_norm, max_interaction)
    coefs = combination(levels)
    cache: dict = {}
    parts, grids = [], []
    for level, c in coefs.items():
        nodes, weights = _tensor_grid(basis, level, cache)
        parts.append(nodes)
        grids.append((level, c, weights, nodes.shape[0]))
    allz = np.concatenate(parts)
    # the same Gauss node appears in several grids (e.g. 0 for odd symmetric rules)
    _, first, inverse = np.unique(np.round(allz, 12), axis=0, return_index=True,
                                  return_inverse=True)
    inverse = inverse.ravel()
    Zu = allz[first]
    out, start = [], 0
    for level, c, weights, size in grids:
        out.append((level, c, weights, inverse[start:start + size]))
        start += size
    return Zu, out


def project(basis: ProductBasis, grids, Y: np.ndarray, Zu: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Combine the tensor projections: multi-indices and coefficients ``(P, m)``."""
    d = Zu.shape[1]
    acc: dict[tuple[int, ...], np.ndarray] = {}
    for level, c, weights, rows in grids:
        box = np.array(list(itertools.product(*(range(lj + 1) for lj in level))),
                       dtype=np.int64).reshape(-1, d)
        Psi = basis.matrix(Zu[rows], box)
        proj = Psi.T @ (weights[:, None] * Y[rows])
        for alpha, row in zip(map(tuple, box.tolist()), proj, strict=True):
            if alpha in acc:
                acc[alpha] = acc[alpha] + c * row
            else:
                acc[alpha] = c * row
    alphas = np.array(sorted(acc, key=lambda a: (sum(a), tuple(-v for v in a))),
                      dtype=np.int64).reshape(-1, d)
    coef = np.array([acc[tuple(a)] for a in alphas.tolist()])
    return alphas, coef


def fit_quadrature(basis: ProductBasis, evaluate: Callable[[np.ndarray], np.ndarray],
                   degree: int, grid: str, q_norm: float, max_interaction: int | None):
    """Project a model on the expansion: evaluate it on the grid (its own design).

    ``evaluate(X) -> (X_used, Y, ok)``; failed nodes are not allowed (quadrature
    needs every node), so the caller raises on them.
    """
    Zu, grids = sparse_grid(basis, degree, grid, q_norm, max_interaction)
    X = basis.from_standard(Zu)
    Y = evaluate(X)
    alphas, coef = project(basis, grids, Y, Zu)
    return X, Y, alphas, coef
