"""Surrogate quality: the threshold below which a polynomial chaos expansion is flagged."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from uqkit._errors import UQKitWarning

__all__ = ["PoorSurrogateWarning", "Q2_THRESHOLD", "describe", "judged", "poor_outputs",
           "warn_poor"]

#: An output whose coefficient of determination ``Q^2 = 1 - MSE / Var(Y)`` (leave-one-out
#: or on independent points) is below this is flagged: its surrogate error is above
#: about 30 % of the output's standard deviation (``sqrt(1 - 0.9)``).
Q2_THRESHOLD = 0.9

#: Outputs whose variance is at most this fraction of the largest variance of their
#: series are not judged: they hardly vary, so a relative error means nothing.
_NEGLIGIBLE_VARIANCE = 1e-4


class PoorSurrogateWarning(UQKitWarning):
    """A polynomial chaos expansion predicts some outputs poorly (``Q^2`` below 0.9)."""


def judged(outputs: Sequence[str], variance: np.ndarray | None) -> np.ndarray:
    """Which outputs vary enough to be judged (not negligible against their series)."""
    from uqkit.models import output_groups

    mask = np.ones(len(outputs), dtype=bool)
    if variance is not None:
        var = np.asarray(variance, dtype=float)
        for cols in output_groups(list(outputs)).values():
            v = var[cols]
            if np.isfinite(v).any():
                mask[cols] = v > _NEGLIGIBLE_VARIANCE * np.nanmax(v)
    return mask


def poor_outputs(outputs: Sequence[str], q2: np.ndarray, variance: np.ndarray | None = None
                 ) -> list[str]:
    """Outputs with ``Q^2 < Q2_THRESHOLD`` (NaN is not judged; nor are near-constant outputs)."""
    bad = judged(outputs, variance) & (np.asarray(q2, dtype=float) < Q2_THRESHOLD)
    return [str(o) for o, flag in zip(outputs, bad) if flag]


def describe(outputs: Sequence[str], q2: np.ndarray, source: str) -> str:
    """The message of a poor fit: which outputs, their ``Q^2``, and the remedies."""
    q2 = dict(zip(map(str, outputs), np.asarray(q2, dtype=float).tolist()))
    shown = ", ".join(f"{o} (Q2 = {q2[o]:.2f})" for o in list(q2)[:8])
    more = f" and {len(q2) - 8} more" if len(q2) > 8 else ""
    return (f"The polynomial chaos surrogate predicts {len(q2)} output(s) poorly "
            f"({source} Q2 below {Q2_THRESHOLD}): {shown}{more}. Indices and moments of these "
            "outputs are not reliable. Remedies: more model runs (a larger n), another "
            "surrogate or plain Monte-Carlo Sobol' indices (uqkit.sobol), or a transformed "
            "output (e.g. its logarithm, or a smoother summary of the series).")


def warn_poor(outputs: Sequence[str], q2: np.ndarray, variance: np.ndarray | None,
              source: str, stacklevel: int = 3) -> list[str]:
    """Warn :class:`PoorSurrogateWarning` for the poor outputs; return their names."""
    bad = poor_outputs(outputs, q2, variance)
    if bad:
        index = [list(map(str, outputs)).index(o) for o in bad]
        warnings.warn(describe(bad, np.asarray(q2, dtype=float)[index], source),
                      PoorSurrogateWarning, stacklevel=stacklevel + 1)
    return bad
