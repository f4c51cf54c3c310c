"""Rows of an input array: exact duplicate detection by hashing, and index helpers.

The runner evaluates identical rows once; these functions find them without a
row-by-row Python loop (one pass of 64-bit row hashes, a sort of hash prefixes, and
an exact comparison of the few candidates).
"""

from __future__ import annotations

import numpy as np

from . import _keys
from ._keys import key_array

__all__: list[str] = []


#: rows hashed per block: a block stays in cache across the passes over it (hashing the
#: whole array column by column streamed it from memory d times: 0.2 s for 1.4M x 20 rows)
_HASH_BLOCK = 8192
_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _row_hashes(X: np.ndarray) -> np.ndarray:
    """A 64-bit hash of the canonical bits of each row of float64 ``X`` (-0.0 -> 0.0).

    Columns are folded one by one, ``h = (h ^ b_j) * K_j; h ^= h >> 29`` (``K_j`` odd):
    the shift brings the high bits, where a float keeps its sign and exponent, back
    down before the next multiplication, so no column is multiplied out of the word
    (without it, 343 distinct rows of half-integers had 119 distinct hashes). Then the
    splitmix64 finaliser. Equal rows get equal hashes; different rows rarely collide,
    and a collision only costs an exact comparison.
    """
    n, d = X.shape
    out = np.empty(n, dtype=np.uint64)
    tmp = np.empty(min(n, _HASH_BLOCK), dtype=np.uint64)
    keys = _HASH_MULT * (2 * np.arange(d, dtype=np.uint64) + np.uint64(1))  # odd
    s29, s30, s27, s31 = (np.uint64(k) for k in (29, 30, 27, 31))
    for start in range(0, n, _HASH_BLOCK):
        bits = (X[start:start + _HASH_BLOCK] + 0.0).view(np.uint64)  # +0.0: -0.0 -> 0.0
        h = out[start:start + len(bits)]
        t = tmp[:len(bits)]
        h[...] = 0
        for j in range(d):
            h ^= bits[:, j]
            h *= keys[j]
            np.right_shift(h, s29, out=t)
            h ^= t
        for shift, mult in ((s30, _MIX1), (s27, _MIX2), (s31, None)):  # splitmix64
            np.right_shift(h, shift, out=t)
            h ^= t
            if mult is not None:
                h *= mult
    return out


def _dedupe_rows(X: np.ndarray, invalid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Representative (first identical) row of every row, and the sorted unique rows.

    ``rep[i]`` is the index of the first row equal to row ``i`` (-1 for invalid rows);
    rows are compared exactly, with ``-0.0 == 0.0``.

    Only rows whose hash prefix is shared with another row can be duplicates. Sorting
    32-bit prefixes finds them (47 ms for 1.4M rows, against 76 ms for 64-bit keys and
    0.16 s for a stable argsort); below 32768 rows a radix sort of 16-bit prefixes
    first narrows the rows down (11 against 56 us for 5120 rows). Only the remaining
    candidates are sorted (by hash, then by value) and compared exactly, so a hash
    collision costs time, never a merge of different rows or a second evaluation of
    the same row.
    """
    n = len(X)
    valid_idx = np.flatnonzero(~invalid) if invalid.any() else np.arange(n)
    rep = np.full(n, -1, dtype=np.intp)
    rep[valid_idx] = valid_idx
    if len(valid_idx) < 2:
        return rep, valid_idx
    h = _row_hashes(X[valid_idx] if len(valid_idx) < n else X)
    cand = None  # positions in h still possibly duplicated (None: all)
    for width in ((16, 32) if len(h) <= 32768 else (32,)):
        hc = h if cand is None else h[cand]
        key = (hc >> np.uint64(64 - width)).astype(np.uint16 if width == 16 else np.uint32)
        s = np.sort(key, kind="stable" if width == 16 else "quicksort")  # (16 bit: radix)
        shared = s[1:][s[1:] == s[:-1]]
        if not len(shared):  # every row is unique (the common case)
            return rep, valid_idx
        # rows whose key's low 20 bits match a shared key's: a superset of the sharers
        low = min(width, 20)
        table = np.zeros(1 << low, dtype=bool)
        mask = key.dtype.type((1 << low) - 1)
        table[shared & mask] = True
        hit = np.flatnonzero(table[key & mask])
        cand = hit if cand is None else cand[hit]
    sub = valid_idx[cand]
    V = X[sub] + 0.0
    # by hash, then by value: identical rows end up adjacent (even if their hash collided
    # with another row's), in input order (a stable sort)
    order = np.lexsort((*V.T[::-1], h[cand]))
    S = V[order]
    same = np.all(S[1:] == S[:-1], axis=1)
    if not same.any():
        return rep, valid_idx
    starts = np.concatenate([[True], ~same])
    group = np.cumsum(starts) - 1
    first = sub[order[starts]]
    rep[sub[order]] = first[group]
    return rep, valid_idx[rep[valid_idx] == valid_idx]


def _as_slice(idx: np.ndarray) -> slice | np.ndarray:
    """``idx`` as a slice when it is an increasing run of consecutive integers."""
    k = len(idx)
    if k and idx[-1] - idx[0] == k - 1 and (k < 2 or bool(np.all(idx[1:] > idx[:-1]))):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _all_distinct(keys: list[bytes]) -> bool:
    """Whether no two cache keys are equal (one sort of their 8-byte prefixes; equal
    prefixes fall back to the exact per-key path)."""
    prefix = _keys.key_prefixes(key_array(keys))
    return len(np.unique(prefix)) == len(prefix)


def _is_range(idx) -> bool:
    idx = np.asarray(idx)
    return len(idx) == 0 or (idx[0] == 0 and bool(np.all(np.diff(idx) == 1)))
