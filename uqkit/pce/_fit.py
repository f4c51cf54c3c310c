"""``fit_pce``: build a sparse polynomial chaos expansion from a model or from data."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from uqkit._errors import ModelEvaluationError
from uqkit._validation import (
    check_choice,
    check_int,
    check_parameters,
    check_real,
    fail,
    match_inputs,
    normalize_rng,
)
from uqkit.models._protocol import check_model
from uqkit.parameters import Parameters

from ._bases import basis_for
from ._blas import single_threaded_blas
from ._chaos import PolynomialChaos
from ._design import ProductBasis
from ._quadrature import fit_quadrature, node_bound, sparse_grid
from ._quality import warn_poor
from ._select import COMPRESS_MIN_OUTPUTS, fit_compressed, fit_regression, min_points, union
from ._truncation import MAX_CANDIDATES, count_multi_indices

__all__ = ["fit_pce"]

_FUNC = "fit_pce"
_METHODS = ("lars", "omp", "ols", "quadrature", "quadrature_tensor", "quadrature_smolyak")
_SAMPLING = ("sobol", "lhs", "random")
_MAX_MATRIX = 50_000_000  # entries of the candidate matrix (400 MB)


def fit_pce(model: Any = None, parameters: Any = None, *, n: int | None = None,
            X: Any = None, Y: Any = None, degree: int | str = "auto", q_norm: float = 1.0,
            max_interaction: int | None = None, method: str = "lars", sampling: str = "sobol",
            rng: Any = None, runner: Any = None) -> PolynomialChaos:
    """Fit a polynomial chaos expansion (sparse and degree-adaptive by default).

    Parameters
    ----------
    model : Model, optional
        The simulator. With ``n``, uqkit draws the design and evaluates it (through
        the runner, so a store caches it); with ``X``, it evaluates the given design.
    parameters : Parameters
        Independent input distributions; each picks its orthonormal basis (Legendre
        for uniform, Hermite for normal and lognormal, Laguerre for gamma, Jacobi for
        beta, numerically generated polynomials or a probit map otherwise).
    n : int, optional
        Number of design points to draw (regression) or the node budget of
        ``degree="auto"`` for quadrature.
    X, Y : array_like, optional
        A given design and its outputs (no model): ``X`` of shape
        ``(n_samples, n_inputs)`` inside the support, ``Y`` of shape
        ``(n_samples, n_outputs)`` or ``(n_samples,)``. Rows of ``Y`` with NaN or inf
        are dropped and counted in ``n_failed``.
    degree : int or "auto", default "auto"
        Candidate total degree (the q-norm of the multi-indices). ``"auto"`` raises
        it from 1 while the corrected leave-one-out error improves, per output.
    q_norm : float in (0, 1], default 1.0
        Hyperbolic truncation: ``||alpha||_q <= degree``; smaller values drop
        high-order interactions.
    max_interaction : int, optional
        Largest number of inputs in one term.
    method : {"lars", "omp", "ols", "quadrature", "quadrature_tensor", "quadrature_smolyak"}
        ``"lars"``: hybrid least-angle regression (OLS refit of each step of the path,
        best step by corrected LOO error; Blatman & Sudret 2011). ``"omp"``:
        orthogonal matching pursuit with the same selection. ``"ols"``: least squares
        on the full candidate basis. ``"quadrature*"``: spectral projection on a
        tensor Gauss or Smolyak sparse grid (its own design; ``"quadrature"`` picks
        the tensor grid for up to 2 inputs and the sparse grid above).
    sampling : {"sobol", "lhs", "random"}, default "sobol"
        Design for ``model`` and ``n`` (scrambled Sobol', Latin hypercube, Monte Carlo).
    rng : None, int or numpy.random.Generator
        Seed of the design (same seed, same expansion).
    runner : uqkit.Runner, optional
        Evaluates the model (default: in process, no store).

    Returns
    -------
    PolynomialChaos
        The expansion: a vectorized surrogate Model with ``mean``, ``variance``,
        ``std``, ``sobol()``, ``loo_error``, ``validate()``.

    Warns
    -----
    PoorSurrogateWarning
        For outputs whose leave-one-out ``Q^2 = 1 - loo_error`` is below 0.9 (their
        names are in ``info["poor_outputs"]``); outputs that hardly vary are not judged.

    Raises
    ------
    InvalidParameterError
        For invalid arguments, before any model run; in particular when the design
        has fewer points than the method needs (the message gives the minimum).
    ModelEvaluationError
        If too few model evaluations succeed to fit the expansion.

    Notes
    -----
    The LOO error of a least-squares fit is exact from the leverages, and is
    multiplied by the correction ``n / (n - P) (1 + tr(C^-1))`` of Chapelle et al.
    (2002) with ``C = Psi^T Psi / n``, as in Blatman & Sudret (2011), so that
    larger bases are not favoured on small designs. Multi-output fits share the
    design, the candidate matrix and its standardisation; each output selects its
    own sparse basis and degree, and the expansion stores their union.

    References
    ----------
    Blatman, G. & Sudret, B. (2011). Adaptive sparse polynomial chaos expansion
    based on least angle regression. J. Comput. Phys. 230(6), 2345-2367.
    Efron, B., Hastie, T., Johnstone, I. & Tibshirani, R. (2004). Least angle
    regression. Ann. Statist. 32(2), 407-499.
    Chapelle, O., Vapnik, V. & Bengio, Y. (2002). Model selection for small sample
    regression. Machine Learning 48, 9-23.
    Xiu, D. & Karniadakis, G. E. (2002). The Wiener-Askey polynomial chaos for
    stochastic differential equations. SIAM J. Sci. Comput. 24(2), 619-644.
    Constantine, P. G., Eldred, M. S. & Phipps, E. T. (2012). Sparse pseudospectral
    approximation method. Comput. Methods Appl. Mech. Engrg. 229-232, 1-12.

    Examples
    --------
    >>> import uqkit
    >>> model, params, ref = uqkit.examples.ishigami()
    >>> pce = uqkit.fit_pce(model, params, n=256, rng=0)
    >>> round(float(pce.variance["y"]), 1)
    13.8
    """
    method = check_choice(_FUNC, "method", method, _METHODS)
    parameters = _check_parameters(parameters)
    d = len(parameters)
    q_norm = check_real(_FUNC, "q_norm", q_norm)
    if not 0 < q_norm <= 1:
        fail(_FUNC, "q_norm", "in (0, 1]", q_norm)
    if max_interaction is not None:
        max_interaction = check_int(_FUNC, "max_interaction", max_interaction, minimum=1)
    if not (isinstance(degree, str) and degree == "auto"):
        if isinstance(degree, str):
            fail(_FUNC, "degree", "a positive integer or 'auto'", degree)
        degree = check_int(_FUNC, "degree", degree, minimum=1)
        size = count_multi_indices(d, degree, q_norm, max_interaction)
        if size > MAX_CANDIDATES:
            fail(_FUNC, "degree", f"small enough for a basis of at most {MAX_CANDIDATES} terms",
                 degree, "Lower it, or use q_norm < 1 or max_interaction.")
    sampling = check_choice(_FUNC, "sampling", sampling, _SAMPLING)
    if runner is not None and not callable(getattr(runner, "evaluate", None)):
        fail(_FUNC, "runner", "a uqkit.Runner (or None)", type(runner).__name__)
    rng = normalize_rng(rng)
    if model is not None:
        check_model(model, _FUNC)
        parameters = _match_inputs(model, parameters)
        outputs = tuple(model.outputs)
        name = f"pce({getattr(model, 'name', None) or type(model).__name__})"
        if Y is not None:
            fail(_FUNC, "Y", "None when a model is given (uqkit evaluates the model)", "an array")
    elif method.startswith("quadrature"):
        fail(_FUNC, "model", "a model for quadrature (it evaluates its own grid)", None)
    basis = ProductBasis(tuple(basis_for(dist) for dist in parameters.distributions))

    if method.startswith("quadrature"):
        if X is not None:
            fail(_FUNC, "X", "None for quadrature (the grid is the design)", "an array")
        grid = ("tensor" if d <= 2 else "smolyak") if method == "quadrature" \
            else method.split("_")[1]
        return _fit_quadrature(model, parameters, basis, n, degree, grid, q_norm,
                               max_interaction, runner, name)

    if model is not None:
        if X is None:
            if n is None:
                fail(_FUNC, "n", "given with a model (the number of design points)", None,
                     "Or pass a design X.")
            n = check_int(_FUNC, "n", n, minimum=1)
            _check_enough(method, degree, d, q_norm, max_interaction, n, "n")
            Xd = parameters.sample(n, method=sampling, rng=rng)
        else:
            if n is not None:
                fail(_FUNC, "n", "None when a design X is given", n)
            Xd = _check_design(parameters, X)
            _check_enough(method, degree, d, q_norm, max_interaction, Xd.shape[0], "X")
        Yd, ok = _evaluate(model, Xd, runner)
    else:
        if X is None or Y is None:
            fail(_FUNC, "model", "given, or a design X with its outputs Y", None)
        if n is not None:
            fail(_FUNC, "n", "None when X and Y are given", n)
        Xd = _check_design(parameters, X)
        Yd, outputs = _check_outputs(Y, Xd.shape[0])
        _check_enough(method, degree, d, q_norm, max_interaction, Xd.shape[0], "X")
        ok = np.all(np.isfinite(Yd), axis=1)
        name = "pce"
    n_eval = int(Xd.shape[0])
    n_failed = int((~ok).sum())
    Xd, Yd = Xd[ok], Yd[ok]
    need = _needed(method, degree, d, q_norm, max_interaction)
    if Xd.shape[0] < need:
        raise ModelEvaluationError(
            f"fit_pce needs at least {need} successful evaluations for method={method!r} "
            f"and degree={degree!r}; only {Xd.shape[0]} of {n_eval} succeeded.")
    outs = list(outputs)
    info_common = {"q_norm": q_norm, "max_interaction": max_interaction, "sampling": sampling}
    if Yd.shape[1] >= COMPRESS_MIN_OUTPUTS:
        with single_threaded_blas():
            alphas, coef, loo, info = fit_compressed(
                basis, Xd, Yd, degree=degree, q_norm=q_norm, max_interaction=max_interaction,
                method=method)
        degrees = None
    else:
        with single_threaded_blas():
            fits, info = fit_regression(basis, Xd, Yd, degree=degree, q_norm=q_norm,
                                        max_interaction=max_interaction, method=method)
        alphas, coef = union(fits, d)
        loo = [f.loo for f in fits]
        degrees = pd.Series([f.degree for f in fits], index=outs, name="degree")
        info["loo_by_degree"] = {o: f.history for o, f in zip(outs, fits, strict=True)}
    info.update(info_common, n_terms_by_output={o: int(np.count_nonzero(coef[:, j]))
                                                for j, o in enumerate(outs)})
    info["poor_outputs"] = warn_poor(outs, 1.0 - np.asarray(loo, dtype=float), Yd.var(axis=0),
                                     "leave-one-out", stacklevel=2)
    return PolynomialChaos(
        parameters, outputs, alphas, coef,
        loo_error=pd.Series(loo, index=outs, name="loo_error"),
        n_evaluations=n_eval, n_failed=n_failed, method=method, degree=degrees,
        X=Xd, Y=Yd, name=name, info=info)


# -- evaluation: the one place where the design meets the model ------------------------------
def _evaluate(model: Any, X: np.ndarray, runner: Any) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate ``model`` on ``X`` through the runner: outputs ``(n, m)`` and rows that succeeded.

    Every evaluation goes through :meth:`uqkit.Runner.evaluate`, so a runner with a
    store caches the design (a rerun with the same ``rng`` makes no model calls) and
    its failure policy applies (``"skip"`` / ``"nan"`` rows are dropped and counted).
    """
    if runner is None:
        from uqkit.runner import Runner

        with Runner() as own:
            ev = own.evaluate(model, X)
    else:
        ev = runner.evaluate(model, X)
    return np.asarray(ev.Y, dtype=float), np.asarray(ev.ok, dtype=bool)


# -- validation helpers ---------------------------------------------------------------------------
def _check_parameters(parameters: Any) -> Parameters:
    return check_parameters(_FUNC, parameters)


def _match_inputs(model: Any, parameters: Parameters) -> Parameters:
    return match_inputs(_FUNC, model, parameters)


def _check_design(parameters: Parameters, X: Any) -> np.ndarray:
    if isinstance(X, pd.DataFrame):
        missing = [c for c in parameters.names if c not in X.columns]
        if missing:
            fail(_FUNC, "X", f"a DataFrame with the columns {list(parameters.names)}",
                 list(X.columns))
        X = X[list(parameters.names)].to_numpy(dtype=float)
    return parameters.check_support(X, arg="X", func=_FUNC)


def _check_outputs(Y: Any, n_rows: int) -> tuple[np.ndarray, tuple[str, ...]]:
    if isinstance(Y, pd.Series):
        outputs = (str(Y.name) if isinstance(Y.name, str) and Y.name else "y",)
        Y = Y.to_numpy(dtype=float)[:, None]
    elif isinstance(Y, pd.DataFrame):
        outputs = tuple(str(c) for c in Y.columns)
        Y = Y.to_numpy(dtype=float)
    else:
        outputs = None
    try:
        arr = np.asarray(Y, dtype=float)
    except (TypeError, ValueError):
        fail(_FUNC, "Y", "a real-valued array of shape (n_samples, n_outputs)", type(Y).__name__)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n_rows:
        fail(_FUNC, "Y", f"an array with {n_rows} rows (one per row of X)", f"shape {arr.shape}")
    if outputs is None:
        outputs = ("y",) if arr.shape[1] == 1 else tuple(f"y{j}" for j in range(arr.shape[1]))
    return arr, outputs


def _needed(method: str, degree: int | str, d: int, q_norm: float,
            max_interaction: int | None) -> int:
    if method != "ols":
        return min_points(method, 0)
    deg = 1 if degree == "auto" else int(degree)
    return min_points("ols", count_multi_indices(d, deg, q_norm, max_interaction))


def _check_enough(method, degree, d, q_norm, max_interaction, n, arg) -> None:
    if degree != "auto":
        size = count_multi_indices(d, int(degree), q_norm, max_interaction)
        if n * size > _MAX_MATRIX:
            fail(_FUNC, "degree", f"small enough for the {n} x (basis terms) candidate matrix "
                 f"to stay below {_MAX_MATRIX:.0e} entries", degree,
                 f"The basis has {size} terms; use degree='auto', q_norm < 1 or "
                 "max_interaction.")
    need = _needed(method, degree, d, q_norm, max_interaction)
    if n < need:
        what = (f"for method='ols' with degree={degree!r} ({need - 1} basis terms)"
                if method == "ols" else f"for method={method!r}")
        got = n if arg == "n" else f"{n} rows"
        remedy = ("Use more points, a lower degree, q_norm < 1, or method='lars' (sparse)."
                  if method == "ols" else "Use more points.")
        fail(_FUNC, arg, f"at least {need} points {what}", got, remedy)


def _fit_quadrature(model, parameters, basis, n, degree, grid, q_norm, max_interaction,
                    runner, name) -> PolynomialChaos:
    d = len(parameters)
    if degree == "auto":
        if n is None:
            fail(_FUNC, "degree", "an integer for quadrature, or give n (a node budget)",
                 degree)
        n = check_int(_FUNC, "n", n, minimum=1)
        degree = 0
        for p in range(1, 60):
            if node_bound(d, p, grid, q_norm, max_interaction) > 4 * n:
                break  # non-nested Gauss grids share few nodes: this level cannot fit
            count = sparse_grid(basis, p, grid, q_norm, max_interaction)[0].shape[0]
            if count > n:
                break
            degree = p
        if degree == 0:
            first = sparse_grid(basis, 1, grid, q_norm, max_interaction)[0].shape[0]
            fail(_FUNC, "n", f"at least {first} for a degree-1 {grid} grid in {d} dimensions",
                 n)
    elif n is not None:
        fail(_FUNC, "n", "None with quadrature and an integer degree (the grid fixes it)", n)
    if grid == "tensor" and (degree + 1) ** d > 10_000_000:
        fail(_FUNC, "degree", f"such that the tensor grid has at most 1e7 nodes in {d} "
             "dimensions", degree, "Use method='quadrature_smolyak'.")

    state: dict[str, Any] = {}

    def evaluate(Xg: np.ndarray) -> np.ndarray:
        Yg, ok = _evaluate(model, Xg, runner)
        if not ok.all():
            raise ModelEvaluationError(
                f"Quadrature needs every grid node, but the model failed on {(~ok).sum()} of "
                f"{ok.size}; use method='lars', which tolerates failed points.")
        state["n"] = Xg.shape[0]
        return Yg

    Xg, Yg, alphas, coef = fit_quadrature(basis, evaluate, int(degree), grid, q_norm,
                                          max_interaction)
    outs = list(model.outputs)
    nan = pd.Series(math.nan, index=outs, name="loo_error")
    return PolynomialChaos(
        parameters, tuple(outs), alphas, coef, loo_error=nan, n_evaluations=state["n"],
        method=f"quadrature_{grid}", degree=pd.Series(int(degree), index=outs, name="degree"),
        X=Xg, Y=Yg, name=name,
        info={"grid": grid, "level": int(degree), "q_norm": q_norm,
              "max_interaction": max_interaction})

