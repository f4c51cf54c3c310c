"""The fitted polynomial chaos expansion: a surrogate Model with moments and Sobol' indices."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from uqkit._validation import as_2d_float, fail
from uqkit.models._protocol import output_groups
from uqkit.parameters import Parameters

from ._bases import basis_for
from ._blas import single_threaded_blas
from ._design import EvaluationPlan, ProductBasis

__all__ = ["PolynomialChaos"]


@dataclass(frozen=True, repr=False, eq=False)
class PolynomialChaos:
    """A polynomial chaos expansion ``f(x) ~ sum_alpha c_alpha Psi_alpha(x)``.

    Returned by :func:`uqkit.fit_pce`. It is itself a :class:`uqkit.Model`
    (``inputs``, ``outputs``, vectorized ``__call__``), so it can replace the
    simulator anywhere: in :func:`uqkit.sobol`, in calibration, in a ``Chain``.
    The basis ``Psi_alpha`` is orthonormal under the input distribution, so the
    moments and Sobol' indices follow from the coefficients exactly.

    Attributes
    ----------
    parameters : Parameters
        The input distributions the basis is orthonormal for.
    outputs : tuple of str
        Output names.
    multi_indices : ndarray of int, shape (n_terms, n_inputs)
        Degree of each input in each term (the zero index first).
    coefficients : ndarray, shape (n_terms, n_outputs)
        Coefficients of the orthonormal basis (zero where an output does not use a term).
    loo_error : pandas.Series
        Corrected relative leave-one-out error per output (``nan`` for quadrature).
    n_evaluations : int
        Model evaluations the fit cost (design points run, including failures).
    n_failed : int
        Design points dropped because the model failed on them.
    method : str
        ``"lars"``, ``"omp"``, ``"ols"``, ``"quadrature_tensor"`` or ``"quadrature_smolyak"``.
    degree : pandas.Series
        Candidate degree selected per output.
    X, Y : ndarray or None
        The design used for the fit (kept for plots and diagnostics).
    info : mapping
        Selection details (candidate sizes, LOO error per degree, truncation).

    Examples
    --------
    >>> import uqkit
    >>> model, params, ref = uqkit.examples.ishigami()
    >>> pce = uqkit.fit_pce(model, params, n=256, rng=0)
    >>> round(float(pce.mean["y"]), 2)
    3.5
    >>> pce.sobol().total.round(2)["y"].tolist()
    [0.56, 0.44, 0.24]
    """

    parameters: Parameters
    outputs: tuple[str, ...]
    multi_indices: np.ndarray
    coefficients: np.ndarray
    loo_error: pd.Series | None = None
    n_evaluations: int = 0
    n_failed: int = 0
    method: str = "lars"
    degree: pd.Series | None = None
    X: np.ndarray | None = None
    Y: np.ndarray | None = None
    name: str = "pce"
    info: Mapping[str, Any] = field(default_factory=dict)
    version: str = field(init=False)
    _basis: ProductBasis = field(init=False)
    _plan: EvaluationPlan = field(init=False)
    _labels: tuple[pd.Index, pd.Index] = field(init=False)  # inputs, outputs (built once)

    vectorized: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not isinstance(self.parameters, Parameters):
            object.__setattr__(self, "parameters", Parameters(self.parameters))
        if isinstance(self.outputs, str):
            object.__setattr__(self, "outputs", (self.outputs,))
        alphas = np.ascontiguousarray(self.multi_indices, dtype=np.int64)
        coef = np.ascontiguousarray(self.coefficients, dtype=float)
        if coef.ndim == 1:
            coef = coef[:, None]
        if alphas.ndim != 2 or alphas.shape != (coef.shape[0], len(self.parameters)):
            fail("PolynomialChaos", "multi_indices",
                 f"an integer array of shape (n_terms, {len(self.parameters)}) matching the "
                 f"coefficients", f"shape {alphas.shape}")
        if np.any(alphas < 0):
            fail("PolynomialChaos", "multi_indices", "non-negative degrees", int(alphas.min()))
        if alphas.shape[0] == 0 or alphas[0].any():
            fail("PolynomialChaos", "multi_indices", "a set whose first row is the zero index",
                 alphas[:1].tolist())
        if coef.shape[1] != len(self.outputs):
            fail("PolynomialChaos", "coefficients", f"{len(self.outputs)} columns (one per "
                 "output)", f"shape {coef.shape}")
        alphas.setflags(write=False)
        coef.setflags(write=False)
        for arr in (self.X, self.Y):
            if isinstance(arr, np.ndarray) and arr.flags.owndata:
                arr.setflags(write=False)
        object.__setattr__(self, "multi_indices", alphas)
        object.__setattr__(self, "coefficients", coef)
        object.__setattr__(self, "outputs", tuple(self.outputs))
        outs = list(self.outputs)
        if self.loo_error is None:
            object.__setattr__(self, "loo_error",
                               pd.Series(np.nan, index=outs, name="loo_error"))
        if self.degree is None:
            deg = [int(alphas[coef[:, j] != 0].sum(axis=1).max(initial=0))
                   for j in range(coef.shape[1])]
            object.__setattr__(self, "degree", pd.Series(deg, index=outs, name="degree"))
        digest = hashlib.sha256(alphas.tobytes() + coef.tobytes()
                                + repr(self.parameters.to_dict()).encode()).hexdigest()
        object.__setattr__(self, "version", digest[:16])
        object.__setattr__(self, "_basis",
                           ProductBasis(tuple(basis_for(d) for d in self.parameters.distributions)))
        object.__setattr__(self, "_plan", EvaluationPlan(alphas))
        # index names shared with uqkit.sobol's SobolResult ("input", "output")
        object.__setattr__(self, "_labels", (pd.Index(list(self.parameters.names), name="input"),
                                             pd.Index(list(self.outputs), name="output")))

    # -- Model protocol ------------------------------------------------------------
    @property
    def inputs(self) -> tuple[str, ...]:
        """Input names (those of :attr:`parameters`)."""
        return self.parameters.names

    def __call__(self, X: Any) -> np.ndarray:
        """Evaluate the expansion, ``(n_samples, n_inputs) -> (n_samples, n_outputs)``.

        Raises
        ------
        InvalidParameterError
            If ``X`` has the wrong number of columns or non-finite values.
        """
        if isinstance(X, pd.DataFrame):
            X = X[list(self.inputs)].to_numpy(dtype=float)
        X = as_2d_float("PolynomialChaos", "X", X, len(self.inputs))
        with single_threaded_blas():
            return self._basis.predict(X, self.multi_indices, self.coefficients, self._plan)

    def predict(self, X: Any) -> np.ndarray:
        """Same as calling the expansion."""
        return self(X)

    # -- moments -----------------------------------------------------------------------
    @property
    def mean(self) -> pd.Series:
        """Mean of each output (the coefficient of the constant term)."""
        return pd.Series(self.coefficients[0], index=self._labels[1], name="mean", copy=True)

    @property
    def variance(self) -> pd.Series:
        """Variance of each output: the sum of the squared non-constant coefficients."""
        var = np.einsum("ij,ij->j", self.coefficients[1:], self.coefficients[1:])
        return pd.Series(var, index=self._labels[1], name="variance")

    @property
    def std(self) -> pd.Series:
        """Standard deviation of each output."""
        return np.sqrt(self.variance).rename("std")

    def basis_labels(self) -> dict[str, str]:
        """Polynomial family (and isoprobabilistic map) of each input, e.g. ``"Hermite(log)"``."""
        return {n: b.label for n, b in zip(self.inputs, self._basis.bases, strict=True)}

    @property
    def n_terms(self) -> int:
        """Number of terms in the (union) basis."""
        return int(self.multi_indices.shape[0])

    # -- sensitivity -------------------------------------------------------------------
    def _sobol_arrays(self, second_order: bool = False):
        """Partial variances from coefficient masks: (first, total, second, variance) arrays.

        ``S_i = sum_{alpha: only alpha_i > 0} c^2 / V``, ``T_i = sum_{alpha_i > 0} c^2 / V``
        (Sudret 2008); the pure pair index sums the terms with exactly ``{i, j}`` active.
        Two small matrix products over the terms: microseconds. chaospy's ``Sens_m`` /
        ``Sens_t`` instead rebuild the indices symbolically from the polynomial and take
        tens of seconds for the same expansion (measured in benchmarks/bench_pce.py).
        """
        active = self.multi_indices > 0
        c2 = self.coefficients**2
        c2[0] = 0.0
        var = c2.sum(axis=0)
        # a variance at rounding level of the mean (constant output) has no indices
        floor = (1e-13 * np.abs(self.coefficients[0])) ** 2
        inv = np.divide(1.0, var, out=np.full_like(var, np.nan), where=var > floor)
        order = active.sum(axis=1)
        single = (active & (order == 1)[:, None]).T.astype(float)
        first = (single @ c2) * inv
        total = (active.T.astype(float) @ c2) * inv
        second = None
        if second_order:
            d = active.shape[1]
            pairs_mask = active & (order == 2)[:, None]
            rows = np.flatnonzero(order == 2)
            second = np.zeros((d * (d - 1) // 2, c2.shape[1]))
            if rows.size:
                i_idx, j_idx = np.triu_indices(d, 1)
                pair_id = {(int(i), int(j)): k
                           for k, (i, j) in enumerate(zip(i_idx, j_idx, strict=True))}
                for r in rows:
                    i, j = np.flatnonzero(pairs_mask[r])
                    second[pair_id[(int(i), int(j))]] += c2[r]
            second = second * inv
        return first, total, second, var

    def sobol(self, second_order: bool = False):
        """Sobol' indices computed exactly from the coefficients.

        Parameters
        ----------
        second_order : bool, default False
            Also return the pure second-order indices ``S_ij`` of every input pair.

        Returns
        -------
        SobolResult
            ``first``, ``total`` (and ``second``) by input and output, ``mean`` and
            ``variance``; confidence intervals are ``None`` (the indices are exact for
            the expansion). Vector outputs ``V[0]..V[k]`` also get the
            variance-weighted ``aggregated_first`` / ``aggregated_total``.

        References
        ----------
        Sudret, B. (2008). Global sensitivity analysis using polynomial chaos
        expansions. Reliab. Eng. Syst. Saf. 93(7), 964-979.
        Gamboa, F., Janon, A., Klein, T. & Lagnoux, A. (2014). Sensitivity analysis
        for multidimensional and functional outputs. Electron. J. Statist. 8, 575-603.
        """
        from uqkit.sensitivity._results import SobolResult

        first, total, second, var = self._sobol_arrays(bool(second_order))
        names, outs = self._labels
        sec_df = None
        if second is not None:
            i_idx, j_idx = np.triu_indices(len(names), 1)
            index = pd.MultiIndex.from_arrays([names[i_idx], names[j_idx]],
                                              names=["input_i", "input_j"])
            sec_df = pd.DataFrame(second, index=index, columns=outs)
        agg_first = agg_total = None
        groups = output_groups(self.outputs)
        if any(len(cols) > 1 for cols in groups.values()):
            gidx = pd.Index(list(groups), name="output")
            agg_first = pd.DataFrame(np.stack([_weighted(first[:, c], var[c])
                                               for c in groups.values()], axis=1),
                                     index=names, columns=gidx)
            agg_total = pd.DataFrame(np.stack([_weighted(total[:, c], var[c])
                                               for c in groups.values()], axis=1),
                                     index=names, columns=gidx)
        return SobolResult(
            first=pd.DataFrame(first, index=names, columns=outs),
            total=pd.DataFrame(total, index=names, columns=outs),
            second=sec_df,
            aggregated_first=agg_first,
            aggregated_total=agg_total,
            mean=pd.Series(self.coefficients[0], index=outs, name="mean", copy=True),
            variance=pd.Series(var, index=outs, name="variance"),
            n_evaluations=self.n_evaluations,
            n_failed=self.n_failed,
            n_samples=None if self.X is None else int(self.X.shape[0]),
            method="pce",
            info={"pce_method": self.method, "n_terms": self.n_terms,
                  "loo_error": dict(zip(outs, self.loo_error.to_numpy().tolist(),
                                        strict=True))},
        )

    # -- diagnostics -----------------------------------------------------------------------
    def validate(self, X: Any, Y: Any) -> pd.DataFrame:
        """Accuracy on independent points.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
            Validation inputs (not used in the fit).
        Y : array_like, shape (n_samples, n_outputs) or (n_samples,)
            Model outputs at ``X``.

        Returns
        -------
        pandas.DataFrame
            Index = outputs; columns ``relative_error`` (RMSE divided by the standard
            deviation of ``Y``: ``sqrt(1 - Q^2)``), ``q2`` (``1 - MSE / Var(Y)``),
            ``rmse`` and ``max_abs_error``.

        Warns
        -----
        PoorSurrogateWarning
            For outputs with ``q2`` below 0.9 (outputs that hardly vary are not judged).

        Raises
        ------
        InvalidParameterError
            If the shapes do not match the expansion or the values are not finite.
        """
        X = as_2d_float("PolynomialChaos.validate", "X", X, len(self.inputs))
        Y = as_2d_float("PolynomialChaos.validate", "Y", Y, len(self.outputs))
        if Y.shape[0] != X.shape[0]:
            fail("PolynomialChaos.validate", "Y", f"{X.shape[0]} rows (one per row of X)",
                 f"shape {Y.shape}")
        if X.shape[0] < 2:
            fail("PolynomialChaos.validate", "X", "at least 2 points", X.shape[0])
        err = Y - self(X)
        mse = np.mean(err**2, axis=0)
        var = Y.var(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            # an output that is constant on the validation points has no relative error
            # or Q^2 (NaN, not inf); rmse and max_abs_error still say how close it is
            rel = np.where(var > 0, np.sqrt(mse / np.where(var > 0, var, 1.0)), np.nan)
        from ._quality import warn_poor

        warn_poor(list(self.outputs), 1 - rel**2, var, "validation", stacklevel=2)
        return pd.DataFrame({"relative_error": rel, "q2": 1 - rel**2, "rmse": np.sqrt(mse),
                             "max_abs_error": np.abs(err).max(axis=0)},
                            index=pd.Index(list(self.outputs), name="output"))

    def to_dataframe(self) -> pd.DataFrame:
        """One row per term: the degree of each input, the total degree and the coefficients."""
        df = pd.DataFrame(self.multi_indices, columns=list(self.inputs))
        df.insert(len(self.inputs), "degree", self.multi_indices.sum(axis=1))
        for j, out in enumerate(self.outputs):
            df[out] = self.coefficients[:, j]
        df.index.name = "term"
        return df

    # -- display ----------------------------------------------------------------------------
    def __repr__(self) -> str:
        from ._display import text_repr

        return text_repr(self)

    def report(self, path: str | os.PathLike, *, title: str = "Polynomial chaos report") -> str:
        """Write this result's section of :func:`uqkit.report` as a self-contained HTML
        file (and its JSON beside it); return the HTML path."""
        from uqkit.reports._report import write_result_report

        return write_result_report(self, path, title=title)

    def _repr_html_(self) -> str:
        from ._display import html_repr

        return html_repr(self)

    def plot(self, output: str | None = None, *, X: Any = None, Y: Any = None, axes=None):
        """Coefficient spectrum and predicted-vs-true plot of one output.

        Parameters
        ----------
        output : str, optional
            Output to show (default: the first).
        X, Y : array_like, optional
            Validation points for the right panel; default: the training design
            (shown with leave-one-out-free predictions, so optimistic).
        axes : sequence of two matplotlib axes, optional

        Returns
        -------
        numpy.ndarray of matplotlib.axes.Axes
        """
        from ._display import plot

        return plot(self, output, X=X, Y=Y, axes=axes)

    def __reduce__(self):
        return (_rebuild, (self.parameters, self.outputs, self.multi_indices,
                           self.coefficients, self.loo_error, self.n_evaluations,
                           self.n_failed, self.method, self.degree, self.X, self.Y, self.name,
                           dict(self.info)))


def _rebuild(*args):
    return PolynomialChaos(*args)


def _weighted(indices: np.ndarray, var: np.ndarray) -> np.ndarray:
    total = var.sum()
    if not total > 0:
        return np.full(indices.shape[0], np.nan)
    return np.nansum(indices * var, axis=1) / total
