"""The toy simulator of RELIABILITY.md's fixtures, as a Python callable.

Every invocation appends one line (the input row's hex bytes and the pid) to a
side log, so tests count model calls by counting lines. Faults are a
deterministic function of the input's hash.
"""

from __future__ import annotations

import hashlib
import math
import os
import time

import numpy as np


def input_hash(row: np.ndarray) -> int:
    return int(hashlib.sha256(np.ascontiguousarray(row, "<f8").tobytes()).hexdigest(), 16)


def ishigami_row(row) -> float:
    x1, x2, x3 = row
    return math.sin(x1) + 7 * math.sin(x2) ** 2 + 0.1 * x3**4 * math.sin(x1)


class ToyModel:
    """Scalar (row-by-row) toy model with a side log and injectable faults.

    fault: None, "fail10" (raise when hash % 10 == 0), "nan10" (NaN output),
    "all" (always raise), "exit10" (os._exit in the worker), "transient" (fail the
    first attempt of each input, tracked by marker files in ``marker_dir``).
    """

    inputs = ("x1", "x2", "x3")
    outputs = ("y",)
    vectorized = False

    def __init__(self, log: str, *, fault: str | None = None, sleep: float = 0.0,
                 name: str = "toy", version: str = "1", marker_dir: str | None = None):
        self.log = str(log)
        self.fault = fault
        self.sleep = sleep
        self.name = name
        self.version = version
        self.marker_dir = marker_dir

    def __call__(self, X):
        X = np.asarray(X, dtype=float)
        out = []
        for row in X:
            with open(self.log, "a") as fh:
                fh.write(f"{np.ascontiguousarray(row, '<f8').tobytes().hex()} {os.getpid()}\n")
            if self.sleep:
                time.sleep(self.sleep)
            h = input_hash(row)
            if self.fault == "all":
                raise RuntimeError("injected: every evaluation fails")
            if self.fault == "fail10" and h % 10 == 0:
                raise RuntimeError(f"injected failure for hash {h % 1000}")
            if self.fault == "exit10" and h % 10 == 0:
                os._exit(3)
            if self.fault == "transient":
                marker = os.path.join(self.marker_dir, f"{h:x}"[:32])
                if not os.path.exists(marker):
                    open(marker, "w").close()
                    raise RuntimeError("injected transient failure (first attempt)")
            if self.fault == "nan10" and h % 10 == 0:
                out.append([math.nan])
                continue
            out.append([ishigami_row(row)])
        return np.array(out)


def log_lines(log) -> list[str]:
    if not os.path.exists(log):
        return []
    with open(log) as fh:
        return [line.split()[0] for line in fh if line.strip()]
