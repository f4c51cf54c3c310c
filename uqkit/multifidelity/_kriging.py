"""Universal kriging: a Gaussian process with an explicit regression trend.

``y(x) = f(x)^T beta + Z(x)``, ``Z`` a zero-mean GP with variance ``sigma^2`` and an
anisotropic correlation (Matern 5/2 or squared exponential, one lengthscale per
column) plus a small nugget. ``beta`` and ``sigma^2`` are profiled out of the
likelihood (generalised least squares), the correlation parameters are fitted by
maximum likelihood with L-BFGS-B from several starts. The trend basis ``F`` is
what the recursive co-kriging of Le Gratiet (2013) needs: at each level it is
``[1, prediction of the level below]``, and the coefficient of the second column
is the scale factor ``rho`` of Kennedy & O'Hagan (2000).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_solve, solve_triangular

__all__ = ["Kriging", "fit_kriging"]

_LOG_LS = (math.log(1e-2), math.log(1e2))
_LOG_NUGGET = (math.log(1e-10), math.log(1e-2))
_LOG_WEIGHT = (math.log(1e-4), math.log(1e2))


def _sqdist(A: np.ndarray, B: np.ndarray, inv_ls: np.ndarray) -> np.ndarray:
    a = A * inv_ls
    b = B * inv_ls
    d2 = np.einsum("ij,ij->i", a, a)[:, None] + np.einsum("ij,ij->i", b, b)[None, :]
    d2 -= 2.0 * (a @ b.T)
    np.maximum(d2, 0.0, out=d2)
    return d2


def _corr(kind: str, d2: np.ndarray) -> np.ndarray:
    if kind == "rbf":
        return np.exp(-0.5 * d2)
    r = np.sqrt(5.0 * d2)
    return (1.0 + r + r * r / 3.0) * np.exp(-r)


@dataclass(frozen=True)
class _Kernel:
    """Correlation ``c1(x) + w * c2(x[:, :n_base])`` (the second term only when ``additive``).

    ``c1`` is anisotropic over all columns; with ``additive=True`` (NARGP) a second
    anisotropic term over the first ``n_base`` columns is added with weight ``w``.
    Parameters (log scale): lengthscales of ``c1``, then those of ``c2`` and ``log w``.
    """

    kind: str
    dim: int
    n_base: int = 0

    @property
    def additive(self) -> bool:
        return self.n_base > 0

    @property
    def n_params(self) -> int:
        return self.dim + (self.n_base + 1 if self.additive else 0)

    def bounds(self) -> list[tuple[float, float]]:
        b = [_LOG_LS] * self.dim
        if self.additive:
            b += [_LOG_LS] * self.n_base + [_LOG_WEIGHT]
        return b

    def matrix(self, theta: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        K = _corr(self.kind, _sqdist(A, B, np.exp(-theta[:self.dim])))
        if self.additive:
            nb = self.n_base
            inv2 = np.exp(-theta[self.dim:self.dim + nb])
            w = math.exp(theta[-1])
            K = (K + w * _corr(self.kind, _sqdist(A[:, :nb], B[:, :nb], inv2))) / (1.0 + w)
        return K


@dataclass(frozen=True, eq=False)
class Kriging:
    """A fitted universal-kriging model (internal; inputs already scaled)."""

    kernel: _Kernel
    theta: np.ndarray      # log correlation parameters
    nugget: float          # relative to sigma2
    X: np.ndarray          # (n, p) training inputs
    F: np.ndarray          # (n, q) trend basis at the training inputs
    beta: np.ndarray       # (q,) trend coefficients
    sigma2: float          # process variance
    chol: np.ndarray       # lower Cholesky factor of R + nugget I
    alpha: np.ndarray      # R^-1 (y - F beta)
    LiF: np.ndarray        # L^-1 F
    G_chol: np.ndarray     # Cholesky factor of F^T R^-1 F
    nll: float             # profiled negative log-likelihood at the optimum

    def predict(self, X: np.ndarray, F: np.ndarray, *,
                return_var: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Mean and (latent, trend-uncertainty included) variance at ``X`` with basis ``F``."""
        k = self.kernel.matrix(self.theta, X, self.X)           # (m, n)
        mean = F @ self.beta + k @ self.alpha
        if not return_var:
            return mean, None
        v = solve_triangular(self.chol, k.T, lower=True)        # (n, m)
        u = self.LiF.T @ v - F.T                                # (q, m)
        w = solve_triangular(self.G_chol, u, lower=True)
        var = 1.0 - np.einsum("ij,ij->j", v, v) + np.einsum("ij,ij->j", w, w)
        return mean, self.sigma2 * np.maximum(var, 0.0)


def _dcorr(kind: str, d2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlation and ``h`` with ``d c / d log l_j = h * (delta_j / l_j)^2``."""
    if kind == "rbf":
        c = np.exp(-0.5 * d2)
        return c, c
    r = np.sqrt(5.0 * d2)
    e = np.exp(-r)
    return (1.0 + r + r * r / 3.0) * e, (5.0 / 3.0) * (1.0 + r) * e


def _matrix_and_grads(kernel: _Kernel, theta: np.ndarray, X: np.ndarray):
    """Correlation matrix and its derivatives in each log parameter (list of (n, n))."""
    inv = np.exp(-theta[:kernel.dim])
    c1, h1 = _dcorr(kernel.kind, _sqdist(X, X, inv))
    grads = []
    scale = 1.0
    if kernel.additive:
        nb = kernel.n_base
        inv2 = np.exp(-theta[kernel.dim:kernel.dim + nb])
        w = math.exp(theta[-1])
        c2, h2 = _dcorr(kernel.kind, _sqdist(X[:, :nb], X[:, :nb], inv2))
        scale = 1.0 / (1.0 + w)
    for j in range(kernel.dim):
        dj = X[:, j:j + 1] - X[:, j]
        grads.append(h1 * (dj * dj) * (inv[j] ** 2 * scale))
    if not kernel.additive:
        return c1, grads
    for j in range(nb):
        dj = X[:, j:j + 1] - X[:, j]
        grads.append(h2 * (dj * dj) * (inv2[j] ** 2 * w * scale))
    grads.append((c2 - c1) * (w * scale * scale))
    return (c1 + w * c2) * scale, grads


def _profile(params: np.ndarray, kernel: _Kernel, X: np.ndarray, F: np.ndarray,
             y: np.ndarray, full: bool = False):
    """Profiled negative log-likelihood and its gradient (or the fitted model, ``full``).

    ``nll = n/2 log sigma2_hat + 1/2 log|R|``; by the envelope theorem its derivative
    in a correlation parameter is ``1/2 tr((R^-1 - a a^T / sigma2_hat) dR)``,
    ``a = R^-1 (y - F beta_hat)``.
    """
    n = X.shape[0]
    theta, nugget = params[:-1], math.exp(params[-1])
    bad = (math.inf, np.zeros_like(params))
    if full:
        R, grads = kernel.matrix(theta, X, X), None
    else:
        R, grads = _matrix_and_grads(kernel, theta, X)
    R[np.diag_indices_from(R)] += nugget
    try:
        L = np.linalg.cholesky(R)
    except np.linalg.LinAlgError:
        return (math.inf, None) if full else bad
    LiF = solve_triangular(L, F, lower=True)
    Liy = solve_triangular(L, y, lower=True)
    G = LiF.T @ LiF
    try:
        Gc = np.linalg.cholesky(G + 1e-12 * np.trace(G) * np.eye(G.shape[0]))
    except np.linalg.LinAlgError:
        return (math.inf, None) if full else bad
    beta = cho_solve((Gc, True), LiF.T @ Liy)
    res = Liy - LiF @ beta
    sigma2 = max(float(res @ res) / n, 1e-300)
    nll = 0.5 * n * math.log(sigma2) + float(np.sum(np.log(np.diag(L))))
    alpha = solve_triangular(L.T, res, lower=False)
    if full:
        return nll, Kriging(kernel, theta.copy(), nugget, X, F, beta, sigma2, L, alpha, LiF,
                            Gc, nll)
    Li = solve_triangular(L, np.eye(n), lower=True)
    W = Li.T @ Li
    W -= np.outer(alpha, alpha) / sigma2
    grad = np.empty_like(params)
    for i, dR in enumerate(grads):
        grad[i] = 0.5 * float(np.einsum("ij,ij->", W, dR))
    grad[-1] = 0.5 * nugget * float(np.trace(W))
    return nll, grad


def fit_kriging(X: np.ndarray, y: np.ndarray, F: np.ndarray | None = None, *,
                kind: str = "matern52", n_base: int = 0, n_starts: int = 4,
                rng: np.random.Generator | None = None) -> Kriging:
    """Maximum-likelihood universal kriging of ``y`` on ``X`` (scaled inputs) with trend ``F``.

    The profiled negative log-likelihood is minimised by L-BFGS-B (analytic
    gradients) from a default start (lengthscales 0.3 of the input spread, nugget
    1e-8) and ``n_starts - 1`` random starts; the best optimum is kept.
    """
    from ..pce._blas import single_threaded_blas

    with single_threaded_blas():
        return _fit(X, y, F, kind, n_base, n_starts, np.random.default_rng(rng))


def _fit(X, y, F, kind, n_base, n_starts, rng) -> Kriging:
    from scipy.optimize import minimize

    X = np.ascontiguousarray(X, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    F = np.ones((X.shape[0], 1)) if F is None else np.asarray(F, dtype=float)
    kernel = _Kernel(kind, X.shape[1], n_base)
    spread = np.maximum(X.max(axis=0) - X.min(axis=0), 1e-3)
    bounds = kernel.bounds() + [_LOG_NUGGET]
    lo, hi = np.array(bounds).T
    default = np.log(0.3 * spread)
    if kernel.additive:
        default = np.concatenate([default, np.log(0.3 * spread[:n_base]), [math.log(0.1)]])
    starts = [np.clip(np.append(default, math.log(1e-8)), lo, hi)]
    for _ in range(max(n_starts, 1) - 1):
        s = default + rng.normal(0.0, 1.0, default.size)
        starts.append(np.clip(np.append(s, rng.uniform(math.log(1e-9), math.log(1e-4))), lo, hi))
    best = None
    for s in starts:
        res = minimize(_profile, s, args=(kernel, X, F, y), method="L-BFGS-B", jac=True,
                       bounds=bounds, options={"maxiter": 200})
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        raise np.linalg.LinAlgError("no positive-definite correlation matrix was found")
    _, model = _profile(best.x, kernel, X, F, y, full=True)
    return model
