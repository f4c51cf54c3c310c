"""Proposal kernels of the calibration sampler (pure array code, no model calls).

Three moves; each step draws ONE move kind for the whole ensemble (with the
probabilities chosen during warm-up), so only that proposal is computed:

- an adaptive random walk with the pooled covariance of the warm-up history,
  scaled by ``2.38 / sqrt(d)`` and a Robbins-Monro factor aiming at 23.4 %
  acceptance (Haario, Saksman & Tamminen 2001; Roberts & Rosenthal 2009);
- an independence move drawing from a Gaussian mixture fitted by EM to the
  warm-up history, with a defensive component of weight 0.2 (Giordani & Kohn
  2010; Hesterberg 1995): the mixture fitted to the tempered part of the
  warm-up (likelihood to the power ``0.03 ** (2 / d)``, at most 0.1), which is
  wider than the posterior and follows its curvature, or before that the core
  mixture widened 2x. Where the posterior is close to a mixture of Gaussians,
  which is the common case of calibration posteriors, accepted independence
  moves decorrelate the chain in one step;
- a local random walk whose covariance is that of a mixture component drawn
  by its responsibility at the current point (proposal-density ratio included).

All walkers move at once (one batch of proposals per step), which is exact
because the kernels are fixed after warm-up and do not depend on the other
walkers; a random choice among kernels that each leave every walker's target
invariant is itself such a kernel (Tierney 1994, mixtures of kernels).

Mixture densities are evaluated for all components with one 2-D matrix
product (the whitening maps stacked as a ``(K d, d)`` matrix), components
first, so that the reductions over components run along the outer axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Kernel", "fit_mixture", "mixture_logpdf"]

# Mass of the independence proposal's defensive part (the tempered warm-up's mixture). Not
# the screening density's defensive weight (_screening.DEFENSIVE_WEIGHT), which widens the
# delayed-acceptance screen around a surrogate posterior: a different density, tuned apart.
# 0.1 here left the banana's x1 sd off by 3.3 Monte-Carlo errors on 1 of 10 seeds.
PROPOSAL_DEFENSIVE_WEIGHT = 0.2
_DEFENSIVE_SCALE = 2.0
# degrees of freedom of the defensive components (multivariate t): polynomial tails, so that
# walkers in a heavy tail (an inferred noise level with few data) are not stuck
_DEFENSIVE_DF = 3.0


RANDOM_WALK, INDEPENDENCE, LOCAL_WALK = 0, 1, 2
_KINDS: dict[tuple[int, int], np.ndarray] = {}  # read-only move-kind arrays by (kind, n)
# direct ufunc reductions (no method wrapper: these run several times per sampler step)
_max, _add, _any = np.maximum.reduce, np.add.reduce, np.logical_or.reduce
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
    # defensive mixture of the independence proposal (PROPOSAL_DEFENSIVE_WEIGHT): a mixture
    # fitted to the tempered warm-up once there is one, else the core widened 2x
    def_weights: np.ndarray | None = None
    def_means: np.ndarray | None = None
    def_chols: np.ndarray | None = None

    @classmethod
    def initial(cls, X: np.ndarray) -> Kernel:
        d = X.shape[1]
        return cls(chol=safe_cholesky(_robust_cov(X)), log_scale=0.0, log_scale_local=0.0,
                   probs=np.array([1.0, 0.0, 0.0]), mix_weights=np.ones(1),
                   mix_means=np.zeros((1, d)), mix_chols=np.eye(d)[None])

    @property
    def p_independence(self) -> float:
        return float(self.probs[INDEPENDENCE])

    def mix_inverse(self) -> tuple[np.ndarray, ...]:
        """Inverse Cholesky factors, log-determinants, log weights with the normalising
        terms, and the stacked whitening map of the core mixture (cached)."""
        if getattr(self, "_inv_src", None) is not self.mix_chols or (
                self._inv_w is not self.mix_weights):
            d = self.mix_chols.shape[1]
            inv = np.linalg.inv(self.mix_chols)
            logdet = np.sum(np.log(np.abs(np.diagonal(self.mix_chols, axis1=1, axis2=2))), axis=1)
            base = np.log(self.mix_weights) - logdet - 0.5 * d * math.log(2 * math.pi)
            self._inv = (inv, logdet, base) + _stacked(inv, self.mix_means)
            self._inv_src, self._inv_w = self.mix_chols, self.mix_weights
        return self._inv

    def proposal_mixture(self) -> tuple[np.ndarray, ...]:
        """The independence proposal as one mixture: log normalising terms, means, factors,
        inverse factors and cumulative weights (cached)."""
        cached = getattr(self, "_prop", None)
        if cached is not None:
            c = cached[0]
            if (c[0] is self.mix_chols and c[1] is self.mix_weights
                    and c[2] is self.def_chols):
                return cached[1]
        src = (self.mix_chols, self.mix_weights, self.def_chols)
        d = self.mix_means.shape[1]
        if self.def_weights is None:
            dw, dm = self.mix_weights, self.mix_means
            dc = _DEFENSIVE_SCALE * self.mix_chols
        else:
            dw, dm, dc = self.def_weights, self.def_means, self.def_chols
        dw_ = PROPOSAL_DEFENSIVE_WEIGHT
        w = np.concatenate([(1 - dw_) * self.mix_weights, dw_ * dw])
        means = np.concatenate([self.mix_means, dm])
        chols = np.concatenate([self.mix_chols, dc])
        inv = np.linalg.inv(chols)
        logdet = np.sum(np.log(np.abs(np.diagonal(chols, axis1=1, axis2=2))), axis=1)
        nc = len(self.mix_weights)
        base = np.log(w) - logdet - 0.5 * d * math.log(2 * math.pi)
        nu = _DEFENSIVE_DF
        base[nc:] += (math.lgamma((nu + d) / 2) - math.lgamma(nu / 2)
                      - 0.5 * d * math.log(nu / 2))  # multivariate t normalisation
        out = (base, means, chols, inv, np.cumsum(w)) + _stacked(inv, means) + (nc,)
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

        One move kind is drawn per step for the whole ensemble (a random
        mixture of kernels, each leaving every walker's target invariant, is
        itself a valid kernel), so only that kind's proposal is computed. The
        same amount of randomness is drawn whatever the move (two generator
        calls), so runs are reproducible step by step.
        """
        n, d = X.shape
        u = rng.random(n + 1)
        z = rng.standard_normal((n, d))
        p = self.probs.tolist()
        v = float(u[n]) * (p[0] + p[1] + p[2])
        kind = RANDOM_WALK if v < p[0] else (INDEPENDENCE if v < p[0] + p[1] else LOCAL_WALK)
        kinds = _KINDS.get((kind, n))
        if kinds is None:
            kinds = _KINDS[(kind, n)] = np.full(n, kind, dtype=np.int8)
            kinds.flags.writeable = False
        if kind == RANDOM_WALK:
            step = math.exp(self.log_scale) * 2.38 / math.sqrt(d)
            return X + (z @ (step * self.chol).T), np.zeros(n), kinds
        if kind == INDEPENDENCE:
            Y = self._draw_mixture(z, u[:n], rng.chisquare(_DEFENSIVE_DF, n))
            lq = mixture_logpdf(np.concatenate([X, Y]), self)
            return Y, lq[:n] - lq[n:], kinds
        Y, logq = self._local_walk(X, z, u[:n])
        return Y, logq, kinds

    def _components(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Log responsibilities (K, n) of the core mixture, and its inverse factors."""
        inv, logdet, base, A, b = self.mix_inverse()
        # base - 0.5 sq and then minus the log-sum-exp, in place (the same floats)
        logp = _sqnorms(X, A, b)
        logp *= -0.5
        logp += base[:, None]
        logp -= _lse(logp)
        return logp, inv, logdet

    def _local_walk(self, X, z, u):
        n, d = X.shape
        K = len(self.mix_weights)
        lr_x, inv, logdet = self._components(X)
        cum = np.cumsum(np.exp(lr_x), axis=0)
        k = np.minimum((cum < u * cum[-1]).sum(axis=0), K - 1)
        s = math.exp(self.log_scale_local) * 2.38 / math.sqrt(d)
        Y = X + s * np.matmul(self.mix_chols[k], z[:, :, None])[:, :, 0]
        lr_y, _, _ = self._components(Y)
        # log phi_k(y - x) for every component k: whitened jump under each factor
        A = self.mix_inverse()[3]
        logphi = _sqnorms((Y - X) / s, A, None)
        logphi *= -0.5
        logphi -= logdet[:, None]  # -logdet - 0.5 sq, in place
        lr_y += logphi
        lr_x += logphi
        return Y, _lse(lr_y) - _lse(lr_x)

    def _draw_mixture(self, z: np.ndarray, u: np.ndarray, g: np.ndarray) -> np.ndarray:
        _, means, chols, _, cum, _, _, nc = self.proposal_mixture()
        k = np.minimum(np.searchsorted(cum, u * cum[-1], side="right"), len(cum) - 1)
        # defensive components are multivariate t: z / sqrt(g / nu), g ~ chi2(nu)
        z = z * np.where(k >= nc, np.sqrt(_DEFENSIVE_DF / g), 1.0)[:, None]
        return means[k] + np.matmul(chols[k], z[:, :, None])[:, :, 0]


def _lse(a: np.ndarray) -> np.ndarray:
    """log-sum-exp over the first axis (components first: fast outer-axis reductions).

    Called several times per sampler step on small arrays, where the cost is the number
    of NumPy calls: the ufunc reductions are called directly, the exponentials are taken
    in one buffer, and the finiteness of the maxima is one scalar test (a sum is finite
    only if every term is; an overflowing sum takes the exact path, which then keeps
    every maximum).
    """
    top = _max(a, axis=0)
    if not math.isfinite(_add(top)):
        top = np.where(np.isfinite(top), top, 0.0)
    e = np.subtract(a, top)
    np.exp(e, out=e)
    s = _add(e, axis=0)
    np.log(s, out=s)
    s += top
    return s


def _stacked(inv: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The whitening maps ``x -> L_k^-1 (x - mu_k)`` of K components as one (K d, d) matrix
    and offset, so that all components are one 2-D matrix product."""
    K, d, _ = inv.shape
    A = np.ascontiguousarray(inv.reshape(K * d, d))
    b = np.einsum("kij,kj->ki", inv, means).reshape(K * d, 1)
    return A, b


def _sqnorms(X: np.ndarray, A: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """Squared norms (K, n) of the whitened points (``A``, ``b`` from :func:`_stacked`)."""
    n, d = X.shape
    r = A @ X.T
    if b is not None:
        r -= b
    r *= r
    return _add(r.reshape(-1, d, n), axis=1)


def mixture_logpdf(X: np.ndarray, kern: Kernel) -> np.ndarray:
    """Log density of the independence proposal (core mixture plus defensive mixture)."""
    base, _, _, _, _, A, b, nc = kern.proposal_mixture()
    sq = _sqnorms(X, A, b)
    d = X.shape[1]
    sq[:nc] *= -0.5
    sq[nc:] = -0.5 * (_DEFENSIVE_DF + d) * np.log1p(sq[nc:] / _DEFENSIVE_DF)
    sq += base[:, None]
    return _lse(sq)


def _robust_cov(X: np.ndarray) -> np.ndarray:
    d = X.shape[1]
    if X.shape[0] < 2:
        return np.eye(d)
    C = np.atleast_2d(np.cov(X, rowvar=False))
    scale = np.maximum(np.diag(C), 0)
    floor = 1e-10 * max(float(scale.max()), 1e-300)
    C = C + np.diag(np.maximum(1e-6 * scale, floor))
    return C


def safe_cholesky(C: np.ndarray) -> np.ndarray:
    """Cholesky factor of a covariance, with the smallest diagonal jitter that makes it work.

    The exact factor when ``C`` is positive definite; otherwise a jitter relative
    to each diagonal entry (``1e-12`` of it, growing 100-fold per failure), so a
    parameter on a much smaller scale than the others keeps its own variance (a
    jitter relative to the trace would swamp it). The diagonal's square roots
    when nothing works.
    """
    C = np.atleast_2d(C)
    diag = np.abs(np.diag(C))
    jitter = np.zeros_like(diag)
    for i in range(8):
        try:
            return np.linalg.cholesky(C + np.diag(jitter))
        except np.linalg.LinAlgError:
            jitter = 1e-12 * 100.0 ** i * np.maximum(diag, 1e-300)
    return np.diag(np.sqrt(diag + 1e-300))


def pooled_cholesky(X: np.ndarray) -> np.ndarray:
    """Cholesky factor of the (regularised) sample covariance of ``X``."""
    return safe_cholesky(_robust_cov(X))


def fit_mixture(X: np.ndarray, rng: np.random.Generator, *, max_components: int = 16,
                n_iter: int = 40, sizes: tuple[int, ...] = (1, 2, 4, 8),
                restarts: int = 1, score=None,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian mixture by EM with k-means++ starts; the number of components by BIC.

    Returns ``(weights, means, cholesky factors)``. Candidate sizes are 1, 2,
    4 and 8 components, capped so that every component has at least
    ``10 * d`` points. With ``score`` (a function of ``(w, mu, chols)``, lower
    is better) the candidates (``restarts`` EM runs per size) are ranked by it
    instead of by BIC.
    """
    n, d = X.shape
    best = None
    for K in sizes:
        if K > max_components or (K > 1 and n < 10 * d * K):
            break
        for _ in range(restarts if K > 1 else 1):
            fit = _em(X, K, rng, n_iter)
            if fit is None:
                continue
            loglik, w, mu, chols = fit
            if score is None:
                k_fit = len(w)  # collapsed components were dropped
                n_par = k_fit * (d + d * (d + 1) / 2) + k_fit - 1
                crit = -2 * loglik + n_par * math.log(n)
            else:
                crit = score(w, mu, chols)
            if best is None or crit < best[0]:
                best = (crit, w, mu, chols)
    if best is None:
        return np.ones(1), X.mean(0)[None], pooled_cholesky(X)[None]
    return best[1], best[2], best[3]


def _em(X: np.ndarray, K: int, rng: np.random.Generator, n_iter: int):
    """EM for a K-component Gaussian mixture; ``(log-likelihood, w, mu, chols)`` or None.

    Works on standardised points; the E-step whitens all components with one 2-D
    matrix product and the M-step takes second moments from the precomputed
    outer products (one matrix product), so an iteration is a handful of array
    operations whatever K.
    """
    n, d = X.shape
    # k-means++ seeding
    centers = [X[rng.integers(n)]]
    dist2 = None
    for _ in range(1, K):
        # squared distance to the nearest center, updated with the newest center only
        # (a running minimum: the same values as the minimum over all centers)
        new = np.sum((X - centers[-1]) ** 2, axis=1)
        dist2 = new if dist2 is None else np.minimum(dist2, new)
        total = dist2.sum()
        if not total > 0:
            return None
        centers.append(X[np.searchsorted(np.cumsum(dist2), rng.random() * total)])
    loc = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    Z = (X - loc) / scale
    lab = np.argmin(((X[:, None, :] - np.array(centers)[None]) ** 2).sum(-1), axis=1)
    R = np.zeros((K, n))
    R[lab, np.arange(n)] = 1.0
    ZZ = (Z[:, :, None] * Z[:, None, :]).reshape(n, d * d)
    prev = -np.inf
    const = 0.5 * d * math.log(2 * math.pi)
    jitter = 1e-9 * np.eye(d)
    for _ in range(n_iter):
        Nk = _add(R, axis=1)
        small = Nk < d + 1
        if _any(small):  # drop collapsed components, give their points to the others
            if small.all():
                return None
            R = R[~small]
            tot = R.sum(0)
            R = np.where(tot > 0, R / np.where(tot > 0, tot, 1.0), 1.0 / len(R))
            K = len(R)
            Nk = R.sum(1)
            if np.any(Nk < d + 1):
                return None
        w = Nk / n
        RT = R / Nk[:, None]
        mu = RT @ Z
        C = (RT @ ZZ).reshape(K, d, d) - mu[:, :, None] * mu[:, None, :]
        try:
            chols = np.linalg.cholesky(C + jitter)
        except np.linalg.LinAlgError:
            return None
        inv = np.linalg.inv(chols)
        A, b = _stacked(inv, mu)
        logdet = _add(np.log(np.diagonal(chols, axis1=1, axis2=2)), axis=1)
        # log p = base - 0.5 sq, computed in place as (-0.5 sq) + base (the same floats)
        logp = _sqnorms(Z, A, b)  # (K, n)
        logp *= -0.5
        logp += (np.log(w) - logdet - const)[:, None]
        tot = _lse(logp)
        ll = float(_add(tot))
        np.subtract(logp, tot, out=logp)
        R = np.exp(logp, out=logp)
        if ll - prev < 1e-5 * abs(ll):
            break
        prev = ll
    # back to the original coordinates: x = loc + scale * z
    ll -= n * float(np.sum(np.log(scale)))
    return ll, w, loc + scale * mu, scale[None, :, None] * chols
