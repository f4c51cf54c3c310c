"""Entry points for study-file tests (``_studymodels:toy``): the RELIABILITY toy model.

The side log and an optional per-row sleep come from environment variables, so
a study file can name the model without arguments: ``UQKIT_TEST_LOG`` (path of
the side log, one line per model call), ``UQKIT_TEST_SLEEP`` (seconds) and
``UQKIT_TEST_FAULT`` (a fault of ``ToyModel``, e.g. ``fail10``).
"""

from __future__ import annotations

import os

import numpy as np
from _toy import ToyModel


def toy() -> ToyModel:
    """Factory: the toy model logging to ``$UQKIT_TEST_LOG``."""
    return ToyModel(os.environ.get("UQKIT_TEST_LOG", os.devnull),
                    sleep=float(os.environ.get("UQKIT_TEST_SLEEP", "0")), name="toy",
                    fault=os.environ.get("UQKIT_TEST_FAULT") or None)


def function(X):
    """A plain vectorized function (declare inputs and outputs in the study file)."""
    X = np.asarray(X, dtype=float)
    with open(os.environ.get("UQKIT_TEST_LOG", os.devnull), "a") as fh:
        for row in X:
            fh.write(f"{np.ascontiguousarray(row, '<f8').tobytes().hex()} {os.getpid()}\n")
    return X[:, :1] * 2.0 + X[:, 1:2]


def _private():  # pragma: no cover - must never be reachable from a study file
    open("PWNED", "w").close()
