"""Least-squares solvers of the expansion: hybrid LAR, OMP and OLS, with corrected LOO errors.

scikit-learn is not a dependency, and the hybrid LAR of Blatman & Sudret needs
the OLS refit *and* its leave-one-out error at every step of the path, which
``sklearn.linear_model.Lars`` does not provide. So the path is written here on an
incrementally updated Gram-Schmidt factorisation ``X_A = Q R`` of the active
columns (with one re-orthogonalisation). Each step then costs one product with
the candidate matrix plus ``O(n k)`` work, and gives for free:

- the OLS residual on the active set, ``e <- e - (q_k . y) q_k``;
- the leverages ``h_i = 1/n + sum_k Q_ik^2``, hence the LOO residuals ``e_i / (1 - h_i)``;
- ``tr((Psi_A^T Psi_A)^-1)`` for the Chapelle et al. correction, from the new
  column of ``R^-1``.

A full path on n = 1000 points and 500 candidates takes about 0.1 s.

References
----------
Efron, B., Hastie, T., Johnstone, I. & Tibshirani, R. (2004). Least angle
regression. Ann. Statist. 32(2), 407-499.
Blatman, G. & Sudret, B. (2011). Adaptive sparse polynomial chaos expansion
based on least angle regression. J. Comput. Phys. 230(6), 2345-2367.
Chapelle, O., Vapnik, V. & Bengio, Y. (2002). Model selection for small sample
regression. Machine Learning 48, 9-23.
Pati, Y. C., Rezaiifar, R. & Krishnaprasad, P. S. (1993). Orthogonal matching
pursuit. Proc. 27th Asilomar Conf. Signals, Systems and Computers, 40-44.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

__all__ = ["Standardized", "PathResult", "greedy_path", "ols_fit"]

_DEPENDENT = 1e-7  # a column whose orthogonal part is this small (relative) is dropped


@dataclass(frozen=True)
class Standardized:
    """Non-constant candidate columns centred and scaled to unit norm.

    ``Xn[:, j] = (Psi[:, j + 1] - means[j]) / norms[j]``; column 0 of ``Psi`` is the constant.
    """

    Xn: np.ndarray
    means: np.ndarray
    norms: np.ndarray
    usable: np.ndarray  # columns that are not constant on the design

    @classmethod
    def from_matrix(cls, Psi: np.ndarray) -> Standardized:
        X = Psi[:, 1:]
        means = X.mean(axis=0)
        Xc = np.asfortranarray(X - means)
        norms = np.sqrt(np.einsum("ij,ij->j", Xc, Xc))
        scale_ref = np.sqrt(np.einsum("ij,ij->j", X, X)) + 1e-300
        usable = norms > 1e-10 * scale_ref
        safe = np.where(usable, norms, 1.0)
        Xc /= safe
        Xc[:, ~usable] = 0.0
        return cls(Xc, means, safe, usable)


@dataclass(frozen=True)
class PathResult:
    """A LAR or OMP path with the hybrid (OLS) corrected LOO error at every step.

    ``order[:k]`` are the non-constant columns (indices into ``Psi[:, 1:]``) active
    after step ``k``; ``loo[k - 1]`` and ``loo_raw[k - 1]`` are the corrected and
    plain relative LOO errors of the OLS fit on the constant plus ``order[:k]``.
    ``loo0`` is the error of the constant alone.
    """

    order: np.ndarray
    loo: np.ndarray
    loo_raw: np.ndarray
    loo0: float
    n_selected: int  # columns of the best step (smallest corrected LOO error)
    coef: np.ndarray  # OLS coefficients of Psi[:, 0] and Psi[:, 1 + order[:n_selected]]
    residuals: np.ndarray  # LOO residuals of the selected step, scaled by sqrt(correction)

    @property
    def error(self) -> float:
        """Corrected relative LOO error of the selected model."""
        return self.loo0 if self.n_selected == 0 else float(self.loo[self.n_selected - 1])

    @property
    def columns(self) -> np.ndarray:
        """Selected columns of ``Psi`` (the constant first)."""
        return np.concatenate([[0], 1 + self.order[: self.n_selected]]).astype(np.int64)


def greedy_path(S: Standardized, y: np.ndarray, mode: str = "lars",
                max_steps: int | None = None) -> PathResult:
    """Run hybrid LAR (``mode="lars"``) or OMP (``mode="omp"``) on one output.

    The path stops at ``min(n_candidates, n - 2)`` active columns, when the OLS
    residual vanishes (exact fit), or when the corrected LOO error has not improved
    for ``max(10, 10%)`` of the possible steps (early stopping, as in UQLab).
    """
    Xn = S.Xn
    n, P = Xn.shape
    var_y = float(np.var(y))
    yc = y - y.mean()
    loo0 = (n / (n - 1)) ** 2 * loo0_factor(n) if var_y > 0 else 0.0
    kmax = min(int(S.usable.sum()), n - 2)
    if max_steps is not None:
        kmax = min(kmax, max_steps)
    if var_y <= 0 or kmax <= 0:
        return PathResult(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), loo0, 0,
                          np.array([y.mean()]), (yc * n / (n - 1)) * np.sqrt(loo0_factor(n)))
    patience = max(10, kmax // 10)
    tiny = 1e-28 * float(yc @ yc)

    Q = np.empty((n, kmax), order="F")
    Rinv = np.zeros((kmax, kmax), order="F")
    XtQ = np.empty((P, kmax), order="F")  # Xn^T Q: Gram-Schmidt coefficients of every column
    available = S.usable.copy()
    mscaled = S.means / S.norms  # for tr((Psi^T Psi)^-1)
    inv_norm2 = 1.0 / S.norms**2
    zs = np.zeros(kmax)  # coordinates of y on Q
    wvec = np.zeros(kmax)  # R^-T D^-1 m over the active set
    fro = 0.0  # ||D^-1 R^-1||_F^2
    signs = np.zeros(kmax)  # LAR: signs of the active correlations (constant along the path)
    tvec = np.zeros(kmax)  # LAR: R^-T signs, extended by one entry per step
    order = np.zeros(kmax, dtype=np.int64)
    e = yc.copy()
    h = np.full(n, 1.0 / n)
    c = Xn.T @ yc  # LAR: correlations with the LAR residual; OMP: with the OLS residual
    loo, loo_raw = [], []
    best, best_k = np.inf, 0
    best_res = (yc * n / (n - 1)) * np.sqrt(loo0_factor(n))
    k = 0
    candidate = int(np.argmax(np.where(available, np.abs(c), -1.0)))
    while k < kmax:
        # ---- add the candidate column (classical Gram-Schmidt; XtQ already holds Q^T x,
        # and a second pass is made only after cancellation: "twice is enough")
        x = Xn[:, candidate]
        if k:
            r = XtQ[candidate, :k].copy()
            xp = x - Q[:, :k] @ r
            rho = float(np.sqrt(xp @ xp))
            if rho < 0.7:
                r2 = Q[:, :k].T @ xp
                xp -= Q[:, :k] @ r2
                r += r2
                rho = float(np.sqrt(xp @ xp))
        else:
            r = np.zeros(0)
            xp = x.copy()
            rho = float(np.sqrt(xp @ xp))
        available[candidate] = False
        if rho > _DEPENDENT:
            q = xp / rho
            Q[:, k] = q
            v = np.empty(k + 1)
            v[:k] = -(Rinv[:k, :k] @ r) / rho
            v[k] = 1.0 / rho
            Rinv[: k + 1, k] = v
            XtQ[:, k] = Xn.T @ q
            order[k] = candidate
            idx = order[: k + 1]
            wvec[k] = v @ mscaled[idx]
            fro += float(v**2 @ inv_norm2[idx])
            signs[k] = 1.0 if c[candidate] >= 0 else -1.0
            tvec[k] = v @ signs[: k + 1]
            z = float(q @ yc)
            zs[k] = z
            e -= z * q
            h += q * q
            k += 1
            # ---- corrected leave-one-out error of the OLS fit on the active set
            if h.max() >= 1 - 1e-10:
                err = np.inf
            else:
                loo_res = e / (1 - h)
                err = float(loo_res @ loo_res) / n / var_y
            trace = 1.0 / n + float(wvec[:k] @ wvec[:k]) + fro
            loo_raw.append(err)
            loo.append(err * n / (n - k - 1) * (1 + trace))
            if loo[-1] < best:
                best, best_k = loo[-1], k
                if np.isfinite(err):
                    best_res = loo_res * np.sqrt(loo[-1] / err if err > 0 else 1.0)
            if float(e @ e) <= tiny or k - best_k > patience:
                break
            if mode == "omp":
                c -= z * XtQ[:, k - 1]
        if not k:
            candidate = int(np.argmax(np.where(available, np.abs(c), -1.0)))
            if not available[candidate]:
                break
            continue
        if not available.any():
            break
        if mode == "omp":
            candidate = int(np.argmax(np.where(available, np.abs(c), -1.0)))
            continue
        # ---- LAR: equiangular direction u = Q t / ||t|| and step length gamma
        AA = 1.0 / float(np.sqrt(tvec[:k] @ tvec[:k]))
        a = XtQ[:, :k] @ (tvec[:k] * AA)  # Xn^T u
        C = float(np.mean(np.abs(c[order[:k]])))
        with np.errstate(divide="ignore", invalid="ignore"):
            g1 = (C - c) / (AA - a)
            g2 = (C + c) / (AA + a)
        g1 = np.where(available & (g1 > 1e-12), g1, np.inf)
        g2 = np.where(available & (g2 > 1e-12), g2, np.inf)
        g = np.minimum(g1, g2)
        candidate = int(np.argmin(g))
        gamma = float(g[candidate])
        if not np.isfinite(gamma):
            break
        c -= gamma * a
    kb = best_k if best < loo0 else 0
    # OLS coefficients of the selected step from the factorisation (no refit needed):
    # normalised columns -> R^-1 Q^T y, then undo the centring and scaling
    order_arr = order[:k].copy()
    beta = Rinv[:kb, :kb] @ zs[:kb] / S.norms[order_arr[:kb]]
    coef = np.concatenate([[y.mean() - beta @ S.means[order_arr[:kb]]], beta])
    if kb == 0:
        best_res = (yc * n / (n - 1)) * np.sqrt(loo0_factor(n))
    return PathResult(order_arr, np.asarray(loo), np.asarray(loo_raw), loo0, kb, coef,
                      best_res)


def loo0_factor(n: int) -> float:
    """Chapelle correction of the constant-only model: ``n / (n - 1) (1 + 1/n)``."""
    return n / (n - 1) * (1 + 1 / n)


def ols_fit(Psi: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OLS on the full basis for all outputs at once (one QR factorisation).

    Returns the coefficients ``(P, m)``, the corrected and the plain relative LOO
    errors ``(m,)`` and the LOO residuals ``(n, m)`` scaled by the square root of
    the correction. Rank-deficient designs give infinite LOO errors and the
    minimum-norm least-squares coefficients.
    """
    n, P = Psi.shape
    Qm, Rm = np.linalg.qr(Psi)
    diag = np.abs(np.diag(Rm))
    var_y = Y.var(axis=0)
    if P >= n or diag.min() <= 1e-10 * diag.max():
        coef, *_ = np.linalg.lstsq(Psi, Y, rcond=None)
        inf = np.full(Y.shape[1], np.inf)
        return coef, inf, inf, np.full(Y.shape, np.inf)
    coef = solve_triangular(Rm, Qm.T @ Y, check_finite=False)
    E = Y - Psi @ coef
    h = np.einsum("ij,ij->i", Qm, Qm)
    if np.any(h >= 1 - 1e-10):
        inf = np.full(Y.shape[1], np.inf)
        return coef, inf, inf, np.full(Y.shape, np.inf)
    res = E / (1 - h)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.mean(res**2, axis=0) / var_y
    raw = np.where(var_y > 0, raw, 0.0)
    Rinv = solve_triangular(Rm, np.eye(P), check_finite=False)
    factor = n / (n - P) * (1 + float(np.sum(Rinv**2)))
    return coef, raw * factor, raw, res * np.sqrt(factor)
