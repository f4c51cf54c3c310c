"""Content-addressed cache keys.

A key is SHA-256 over a version tag, the model's identity digest and the
canonical bytes of one input row: little-endian binary64, ``-0.0`` folded to
``0.0``, NaN and infinities refused. Nothing is rounded, so inputs one ulp
apart get different keys, and the keys are the same on every platform and
Python version (``tests/reference/golden_keys.json`` pins them). A float32
input is widened exactly to binary64 first (so ``np.float32(0.1)`` and ``0.1``
have different keys, by design).
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["canonical_inputs", "make_keys", "KEY_VERSION"]

KEY_VERSION = b"uqkit-key-1"


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
    base = hashlib.sha256(KEY_VERSION + b"\0" + model_id.encode() + b"\0")
    raw = Xc.tobytes()
    step = 8 * Xc.shape[1]
    keys = []
    for start in range(0, len(raw), step):
        h = base.copy()
        h.update(raw[start:start + step])
        keys.append(h.digest())
    return keys
