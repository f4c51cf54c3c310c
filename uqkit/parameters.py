"""Named, ordered, independent uncertain inputs."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from scipy.stats import qmc

from ._errors import InvalidParameterError
from ._validation import as_2d_float, check_int, check_names, fail, normalize_rng
from .distributions import Distribution, as_distribution

__all__ = ["Parameters", "make_qmc_engine"]

_METHODS = ("sobol", "lhs", "random")


def make_qmc_engine(kind: str, d: int, rng: np.random.Generator, *, scramble: bool = True):
    """Build a scipy QMC engine seeded from ``rng`` (handles scipy's seed/rng rename)."""
    cls = {"sobol": qmc.Sobol, "lhs": qmc.LatinHypercube, "halton": qmc.Halton}[kind]
    kwargs: dict[str, Any] = {}
    if kind in ("sobol", "halton"):
        kwargs["scramble"] = scramble
    try:
        return cls(d, rng=rng, **kwargs)
    except TypeError:  # scipy < 1.15 spells it ``seed``
        return cls(d, seed=rng, **kwargs)


class Parameters(Mapping):
    """Ordered, named, independent uncertain inputs.

    Parameters
    ----------
    mapping : mapping of str to distribution, optional
        Parameter names to distributions (uqkit distributions or frozen
        ``scipy.stats`` continuous distributions), in order.
    **named
        More parameters as keyword arguments (appended after ``mapping``).

    Raises
    ------
    InvalidParameterError
        If a name is not an identifier, names clash (also case-insensitively),
        a distribution is invalid, or no parameter is given.

    Examples
    --------
    >>> import uqkit
    >>> p = uqkit.Parameters(k=uqkit.Uniform(0, 1), D=uqkit.Normal(2.0, 0.1))
    >>> p.names
    ('k', 'D')
    >>> p.sample(4, rng=0).shape
    (4, 2)
    """

    def __init__(self, mapping: Mapping[str, Any] | None = None, /, **named: Any) -> None:
        items: list[tuple[str, Any]] = []
        if mapping is not None:
            if isinstance(mapping, Parameters):
                items.extend(mapping.items())
            elif isinstance(mapping, Mapping):
                items.extend(mapping.items())
            else:
                fail("Parameters", "mapping", "a mapping of names to distributions",
                     type(mapping).__name__)
        items.extend(named.items())
        if not items:
            raise InvalidParameterError("Parameters needs at least one named parameter.")
        names = [k for k, _ in items]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            fail("Parameters", "names", "unique", dup, "Each name may appear once.")
        check_names("Parameters", "names", names)
        self._names = tuple(names)
        self._dists = tuple(as_distribution(v, name=k) for k, v in items)

    # -- mapping protocol ------------------------------------------------------
    def __getitem__(self, name: str) -> Distribution:
        try:
            return self._dists[self._names.index(name)]
        except ValueError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Parameters):
            return NotImplemented
        return self._names == other._names and self._dists == other._dists

    def __hash__(self) -> int:
        return hash((self._names, self._dists))

    def __reduce__(self):
        return (Parameters, (dict(zip(self._names, self._dists)),))

    # -- attributes --------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names, in order."""
        return self._names

    @property
    def distributions(self) -> tuple[Distribution, ...]:
        """Marginal distributions, in the order of :attr:`names`."""
        return self._dists

    @property
    def dim(self) -> int:
        """Number of parameters."""
        return len(self._names)

    @property
    def bounds(self) -> np.ndarray:
        """Support of each parameter, shape ``(d, 2)`` (``inf`` where unbounded)."""
        return np.array([d.support for d in self._dists], dtype=float)

    @property
    def mean(self) -> np.ndarray:
        """Mean of each marginal, shape ``(d,)``."""
        return np.array([d.mean for d in self._dists])

    @property
    def std(self) -> np.ndarray:
        """Standard deviation of each marginal, shape ``(d,)``."""
        return np.array([d.std for d in self._dists])

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """JSON-serialisable description (names in order)."""
        return {n: d.to_dict() for n, d in zip(self._names, self._dists)}

    def subset(self, names) -> Parameters:
        """The parameters named in ``names`` (in that order)."""
        return Parameters({n: self[n] for n in names})

    # -- sampling ------------------------------------------------------------------
    def sample(self, n: int, *, method: str = "sobol", rng: Any = None) -> np.ndarray:
        """Draw ``n`` points, shape ``(n, d)``.

        Parameters
        ----------
        n : int
            Number of points (>= 1). Scrambled Sobol' points keep their balance
            properties only for powers of two; other ``n`` are allowed.
        method : {"sobol", "lhs", "random"}
            Scrambled Sobol' (randomised QMC, default), Latin hypercube, or plain
            Monte Carlo. Points are mapped through each marginal's inverse CDF.
        rng : None, int or numpy.random.Generator
            Seed or generator; the same seed gives the same points.
        """
        n = check_int("Parameters.sample", "n", n, minimum=1)
        if method not in _METHODS:
            fail("Parameters.sample", "method", "one of " + ", ".join(map(repr, _METHODS)),
                 method)
        rng = normalize_rng(rng)
        d = self.dim
        if method == "random":
            U = rng.random((n, d))
        else:
            engine = make_qmc_engine(method, d, rng)
            with warnings.catch_warnings():  # scipy warns for n not a power of two
                warnings.simplefilter("ignore", UserWarning)
                U = engine.random(n)
        return self._ppf(U)

    def _ppf(self, U: np.ndarray) -> np.ndarray:
        X = np.empty_like(U, dtype=float)
        for j, dist in enumerate(self._dists):
            X[:, j] = dist.ppf(U[:, j])
        return X

    def from_unit(self, U: Any) -> np.ndarray:
        """Map points of ``[0, 1]^d`` to parameter space by the inverse CDFs.

        Raises
        ------
        InvalidParameterError
            If ``U`` has the wrong number of columns or values outside ``[0, 1]``.
        """
        U = as_2d_float("Parameters.from_unit", "U", U, self.dim)
        if np.any((U < 0) | (U > 1)):
            bad = np.argwhere((U < 0) | (U > 1))[0]
            fail("Parameters.from_unit", "U", "within [0, 1]",
                 f"{U[bad[0], bad[1]]} at row {bad[0]}, column {bad[1]}")
        return self._ppf(U)

    def to_unit(self, X: Any) -> np.ndarray:
        """Map parameter values to ``[0, 1]^d`` by the CDFs (inverse of :meth:`from_unit`)."""
        X = as_2d_float("Parameters.to_unit", "X", X, self.dim)
        U = np.empty_like(X)
        for j, dist in enumerate(self._dists):
            U[:, j] = dist.cdf(X[:, j])
        return U

    def logpdf(self, X: Any) -> np.ndarray:
        """Joint log density of each row (independent marginals), shape ``(n,)``.

        ``-inf`` for rows outside the support.
        """
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.dim:
            fail("Parameters.logpdf", "X", f"an array with {self.dim} columns",
                 f"shape {X.shape}")
        out = np.zeros(X.shape[0])
        for j, dist in enumerate(self._dists):
            out += dist.logpdf(X[:, j])
        return out

    def check_support(self, X: Any, *, arg: str = "X", func: str = "evaluate") -> np.ndarray:
        """Validate user points: shape, finiteness, and inside the support
        (tests/test_parameters.py::test_check_support_rejects_outside_points)."""
        X = as_2d_float(func, arg, X, self.dim)
        b = self.bounds
        outside = (X < b[:, 0]) | (X > b[:, 1])
        if outside.any():
            i, j = np.argwhere(outside)[0]
            fail(func, arg, f"inside the support of every parameter ({self._names[j]!r} in "
                 f"[{b[j, 0]:g}, {b[j, 1]:g}])", f"{X[i, j]!r} at row {i}")
        return X

    # -- display ---------------------------------------------------------------------
    def __repr__(self) -> str:
        lines = [f"Parameters({self.dim}):"]
        width = max(len(n) for n in self._names)
        for n, d in zip(self._names, self._dists):
            lines.append(f"  {n.ljust(width)} ~ {d!r}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import pandas as pd

        from uqkit.reports._repr import card

        df = pd.DataFrame({"distribution": [repr(d) for d in self._dists],
                           "mean": [d.mean for d in self._dists],
                           "sd": [d.std for d in self._dists],
                           "support": [f"[{d.support[0]:.4g}, {d.support[1]:.4g}]"
                                       for d in self._dists]},
                          index=pd.Index(list(self._names), name="name"))
        return card("Parameters", f"({self.dim})", tables=[("", df)])
