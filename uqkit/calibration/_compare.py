"""``uqkit.compare``: Bayesian model comparison from calibrations' evidences."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .._errors import InvalidParameterError

__all__ = ["compare"]


def compare(*posteriors: Any, names: Any = None) -> pd.DataFrame:
    """Compare calibrated models by their evidence (marginal likelihood).

    Parameters
    ----------
    *posteriors : Posterior
        Calibrations of the candidate models against the same data, each with
        an evidence (``method="smc"`` or ``"auto"``).
    names : sequence of str, optional
        One name per posterior (default: the models' names).

    Returns
    -------
    pandas.DataFrame
        Indexed by name, sorted from the best model: ``log_evidence``,
        ``log_evidence_se``, ``log_bayes_factor`` (against the best model, so
        0 for it and negative for the others) and ``probability`` (posterior
        model probability under equal prior odds, summing to 1). Its
        ``attrs["title"]`` makes :func:`uqkit.report` show it as a table.

    Notes
    -----
    ``p(M_i | data) = Z_i / sum_j Z_j`` with equal prior odds (Kass & Raftery
    1995). The evidences must be of the same data: the comparison is
    meaningless otherwise. A posterior without an evidence (NaN) gets a NaN
    Bayes factor and probability; the others still sum to 1.

    References
    ----------
    Kass, R. E. and Raftery, A. E. (1995). Bayes factors. J. Am. Stat. Assoc.
    90(430), 773-795.

    Examples
    --------
    >>> import uqkit
    >>> # table = uqkit.compare(post_linear, post_quadratic)
    """
    from ._posterior import Posterior
    if not posteriors:
        raise InvalidParameterError(
            "compare needs at least one Posterior. Got none. Pass the results of "
            "uqkit.calibrate, e.g. compare(post_a, post_b).")
    for i, p in enumerate(posteriors):
        if not isinstance(p, Posterior):
            raise InvalidParameterError(
                f"The posteriors passed to compare must be uqkit.Posterior results. Got "
                f"{type(p).__name__} at position {i} instead.")
    if names is None:
        names = [p._problem.model.name if p._problem is not None else f"model {i}"
                 for i, p in enumerate(posteriors)]
    else:
        names = [str(n) for n in names]
        if len(names) != len(posteriors):
            raise InvalidParameterError(
                f"The 'names' parameter of compare must have one name per posterior "
                f"({len(posteriors)}). Got {len(names)} instead.")
    if len(set(names)) != len(names):
        raise InvalidParameterError(
            f"The 'names' parameter of compare must be unique. Got {names} instead. "
            "Pass names=[...] to tell the models apart.")
    lz = np.array([float(p.log_evidence) for p in posteriors])
    se = np.array([float(p.log_evidence_se) for p in posteriors])
    ok = np.isfinite(lz)
    best = float(lz[ok].max()) if ok.any() else math.nan
    bf = lz - best
    prob = np.full(len(lz), np.nan)
    if ok.any():
        w = np.exp(bf[ok])
        prob[ok] = w / w.sum()
    df = pd.DataFrame({"log_evidence": lz, "log_evidence_se": se, "log_bayes_factor": bf,
                       "probability": prob}, index=pd.Index(names, name="model"))
    df = df.sort_values("log_evidence", ascending=False, na_position="last")
    df.attrs["title"] = "Model comparison (log evidence; probabilities under equal prior odds)"
    return df
