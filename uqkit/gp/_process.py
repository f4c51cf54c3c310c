"""The fitted Gaussian-process emulator: a surrogate Model that knows its own uncertainty."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from uqkit._validation import as_2d_float, check_int, fail
from uqkit.parameters import Parameters

from ._core import GPFit
from ._inputs import to_unit

__all__ = ["GaussianProcess"]


@dataclass(frozen=True, eq=False)
class _Block:
    """Output columns emulated together: one scalar output, or a vector output by PCA.

    ``Y[:, columns] ~ center + sum_k f_k(U) loadings[k]`` with independent GPs ``f_k`` on the
    principal-component scores; ``residual_var`` is the per-column variance of the dropped
    components (added to the predictive variance).
    """

    name: str
    columns: tuple[int, ...]
    center: np.ndarray
    loadings: np.ndarray  # (k, len(columns))
    residual_var: np.ndarray  # (len(columns),)
    fits: tuple[GPFit, ...]
    explained: float = 1.0

    @property
    def is_pca(self) -> bool:
        return len(self.columns) > 1

    def predict(self, U: np.ndarray, return_var: bool):
        means, variances = [], []
        for fit in self.fits:
            if return_var:
                m, v = fit.predict(U, return_var=True)
                variances.append(v)
            else:
                m = fit.predict(U)
            means.append(m)
        mean = self.center + np.column_stack(means) @ self.loadings
        if not return_var:
            return mean, None
        var = np.column_stack(variances) @ (self.loadings**2) + self.residual_var
        return mean, var

    def sample(self, U: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
        draws = np.stack([fit.sample(U, size, rng) for fit in self.fits], axis=-1)
        out = self.center + draws @ self.loadings
        if np.any(self.residual_var > 0):
            out = out + rng.standard_normal(out.shape) * np.sqrt(self.residual_var)
        return out

    def loo_residuals(self, Y: np.ndarray) -> np.ndarray:
        res = np.column_stack([fit.loo()[0] for fit in self.fits])
        scores = np.column_stack([fit.y for fit in self.fits])
        truncation = Y[:, self.columns] - self.center - scores @ self.loadings
        return truncation + res @ self.loadings


@dataclass(frozen=True, repr=False, eq=False)
class GaussianProcess:
    """A Gaussian-process emulator (kriging) of a model's outputs.

    Returned by :func:`uqkit.fit_gp`. It is itself a :class:`uqkit.Model` (``inputs``,
    ``outputs``, vectorized ``__call__`` returning the predictive mean), so it can replace the
    simulator in :func:`uqkit.sobol`, in calibration or in a ``Chain``; unlike a polynomial
    chaos it also gives the uncertainty of its predictions (:meth:`predict` with
    ``return_std=True``, :meth:`sample`).

    Attributes
    ----------
    parameters : Parameters
        Input distributions; they define the map of the inputs to the GP's coordinates
        (bounded inputs affinely to ``[0, 1]``, unbounded ones through their normal score).
    outputs : tuple of str
        Output names (vector outputs as columns ``V[0]..V[k]``).
    kernel : str
        ``"matern52"``, ``"matern32"`` or ``"rbf"`` (one lengthscale per input).
    mean : str
        Trend: ``"constant"``, ``"linear"`` or ``"pce"``.
    n_evaluations : int
        Model evaluations the emulator cost (design points run, including failures).
    n_failed : int
        Design points dropped because the model failed on them.
    X, Y : ndarray
        The training design and outputs.
    info : mapping
        Fit details: the principal components kept per vector output, the adaptive history.
    """

    parameters: Parameters
    outputs: tuple[str, ...]
    kernel: str
    mean: str
    blocks: tuple[_Block, ...]
    X: np.ndarray
    Y: np.ndarray
    n_evaluations: int = 0
    n_failed: int = 0
    name: str = "gp"
    info: Mapping[str, Any] = field(default_factory=dict)
    version: str = field(init=False)

    vectorized: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for arr in (self.X, self.Y):
            arr.setflags(write=False)
        digest = hashlib.sha256(self.X.tobytes() + self.Y.tobytes() + repr(
            (self.kernel, self.mean, [f.lengthscales.tolist() for b in self.blocks
                                      for f in b.fits])).encode()).hexdigest()
        object.__setattr__(self, "version", digest[:16])

    # -- Model protocol ------------------------------------------------------------------
    @property
    def inputs(self) -> tuple[str, ...]:
        """Input names (those of :attr:`parameters`)."""
        return self.parameters.names

    def _unit(self, X: Any, func: str) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            X = X[list(self.inputs)].to_numpy(dtype=float)
        X = as_2d_float(func, "X", X, len(self.inputs))
        return to_unit(self.parameters, X)

    def __call__(self, X: Any) -> np.ndarray:
        """Predictive mean, ``(n_samples, n_inputs) -> (n_samples, n_outputs)``."""
        return self.predict(X)

    def predict(self, X: Any, return_std: bool = False):
        """Predictive mean (and standard deviation) of every output.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
        return_std : bool, default False
            Also return the predictive standard deviation of the emulated function (the
            fitted noise, if any, is not included).

        Returns
        -------
        mean : ndarray, shape (n_samples, n_outputs)
        std : ndarray, shape (n_samples, n_outputs)
            Only when ``return_std`` is true.
        """
        U = self._unit(X, "GaussianProcess.predict")
        mean = np.empty((U.shape[0], len(self.outputs)))
        var = np.empty_like(mean) if return_std else None
        for block in self.blocks:
            m, v = block.predict(U, bool(return_std))
            mean[:, block.columns] = m
            if return_std:
                var[:, block.columns] = v
        if return_std:
            return mean, np.sqrt(var)
        return mean

    def sample(self, X: Any, size: int = 1, rng: Any = None) -> np.ndarray:
        """Joint draws of the emulated function at the rows of ``X``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
            At most a few thousand points (the joint covariance is formed).
        size : int, default 1
            Number of draws.
        rng : None, int or numpy.random.Generator

        Returns
        -------
        ndarray, shape (size, n_samples, n_outputs)
        """
        size = check_int("GaussianProcess.sample", "size", size, minimum=1)
        U = self._unit(X, "GaussianProcess.sample")
        if U.shape[0] > 5000:
            fail("GaussianProcess.sample", "X", "at most 5000 points (the joint covariance "
                 "is formed)", f"{U.shape[0]} rows", "Sample in smaller batches.")
        rng = np.random.default_rng(rng)
        out = np.empty((size, U.shape[0], len(self.outputs)))
        for block in self.blocks:
            out[:, :, block.columns] = block.sample(U, size, rng)
        return out

    # -- diagnostics ---------------------------------------------------------------------
    def loo_residuals(self) -> np.ndarray:
        """Closed-form leave-one-out residuals ``y_i - mu_{-i}(x_i)``, ``(n, n_outputs)``.

        Hyperparameters are kept fixed (Dubrule 1983); for a vector output the residual
        also holds what the dropped principal components miss.
        """
        res = np.empty(self.Y.shape)
        for block in self.blocks:
            res[:, block.columns] = block.loo_residuals(self.Y)
        return res

    @property
    def loo_error(self) -> pd.Series:
        """Relative leave-one-out RMSE per output: ``sqrt(mean(res^2)) / std(Y)`` (closed form)."""
        res = self.loo_residuals()
        sd = self.Y.std(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(sd > 0, np.sqrt(np.mean(res**2, axis=0)) / np.where(sd > 0, sd, 1),
                           np.nan)
        return pd.Series(rel, index=pd.Index(list(self.outputs), name="output"),
                         name="loo_error")

    @property
    def lengthscales(self) -> pd.DataFrame:
        """Fitted lengthscales on the unit cube (the inputs' CDF scale), one column per GP.

        Columns are the outputs, or ``"V:pc1"``, ``"V:pc2"``, ... for the principal
        components of a vector output ``V``. A lengthscale well above 1 means the output
        hardly varies along that input.
        """
        cols, data = [], []
        for block in self.blocks:
            for k, fit in enumerate(block.fits):
                cols.append(f"{block.name}:pc{k + 1}" if block.is_pca else block.name)
                data.append(fit.lengthscales)
        return pd.DataFrame(np.column_stack(data), index=pd.Index(list(self.inputs),
                                                                  name="input"), columns=cols)

    def hyperparameters(self) -> pd.DataFrame:
        """One row per GP: process standard deviation, noise standard deviation, trend terms."""
        rows = []
        for block in self.blocks:
            for k, fit in enumerate(block.fits):
                sd = np.sqrt(fit.sigma2) * fit.y_scale
                rows.append({"gp": f"{block.name}:pc{k + 1}" if block.is_pca else block.name,
                             "process_std": sd, "noise_std": sd * np.sqrt(fit.nugget),
                             "trend_terms": int(fit.beta.size), "n": fit.n})
        return pd.DataFrame(rows).set_index("gp")

    def validate(self, X: Any, Y: Any) -> pd.DataFrame:
        """Accuracy and calibration on independent points.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
            Validation inputs (not used in the fit).
        Y : array_like, shape (n_samples, n_outputs) or (n_samples,)
            Model outputs at ``X``.

        Returns
        -------
        pandas.DataFrame
            Index = outputs; columns ``relative_error`` (RMSE / sd of ``Y``), ``q2``,
            ``rmse``, ``max_abs_error`` and ``coverage_95`` (fraction of points inside the
            95 % predictive band, which should be near 0.95 for a well-calibrated emulator).
        """
        func = "GaussianProcess.validate"
        X = as_2d_float(func, "X", X, len(self.inputs))
        Y = as_2d_float(func, "Y", Y, len(self.outputs))
        if Y.shape[0] != X.shape[0]:
            fail(func, "Y", f"{X.shape[0]} rows (one per row of X)", f"shape {Y.shape}")
        if X.shape[0] < 2:
            fail(func, "X", "at least 2 points", X.shape[0])
        mean, std = self.predict(X, return_std=True)
        err = Y - mean
        mse = np.mean(err**2, axis=0)
        var = Y.var(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(var > 0, np.sqrt(mse / np.where(var > 0, var, 1.0)), np.nan)
        cover = np.mean(np.abs(err) <= 1.959963984540054 * std, axis=0)
        return pd.DataFrame({"relative_error": rel, "q2": 1 - rel**2, "rmse": np.sqrt(mse),
                             "max_abs_error": np.abs(err).max(axis=0), "coverage_95": cover},
                            index=pd.Index(list(self.outputs), name="output"))

    def to_dataframe(self) -> pd.DataFrame:
        """Lengthscales (rows: inputs) with the process and noise standard deviations."""
        df = self.lengthscales.T
        df.index.name = "gp"
        hyp = self.hyperparameters()
        return pd.concat([df, hyp], axis=1)

    # -- sensitivity ------------------------------------------------------------------------
    def sobol(self, n: int | None = None, confidence: float = 0.95, *, rng: Any = None):
        """Sobol' indices of the emulator, with intervals that include its own uncertainty.

        See :func:`uqkit.gp._sobol.gp_sobol` for the method.
        """
        from ._sobol import gp_sobol

        return gp_sobol(self, n=n, confidence=confidence, rng=rng)

    # -- display --------------------------------------------------------------------------------
    def __repr__(self) -> str:
        from ._display import text_repr

        return text_repr(self)

    def report(self, path: str | os.PathLike, *,
               title: str = "Gaussian-process emulator report") -> str:
        """Write this result's section of :func:`uqkit.report` as a self-contained HTML
        file (and its JSON beside it); return the HTML path."""
        from uqkit.reports._report import write_result_report

        return write_result_report(self, path, title=title)

    def _repr_html_(self) -> str:
        from ._display import html_repr

        return html_repr(self)

    def plot(self, output: str | None = None, *, X: Any = None, Y: Any = None, axes=None):
        """Lengthscales and predicted-vs-true (with 95 % bars) of one output.

        Parameters
        ----------
        output : str, optional
            Output to show (default: the first).
        X, Y : array_like, optional
            Validation points for the right panel; default: the training design shown
            with its closed-form leave-one-out predictions.
        axes : sequence of two matplotlib axes, optional

        Returns
        -------
        numpy.ndarray of matplotlib.axes.Axes
        """
        from ._display import plot

        return plot(self, output, X=X, Y=Y, axes=axes)

    def _report_section(self, label: str):
        from ._display import report_section

        return report_section(self, label)
