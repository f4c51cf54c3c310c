"""Scrambled Sobol' points in blocks of 2^m, for the Saltelli design of ``uqkit.sobol``.

scipy's ``qmc.Sobol`` scrambles its direction numbers in a triple loop over
``dim x bits x bits``, a fixed cost that dominates a small analysis. The same
scrambling is one batched 0/1 matrix product here (exact in float32), and
points are generated in natural order by doubling (point ``i`` is the XOR of the
direction numbers of the set bits of ``i``), which for ``2^m`` points gives the very
point set of scipy's Gray-code order.

The direction numbers are Joe & Kuo's (2008). They are read from scipy's private
``_initialize_v``, a table look-up. If that function is missing or returns something
unexpected, they are recovered from the public unscrambled ``scipy.stats.qmc.Sobol``
instead, which costs a fast-forward over the design's points: in its Gray-code
order, points ``2^b - 1`` and ``2^b`` differ by exactly direction number ``b``. Both
routes give the same numbers and therefore the same design for the same seed, which
keeps a study's cache valid across SciPy versions.

References
----------
Joe, S. & Kuo, F. Y. (2008). Constructing Sobol sequences with better two-dimensional
projections. SIAM J. Sci. Comput. 30(5), 2635-2654.
Matousek, J. (1998). On the L2-discrepancy for anchored boxes. J. Complexity 14(4),
527-556 (random linear scrambling).
Owen, A. B. (2003). Variance with alternative scramblings of digital nets. ACM Trans.
Model. Comput. Simul. 13(4), 363-378.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["ScrambledSobol", "sobol_engine"]

BITS = 30
_DIRECTIONS: dict[int, np.ndarray] = {}  # dimension -> (dim, BITS) uint32, deterministic


def _direction_numbers(dim: int) -> np.ndarray | None:
    """Joe & Kuo direction numbers ``v[j, b]`` (MSB-first, 30 bits), or None."""
    v = _DIRECTIONS.get(dim)
    if v is None:
        try:
            from scipy.stats._sobol import _initialize_v

            v = np.zeros((dim, BITS), dtype=np.uint32)
            _initialize_v(v, dim=dim, bits=BITS)
        except Exception:  # noqa: BLE001 - a private scipy function: any failure -> fallback
            return None
        # every coordinate of a Sobol' sequence starts with 1/2, then a nonzero odd m_b
        if not (np.all(v[:, 0] == 1 << (BITS - 1)) and np.all(v != 0)):
            return None
        _DIRECTIONS[dim] = v
    return v


def public_direction_numbers(dim: int, n_bits: int) -> np.ndarray:
    """The first ``n_bits`` direction numbers ``v[j, b]`` from the public scipy engine.

    The unscrambled ``qmc.Sobol`` emits points in Gray-code order, where point ``i + 1``
    is point ``i`` XOR the direction number of the lowest zero bit of ``i``: points
    ``2^b - 1`` and ``2^b`` differ by direction number ``b``. The cost is a fast-forward
    over ``2^n_bits`` points, the size of the design that needs them.
    """
    from scipy.stats import qmc

    engine = qmc.Sobol(dim, scramble=False, bits=BITS)
    v = np.empty((dim, n_bits), dtype=np.uint32)
    scale = 2.0**BITS
    next_index, last = 0, None  # the index the engine gives next; the point before it
    for b in range(n_bits):
        i = (1 << b) - 1
        if last is not None and next_index == i + 1:
            first = last
        else:
            if i > next_index:
                engine.fast_forward(i - next_index)
            first = (engine.random(1)[0] * scale).astype(np.uint32)
        last = (engine.random(1)[0] * scale).astype(np.uint32)
        next_index = i + 2
        v[:, b] = first ^ last
    return v


class ScrambledSobol:
    """Linear matrix scrambled + digitally shifted Sobol' points (Matousek 1998).

    Parameters
    ----------
    dim : int
    rng : numpy.random.Generator
    directions : ndarray (dim, 30) of uint32, or callable
        Unscrambled direction numbers, or ``directions(n_bits) -> (dim, n_bits)``, called
        when a draw needs more bits than computed so far (the scrambling of each bit's
        column is independent of the others, so the points do not depend on which).
    """

    def __init__(self, dim: int, rng: np.random.Generator,
                 directions: np.ndarray | Callable[[int], np.ndarray]):
        self.dim = dim
        # L: random lower-triangular 0/1 matrix with unit diagonal, one per dimension;
        # scrambled digit k = sum_{j <= k} L[k, j] * digit j (mod 2)
        lower = np.tril(rng.integers(0, 2, size=(dim, BITS, BITS), dtype=np.uint8), -1)
        lower += np.eye(BITS, dtype=np.uint8)
        self._lower = lower.astype(np.float32)
        self.shift = rng.integers(0, 1 << BITS, size=dim, dtype=np.uint32)
        self._directions = directions if callable(directions) else None
        self.v = (np.zeros((dim, 0), dtype=np.uint32) if callable(directions)
                  else self._scramble(np.asarray(directions, dtype=np.uint32)))
        self.n_drawn = 0

    def _scramble(self, directions: np.ndarray) -> np.ndarray:
        shifts = np.arange(BITS - 1, -1, -1, dtype=np.uint32)  # digit k (MSB first)
        digits = ((directions[:, None, :] >> shifts[None, :, None]) & 1).astype(np.float32)
        scrambled = (self._lower @ digits).astype(np.uint32) & 1
        return (scrambled << shifts[None, :, None]).sum(axis=1, dtype=np.uint32)

    def random(self, k: int) -> np.ndarray:
        """The next ``k`` points (``k`` a power of 2, the points drawn so far a multiple).

        Points are cell midpoints, in (0, 1): ``(x + 1/2) / 2^30``.
        """
        start = self.n_drawn
        if k & (k - 1) or start % k:
            raise ValueError("ScrambledSobol draws blocks of 2^m points at multiples of 2^m")
        n_bits = (start + k - 1).bit_length()
        if self._directions is not None and self.v.shape[1] < n_bits:
            self.v = self._scramble(self._directions(n_bits))
        X = np.empty((k, self.dim), dtype=np.uint32)
        first = self.shift.copy()
        for b in range(start.bit_length()):
            if start >> b & 1:
                first ^= self.v[:, b]
        X[0] = first
        size = 1
        b = 0
        while size < k:
            np.bitwise_xor(X[:size], self.v[:, b], out=X[size:2 * size])
            size *= 2
            b += 1
        self.n_drawn = start + k
        U = X.astype(np.float64)
        U += 0.5
        U *= 2.0**-BITS
        return U


def sobol_engine(dim: int, rng: np.random.Generator) -> Any:
    """A scrambled Sobol' engine in ``dim`` dimensions with ``.random(k)``."""
    v = _direction_numbers(dim)
    if v is None:
        return ScrambledSobol(dim, rng, lambda n_bits: public_direction_numbers(dim, n_bits))
    return ScrambledSobol(dim, rng, v)
