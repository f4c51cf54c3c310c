"""Univariate orthonormal polynomial bases (Askey scheme and numerically generated).

Each marginal distribution gets a :class:`Basis1D`: an isoprobabilistic map
``x -> z`` to a standard variable and the three-term recurrence of the
polynomials orthonormal with respect to the law of ``z``:

=============================  ====================  ===============================
marginal (``Distribution.kind``)  standard variable      polynomials
=============================  ====================  ===============================
uniform                        affine to U(-1, 1)      Legendre
normal                         affine to N(0, 1)       Hermite (probabilists')
lognormal                      ``log``, affine         Hermite
loguniform                     ``log``, affine         Legendre
gamma                          ``x / scale``           generalised Laguerre
beta                           affine to [-1, 1]       Jacobi
triangular, bounded truncated  affine to [0, 1]        numerical (discretised Stieltjes)
normal, bounded scipy law
anything else (unbounded)      ``Phi^-1(F(x))``        Hermite
=============================  ====================  ===============================

Orthonormal polynomials satisfy ``sqrt(b[k+1]) p[k+1] = (z - a[k]) p[k] - sqrt(b[k]) p[k-1]``
with ``p[0] = 1`` (probability measures, ``b[0] = 1``); they are evaluated by this
recurrence on whole arrays at once.

References
----------
Xiu, D. & Karniadakis, G. E. (2002). The Wiener-Askey polynomial chaos for
stochastic differential equations. SIAM J. Sci. Comput. 24(2), 619-644.
Gautschi, W. (2004). Orthogonal Polynomials: Computation and Approximation.
Oxford University Press (recurrence coefficients, discretised Stieltjes procedure,
Golub-Welsch quadrature).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from uqkit.distributions import Distribution

__all__ = ["Basis1D", "basis_for"]

_NUMERIC_MAX_DEGREE = 40  # numerically generated recurrences are computed up to this degree
_NUMERIC_NODES = 2000  # discretisation points of the Stieltjes procedure


class Basis1D:
    """Orthonormal polynomials of one input and the map to their standard variable.

    Parameters
    ----------
    family : {"legendre", "hermite", "laguerre", "jacobi", "numeric"}
        Polynomial family.
    transform : {"affine", "log", "probit"}
        ``z = (g(x) - shift) / scale`` with ``g = identity`` or ``log``; ``"probit"``
        maps ``z = Phi^-1(F(x))`` through the marginal's CDF.
    shift, scale : float
        Affine part of the map.
    alpha, beta : float
        Family parameters (Laguerre ``alpha``; Jacobi ``alpha``, ``beta``).
    dist : Distribution, optional
        The marginal (needed by ``"probit"`` and ``"numeric"``).
    """

    __slots__ = ("family", "transform", "shift", "scale", "alpha", "beta", "dist", "_ab")

    def __init__(self, family: str, transform: str = "affine", shift: float = 0.0,
                 scale: float = 1.0, *, alpha: float = 0.0, beta: float = 0.0,
                 dist: Distribution | None = None) -> None:
        self.family = family
        self.transform = transform
        self.shift = float(shift)
        self.scale = float(scale)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.dist = dist
        self._ab: tuple[np.ndarray, np.ndarray] | None = None

    def __reduce__(self):
        return (Basis1D, (self.family, self.transform, self.shift, self.scale),
                {"alpha": self.alpha, "beta": self.beta, "dist": self.dist})

    def __setstate__(self, state):
        self.alpha, self.beta, self.dist = state["alpha"], state["beta"], state["dist"]
        self._ab = None

    @property
    def label(self) -> str:
        """Short description, e.g. ``"Hermite(log)"``."""
        name = {"legendre": "Legendre", "hermite": "Hermite", "laguerre": "Laguerre",
                "jacobi": "Jacobi", "numeric": "Stieltjes"}[self.family]
        return name if self.transform == "affine" else f"{name}({self.transform})"

    # -- isoprobabilistic map ----------------------------------------------------
    def to_standard(self, x: np.ndarray) -> np.ndarray:
        """Map values of the input to the standard variable ``z``."""
        x = np.asarray(x, dtype=float)
        if self.transform == "probit":
            cdf = self.dist.cdf(x)
            sf = self.dist.dist.sf(x)
            # use the survival function in the upper tail so z stays accurate there
            return np.where(cdf < 0.5, special.ndtri(cdf), -special.ndtri(sf))
        g = np.log(x) if self.transform == "log" else x
        return (g - self.shift) / self.scale

    def from_standard(self, z: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_standard`."""
        z = np.asarray(z, dtype=float)
        if self.transform == "probit":
            return np.where(z < 0, self.dist.ppf(special.ndtr(z)),
                            self.dist.dist.isf(special.ndtr(-z)))
        g = z * self.scale + self.shift
        return np.exp(g) if self.transform == "log" else g

    # -- recurrence ----------------------------------------------------------------
    def recurrence(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Monic recurrence coefficients ``a[0:n]``, ``b[0:n]`` (``b[0] = 1``)."""
        k = np.arange(n, dtype=float)
        if self.family == "legendre":
            a = np.zeros(n)
            b = np.where(k > 0, k**2 / np.maximum(4 * k**2 - 1, 1), 1.0)
        elif self.family == "hermite":
            a = np.zeros(n)
            b = np.where(k > 0, k, 1.0)
        elif self.family == "laguerre":
            a = 2 * k + self.alpha + 1
            b = np.where(k > 0, k * (k + self.alpha), 1.0)
        elif self.family == "jacobi":
            a, b = _jacobi_recurrence(n, self.alpha, self.beta)
        else:
            if self._ab is None or self._ab[0].size < n:
                self._ab = _stieltjes(*self._numeric_nodes(), max(n, _NUMERIC_MAX_DEGREE + 1))
            a, b = self._ab[0][:n].copy(), self._ab[1][:n].copy()
        return a, b

    def _numeric_nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Discretisation of the standard variable's law (nodes in z, weights summing to 1)."""
        dist = self.dist
        lo, hi = dist.support
        if dist.kind == "triangular":
            # piecewise-linear density: Gauss-Legendre on each side of the mode is exact
            pieces = [(lo, dist.params["mode"]), (dist.params["mode"], hi)]
            t, w = special.roots_legendre(_NUMERIC_NODES // 2)
            t, w = 0.5 * (t + 1), 0.5 * w
            t_hi = 1 - t
        else:
            pieces = [(lo, hi)]
            # tanh-sinh (double exponential) rule on [0, 1]: exponentially accurate even
            # when the density vanishes or blows up algebraically at the ends
            s = np.linspace(-4.0, 4.0, _NUMERIC_NODES + 1)
            u = 0.5 * math.pi * np.sinh(s)
            t = special.expit(2 * u)          # (1 + tanh u) / 2
            t_hi = special.expit(-2 * u)      # 1 - t, computed without cancellation
            w = (s[1] - s[0]) * 0.5 * math.pi * np.cosh(s) * t * t_hi * 2
        xs, ws = [], []
        for a, b in pieces:
            if b <= a:
                continue
            x = np.where(t < 0.5, a + (b - a) * t, b - (b - a) * t_hi)
            xs.append(x)
            with np.errstate(all="ignore"):
                ws.append((b - a) * w * dist.pdf(x))
        x, wt = np.concatenate(xs), np.concatenate(ws)
        ok = np.isfinite(wt) & (wt > 0)
        x, wt = x[ok], wt[ok]
        return (x - self.shift) / self.scale, wt / wt.sum()

    # -- evaluation ------------------------------------------------------------------
    def evaluate(self, z: np.ndarray, degree: int) -> np.ndarray:
        """Orthonormal polynomials ``p_0..p_degree`` at ``z``, shape ``(len(z), degree + 1)``.

        Column-major (each polynomial contiguous), as used by the design matrices.
        """
        z = np.asarray(z, dtype=float)
        out = np.empty((degree + 1, z.size))
        out[0] = 1.0
        if degree == 0:
            return out.T
        a, b = self.recurrence(degree + 1)
        sb = np.sqrt(b)
        out[1] = (z - a[0]) / sb[1]
        for k in range(1, degree):
            out[k + 1] = ((z - a[k]) * out[k] - sb[k] * out[k - 1]) / sb[k + 1]
        return out.T

    def gauss(self, n_points: int) -> tuple[np.ndarray, np.ndarray]:
        """Gauss quadrature of the standard variable (Golub-Welsch): nodes, weights."""
        a, b = self.recurrence(n_points)
        if n_points == 1:
            return a[:1].copy(), np.ones(1)
        from scipy.linalg import eigh_tridiagonal

        nodes, vecs = eigh_tridiagonal(a, np.sqrt(b[1:]))
        weights = vecs[0] ** 2
        return nodes, weights / weights.sum()


def _jacobi_recurrence(n: int, al: float, be: float) -> tuple[np.ndarray, np.ndarray]:
    """Monic Jacobi recurrence for the weight ``(1 - z)^al (1 + z)^be`` normalised on [-1, 1]."""
    a = np.empty(n)
    b = np.empty(n)
    s = al + be
    for k in range(n):
        if k == 0:
            a[0] = (be - al) / (s + 2)
            b[0] = 1.0
            continue
        t = 2 * k + s
        a[k] = (be**2 - al**2) / (t * (t + 2))
        if k == 1:
            b[1] = 4 * (1 + al) * (1 + be) / ((2 + s) ** 2 * (3 + s))
        else:
            b[k] = 4 * k * (k + al) * (k + be) * (k + s) / (t**2 * (t + 1) * (t - 1))
    return a, b


def _stieltjes(x: np.ndarray, w: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Discretised Stieltjes procedure (Gautschi 2004, sec. 2.2.3), orthonormal variant."""
    a = np.zeros(n)
    b = np.ones(n)
    p_prev = np.zeros_like(x)
    p = np.ones_like(x)
    for k in range(n):
        a[k] = np.sum(w * x * p * p)
        q = (x - a[k]) * p - (math.sqrt(b[k]) if k else 0.0) * p_prev
        if k + 1 < n:
            nrm = np.sum(w * q * q)
            if not nrm > 0:
                raise ValueError("the discretised measure supports too few points")
            b[k + 1] = nrm
            p_prev, p = p, q / math.sqrt(nrm)
    return a, b


def basis_for(dist: Distribution) -> Basis1D:
    """The orthonormal basis and isoprobabilistic map for one marginal distribution."""
    kind, p = dist.kind, dist.params
    if kind == "uniform":
        return Basis1D("legendre", "affine", 0.5 * (p["low"] + p["high"]),
                       0.5 * (p["high"] - p["low"]))
    if kind == "normal":
        return Basis1D("hermite", "affine", p["mean"], p["std"])
    if kind == "lognormal":
        return Basis1D("hermite", "log", p["mu"], p["sigma"])
    if kind == "loguniform":
        lo, hi = math.log(p["low"]), math.log(p["high"])
        return Basis1D("legendre", "log", 0.5 * (lo + hi), 0.5 * (hi - lo))
    if kind == "gamma":
        return Basis1D("laguerre", "affine", 0.0, p["scale"], alpha=p["shape"] - 1)
    if kind == "beta":
        # Beta(a, b) on [low, high] -> z in [-1, 1] with weight (1 - z)^(b-1) (1 + z)^(a-1)
        return Basis1D("jacobi", "affine", 0.5 * (p["low"] + p["high"]),
                       0.5 * (p["high"] - p["low"]), alpha=p["beta"] - 1, beta=p["alpha"] - 1)
    lo, hi = dist.support
    if math.isfinite(lo) and math.isfinite(hi):
        # polynomials in x itself, orthonormalised numerically against the marginal
        return Basis1D("numeric", "affine", lo, hi - lo, dist=dist)
    return Basis1D("hermite", "probit", 0.0, 1.0, dist=dist)
