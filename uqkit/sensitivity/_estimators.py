"""Pick-freeze estimators of Sobol' indices and their vectorised bootstrap.

Every estimator here is a smooth function of sample *means* of per-base-sample
quantities (products and squares of ``f(A)``, ``f(B)``, ``f(AB_i)``,
``f(BA_i)``). We therefore compute the quantity matrix ``Q`` (one row per base
sample) once, and obtain the point estimate from ``Q.mean(0)`` and every
bootstrap replicate from a weighted mean ``W @ Q`` (one matrix product for all
resamples), then apply the same ``finish`` map to both. No Python loop over
resamples, and the point estimate and the replicates share one code path.

Layout: ``fA, fB`` have shape ``(n, m)`` (m outputs); ``fAB, fBA`` have shape
``(d, n, m)`` where ``AB_i`` is ``A`` with column ``i`` taken from ``B`` and
``BA_i`` is ``B`` with column ``i`` taken from ``A``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ESTIMATORS", "Estimate", "N_GROUPS", "estimate", "group_sums", "bootstrap_moments"]

#: method -> (first-order reference, total-order reference)
ESTIMATORS: dict[str, tuple[str, str]] = {
    "saltelli_2010": ("Saltelli et al. (2010), Table 2 (b)",
                      "Jansen (1999); Saltelli et al. (2010), Table 2 (f)"),
    "jansen_1999": ("Jansen (1999); Saltelli et al. (2010), Table 2 (c)",
                    "Jansen (1999); Saltelli et al. (2010), Table 2 (f)"),
    "janon_2014": ("Janon et al. (2014), asymptotically efficient", "Janon et al. (2014)"),
}
SECOND_ORDER_REFERENCE = "Saltelli (2002)"


@dataclass
class Estimate:
    """Numerators and denominators (original output units), shape ``(..., d, m)``.

    Indices are ``num / den``; aggregated indices over a group of columns are
    ``num[..., g].sum(-1) / den[..., g].sum(-1)`` (Gamboa et al. 2014).
    ``second`` holds second-order indices, shape ``(..., n_pairs, m)``, or None.
    ``variance`` has shape ``(..., m)``.
    """

    first_num: np.ndarray
    first_den: np.ndarray
    total_num: np.ndarray
    total_den: np.ndarray
    variance: np.ndarray
    second: np.ndarray | None = None

    @property
    def first(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.first_num / self.first_den

    @property
    def total(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.total_num / self.total_den

    def aggregated(self, columns) -> tuple[np.ndarray, np.ndarray]:
        """Variance-weighted (generalised) first and total indices over ``columns``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            s1 = self.first_num[..., columns].sum(-1) / self.first_den[..., columns].sum(-1)
            st = self.total_num[..., columns].sum(-1) / self.total_den[..., columns].sum(-1)
        return s1, st


class _Quantities:
    """The quantity matrix ``Q`` (n, q) and the map from its column means to indices."""

    def __init__(self, fA, fB, fAB, fBA, method: str):
        n, m = fA.shape
        d = fAB.shape[0]
        self.method, self.n, self.m, self.d = method, n, m, d
        # Standardise each output column (indices are invariant to shift and scale;
        # this keeps the products well conditioned, as SALib does). Constant columns
        # get scale 1 and end with zero variance, i.e. NaN indices.
        loc = (fA.sum(0) + fB.sum(0)) / (2 * n)
        a = fA - loc
        b = fB - loc
        scale = np.sqrt(((a * a).sum(0) + (b * b).sum(0)) / (2 * n))
        scale = np.where(scale > 0, scale, 1.0)
        self.loc, self.scale2 = loc, scale**2
        a /= scale
        b /= scale
        ab = (fAB - loc) / scale
        blocks: list[tuple[str, np.ndarray]] = [
            ("m1", 0.5 * (a + b)[None]), ("m2", 0.5 * (a * a + b * b)[None])]
        if method == "saltelli_2010":
            blocks.append(("first", b[None] * (ab - a[None])))
        elif method == "jansen_1999":
            blocks.append(("first", 0.5 * (b[None] - ab) ** 2))
        else:  # janon_2014: pairs (f(B), f(AB_i)) share x_i
            blocks += [("f_prod", b[None] * ab), ("f_m1", 0.5 * (b[None] + ab)),
                       ("f_m2", 0.5 * (b[None] ** 2 + ab**2))]
        blocks.append(("total", 0.5 * (a[None] - ab) ** 2))
        if method == "janon_2014":  # pairs (f(A), f(AB_i)) share all but x_i
            blocks += [("t_m1", 0.5 * (a[None] + ab)), ("t_m2", 0.5 * (a[None] ** 2 + ab**2))]
        self.pairs = None
        if fBA is not None:
            ba = (fBA - loc) / scale
            ii, jj = np.triu_indices(d, 1)
            self.pairs = (ii, jj)
            blocks.append(("second", ba[ii] * ab[jj] - (a * b)[None]))
        self.slices: dict[str, tuple[slice, int]] = {}
        start = 0
        for name, blk in blocks:
            k = blk.shape[0]
            self.slices[name] = (slice(start, start + k * m), k)
            start += k * m
        self.Q = np.empty((n, start))
        for name, blk in blocks:  # Q[i, block columns] = blk[:, i, :] flattened
            sl, k = self.slices[name]
            self.Q[:, sl].reshape(n, k, m)[...] = np.moveaxis(blk, 0, 1)

    def _get(self, M: np.ndarray, name: str) -> np.ndarray:
        sl, k = self.slices[name]
        return M[..., sl].reshape(*M.shape[:-1], k, self.m)

    def finish(self, M: np.ndarray) -> Estimate:
        """Map column means ``M`` (..., q) to an :class:`Estimate`."""
        g = self._get
        m1 = g(M, "m1")
        var = g(M, "m2") - m1**2  # (..., 1, m)
        s2 = self.scale2
        total_num = g(M, "total")
        total_den = np.broadcast_to(var, total_num.shape)
        if self.method == "saltelli_2010":
            first_num = g(M, "first")
            first_den = total_den
        elif self.method == "jansen_1999":
            first_num = var - g(M, "first")
            first_den = total_den
        else:
            fm1 = g(M, "f_m1")
            first_num = g(M, "f_prod") - fm1**2
            first_den = g(M, "f_m2") - fm1**2
            total_den = g(M, "t_m2") - g(M, "t_m1") ** 2
        second = None
        if self.pairs is not None:
            ii, jj = self.pairs
            with np.errstate(invalid="ignore", divide="ignore"):
                s1 = first_num / first_den
                second = g(M, "second") / var - s1[..., ii, :] - s1[..., jj, :]
        return Estimate(first_num * s2, first_den * s2, total_num * s2, total_den * s2,
                        var[..., 0, :] * s2, second)


#: Above this many base samples the bootstrap resamples the sums of a random partition
#: of the base samples into this many groups instead of the samples themselves (see
#: bootstrap_moments for why 1024 groups cost the intervals almost no precision).
N_GROUPS = 1024
#: Multiply-adds per weight-matrix product. OpenBLAS splits a product of M*N*K
#: multiply-adds over floor(M*N*K / 2^18) threads (SMP_THRESHOLD_MIN *
#: GEMM_MULTITHREAD_THRESHOLD), and on a loaded machine the second thread may not get a
#: core for a whole time slice. Measured on the 2-core benchmark machine at load 4, 1000
#: resamples x 2048 groups x 10 columns: 0.66 ms in single-threaded products of 0.51M,
#: but a median of 31 ms (p90 0.22 s) in products of 1.4M. Below 2^19 stays on one thread.
_MACS_PER_PRODUCT = 500_000


def estimate(fA, fB, fAB, fBA=None, *, method="saltelli_2010", n_resamples=0, rng=None,
             n_groups=N_GROUPS) -> tuple[Estimate, Estimate | None, np.ndarray]:
    """Point estimate, (optionally) ``n_resamples`` bootstrap replicates, output means.

    Returns ``(point, replicates, mean)``; ``replicates`` has a leading axis of length
    ``n_resamples`` (None when ``n_resamples == 0``); ``mean`` is the mean of ``f(A)``
    and ``f(B)`` per output.
    """
    qs = _Quantities(fA, fB, fAB, fBA, method)
    mean = qs.Q.mean(0)
    point = qs.finish(mean)
    if not n_resamples:
        return point, None, qs.loc
    sums, counts = group_sums(qs.Q, n_groups, rng)
    M = bootstrap_moments(sums, counts, mean, n_resamples, rng)
    return point, qs.finish(M), qs.loc


def group_sums(Q: np.ndarray, n_groups: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """Column sums of ``Q`` over a random partition of its rows into ``n_groups`` groups.

    Returns ``(sums, counts)``: ``sums`` is ``(G, q)``, ``counts`` the rows per group
    (sizes differ by at most one). With at most ``n_groups`` rows, every row is its
    own group (``Q`` itself, counts 1) and no random numbers are drawn.
    """
    n, q = Q.shape
    if n <= n_groups:
        return Q, np.ones(n)
    per, extra = divmod(n, n_groups)
    perm = rng.permutation(n)
    full = per * n_groups
    sums = Q[perm[:full]].reshape(per, n_groups, q).sum(0)
    counts = np.full(n_groups, float(per))
    if extra:
        sums[:extra] += Q[perm[full:]]
        counts[:extra] += 1
    return sums, counts


def bootstrap_moments(sums: np.ndarray, counts: np.ndarray, mean: np.ndarray,
                      n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of the column means, resampling the groups behind ``sums``.

    ``sums[g]`` is the sum of the per-base-sample quantities over group ``g`` (a group
    of ``counts[g]`` base samples; one base sample per group for small designs) and
    ``mean`` the overall column means. Returns ``(n_resamples, q)`` replicate means.

    Notes
    -----
    *Groups.* Every estimator here is a smooth function of column means of the
    per-base-sample quantity matrix ``Q``. Split the ``n`` base samples at random into
    ``G`` groups of (nearly) equal size: the ``G`` group means are then i.i.d. (given
    i.i.d. base samples), each with variance ``sigma^2 / (n / G)``, so their mean, the
    full-sample mean, has variance ``sigma^2 / n`` whatever ``G``. Resampling the
    groups is the random-group (cluster) bootstrap of Wolter (2007, ch. 2) and
    Davison & Hinkley (1997, sec. 3.8): valid for smooth functions of means as ``G``
    grows, at a cost of ``R * G`` instead of ``R * n`` multiply-adds per column. The
    price is a noisier bootstrap variance: ``G`` groups estimate it with relative
    standard deviation ``sqrt(2 / G)``, so the interval width varies by about
    ``1 / sqrt(2 G)``, 2.2% at ``G = 1024``. The resampling itself already adds
    ``0.96 / sqrt(R)`` (3.0% for R = 1000 percentile half-widths: the 2.5% quantile of R
    normal draws has standard error ``2.67 sigma / sqrt(R)``), so 1024 groups raise the
    total Monte-Carlo error of the widths from 3.0% to 3.8%, while halving the cost of
    2048 groups (the bootstrap must cost less than the point estimate it qualifies,
    which at n = 2^11 takes about 1.5 ms).
    ``tests/test_sobol_bootstrap.py`` checks the coverage of the intervals over
    independent Monte-Carlo designs and compares their widths with Efron's row
    bootstrap.

    *Weights.* Each resample weights the groups by i.i.d. Bernoulli(1/2) variables and
    takes the self-normalised mean (the mean over a random half of the groups). This
    is an exchangeably weighted bootstrap whose weights, like Efron's multinomial
    ones, have coefficient of variation 1, so it reproduces the bootstrap variance to
    first order for smooth functions of means (Praestgaard & Wellner 1993). A weight
    costs one random *bit* (``np.unpackbits``), far less than a multinomial count
    (measured 17 ms for 1000 x 2048 counts with ``integers`` + ``bincount``, against
    0.3 ms of bits). The products run in float32 on centred sums (rounding about 1e-6
    of the bootstrap spread), in products small enough to stay single-threaded.

    References
    ----------
    Davison, A. C. & Hinkley, D. V. (1997). Bootstrap Methods and their Application,
    sec. 3.8 (resampling clusters). Cambridge University Press.
    Praestgaard, J. & Wellner, J. A. (1993). Exchangeably weighted bootstraps of the
    general empirical process. Ann. Probab. 21(4), 2053-2086.
    Wolter, K. M. (2007). Introduction to Variance Estimation, 2nd ed., ch. 2 (the
    method of random groups). Springer.
    """
    G, q = sums.shape
    A = np.empty((G, q + 1), dtype=np.float32)
    np.subtract(sums, counts[:, None] * mean, out=A[:, :q], casting="same_kind")
    A[:, q] = counts  # the last column of W @ A counts the selected base samples
    n_bytes = (G + 7) // 8
    words = rng.integers(0, 2**64 - 1, size=-(-n_resamples * n_bytes // 8), dtype=np.uint64,
                         endpoint=True)  # (whole 64-bit words: 2.4x faster than bytes)
    bits = words.astype("<u8").view(np.uint8)[:n_resamples * n_bytes].reshape(
        n_resamples, n_bytes)
    # products of at most _MACS_PER_PRODUCT multiply-adds: `rows` resamples (at least 2:
    # a 1-row product is a threaded gemv) times `cols` columns of A
    rows = max(2, _MACS_PER_PRODUCT // (G * (q + 1)))
    cols = max(1, _MACS_PER_PRODUCT // (G * rows))
    out = np.empty((n_resamples, q + 1))
    buf = np.empty((min(rows, n_resamples), G), dtype=np.float32)  # (stays in cache)
    for r0 in range(0, n_resamples, rows):
        chunk = bits[r0:r0 + rows]
        W = buf[:len(chunk)]
        np.copyto(W, np.unpackbits(chunk, axis=1, count=G), casting="unsafe")
        for c0 in range(0, q + 1, cols):
            out[r0:r0 + rows, c0:c0 + cols] = W @ A[:, c0:c0 + cols]
    with np.errstate(invalid="ignore", divide="ignore"):  # (no group selected: tiny G)
        M = out[:, :q] / out[:, q:]
    M += mean
    return M
