"""Nested space-filling designs for multi-fidelity emulation."""

from __future__ import annotations

import numpy as np

__all__ = ["maximin_subset", "nested_unit_designs"]


def maximin_subset(U: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``k`` rows of ``U`` chosen greedily to maximise the minimum distance.

    Starts from a random row, then repeatedly adds the row farthest from those
    chosen (Gonzalez 1985): a space-filling subset in ``O(n k)``.
    """
    n = U.shape[0]
    if k >= n:
        return np.arange(n)
    first = int(rng.integers(n))
    chosen = [first]
    dist = np.sum((U - U[first]) ** 2, axis=1)
    for _ in range(k - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        np.minimum(dist, np.sum((U - U[nxt]) ** 2, axis=1), out=dist)
    return np.array(chosen)


def nested_unit_designs(n: tuple[int, ...], d: int,
                        rng: np.random.Generator) -> list[np.ndarray]:
    """Unit-cube designs: a Latin hypercube, then each a maximin subset of the one before."""
    from ..parameters import make_qmc_engine

    designs = [make_qmc_engine("lhs", d, rng).random(n[0])]
    for k in n[1:]:
        designs.append(designs[-1][np.sort(maximin_subset(designs[-1], k, rng))])
    return designs
