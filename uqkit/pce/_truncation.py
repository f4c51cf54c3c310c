"""Multi-index sets: total degree, hyperbolic (q-norm) and maximum-interaction truncation.

A term of the expansion is a multi-index ``alpha`` (one degree per input). The
candidate set of degree ``p`` is

    { alpha : ||alpha||_q <= p  and  #{i : alpha_i > 0} <= r },

with ``||alpha||_q = (sum alpha_i^q)^(1/q)``: ``q = 1`` is the total-degree set,
``q < 1`` the hyperbolic set that favours low-order interactions, and ``r`` the
maximum interaction order. Sets are nested in ``p``.

References
----------
Blatman, G. & Sudret, B. (2011). Adaptive sparse polynomial chaos expansion
based on least angle regression. J. Comput. Phys. 230(6), 2345-2367.
"""

from __future__ import annotations

import numpy as np

__all__ = ["multi_indices", "count_multi_indices"]

MAX_CANDIDATES = 250_000  # beyond this a candidate basis does not fit the regression budget


def multi_indices(n_inputs: int, degree: int, q_norm: float = 1.0,
                  max_interaction: int | None = None) -> np.ndarray:
    """All multi-indices of the truncation set, shape ``(n_terms, n_inputs)``.

    Sorted by total degree, then by q-norm, then lexicographically (reversed), so
    the zero index comes first and lower-degree sets form a prefix when ``q = 1``.

    The set is grown one input at a time and pruned on the partial q-norm and the
    partial interaction order (both only grow), so the work is proportional to
    the size of the result, not of the enclosing total-degree set.

    Raises
    ------
    ValueError
        If the set would exceed ``MAX_CANDIDATES`` terms.
    """
    r = n_inputs if max_interaction is None else min(max_interaction, n_inputs)
    limit = float(degree) ** q_norm * (1 + 1e-12) + 1e-12
    powers = np.arange(degree + 1, dtype=float) ** q_norm
    current = np.zeros((1, 0), dtype=np.int64)
    qsum = np.zeros(1)
    nnz = np.zeros(1, dtype=np.int64)
    for _ in range(n_inputs):
        new_cols, keep_rows = [], []
        for k in range(degree + 1):
            ok = (qsum + powers[k] <= limit) & (nnz + (k > 0) <= r)
            rows = np.flatnonzero(ok)
            keep_rows.append(rows)
            new_cols.append(np.full(rows.size, k, dtype=np.int64))
        rows = np.concatenate(keep_rows)
        col = np.concatenate(new_cols)
        if rows.size > MAX_CANDIDATES:
            raise ValueError(f"{rows.size}+ terms")
        current = np.concatenate([current[rows], col[:, None]], axis=1)
        qsum = qsum[rows] + powers[col]
        nnz = nnz[rows] + (col > 0)
    total = current.sum(axis=1)
    order = np.lexsort((*(current[:, j] for j in range(n_inputs)), qsum, total))
    return np.ascontiguousarray(current[order])


def count_multi_indices(n_inputs: int, degree: int, q_norm: float = 1.0,
                        max_interaction: int | None = None) -> int:
    """Size of the truncation set (``MAX_CANDIDATES + 1`` if it exceeds the cap)."""
    try:
        return multi_indices(n_inputs, degree, q_norm, max_interaction).shape[0]
    except ValueError:
        return MAX_CANDIDATES + 1
