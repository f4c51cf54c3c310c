"""Sobol' indices of a Gaussian-process emulator whose intervals include the emulator's error.

The indices of the emulated function are random (the GP is a distribution over functions).
Following Marrel et al. (2009) and Le Gratiet et al. (2014), joint realisations of the GP are
drawn at a pick-freeze Monte-Carlo design (matrices ``A``, ``B`` and ``A_B^(i)``); each
realisation gives first-order (Saltelli et al. 2010) and total (Jansen 1999) estimates, and
each of these is bootstrapped over the Monte-Carlo rows. The pooled values (realisation x
bootstrap) give the interval, which therefore holds both the emulator's uncertainty and the
Monte-Carlo error; the point estimate is the mean over the realisations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from uqkit._validation import check_int, check_real, fail, normalize_rng

__all__ = ["gp_sobol"]

MAX_POINTS = 1500  # joint GP draws over n (d + 2) points: their covariance is formed
N_REALISATIONS, N_BOOTSTRAP = 100, 20


def _indices(yA, yB, yAB):
    """First (Saltelli 2010) and total (Jansen 1999) indices; ``yAB`` is ``(..., d, n)``."""
    var = np.var(np.concatenate([yA, yB], axis=-1), axis=-1)[..., None]
    first = np.mean(yB[..., None, :] * (yAB - yA[..., None, :]), axis=-1) / var
    total = 0.5 * np.mean((yA[..., None, :] - yAB) ** 2, axis=-1) / var
    return first, total


def _pick_freeze(parameters, n, rng):
    d = len(parameters)
    A = parameters.sample(n, method="random", rng=rng)
    B = parameters.sample(n, method="random", rng=rng)
    AB = np.repeat(A[None], d, axis=0)
    for i in range(d):
        AB[i, :, i] = B[:, i]
    return np.vstack([A, B, AB.reshape(-1, d)])


def _split(y, n, d):
    """``(..., n (d + 2))`` -> ``yA, yB, yAB`` with ``yAB`` of shape ``(..., d, n)``."""
    return y[..., :n], y[..., n: 2 * n], y[..., 2 * n:].reshape(*y.shape[:-1], d, n)


def gp_sobol(gp, n: int | None = None, confidence: float = 0.95, *, rng: Any = None):
    """Sobol' indices of ``gp`` with intervals that hold the emulator's uncertainty.

    The predictive mean gives the indices on a large pick-freeze sample of base size ``n``
    (Monte-Carlo error bootstrapped). The emulator's uncertainty comes from joint GP
    realisations on a smaller pick-freeze sample (``1500 // (d + 2)`` base points): each
    realisation's indices minus the predictive mean's indices on the same points (common
    random numbers, so the Monte-Carlo noise cancels) are added to the large-sample values.
    The interval is taken from the pooled (realisation x bootstrap) values.

    Parameters
    ----------
    gp : GaussianProcess
    n : int, optional
        Base sample size of the large sample (default ``100_000 // (d + 2)``); costs only
        emulator predictions.
    confidence : float, default 0.95
        Level of the intervals.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    SobolResult
        ``method="gp_sobol"``; ``first_ci``/``total_ci`` include the emulator's uncertainty
        (``info["first_emulator_sd"]`` and ``info["total_emulator_sd"]`` give its share);
        ``n_evaluations`` is the emulator's training cost (no model run is made).

    References
    ----------
    Marrel, A., Iooss, B., Laurent, B. & Roustant, O. (2009). Calculations of Sobol indices
    for the Gaussian process metamodel. Reliab. Eng. Syst. Saf. 94(3), 742-751.
    Le Gratiet, L., Cannamela, C. & Iooss, B. (2014). A Bayesian approach for global
    sensitivity analysis of (multifidelity) computer codes. SIAM/ASA J. Uncertain.
    Quantif. 2(1), 336-363.
    Saltelli, A. et al. (2010). Variance based sensitivity analysis of model output.
    Comput. Phys. Commun. 181(2), 259-270.
    """
    from uqkit.sensitivity._results import SobolResult

    func = "GaussianProcess.sobol"
    d = len(gp.inputs)
    if n is None:
        n = 100_000 // (d + 2)
    n = check_int(func, "n", n, minimum=100)
    confidence = check_real(func, "confidence", confidence)
    if not 0 < confidence < 1:
        fail(func, "confidence", "in (0, 1)", confidence)
    rng = normalize_rng(rng)
    # large sample, predictive mean: (m, n (d + 2)) -> indices (m, d) and bootstrap
    y_big = gp.predict(_pick_freeze(gp.parameters, n, rng)).T
    yA, yB, yAB = _split(y_big, n, d)
    first_big, total_big = _indices(yA, yB, yAB)
    boot = rng.integers(0, n, size=(N_BOOTSTRAP, n))
    n_small = MAX_POINTS // (d + 2)
    X_small = _pick_freeze(gp.parameters, n_small, rng)
    draws = np.moveaxis(gp.sample(X_small, N_REALISATIONS, rng=rng), -1, 1)  # (R, m, pts)
    mean_small = gp.predict(X_small).T
    first_r, total_r = _indices(*_split(draws, n_small, d))  # (R, m, d)
    first_0, total_0 = _indices(*_split(mean_small, n_small, d))
    m = y_big.shape[0]
    first_p = np.empty((N_REALISATIONS, N_BOOTSTRAP, m, d))
    total_p = np.empty_like(first_p)
    for j in range(m):  # bootstrap of the large sample, one output at a time
        fb, tb = _indices(yA[j][boot], yB[j][boot], yAB[j][:, boot].swapaxes(0, 1))
        first_p[:, :, j] = fb[None] + (first_r[:, j] - first_0[j])[:, None]
        total_p[:, :, j] = tb[None] + (total_r[:, j] - total_0[j])[:, None]
    first_p = first_p.reshape(-1, m, d)
    total_p = total_p.reshape(-1, m, d)
    alpha = (1 - confidence) / 2
    idx = pd.Index(list(gp.inputs), name="input")
    cols = pd.Index(list(gp.outputs), name="output")
    bcols = pd.MultiIndex.from_product([["low", "high"], cols], names=[None, "output"])

    def frame(a):
        return pd.DataFrame(a.T, index=idx, columns=cols)

    def ci(pooled):
        lo, hi = np.quantile(pooled, [alpha, 1 - alpha], axis=0)
        return pd.DataFrame(np.concatenate([lo.T, hi.T], axis=1), index=idx, columns=bcols)

    both = np.concatenate([yA, yB], axis=-1)
    return SobolResult(
        first=frame(first_big + (first_r - first_0).mean(axis=0)),
        total=frame(total_big + (total_r - total_0).mean(axis=0)),
        first_ci=ci(first_p), total_ci=ci(total_p),
        first_se=frame(first_p.std(axis=0)), total_se=frame(total_p.std(axis=0)),
        mean=pd.Series(both.mean(axis=-1), index=cols, name="mean"),
        variance=pd.Series(both.var(axis=-1), index=cols, name="variance"),
        n_evaluations=gp.n_evaluations, n_failed=gp.n_failed, n_samples=n,
        method="gp_sobol", confidence=confidence,
        info={"realisations": N_REALISATIONS, "realisation_base_points": n_small,
              "bootstrap": N_BOOTSTRAP, "emulator_loo_error": gp.loo_error.to_dict(),
              "first_emulator_sd": frame(first_r.std(axis=0)).to_dict(),
              "total_emulator_sd": frame(total_r.std(axis=0)).to_dict()},
    )
