"""Proposal kernels of the calibration sampler (pure array code, no model calls).

Two moves, mixed with probabilities chosen during warm-up:

- an adaptive random walk with the pooled covariance of the warm-up history,
  scaled by ``2.38 / sqrt(d)`` and a Robbins-Monro factor aiming at 23.4 %
  acceptance (Haario, Saksman & Tamminen 2001; Roberts & Rosenthal 2009);
- an independence move drawing from a Gaussian mixture fitted by EM to the
  warm-up history, with a defensive component of weight 0.1 (Giordani & Kohn
  2010; Hesterberg 1995): the mixture fitted to the tempered part of the
  warm-up (likelihood to the power 0.1), which is wider than the posterior and
  follows its curvature, or before that the core mixture widened 2x. Where
  the posterior is close to a mixture of Gaussians, which is the common case
  of calibration posteriors, accepted independence moves decorrelate the
  chain in one step.

All walkers move at once (one batch of proposals per step), which is exact
because both kernels are fixed after warm-up and do not depend on the other
walkers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Kernel", "fit_mixture", "mixture_logpdf"]

_DEFENSIVE_WEIGHT = 0.1
_DEFENSIVE_SCALE = 2.0


RANDOM_WALK, INDEPENDENCE, LOCAL_WALK = 0, 1, 2
MOVE_NAMES = ("random_walk", "independence", "local_walk")


@dataclass
class Kernel:
    """Adaptable proposal state (arrays only, so it checkpoints as data).

    Moves: a random walk with the pooled covariance (``RANDOM_WALK``), an
    independence draw from the fitted mixture (``INDEPENDENCE``), and a
    local random walk whose covariance is that of a mixture component drawn
    by its responsibility at the current point (``LOCAL_WALK``; the proposal
    density ratio is included, so it follows curved posteriors exactly).
    """

    chol: np.ndarray            # (d, d) Cholesky factor of the random-walk covariance
    log_scale: float            # Robbins-Monro factor on top of 2.38 / sqrt(d)
    log_scale_local: float      # the same for the local walk
    probs: np.ndarray           # (3,) move probabilities
    mix_weights: np.ndarray     # (K,)
    mix_means: np.ndarray       # (K, d)
    mix_chols: np.ndarray       # (K, d, d)
    # defensive mixture of the independence proposal (weight _DEFENSIVE_WEIGHT): a mixture
    # fitted to the tempered warm-up once there is one, else the core widened 2x
    def_weights: np.ndarray | None = None
    def_means: np.ndarray | None = None
    def_chols: np.ndarray | None = None

    @classmethod
    def initial(cls, X: np.ndarray) -> Kernel:
        d = X.shape[1]
        return cls(chol=_chol(_robust_cov(X)), log_scale=0.0, log_scale_local=0.0,
                   probs=np.array([1.0, 0.0, 0.0]), mix_weights=np.ones(1),
                   mix_means=np.zeros((1, d)), mix_chols=np.eye(d)[None])

    @property
    def p_independence(self) -> float:
        return float(self.probs[INDEPENDENCE])

    def mix_inverse(self) -> tuple[np.ndarray, np.ndarray]:
        """Inverse Cholesky factors and log-determinants of the mixture (cached)."""
        if getattr(self, "_inv_src", None) is not self.mix_chols:
            inv = np.linalg.inv(self.mix_chols)
            logdet = np.sum(np.log(np.abs(np.diagonal(self.mix_chols, axis1=1, axis2=2))), axis=1)
            self._inv = (inv, logdet)
            self._inv_src = self.mix_chols
        return self._inv

    def proposal_mixture(self) -> tuple[np.ndarray, ...]:
        """The independence proposal as one mixture: log normalising terms, means, factors,
        inverse factors and cumulative weights (cached)."""
        src = (self.mix_chols, self.mix_weights, self.def_chols)
        cached = getattr(self, "_prop", None)
        if cached is not None and all(a is b for a, b in zip(cached[0], src)):
            return cached[1]
        d = self.mix_means.shape[1]
        if self.def_weights is None:
            dw, dm = self.mix_weights, self.mix_means
            dc = _DEFENSIVE_SCALE * self.mix_chols
        else:
            dw, dm, dc = self.def_weights, self.def_means, self.def_chols
        w = np.concatenate([(1 - _DEFENSIVE_WEIGHT) * self.mix_weights, _DEFENSIVE_WEIGHT * dw])
        means = np.concatenate([self.mix_means, dm])
        chols = np.concatenate([self.mix_chols, dc])
        inv = np.linalg.inv(chols)
        logdet = np.sum(np.log(np.abs(np.diagonal(chols, axis1=1, axis2=2))), axis=1)
        out = (np.log(w) - logdet - 0.5 * d * math.log(2 * math.pi), means, chols, inv,
               np.cumsum(w))
        self._prop = (src, out)
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {"k_chol": self.chol,
               "k_scalars": np.array([self.log_scale, self.log_scale_local]),
               "k_probs": self.probs,
               "k_mix_weights": self.mix_weights, "k_mix_means": self.mix_means,
               "k_mix_chols": self.mix_chols}
        if self.def_weights is not None:
            out.update(k_def_weights=self.def_weights, k_def_means=self.def_means,
                       k_def_chols=self.def_chols)
        return out

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> Kernel:
        get = (lambda k: np.array(a[k]) if k in a else None)  # noqa: E731
        return cls(chol=np.array(a["k_chol"]), log_scale=float(a["k_scalars"][0]),
                   log_scale_local=float(a["k_scalars"][1]), probs=np.array(a["k_probs"]),
                   mix_weights=np.array(a["k_mix_weights"]), mix_means=np.array(a["k_mix_means"]),
                   mix_chols=np.array(a["k_mix_chols"]), def_weights=get("k_def_weights"),
                   def_means=get("k_def_means"), def_chols=get("k_def_chols"))

    def propose(self, X: np.ndarray, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Proposals for every walker: ``(Y, log q-ratio, move kind)``.

        The same amount of randomness is drawn whatever the moves, so runs are
        reproducible step by step.
        """
        n, d = X.shape
        u = rng.random(n)
        z = rng.standard_normal((n, d))
        comp_u = rng.random(n)
        cum = np.cumsum(self.probs)
        kind = np.minimum(np.searchsorted(cum, u * cum[-1], side="right"), 2)
        step = math.exp(self.log_scale) * 2.38 / math.sqrt(d)
        Y = X + step * (z @ self.chol.T)
        logq = np.zeros(n)
        ind = kind == INDEPENDENCE
        m = int(ind.sum())
        if m:
            Yi = self._draw_mixture(z[ind], comp_u[ind])
            Y[ind] = Yi
            lq = mixture_logpdf(np.concatenate([X[ind], Yi]), self)
            logq[ind] = lq[:m] - lq[m:]
        loc = kind == LOCAL_WALK
        if loc.any():
            Y[loc], logq[loc] = self._local_walk(X[loc], z[loc], comp_u[loc])
        return Y, logq, kind

    def _components(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Log responsibilities (K, n) of the core mixture, and its inverse factors."""
        d = X.shape[1]
        inv, logdet = self.mix_inverse()
        D = X[None, :, :] - self.mix_means[:, None, :]
        r = np.matmul(D, np.swapaxes(inv, 1, 2))
        logp = (np.log(self.mix_weights)[:, None] - logdet[:, None]
                - 0.5 * (r * r).sum(axis=2) - 0.5 * d * math.log(2 * math.pi))
        top = logp.max(axis=0)
        top = np.where(np.isfinite(top), top, 0.0)
        return logp - (top + np.log(np.exp(logp - top).sum(axis=0))), inv, logdet

    def _local_walk(self, X, z, u):
        n, d = X.shape
        K = len(self.mix_weights)
        lr_x, inv, logdet = self._components(X)
        cum = np.cumsum(np.exp(lr_x), axis=0)
        k = np.minimum((cum < u * cum[-1]).sum(axis=0), K - 1)
        s = math.exp(self.log_scale_local) * 2.38 / math.sqrt(d)
        Y = X + s * np.matmul(self.mix_chols[k], z[:, :, None])[:, :, 0]
        lr_y, _, _ = self._components(Y)
        r = np.matmul((Y - X) / s, np.swapaxes(inv, 1, 2))
        logphi = -logdet[:, None] - 0.5 * (r * r).sum(axis=2)
        a = lr_y + logphi
        b = lr_x + logphi
        return Y, _lse(a) - _lse(b)

    def _draw_mixture(self, z: np.ndarray, u: np.ndarray) -> np.ndarray:
        _, means, chols, _, cum = self.proposal_mixture()
        k = np.minimum(np.searchsorted(cum, u * cum[-1], side="right"), len(cum) - 1)
        return means[k] + np.matmul(chols[k], z[:, :, None])[:, :, 0]


def _lse(a: np.ndarray) -> np.ndarray:
    top = a.max(axis=0)
    top = np.where(np.isfinite(top), top, 0.0)
    return top + np.log(np.exp(a - top).sum(axis=0))


def mixture_logpdf(X: np.ndarray, kern: Kernel) -> np.ndarray:
    """Log density of the independence proposal (core mixture plus defensive mixture)."""
    base, means, _, inv, _ = kern.proposal_mixture()
    D = X[None, :, :] - means[:, None, :]                     # (K, n, d)
    r = np.matmul(D, np.swapaxes(inv, 1, 2))
    return _lse(base[:, None] - 0.5 * (r * r).sum(axis=2))


def _robust_cov(X: np.ndarray) -> np.ndarray:
    d = X.shape[1]
    if X.shape[0] < 2:
        return np.eye(d)
    C = np.atleast_2d(np.cov(X, rowvar=False))
    scale = np.maximum(np.diag(C), 0)
    floor = 1e-10 * max(float(scale.max()), 1e-300)
    C = C + np.diag(np.maximum(1e-6 * scale, floor))
    return C


def _chol(C: np.ndarray) -> np.ndarray:
    d = C.shape[0]
    jitter = 0.0
    for _ in range(12):
        try:
            return np.linalg.cholesky(C + jitter * np.eye(d))
        except np.linalg.LinAlgError:
            jitter = max(jitter * 10, 1e-12 * max(float(np.trace(C)) / d, 1e-300))
    return np.diag(np.sqrt(np.maximum(np.diag(C), 1e-300)))


def pooled_cholesky(X: np.ndarray) -> np.ndarray:
    """Cholesky factor of the (regularised) sample covariance of ``X``."""
    return _chol(_robust_cov(X))


def fit_mixture(X: np.ndarray, rng: np.random.Generator, *, max_components: int = 8,
                n_iter: int = 40, sizes: tuple[int, ...] = (1, 2, 4, 8),
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian mixture by EM with k-means++ starts; the number of components by BIC.

    Returns ``(weights, means, cholesky factors)``. Candidate sizes are 1, 2,
    4 and 8 components, capped so that every component has at least
    ``10 * d`` points.
    """
    n, d = X.shape
    best = None
    for K in sizes:
        if K > max_components or (K > 1 and n < 10 * d * K):
            break
        fit = _em(X, K, rng, n_iter)
        if fit is None:
            continue
        loglik, w, mu, chols = fit
        n_par = K * (d + d * (d + 1) / 2) + K - 1
        bic = -2 * loglik + n_par * math.log(n)
        if best is None or bic < best[0]:
            best = (bic, w, mu, chols)
    if best is None:
        return np.ones(1), X.mean(0)[None], pooled_cholesky(X)[None]
    return best[1], best[2], best[3]


def _em(X: np.ndarray, K: int, rng: np.random.Generator, n_iter: int):
    n, d = X.shape
    # k-means++ seeding
    centers = [X[rng.integers(n)]]
    for _ in range(1, K):
        dist2 = np.min([np.sum((X - c) ** 2, axis=1) for c in centers], axis=0)
        total = dist2.sum()
        if not total > 0:
            return None
        centers.append(X[np.searchsorted(np.cumsum(dist2), rng.random() * total)])
    mu = np.array(centers)
    lab = np.argmin(((X[:, None, :] - mu[None]) ** 2).sum(-1), axis=1)
    R = np.zeros((n, K))
    R[np.arange(n), lab] = 1.0
    prev = -np.inf
    const = 0.5 * d * math.log(2 * math.pi)
    eye = np.eye(d)
    for _ in range(n_iter):
        Nk = R.sum(0) + 1e-12
        if np.any(Nk < d + 1):
            return None
        w = Nk / n
        mu = (R.T @ X) / Nk[:, None]
        D = X[None, :, :] - mu[:, None, :]                                  # (K, n, d)
        C = np.matmul(np.swapaxes(D * R.T[:, :, None], 1, 2), D) / Nk[:, None, None]
        C = C + eye * (1e-9 * np.maximum(np.trace(C, axis1=1, axis2=2) / d, 1e-300))[:, None,
                                                                                     None]
        try:
            chols = np.linalg.cholesky(C)
        except np.linalg.LinAlgError:
            return None
        r = np.matmul(D, np.swapaxes(np.linalg.inv(chols), 1, 2))           # (K, n, d)
        logdet = np.log(np.diagonal(chols, axis1=1, axis2=2)).sum(axis=1)
        logp = (np.log(w) - logdet - const)[None, :] - 0.5 * (r * r).sum(axis=2).T  # (n, K)
        tot = _lse(logp.T)
        ll = float(tot.sum())
        R = np.exp(logp - tot[:, None])
        if ll - prev < 1e-5 * abs(ll):
            break
        prev = ll
    return ll, w, mu, chols
