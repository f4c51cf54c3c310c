"""The calibration chain's history: preallocated arrays grown by doubling.

One copy per step into preallocated arrays instead of five per-step array
copies appended to lists (and stacked again for every convergence check).
"""

from __future__ import annotations

import numpy as np

__all__ = ["History"]


class History:
    """The chain, preallocated and grown by doubling (one copy per step, no lists)."""

    def __init__(self, W: int, d: int, capacity: int = 256) -> None:
        self.W, self.d, self.n = W, d, 0
        self.x = np.empty((capacity, W, d))
        self.lp = np.empty((capacity, W))
        self.ll = np.empty((capacity, W))
        self.acc = np.empty((capacity, W), dtype=bool)
        self.ind = np.empty((capacity, W), dtype=np.int8)

    def __len__(self) -> int:
        return self.n

    def _grow(self, need: int) -> None:
        cap = len(self.x)
        if need <= cap:
            return
        new = max(2 * cap, need)
        for key in ("x", "lp", "ll", "acc", "ind"):
            old = getattr(self, key)
            arr = np.empty((new,) + old.shape[1:], dtype=old.dtype)
            arr[: self.n] = old[: self.n]
            setattr(self, key, arr)

    def append(self, x, lp, ll, acc, ind) -> None:
        t = self.n
        if t >= len(self.x):
            self._grow(t + 1)
        self.x[t] = x
        self.lp[t] = lp
        self.ll[t] = ll
        self.acc[t] = acc
        self.ind[t] = ind
        self.n = t + 1

    def extend(self, part: dict[str, np.ndarray]) -> None:
        m = len(part["x"])
        self._grow(self.n + m)
        a, b = self.n, self.n + m
        self.x[a:b] = part["x"]
        self.lp[a:b] = part["lp"]
        self.ll[a:b] = part["ll"]
        self.acc[a:b] = np.asarray(part["acc"]) > 0.5
        self.ind[a:b] = np.asarray(part["ind"]).astype(np.int8)
        self.n = b

    # ------------------------------------------------------------------ checkpoints
    def chunk(self, a: int, b: int) -> dict[str, np.ndarray]:
        """Steps ``a:b`` as float arrays (the store's checkpoint format)."""
        b = max(a, b)
        return {"x": self.x[a:b], "lp": self.lp[a:b], "ll": self.ll[a:b],
                "acc": self.acc[a:b].astype(float), "ind": self.ind[a:b].astype(float)}

    def save(self, store, name: str, chunk: int) -> dict[str, np.ndarray]:
        """Store a chunk once it fills; return the partial chunk to store with the state."""
        t = self.n
        if t > 0 and t % chunk == 0:
            store.save_checkpoint(f"{name}/chunk/{t // chunk - 1}", self.chunk(t - chunk, t),
                                  {"steps": [t - chunk, t]})
        c0 = (t // chunk) * chunk
        return {f"partial_{k}": v for k, v in self.chunk(c0, t).items()}

    def load(self, store, name: str, chunk: int, t: int, arrays: dict[str, np.ndarray]) -> None:
        """Rebuild ``t`` steps from the stored chunks and the state's partial chunk."""
        for k in range(t // chunk):
            part = store.load_checkpoint(f"{name}/chunk/{k}")
            if part is None:  # pragma: no cover - chunks are written before the state
                raise RuntimeError(f"checkpoint chunk {k} of {name} is missing")
            self.extend(part[0])
        self.extend({k[len("partial_"):]: v for k, v in arrays.items()
                     if k.startswith("partial_")})
