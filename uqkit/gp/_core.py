"""Gaussian-process regression of one output on unit-cube inputs (the engine behind ``fit_gp``).

Private API (stable: other subpackages build on it; extend, do not break)
------------------------------------------------------------------------
``Trend``
    A regression basis ``F = trend(U)`` (``(m, p)``) for universal kriging, with a ``name``.
    Builders: ``constant_trend()``, ``linear_trend()``, ``basis_trend(function, name)``. The basis
    should contain the constant (predictions are then equivariant under the output
    standardisation).
``fit_core(U, y, *, kernel="matern52", trend=None, noise="fit", n_starts=3, rng=None,
lengthscales=None, nugget=None, likelihood="ml", prior=True) -> GPFit``
    Fits ``y = F beta + Z(U) + eps`` with ``Z`` a stationary GP (ARD kernel ``"matern52"``,
    ``"matern32"`` or ``"rbf"``, process variance ``sigma2``) and white noise of variance
    ``nugget * sigma2``. ``U`` is ``(n, d)`` in the unit cube, ``y`` is ``(n,)`` (standardised
    inside). ``beta`` and ``sigma2`` are profiled out in closed form; the log-lengthscales (and
    the log-nugget when ``noise="fit"``) maximise the concentrated log-likelihood (``"ml"``) or
    the restricted one (``"reml"``), plus a weak normal prior on the log-lengthscales when
    ``prior`` is true, by L-BFGS-B with analytic gradients from the best ``n_starts`` of a
    screened set of starting points. ``noise`` is ``"fit"`` or a fixed relative nugget (float).
    Passing ``lengthscales`` (and ``nugget``) skips the optimisation: the GP is only conditioned.
    ``variance="loo"`` rescales ``sigma2`` so that the closed-form leave-one-out residuals have
    unit mean squared standardised value (Bachoc 2013), which corrects over-confident bands
    when the kernel is misspecified; ``"likelihood"`` keeps the profiled estimate.
``GPFit`` (frozen)
    ``.predict(U, return_var=False, include_noise=False)`` -> mean or ``(mean, var)`` on the
    original scale of ``y``; ``.loo()`` -> closed-form leave-one-out ``(residuals, variances)``;
    ``.sample(U, size, rng)`` -> ``(size, m)`` joint draws; ``.condition(U, y)`` -> a new
    ``GPFit`` with the same hyperparameters and the extra data;
    ``.posterior_cov(U, V=None)`` -> ``(m, m)`` (or ``(m, k)``) predictive covariance of the
    latent function.
    Attributes: ``kernel``, ``U``, ``y``, ``trend``, ``lengthscales``, ``nugget``, ``sigma2``
    (standardised units), ``y_mean``, ``y_scale``, ``beta``, ``log_likelihood``, ``n``, ``d``.

Own linear algebra with SciPy rather than scikit-learn's ``GaussianProcessRegressor``: profiling
the variance and the trend coefficients out of the likelihood removes two parameters per fit,
scikit-learn's optimiser restarts re-run full fits from random points (screening the starts by
their likelihood first is much cheaper), and scikit-learn has no universal kriging trend.

References
----------
Rasmussen, C. E. and Williams, C. K. I. (2006). Gaussian Processes for Machine Learning, MIT
Press, sections 2.7 (explicit basis functions), 5.4 (marginal likelihood, leave-one-out).
Dubrule, O. (1983). Cross validation of kriging in a unique neighborhood. Mathematical Geology
15(6), 687-699.
Bachoc, F. (2013). Cross validation and maximum likelihood estimations of hyper-parameters of
Gaussian processes with model misspecification. Comput. Statist. Data Anal. 66, 55-69.
Santner, T. J., Williams, B. J. and Notz, W. I. (2003). The Design and Analysis of Computer
Experiments, Springer, chapter 3 (universal kriging, profiled likelihood).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import linalg, optimize
from scipy.linalg import blas

from ..pce._blas import single_threaded_blas
from ._kernels import (
    KERNELS,
    corr,
    corr_and_g,
    corr_inplace,
    sqdist_cross,
    sqdist_train,
    weighted_sqdiff_sums,
)

__all__ = [
    "GPFit",
    "Trend",
    "basis_trend",
    "constant_trend",
    "fit_core",
    "linear_trend",
]

# bounds of the optimisation, on the unit cube and in standardised output units
LOG_L_BOUNDS = (np.log(1e-3), np.log(1e3))
LOG_NUGGET_BOUNDS = (np.log(1e-10), np.log(1.0))
# weak prior on log-lengthscales (MAP): normal around l = 1 with sd 10 on the log scale
PRIOR_MEAN, PRIOR_SD = 0.0, 10.0
_FIXED_JITTER = 1e-10
MAXITER, FTOL = 200, 1e-7
LR_NUGGET = 1.92
_CHUNK = 1024


@dataclass(frozen=True)
class Trend:
    """Regression basis ``F = function(U)`` of universal kriging."""

    name: str
    function: Callable[[np.ndarray], np.ndarray]

    def __call__(self, U: np.ndarray) -> np.ndarray:
        F = np.asarray(self.function(U), dtype=float)
        return F.reshape(len(U), -1)


def _ones(U: np.ndarray) -> np.ndarray:
    return np.ones((len(U), 1))


def _linear(U: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(U)), U - 0.5])


def constant_trend() -> Trend:
    """Ordinary kriging: an unknown constant mean."""
    return Trend("constant", _ones)


def linear_trend() -> Trend:
    """Universal kriging with a constant and one linear term per input."""
    return Trend("linear", _linear)


def basis_trend(function: Callable[[np.ndarray], np.ndarray], name: str = "basis") -> Trend:
    """Universal kriging with an arbitrary basis ``function(U) -> (m, p)`` (include a constant)."""
    return Trend(name, function)


@dataclass(frozen=True)
class _Factor:
    """Everything that depends on the data and the hyperparameters, in standardised units."""

    chol: np.ndarray  # lower Cholesky factor of R = K + (nugget + jitter) I
    rinv: np.ndarray  # R^-1
    rinv_f: np.ndarray  # R^-1 F
    linv_f: np.ndarray  # L^-1 F
    linv: np.ndarray  # L^-1, only for prediction (empty inside the optimiser)
    a_chol: np.ndarray  # lower Cholesky factor of A = F' R^-1 F
    beta: np.ndarray
    alpha: np.ndarray  # R^-1 (ys - F beta)
    quad: float  # (ys - F beta)' R^-1 (ys - F beta)
    logdet_r: float
    logdet_a: float


def _factor(K: np.ndarray, F: np.ndarray, ys: np.ndarray, nugget: float,
            for_prediction: bool = False) -> _Factor:
    n = len(ys)
    R = K.copy()
    R.flat[:: n + 1] += nugget + _FIXED_JITTER
    chol = linalg.cholesky(R, lower=True, check_finite=False)
    rinv = linalg.cho_solve((chol, True), np.eye(n), check_finite=False)
    rinv_f = rinv @ F
    linv_f = linalg.solve_triangular(chol, F, lower=True, check_finite=False)
    linv = (linalg.solve_triangular(chol, np.eye(n), lower=True, check_finite=False)
            if for_prediction else np.empty((0, 0)))
    A = F.T @ rinv_f
    a_chol = linalg.cholesky(A, lower=True, check_finite=False)
    rinv_y = rinv @ ys
    beta = linalg.cho_solve((a_chol, True), F.T @ rinv_y, check_finite=False)
    alpha = rinv_y - rinv_f @ beta
    return _Factor(
        chol=chol, rinv=rinv, rinv_f=rinv_f, linv_f=linv_f, linv=linv, a_chol=a_chol,
        beta=beta, alpha=alpha,
        quad=float(ys @ alpha),
        logdet_r=2.0 * float(np.sum(np.log(np.diag(chol)))),
        logdet_a=2.0 * float(np.sum(np.log(np.diag(a_chol)))),
    )


class _Objective:
    """Negative concentrated (or restricted) log-likelihood and its gradient in log-parameters."""

    def __init__(self, U, ys, F, kernel, fit_nugget, nugget, likelihood, prior):
        self.U, self.ys, self.F, self.kernel = U, ys, F, kernel
        self.fit_nugget, self.nugget = fit_nugget, nugget
        self.reml = likelihood == "reml"
        self.prior = prior
        n, p = F.shape
        self.dof = n - p if self.reml else n

    def split(self, theta):
        d = self.U.shape[1]
        lengthscales = np.exp(theta[:d])
        nugget = float(np.exp(theta[d])) if self.fit_nugget else self.nugget
        return lengthscales, nugget

    def value(self, theta) -> float:
        lengthscales, nugget = self.split(theta)
        K = corr(self.kernel, sqdist_train(self.U / lengthscales))
        try:
            fac = _factor(K, self.F, self.ys, nugget)
        except linalg.LinAlgError:
            return np.inf
        return self._nll(fac, theta)

    def _nll(self, fac, theta) -> float:
        sigma2 = max(fac.quad / self.dof, 1e-300)
        nll = 0.5 * self.dof * np.log(sigma2) + 0.5 * fac.logdet_r
        if self.reml:
            nll += 0.5 * fac.logdet_a
        if self.prior:
            d = self.U.shape[1]
            nll += 0.5 * float(np.sum(((theta[:d] - PRIOR_MEAN) / PRIOR_SD) ** 2))
        return float(nll)

    def __call__(self, theta):
        lengthscales, nugget = self.split(theta)
        Us = self.U / lengthscales
        K, G = corr_and_g(self.kernel, sqdist_train(Us))
        try:
            fac = _factor(K, self.F, self.ys, nugget)
        except linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)
        nll = self._nll(fac, theta)
        sigma2 = max(fac.quad / self.dof, 1e-300)
        W = fac.rinv
        if self.reml:
            b = linalg.solve_triangular(fac.a_chol, fac.rinv_f.T, lower=True, check_finite=False)
            W = W - b.T @ b
        # d loglik / d theta_j = 0.5 * sum((alpha alpha' / sigma2 - W) * dR/dtheta_j)
        M = np.outer(fac.alpha, fac.alpha / sigma2)
        M -= W
        grad_ll = 0.5 * weighted_sqdiff_sums(M * G, Us)
        grad = -grad_ll
        if self.prior:
            grad += (theta[: len(grad)] - PRIOR_MEAN) / PRIOR_SD**2
        if self.fit_nugget:
            g_nug = 0.5 * nugget * (fac.alpha @ fac.alpha / sigma2 - np.trace(W))
            grad = np.append(grad, -g_nug)
        return nll, grad


def _starts(d, fit_nugget, n_starts, rng, objective):
    """Screen random log-parameter vectors by likelihood; keep the best ``n_starts``."""
    n_cand = max(4 * n_starts, 12)
    base = np.log(0.5 * np.sqrt(d))
    cand = base + rng.uniform(np.log(0.1), np.log(4.0), size=(n_cand, d))
    cand[0] = base
    if fit_nugget:
        log_nug = rng.uniform(np.log(1e-8), np.log(1e-2), size=(n_cand, 1))
        log_nug[0] = np.log(1e-6)
        cand = np.hstack([cand, log_nug])
    values = np.array([objective.value(c) for c in cand])
    order = np.argsort(np.where(np.isfinite(values), values, np.inf), kind="stable")
    return cand[order[:n_starts]]


@dataclass(frozen=True, eq=False)
class GPFit:
    """A GP conditioned on data with fixed hyperparameters (see the module docstring)."""

    kernel: str
    U: np.ndarray
    y: np.ndarray
    trend: Trend
    lengthscales: np.ndarray
    nugget: float
    sigma2: float
    y_mean: float
    y_scale: float
    log_likelihood: float
    _fac: _Factor = field(repr=False)
    _F: np.ndarray = field(repr=False)

    @property
    def n(self) -> int:
        return self.U.shape[0]

    @property
    def d(self) -> int:
        return self.U.shape[1]

    @property
    def beta(self) -> np.ndarray:
        return self._fac.beta

    def _cross(self, U: np.ndarray) -> np.ndarray:
        return corr(self.kernel, sqdist_cross((U - 0.5) / self.lengthscales,
                                              (self.U - 0.5) / self.lengthscales))

    def predict(self, U, return_var: bool = False, include_noise: bool = False):
        """Predictive mean (and variance of the latent function, plus noise if asked) at ``U``."""
        U = np.asarray(U, dtype=float).reshape(-1, self.d)
        m = len(U)
        mean = np.empty(m)
        var = np.empty(m) if return_var else None
        fac = self._fac
        Ts = (self.U - 0.5) / self.lengthscales
        scratch = np.empty((2, min(m, _CHUNK), self.n))
        F = self.trend(U)  # once: a basis such as a PCE has a per-call cost
        # threadpoolctl's context costs about a millisecond: only worth it for large batches
        with single_threaded_blas() if m > _CHUNK else nullcontext():
            for s in range(0, m, _CHUNK):
                Uc = U[s: s + _CHUNK]
                r2 = sqdist_cross((Uc - 0.5) / self.lengthscales, Ts)
                Kc = corr_inplace(self.kernel, r2, scratch[:, : len(Uc)])
                Fc = F[s: s + _CHUNK]
                mean[s: s + _CHUNK] = Fc @ fac.beta + Kc @ fac.alpha
                if return_var:
                    # L^-1 k(U)' by a triangular product (half the flops of a full GEMM)
                    W = blas.dtrmm(1.0, fac.linv, Kc.T, side=0, lower=1)
                    B = Fc.T - fac.linv_f.T @ W
                    Z = linalg.solve_triangular(fac.a_chol, B, lower=True, check_finite=False)
                    var[s: s + _CHUNK] = (1.0 - np.einsum("ij,ij->j", W, W)
                                          + np.einsum("ij,ij->j", Z, Z))
        mean = self.y_mean + self.y_scale * mean
        if not return_var:
            return mean
        np.maximum(var, 0.0, out=var)
        if include_noise:
            var += self.nugget
        return mean, var * self.sigma2 * self.y_scale**2

    def posterior_cov(self, U, V=None) -> np.ndarray:
        """Predictive covariance of the latent function between the rows of ``U`` and ``V``.

        ``(m, m)`` for ``V=None`` (symmetrised), ``(m, k)`` otherwise; original output units.
        """
        U = np.asarray(U, dtype=float).reshape(-1, self.d)
        Wu, Zu = self._whiten(U)
        if V is None:
            Kuv = corr(self.kernel, sqdist_train(U / self.lengthscales))
            C = Kuv - Wu.T @ Wu + Zu.T @ Zu
            C = 0.5 * (C + C.T)
        else:
            V = np.asarray(V, dtype=float).reshape(-1, self.d)
            Wv, Zv = self._whiten(V)
            Kuv = corr(self.kernel, sqdist_cross((U - 0.5) / self.lengthscales,
                                                 (V - 0.5) / self.lengthscales))
            C = Kuv - Wu.T @ Wv + Zu.T @ Zv
        return C * self.sigma2 * self.y_scale**2

    def _whiten(self, U):
        """``L^-1 k(U)'`` and ``A_L^-1 (f(U)' - F' R^-1 k(U)')``: the two variance terms."""
        fac = self._fac
        W = linalg.solve_triangular(fac.chol, self._cross(U).T, lower=True, check_finite=False)
        B = self.trend(U).T - fac.linv_f.T @ W
        Z = linalg.solve_triangular(fac.a_chol, B, lower=True, check_finite=False)
        return W, Z

    def sample(self, U, size: int, rng=None) -> np.ndarray:
        """``size`` joint draws ``(size, m)`` of the emulated function at the rows of ``U``."""
        rng = np.random.default_rng(rng)
        U = np.asarray(U, dtype=float).reshape(-1, self.d)
        mean = self.predict(U)
        with single_threaded_blas():
            root = _sqrt_psd(self.posterior_cov(U))
        return mean + rng.standard_normal((size, len(U))) @ root.T

    def loo(self) -> tuple[np.ndarray, np.ndarray]:
        """Closed-form leave-one-out residuals ``y_i - mu_{-i}(u_i)`` and predictive variances.

        With ``P = R^-1 - R^-1 F A^-1 F' R^-1`` (``beta`` re-estimated without point ``i``,
        hyperparameters fixed), the residual is ``(P y)_i / P_ii`` and its variance
        ``sigma2 / P_ii`` (Dubrule 1983; Rasmussen and Williams 2006, eq. 5.12 with a trend).
        The variances are of the noisy observation.
        """
        fac = self._fac
        b = linalg.solve_triangular(fac.a_chol, fac.rinv_f.T, lower=True, check_finite=False)
        p_diag = np.diag(fac.rinv) - np.einsum("ij,ij->j", b, b)
        res = fac.alpha / p_diag
        var = self.sigma2 / p_diag
        return res * self.y_scale, var * self.y_scale**2

    def condition(self, U, y) -> GPFit:
        """The same hyperparameters (and standardisation) conditioned on extra data."""
        U = np.vstack([self.U, np.asarray(U, dtype=float).reshape(-1, self.d)])
        y = np.concatenate([self.y, np.asarray(y, dtype=float).ravel()])
        return _build(self.kernel, U, y, self.trend, self.lengthscales, self.nugget,
                      self.y_mean, self.y_scale, sigma2=self.sigma2)


def _sqrt_psd(C: np.ndarray) -> np.ndarray:
    """A square root ``S S' ~ C`` of a covariance: Cholesky with growing jitter, else eigh."""
    scale = max(float(np.max(np.diag(C))), 1e-300)
    for jitter in (1e-10, 1e-8, 1e-6):
        try:
            return linalg.cholesky(C + jitter * scale * np.eye(len(C)), lower=True,
                                   check_finite=False)
        except linalg.LinAlgError:
            continue
    w, Q = np.linalg.eigh(C)
    return Q * np.sqrt(np.maximum(w, 0.0))


def _build(kernel, U, y, trend, lengthscales, nugget, y_mean, y_scale, *, sigma2=None,
           likelihood="ml", log_likelihood=np.nan, variance="likelihood") -> GPFit:
    ys = (y - y_mean) / y_scale
    F = trend(U)
    K = corr(kernel, sqdist_train(U / lengthscales))
    fac = _factor(K, F, ys, nugget, for_prediction=True)
    if sigma2 is None:
        dof = len(y) - F.shape[1] if likelihood == "reml" else len(y)
        sigma2 = fac.quad / dof
    fit = GPFit(kernel=kernel, U=U, y=y, trend=trend, lengthscales=np.asarray(lengthscales),
                nugget=float(nugget), sigma2=float(sigma2), y_mean=float(y_mean),
                y_scale=float(y_scale), log_likelihood=float(log_likelihood), _fac=fac, _F=F)
    if variance == "loo":
        res, var = fit.loo()
        ratio = float(np.mean(res**2 / var))
        if np.isfinite(ratio) and ratio > 0:
            fit = replace(fit, sigma2=fit.sigma2 * ratio)
    return fit


def _optimise(objective, d, fit_nugget, n_starts, rng):
    bounds = [LOG_L_BOUNDS] * d + ([LOG_NUGGET_BOUNDS] if fit_nugget else [])
    best = None
    for start in _starts(d, fit_nugget, n_starts, rng, objective):
        res = optimize.minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                                options={"maxiter": MAXITER, "ftol": FTOL})
        if best is None or res.fun < best.fun:
            best = res
    return best


def _prefer_noise_free(objective, best, d):
    """Drop the nugget to its lower bound unless the data are significantly noisy.

    The likelihood is flat in a small nugget, so the optimiser stops anywhere below about
    1e-6; a likelihood-ratio test (one parameter, 5 %: half of chi2_0.95(1) = 1.92 nats)
    decides whether the nugget is kept. Noise-free data are then interpolated.
    """
    theta = best.x.copy()
    theta[d] = LOG_NUGGET_BOUNDS[0]
    value = objective.value(theta)
    if value - best.fun < LR_NUGGET:
        best.x, best.fun = theta, value


def fit_core(U, y, *, kernel: str = "matern52", trend: Trend | None = None, noise="fit",
             n_starts: int = 3, rng=None, lengthscales=None, nugget=None,
             likelihood: str = "ml", prior: bool = True, variance: str = "likelihood") -> GPFit:
    """Fit one output (see the module docstring). Inputs are assumed clean (validated upstream).

    Raises ``ValueError`` for a constant ``y`` and ``numpy.linalg.LinAlgError`` when no
    hyperparameters give a positive-definite correlation matrix.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}")
    U = np.asarray(U, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    trend = constant_trend() if trend is None else trend
    y_mean, y_scale = float(np.mean(y)), float(np.std(y))
    if not y_scale > 0:
        raise ValueError("constant output: a GP needs a non-constant y")
    ys = (y - y_mean) / y_scale
    F = trend(U)
    fit_nugget = isinstance(noise, str)
    fixed_nugget = 0.0 if fit_nugget else float(noise)
    d = U.shape[1]
    if lengthscales is not None:
        nug = fixed_nugget if nugget is None else float(nugget)
        return _build(kernel, U, y, trend, np.asarray(lengthscales, float), nug, y_mean, y_scale,
                      likelihood=likelihood, variance=variance)
    objective = _Objective(U, ys, F, kernel, fit_nugget, fixed_nugget, likelihood, prior)
    with single_threaded_blas():
        best = _optimise(objective, d, fit_nugget, n_starts, np.random.default_rng(rng))
        if fit_nugget and best is not None:
            _prefer_noise_free(objective, best, d)
    if best is None or not np.isfinite(best.fun) or best.fun >= 1e25:
        raise np.linalg.LinAlgError(
            "no hyperparameters give a positive-definite correlation matrix")
    ls, nug = objective.split(best.x)
    return _build(kernel, U, y, trend, ls, nug, y_mean, y_scale, likelihood=likelihood,
                  log_likelihood=-best.fun, variance=variance)
