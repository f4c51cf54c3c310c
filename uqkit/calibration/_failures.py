"""Failed model runs inside a calibration: the cut-off check and its warning.

A failed or non-finite run at a proposal is a rejection (the posterior is
then the posterior restricted to where the model runs). That is harmless
when the failure region lies far out in the tails, and it silently truncates
the posterior when the failure region cuts through its bulk. The check
tells the two apart from the failed proposals themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import UQKitWarning

__all__ = ["PosteriorCutOffWarning", "CutOff", "cutoff_check"]

CUTOFF_LEVEL = 0.99      # the posterior region tested for failed runs
CUTOFF_MIN_FAILURES = 10  # failed runs inside it that trigger the warning
CUTOFF_MIN_SHARE = 0.002  # ... and their share of the model runs


class PosteriorCutOffWarning(UQKitWarning):
    """The posterior's mass reaches into the region where the model fails.

    The samples then come from the posterior restricted to where the model
    runs (failed runs are rejections), which is not the posterior of the
    prior and the data unless the failure region is impossible a priori.
    """


@dataclass(frozen=True)
class CutOff:
    """Result of the cut-off check: failed runs inside the posterior's 99 % region."""

    n_inside: int
    n_checked: int
    example: dict[str, float] | None
    warn: bool


def cutoff_check(samples: np.ndarray, failed: np.ndarray, names: tuple[str, ...],
                 n_evaluations: int) -> CutOff:
    """Count the failed proposals inside the posterior's 99 % Gaussian region.

    The region is the ellipsoid ``(x - m)' C^-1 (x - m) <= chi2_d(0.99)`` of
    the samples' mean ``m`` and covariance ``C``. A failure region far out
    in the tails leaves it empty (proposals that reach it come from rare
    wide moves and land outside the ellipsoid); a failure region that cuts
    through the bulk is hit by the local moves of every walker near the cut,
    at a steady rate per step, just beyond the cut and so well inside the
    ellipsoid of the truncated samples. The check warns when at least
    ``CUTOFF_MIN_FAILURES`` failed runs, and at least ``CUTOFF_MIN_SHARE`` of
    all model runs, lie inside it. Its cost is one Cholesky factorisation
    and one triangular solve per failed point (at most 4096 are kept).
    """
    from scipy.stats import chi2
    n, d = samples.shape
    if failed.shape[0] == 0 or n < 2 * d + 2:
        return CutOff(0, int(failed.shape[0]), None, False)
    mean = samples.mean(axis=0)
    cov = np.atleast_2d(np.cov(samples, rowvar=False))
    scale = np.sqrt(np.maximum(np.diag(cov), 1e-300))
    corr = cov / np.outer(scale, scale) + 1e-9 * np.eye(d)
    try:
        chol = np.linalg.cholesky(corr)
    except np.linalg.LinAlgError:
        return CutOff(0, int(failed.shape[0]), None, False)
    from scipy.linalg import solve_triangular
    z = solve_triangular(chol, ((failed - mean) / scale).T, lower=True)
    r2 = np.einsum("ij,ij->j", z, z)
    inside = np.flatnonzero(r2 <= chi2.ppf(CUTOFF_LEVEL, d))
    example = None
    if inside.size:
        x = failed[inside[np.argmin(r2[inside])]]
        example = {name: float(v) for name, v in zip(names, x)}
    warn = (inside.size >= CUTOFF_MIN_FAILURES
            and inside.size >= CUTOFF_MIN_SHARE * max(n_evaluations, 1))
    return CutOff(int(inside.size), int(failed.shape[0]), example, bool(warn))


def cutoff_message(check: CutOff, n_failed: int) -> str:
    """The warning's text."""
    at = ", ".join(f"{k}={v:.4g}" for k, v in list((check.example or {}).items())[:6])
    return (f"the posterior is cut off where the model fails: {check.n_inside} of the "
            f"{check.n_checked} most recent failed runs ({n_failed} in all) lie inside the "
            f"posterior's {CUTOFF_LEVEL:.0%} region (e.g. at {at}). Failed runs are "
            "rejections, so the samples are the posterior restricted to where the model "
            "runs. If that region is impossible, say so in the prior (bounds); otherwise "
            "make the model run there (check its failures in the runner's store).")
