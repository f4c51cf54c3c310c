"""The result of one ``Runner.evaluate`` call."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Evaluations", "HexKeys"]


class HexKeys(Sequence):
    """The hex cache keys of a design's rows, a read-only sequence of str.

    Built from the keys' bytes, or from the model id and the inputs, in which
    case the keys (SHA-256 of each row) are computed when first used: a large
    design does not hold 64-character strings for every row unless asked.
    """

    __slots__ = ("_keys", "_model_id", "_X")

    def __init__(self, keys: Sequence[bytes] | None = None, *, model_id: str | None = None,
                 X: np.ndarray | None = None) -> None:
        self._keys = None if keys is None else tuple(map(bytes.hex, keys))
        self._model_id = model_id
        self._X = X

    def _all(self) -> tuple[str, ...]:
        if self._keys is None:
            from ._keys import canonical_inputs, make_keys

            self._keys = tuple(map(bytes.hex, make_keys(self._model_id,
                                                        canonical_inputs(self._X))))
            self._X = None
        return self._keys

    def __len__(self) -> int:
        return len(self._keys) if self._keys is not None else int(self._X.shape[0])

    def __getitem__(self, i: Any):
        return self._all()[i]

    def __iter__(self):
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (HexKeys, tuple, list)):
            return len(self) == len(other) and tuple(self._all()) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"HexKeys({len(self)} keys)"


@dataclass(frozen=True)
class Evaluations:
    """Model evaluations of a design, as returned by :meth:`uqkit.Runner.evaluate`.

    Attributes
    ----------
    X : ndarray, shape (n_samples, n_inputs)
        The inputs, in the model's input order.
    Y : ndarray, shape (n_samples, n_outputs)
        Outputs; NaN in rows that failed, raw values in rows with non-finite outputs.
    ok : ndarray of bool, shape (n_samples,)
        Rows with a valid, finite output (non-finite rows count as ok only
        with ``allow_nonfinite=True``).
    status : ndarray of str, shape (n_samples,)
        ``"ok"``, ``"nonfinite"``, ``"failed"`` or ``"invalid"`` (outside the support).
    errors : tuple
        Error text per row, ``None`` where the row succeeded.
    keys : HexKeys or None
        Hex cache keys per row, a sequence of str (``None`` without a store);
        computed when first used for a design evaluated in streamed chunks.
    n_new : int
        Rows evaluated by the model in this call (the model calls made, row-wise).
    n_cached : int
        Rows served from the store, from another process, or as a duplicate row.
    n_attempts : int
        Row-attempts made, retries included.
    inputs, outputs : tuple of str
        Names of the columns of ``X`` and ``Y``.
    model_name : str
        The evaluated model's name.
    """

    X: np.ndarray
    Y: np.ndarray
    ok: np.ndarray
    status: np.ndarray
    errors: tuple
    keys: HexKeys | None
    n_new: int
    n_cached: int
    n_attempts: int
    inputs: tuple
    outputs: tuple
    model_name: str = ""

    @property
    def n_failed(self) -> int:
        """Rows without a valid output."""
        return int((~self.ok).sum())

    @property
    def n_evaluations(self) -> int:
        """Model evaluations this call made (``n_new``; stored rows cost none)."""
        return int(self.n_new)

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def plot(self, output: str | None = None, *, ax: Any = None) -> Any:
        """Histogram of an output over the rows that succeeded (the first output by
        default); the title counts the rows that failed or were not finite."""
        import matplotlib.pyplot as plt

        name = self.outputs[0] if output is None else output
        if name not in self.outputs:
            from .._validation import fail

            fail("Evaluations.plot", "output", "one of " + ", ".join(map(repr, self.outputs)),
                 output)
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.2))
        y = self.Y[self.ok, list(self.outputs).index(name)]
        y = y[np.isfinite(y)]
        ax.hist(y, bins=min(30, max(5, int(np.sqrt(max(len(y), 1))))), color="#4c72b0")
        ax.set_xlabel(name)
        ax.set_ylabel("rows")
        ax.set_title(f"{self.model_name or 'model'}: {len(y)} rows ok, {self.n_failed} failed",
                     fontsize=10)
        return ax

    def to_dataframe(self):
        """Inputs, outputs, status and error per row as a pandas DataFrame."""
        import pandas as pd

        df = pd.concat([pd.DataFrame(self.X, columns=list(self.inputs)),
                        pd.DataFrame(self.Y, columns=list(self.outputs))], axis=1)
        df["status"] = self.status
        df["error"] = list(self.errors)
        if self.keys is not None:
            df["key"] = list(self.keys)
        return df

    def __repr__(self) -> str:
        return (f"Evaluations({self.model_name!r}: {len(self)} rows x {len(self.outputs)} "
                f"outputs; {self.n_new} new, {self.n_cached} cached, {self.n_failed} failed)")

    def report(self, path: str | os.PathLike, *, title: str = "Evaluations report") -> str:
        """Write this result's section of :func:`uqkit.report` as a self-contained HTML
        file (and its JSON beside it); return the HTML path."""
        from uqkit.reports._report import write_result_report

        return write_result_report(self, path, title=title)

    def _repr_html_(self) -> str:
        import pandas as pd

        from uqkit.reports._repr import card

        counts = {s: int((self.status == s).sum()) for s in ("ok", "nonfinite", "failed",
                                                              "invalid")}
        return card("Evaluations", f"of {self.model_name}: {len(self)} rows, {self.n_new} new, "
                    f"{self.n_cached} cached",
                    tables=[("", pd.DataFrame([counts], index=pd.Index(["rows"])))])
