"""Model selection: degree- and basis-adaptive regression by corrected leave-one-out error."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._design import ProductBasis
from ._regression import Standardized, greedy_path, ols_fit
from ._truncation import multi_indices

__all__ = ["OutputFit", "fit_regression", "fit_compressed", "min_points", "union",
           "COMPRESS_MIN_OUTPUTS"]

# from this many outputs on, regress the principal components of the outputs instead
COMPRESS_MIN_OUTPUTS = 10
COMPRESS_TOL = 1e-8  # largest fraction of the output variance the discarded components carry
COMPRESS_MAX_COMPONENTS = 50

MAX_AUTO_DEGREE = 30
# degree="auto" stops raising the degree once the candidate basis would exceed this many
# terms, or n * terms this many entries (the LAR path cost is proportional to n * terms)
AUTO_MAX_CANDIDATES = 3000
AUTO_MAX_ENTRIES = 4_000_000
PATIENCE_DEGREES = 2  # stop after the error has not improved for this many degrees


@dataclass
class OutputFit:
    """The selected sparse expansion of one output."""

    alphas: np.ndarray
    coef: np.ndarray
    loo: float
    loo_raw: float
    degree: int
    residuals: np.ndarray | None = None  # LOO residuals (scaled by sqrt of the correction)
    history: dict[int, float] = field(default_factory=dict)  # degree -> corrected LOO


def min_points(method: str, n_terms: int) -> int:
    """Fewest design points a regression needs (OLS: one more than the basis)."""
    return n_terms + 1 if method == "ols" else 3


def _fit_degree(basis: ProductBasis, Z: np.ndarray, alphas: np.ndarray, Y: np.ndarray,
                method: str) -> list[OutputFit]:
    Psi = basis.matrix(Z, alphas)
    p = int(alphas.sum(axis=1).max()) if alphas.size else 0
    fits = []
    if method == "ols":
        coef, loo, raw, res = ols_fit(Psi, Y)
        for j in range(Y.shape[1]):
            fits.append(OutputFit(alphas, coef[:, j], float(loo[j]), float(raw[j]), p,
                                  res[:, j]))
        return fits
    S = Standardized.from_matrix(Psi)
    for j in range(Y.shape[1]):
        path = greedy_path(S, Y[:, j], method)
        raw = path.loo0 if path.n_selected == 0 else float(path.loo_raw[path.n_selected - 1])
        fits.append(OutputFit(alphas[path.columns], path.coef, path.error, raw, p,
                              path.residuals))
    return fits


def fit_regression(basis: ProductBasis, X: np.ndarray, Y: np.ndarray, *, degree: int | str,
                   q_norm: float, max_interaction: int | None, method: str
                   ) -> tuple[list[OutputFit], dict]:
    """Fit every output by LAR / OMP / OLS, at a fixed degree or choosing it.

    With ``degree="auto"`` the candidate degree rises from 1; for each degree the
    whole path is run and its best step kept (the basis-adaptive scheme of
    Blatman & Sudret 2011). An output stops once its corrected LOO error has not
    improved for two consecutive degrees; the search ends when every output has
    stopped, the candidate basis outgrows the budget, or (OLS) the design.

    Returns the fit of each output and a dict of selection details.
    """
    n, d = X.shape
    Z = basis.to_standard(X)
    m = Y.shape[1]
    info: dict = {"candidates": {}}
    if degree != "auto":
        alphas = multi_indices(d, int(degree), q_norm, max_interaction)
        fits = _fit_degree(basis, Z, alphas, Y, method)
        for f in fits:
            f.history[int(degree)] = f.loo
            f.degree = int(degree)
        info["candidates"][int(degree)] = alphas.shape[0]
        return fits, info
    best: list[OutputFit | None] = [None] * m
    stale = np.zeros(m, dtype=int)
    history: list[dict[int, float]] = [{} for _ in range(m)]
    for p in range(1, MAX_AUTO_DEGREE + 1):
        try:
            alphas = multi_indices(d, p, q_norm, max_interaction)
        except ValueError:
            break
        P = alphas.shape[0]
        if method == "ols" and n < min_points("ols", P):
            break
        if p > 1 and (P > AUTO_MAX_CANDIDATES or n * P > AUTO_MAX_ENTRIES):
            break
        info["candidates"][p] = P
        fits = _fit_degree(basis, Z, alphas, Y, method)
        for j, f in enumerate(fits):
            if stale[j] >= PATIENCE_DEGREES:
                continue
            history[j][p] = f.loo
            if best[j] is None or f.loo < best[j].loo:
                best[j] = f
                stale[j] = 0
            else:
                stale[j] += 1
            if best[j].loo <= 1e-14:  # exact to rounding: a higher degree cannot help
                stale[j] = PATIENCE_DEGREES
        if np.all(stale >= PATIENCE_DEGREES):
            break
    for j in range(m):
        best[j].history = history[j]
    return best, info


def union(fits: list[OutputFit], d: int) -> tuple[np.ndarray, np.ndarray]:
    """Common multi-index set of all outputs (zero index first) and the coefficient matrix."""
    stacked = np.concatenate([f.alphas for f in fits] + [np.zeros((1, d), dtype=np.int64)])
    uniq, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    total = uniq.sum(axis=1)
    order = np.lexsort((*(uniq[:, j] for j in range(d)), total))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    alphas = np.ascontiguousarray(uniq[order])
    coef = np.zeros((alphas.shape[0], len(fits)))
    start = 0
    for j, f in enumerate(fits):
        rows = rank[inverse[start:start + f.alphas.shape[0]]]
        coef[rows, j] = f.coef
        start += f.alphas.shape[0]
    return alphas, coef



def fit_compressed(basis: ProductBasis, X: np.ndarray, Y: np.ndarray, *, degree: int | str,
                   q_norm: float, max_interaction: int | None, method: str
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Many outputs (fields, time series): expand their principal components.

    ``Y - mean = U S V^T``; the scores of the leading components (carrying all but
    ``COMPRESS_TOL`` of the variance, at most ``COMPRESS_MAX_COMPONENTS``) are fitted
    like separate outputs, and output ``j`` gets ``sum_k V[j, k] c_k``. The cost is
    that of ``K`` outputs, whatever the field size. The LOO residuals of the
    components combine the same way, plus the discarded part, giving each output's
    (corrected) LOO error for this fixed ``V`` (Blatman & Sudret 2013).

    Returns the multi-indices, the coefficients ``(P, m)``, the LOO errors ``(m,)``
    and a dict of details.

    References
    ----------
    Blatman, G. & Sudret, B. (2013). Sparse polynomial chaos expansions of
    vector-valued response quantities. Proc. ICOSSAR 2013, 3245-3252.
    """
    n, d = X.shape
    mean = Y.mean(axis=0)
    Yc = Y - mean
    _, sv, Vt = np.linalg.svd(Yc, full_matrices=False)
    var = sv**2
    total = float(var.sum())
    if total > 0:
        kept = int(np.searchsorted(np.cumsum(var), (1 - COMPRESS_TOL) * total) + 1)
        kept = max(1, min(kept, COMPRESS_MAX_COMPONENTS, var.size))
    else:
        kept = 1
    V = Vt[:kept]
    scores = Yc @ V.T
    fits, info = fit_regression(basis, X, scores, degree=degree, q_norm=q_norm,
                                max_interaction=max_interaction, method=method)
    alphas, cz = union(fits, d)
    coef = cz @ V
    coef[0] += mean
    resid = np.stack([f.residuals for f in fits], axis=1) @ V + (Yc - scores @ V)
    y_var = Y.var(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        loo = np.where(y_var > 0, np.mean(resid**2, axis=0) / y_var, 0.0)
    info["compression"] = {"components": kept,
                           "discarded_variance": float(var[kept:].sum() / total)
                           if total > 0 else 0.0}
    info["component_degree"] = [f.degree for f in fits]
    return alphas, coef, loo, info
