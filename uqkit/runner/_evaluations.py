"""The result of one ``Runner.evaluate`` call."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Evaluations"]


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
    keys : tuple of str or None
        Hex cache keys per row (``None`` without a store).
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
    keys: tuple | None
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

    def __len__(self) -> int:
        return int(self.X.shape[0])

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

    def _repr_html_(self) -> str:
        import pandas as pd

        from uqkit.reports._repr import card

        counts = {s: int((self.status == s).sum()) for s in ("ok", "nonfinite", "failed",
                                                              "invalid")}
        return card("Evaluations", f"of {self.model_name}: {len(self)} rows, {self.n_new} new, "
                    f"{self.n_cached} cached",
                    tables=[("", pd.DataFrame([counts], index=pd.Index(["rows"])))])
