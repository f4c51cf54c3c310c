"""Content-addressed cache keys.

A key is SHA-256 over a version tag, the model's identity digest and the
canonical bytes of one input row: little-endian binary64, ``-0.0`` folded to
``0.0``, NaN and infinities refused. Nothing is rounded, so inputs one ulp
apart get different keys, and the keys are the same on every platform and
Python version (``tests/reference/golden_keys.json`` pins them). A float32
input is widened exactly to binary64 first (so ``np.float32(0.1)`` and ``0.1``
have different keys, by design).

The store indexes keys by their first 8 bytes (:func:`key_prefixes`, a signed
64-bit integer, so SQLite keeps them in a rowid B-tree) and always verifies the
full 32-byte key; two keys sharing a prefix are kept apart (see ``_store_index``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

__all__ = ["canonical_inputs", "make_keys", "key_array", "key_prefixes", "KEY_VERSION",
           "KEY_BYTES"]

KEY_VERSION = b"uqkit-key-1"
KEY_BYTES = 32


def canonical_inputs(X: np.ndarray) -> np.ndarray:
    """Return ``X`` as C-contiguous little-endian float64 with ``-0.0`` -> ``0.0``.

    The caller has already rejected NaN and infinite values.
    """
    Xc = np.ascontiguousarray(X, dtype="<f8")
    # adding +0.0 maps -0.0 to +0.0 and leaves every other value unchanged
    return Xc + 0.0


def make_keys(model_id: str, X: np.ndarray) -> list[bytes]:
    """SHA-256 digests (32 bytes) of each row of canonical ``X`` for the model ``model_id``."""
    Xc = canonical_inputs(X)
    if Xc.ndim != 2:
        Xc = Xc.reshape(len(Xc), -1)
    base = hashlib.sha256(KEY_VERSION + b"\0" + model_id.encode() + b"\0")
    if Xc.shape[1] == 0:  # a model without inputs: every row has the same key
        return [base.digest()] * len(Xc)
    raw = Xc.tobytes()
    step = 8 * Xc.shape[1]
    copy = base.copy
    keys = []
    append = keys.append
    # a plain loop over hashlib (OpenSSL): about 0.4 us per row, which is less than a
    # numpy implementation of SHA-256 costs (64 rounds of ~40 array operations per block)
    for start in range(0, len(raw), step):
        h = copy()
        h.update(raw[start:start + step])
        append(h.digest())
    return keys


def key_array(keys: Sequence[bytes] | np.ndarray) -> np.ndarray:
    """Keys as a C-contiguous ``(n, 32)`` uint8 array (from a list of digests or an array)."""
    if isinstance(keys, np.ndarray):
        arr = np.ascontiguousarray(keys, dtype=np.uint8)
        return arr.reshape(-1, KEY_BYTES)
    joined = b"".join(keys)
    if len(joined) != KEY_BYTES * len(keys):
        raise ValueError(f"cache keys must be {KEY_BYTES}-byte SHA-256 digests")
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(keys), KEY_BYTES)


def key_prefixes(keys: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each key (``(n, 32)`` uint8) as big-endian signed int64.

    The store's index key. Different keys may share a prefix (probability about
    ``n**2 / 2**65``); the store then keeps the later one in its collision table.
    """
    keys = np.ascontiguousarray(keys, dtype=np.uint8).reshape(-1, KEY_BYTES)
    return np.ascontiguousarray(keys[:, :8]).view(">i8").ravel().astype(np.int64)
