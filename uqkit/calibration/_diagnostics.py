"""Convergence diagnostics of the calibration chains, vectorised over parameters.

Rank-normalised split R-hat and bulk / tail effective sample sizes (Vehtari et
al. 2021), computed exactly as arviz 0.23 computes them (``az.rhat``,
``az.ess(method="bulk")``, ``az.ess(method="tail")``; equal to ~1e-12 in
``tests/test_calibration.py``). Why our own: arviz converts every parameter to
an xarray Dataset and, on first use in a process, imports dask through
xarray's duck-array check; on a 100,000-evaluation Rosenbrock calibration
that was ~2 us per model evaluation, the largest single piece of the
sampler's own time after the proposals (benchmarks/bench_calibration.py).
Here one rank transform, one FFT and one quantile call serve all parameters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["diagnose", "rank_rhat", "ess_bulk", "ess_tail"]


def diagnose(kept: np.ndarray) -> dict[str, Any]:
    """ESS (bulk, tail) and rank-normalised split R-hat per parameter.

    ``kept`` has shape ``(W, n, d)``; walkers are the chains. Fewer draws
    than walkers (or than 4) give NaN diagnostics instead of an error.
    """
    W, n, d = kept.shape
    nan = np.full(d, np.nan)
    if n < max(4, W):  # fewer draws than chains: not diagnosable yet (arviz would warn)
        return {"ess_bulk": nan, "ess_tail": nan.copy(), "r_hat": nan.copy()}
    x = np.moveaxis(np.asarray(kept, dtype=float), 2, 0)  # (d, W, n)
    bulk, rhat = np.full(d, np.nan), np.full(d, np.nan)
    ok = _valid(x)
    if ok.any():
        s = _split(x[ok])
        z = _z_scale(s)  # shared by the bulk ESS and the bulk R-hat (one rank transform)
        bulk[ok] = _ess(z)
        rhat[ok] = np.maximum(_rhat(z), _folded_rhat(s))
    return {"ess_bulk": bulk, "ess_tail": ess_tail(x), "r_hat": rhat}


def _split(x: np.ndarray) -> np.ndarray:
    """(d, W, n) -> (d, 2W, n // 2): first and last halves of every chain as chains."""
    half = x.shape[2] // 2
    return np.concatenate([x[:, :, :half], x[:, :, x.shape[2] - half:]], axis=1)


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Normal scores of the pooled average ranks (Blom offset 3/8), per parameter."""
    from scipy.special import ndtri
    d = x.shape[0]
    flat = x.reshape(d, -1)
    size = flat.shape[1]
    rank = _average_ranks(flat)
    return ndtri((rank - 0.375) / (size - 0.75 + 1)).reshape(x.shape)


def _average_ranks(flat: np.ndarray) -> np.ndarray:
    """1-based ranks along the last axis, ties given their average rank.

    The values of ``scipy.stats.rankdata(flat, method="average", axis=1)`` (exact:
    integers and halves), without its generic tie bookkeeping (``put_along_axis``
    and NaN policy), which cost as much as the sort on long chains. Rows have no NaN
    here (:func:`_valid`).
    """
    d, N = flat.shape
    order = np.argsort(flat, axis=1, kind="stable")
    y = np.take_along_axis(flat, order, axis=1)
    out = np.empty((d, N))
    new = np.empty(N, dtype=bool)
    new[:1] = True
    for r in range(d):
        np.not_equal(y[r, 1:], y[r, :-1], out=new[1:])
        starts = np.flatnonzero(new)  # first position of each run of equal values
        counts = np.diff(starts, append=N)
        avg = (starts + 1).astype(float) + (counts.astype(float) - 1) / 2
        out[r, order[r]] = np.repeat(avg, counts)
    return out


def _rhat(z: np.ndarray) -> np.ndarray:
    n = z.shape[2]
    chain_mean = z.mean(axis=2)
    within = z.var(axis=2, ddof=1).mean(axis=1)
    between = n * chain_mean.var(axis=1, ddof=1)
    return np.sqrt((between / within + n - 1) / n)


def rank_rhat(x: np.ndarray) -> np.ndarray:
    """Rank-normalised split R-hat (max of bulk and folded) of ``x`` (d, chains, draws)."""
    out = np.full(x.shape[0], np.nan)
    ok = _valid(x)
    if not ok.any():
        return out
    s = _split(x[ok])
    out[ok] = np.maximum(_rhat(_z_scale(s)), _folded_rhat(s))
    return out


def _folded_rhat(s: np.ndarray) -> np.ndarray:
    med = np.median(s.reshape(s.shape[0], -1), axis=1)
    return _rhat(_z_scale(np.abs(s - med[:, None, None])))


def ess_bulk(x: np.ndarray) -> np.ndarray:
    """Bulk ESS: the ESS of the normal scores of the split chains."""
    out = np.full(x.shape[0], np.nan)
    ok = _valid(x)
    if ok.any():
        out[ok] = _ess(_z_scale(_split(x[ok])))
    return out


def ess_tail(x: np.ndarray) -> np.ndarray:
    """Tail ESS: the smaller ESS of the 5 % and 95 % quantile indicators."""
    out = np.full(x.shape[0], np.nan)
    ok = _valid(x)
    if not ok.any():
        return out
    xv = x[ok]
    q = np.quantile(xv.reshape(xv.shape[0], -1), [0.05, 0.95], axis=1)  # type 7, as arviz
    lo = _ess(_split((xv <= q[0][:, None, None]).astype(float)))
    hi = _ess(_split((xv <= q[1][:, None, None]).astype(float)))
    out[ok] = np.minimum(lo, hi)
    return out


def _valid(x: np.ndarray) -> np.ndarray:
    return ~np.isnan(x).reshape(x.shape[0], -1).any(axis=1)


def _ess(z: np.ndarray) -> np.ndarray:
    """ESS of (d, chains, draws) by Geyer's initial monotone sequence on the FFT autocovariance."""
    d, m, n = z.shape
    out = np.empty(d)
    flat = z.reshape(d, -1)
    const = (flat.max(axis=1) - flat.min(axis=1)) < np.finfo(float).resolution
    L = _fast_len(2 * n)
    c = z - z.mean(axis=2, keepdims=True)
    f = np.fft.rfft(c, n=L, axis=2)
    f *= np.conjugate(f)
    acov = np.fft.irfft(f, n=L, axis=2)[:, :, :n] / n
    mean_acov = acov.mean(axis=1)                                   # (d, n)
    mean_var = mean_acov[:, 0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if m > 1:
        var_plus = var_plus + z.mean(axis=2).var(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # constant chains: handled below
        rho_all = 1.0 - (mean_var[:, None] - mean_acov) / var_plus[:, None]
    for j in range(d):
        out[j] = float(m * n) if const[j] else _geyer(rho_all[j], m * n, n)
    return out


def _geyer(rho: np.ndarray, total: int, n: int) -> float:
    r = np.zeros(n)
    r[0] = 1.0
    even, odd = 1.0, float(rho[1])
    r[1] = odd
    t = 1
    while t < n - 3 and even + odd > 0.0:
        even, odd = float(rho[t + 1]), float(rho[t + 2])
        if even + odd >= 0:
            r[t + 1], r[t + 2] = even, odd
        t += 2
    max_t = t - 2
    if even > 0:
        r[max_t + 1] = even
    t = 1
    while t <= max_t - 2:
        if r[t + 1] + r[t + 2] > r[t - 1] + r[t]:
            r[t + 1] = r[t + 2] = (r[t - 1] + r[t]) / 2.0
        t += 2
    tau = -1.0 + 2.0 * float(np.sum(r[: max_t + 1])) + float(np.sum(r[max_t + 1: max_t + 2]))
    tau = max(tau, 1 / math.log10(total))
    if np.isnan(r).any():
        return math.nan
    return total / tau


def _fast_len(n: int) -> int:
    from scipy.fft import next_fast_len
    return next_fast_len(n)
