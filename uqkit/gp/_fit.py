"""``fit_gp``: argument checks, the design, and the assembly of one GP per emulated component."""

from __future__ import annotations

from dataclasses import dataclass
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
from uqkit.models._protocol import check_model, output_groups
from uqkit.parameters import Parameters

from ._core import KERNELS, Trend, basis_trend, constant_trend, fit_core, linear_trend
from ._inputs import from_unit, to_unit
from ._process import GaussianProcess, _Block

__all__ = ["fit_gp"]

_FUNC = "fit_gp"
_MEANS = ("constant", "linear", "pce")
# principal components of a vector output: keep 1 - 1e-5 of the variance, at most 20
PCA_UNEXPLAINED, PCA_MAX = 1e-5, 20
VARIANCE = "loo"


@dataclass(frozen=True)
class _Spec:
    """Validated arguments of fit_gp."""

    model: Any
    parameters: Parameters
    outputs: tuple[str, ...]
    n: int | None
    X: np.ndarray | None
    Y: np.ndarray | None
    kernel: str
    mean: str
    adaptive: bool
    target: float | None
    max_evaluations: int | None
    runner: Any
    name: str


def fit_gp(model: Any = None, parameters: Any = None, *, n: int | None = None, X: Any = None,
           Y: Any = None, kernel: str = "matern52", mean: str = "constant",
           adaptive: bool = False, target: float | None = None,
           max_evaluations: int | None = None, rng: Any = None,
           runner: Any = None) -> GaussianProcess:
    """Fit a Gaussian-process emulator (kriging) of a model or of given data.

    Parameters
    ----------
    model : Model, optional
        The simulator. With ``n`` a Latin-hypercube design is drawn from ``parameters`` and
        run through the runner (a store caches it).
    parameters : Parameters
        Input distributions. They map the inputs to the GP's coordinates: bounded inputs
        affinely to the unit cube, unbounded ones through their normal score (``0.5 + z / 8``).
        Optional with ``X, Y``: the bounding box of ``X`` is used then (uniform inputs).
    n : int, optional
        Design size with ``model`` (with ``adaptive=True``: the initial design, default 10
        runs per input).
    X, Y : array_like, optional
        A given design ``(n_samples, n_inputs)`` and its outputs ``(n_samples, n_outputs)``
        (or ``(n_samples,)``; a DataFrame names the outputs). ``Y`` must be finite.
    kernel : {"matern52", "matern32", "rbf"}, default "matern52"
        Stationary kernel with one lengthscale per input (ARD).
    mean : {"constant", "linear", "pce"}, default "constant"
        Trend of universal kriging: a constant (ordinary kriging), a linear function, or the
        sparse polynomial chaos that least-angle regression selects on the design
        (PC-Kriging; at most ``n // 2`` terms).
    adaptive : bool, default False
        Add runs in batches of the runner's worker count, each where it most reduces the
        integrated predictive variance, until the leave-one-out error is at most
        ``target`` or ``max_evaluations`` runs were made.
    target : float, optional
        Adaptive stopping rule on the largest relative leave-one-out RMSE (default 0.01).
    max_evaluations : int, optional
        Adaptive budget of model runs in total (default: initial design + 20 per input).
    rng : None, int or numpy.random.Generator
        Seed of the design and of the optimiser's starting points.
    runner : uqkit.Runner, optional
        Evaluates the model (default: in process, no store).

    Returns
    -------
    GaussianProcess
        The emulator: a vectorized surrogate Model with ``predict(X, return_std)``,
        ``sample``, ``loo_error``, ``validate``, ``lengthscales`` and ``sobol()``.

    Raises
    ------
    InvalidParameterError
        Before any model run, for invalid arguments; for given data also for non-finite
        ``Y``, an output that is constant, and too few distinct points (at least
        ``max(d, p) + 2`` where ``p`` is the number of trend terms).
    ModelEvaluationError
        If too few model evaluations succeed, or a model output is constant over the design.

    Notes
    -----
    Each scalar output gets an independent GP; a vector output ``V[0]..V[k]`` is reduced
    to principal components (keeping ``1 - 1e-5`` of its variance, at most 20; the number
    kept is in ``info["components"]`` and the repr) with one GP per component. Outputs
    are standardised. The kernel lengthscales (and a nugget, kept only when a
    likelihood-ratio test finds the data noisy) maximise the likelihood with ``beta`` and
    the process variance profiled out, with a weak prior on the log-lengthscales, from
    several screened starting points (L-BFGS-B, analytic gradients). Repeated design rows
    with equal outputs are merged; repeated rows with different outputs are kept as
    replicates of a noisy model (the nugget is then fitted).

    References
    ----------
    Rasmussen, C. E. & Williams, C. K. I. (2006). Gaussian Processes for Machine Learning.
    MIT Press.
    Schöbi, R., Sudret, B. & Wiart, J. (2015). Polynomial-chaos-based Kriging. Int. J.
    Uncertain. Quantif. 5(2), 171-193.
    Sacks, J., Welch, W. J., Mitchell, T. J. & Wynn, H. P. (1989). Design and analysis of
    computer experiments. Statist. Sci. 4(4), 409-423.

    Examples
    --------
    >>> import uqkit
    >>> model, params, ref = uqkit.examples.borehole()
    >>> gp = uqkit.fit_gp(model, params, n=60, rng=0)
    >>> bool(gp.loo_error["y"] < 0.05)
    True
    >>> mean, std = gp.predict(params.sample(3, rng=1), return_std=True)
    """
    spec = _fit_gp_iv(model, parameters, n, X, Y, kernel, mean, adaptive, target,
                      max_evaluations, runner)
    rng = normalize_rng(rng)
    if spec.adaptive:
        from ._adaptive import fit_adaptive

        return fit_adaptive(spec, rng)
    if spec.model is not None:
        Xd = spec.parameters.sample(spec.n, method="lhs", rng=rng)
        Yd, ok = evaluate(spec.model, Xd, spec.runner)
        n_eval = Xd.shape[0]
        Xd, Yd = Xd[ok], Yd[ok]
    else:
        Xd, Yd, n_eval = spec.X, spec.Y, spec.X.shape[0]
    return build(spec, Xd, Yd, rng, n_evaluations=n_eval)


def evaluate(model: Any, X: np.ndarray, runner: Any) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate ``model`` on ``X`` through the runner: outputs and the rows that succeeded."""
    if runner is None:
        from uqkit.runner import Runner

        with Runner() as own:
            ev = own.evaluate(model, X)
    else:
        ev = runner.evaluate(model, X)
    Y = np.asarray(ev.Y, dtype=float)
    ok = np.asarray(ev.ok, dtype=bool) & np.all(np.isfinite(Y), axis=1)
    return Y, ok


# -- validation ----------------------------------------------------------------------------------
def _fit_gp_iv(model, parameters, n, X, Y, kernel, mean, adaptive, target, max_evaluations,
               runner) -> _Spec:
    kernel = check_choice(_FUNC, "kernel", kernel, KERNELS)
    mean = check_choice(_FUNC, "mean", mean, _MEANS)
    if not isinstance(adaptive, (bool, np.bool_)):
        fail(_FUNC, "adaptive", "True or False", adaptive)
    if target is not None:
        target = check_real(_FUNC, "target", target, positive=True)
    if max_evaluations is not None:
        max_evaluations = check_int(_FUNC, "max_evaluations", max_evaluations, minimum=2)
    if not adaptive and (target is not None or max_evaluations is not None):
        fail(_FUNC, "adaptive", "True when target or max_evaluations is given", adaptive)
    if runner is not None and not callable(getattr(runner, "evaluate", None)):
        fail(_FUNC, "runner", "a uqkit.Runner (or None)", type(runner).__name__)
    if model is not None:
        check_model(model, _FUNC)
        parameters = _match_inputs(model, _check_parameters(parameters))
        if X is not None or Y is not None:
            fail(_FUNC, "X", "None when a model is given (uqkit draws and runs the design)",
                 "an array", "Pass model with n, or X and Y without a model.")
        d = len(parameters)
        if n is None:
            if not adaptive:
                fail(_FUNC, "n", "given with a model (the number of design points)", None)
            n = 10 * d
        n = check_int(_FUNC, "n", n, minimum=1)
        _check_enough(n, d, mean, "n")
        if max_evaluations is not None and max_evaluations < n:
            fail(_FUNC, "max_evaluations", f"at least the initial design size n={n}",
                 max_evaluations)
        name = f"gp({getattr(model, 'name', None) or type(model).__name__})"
        return _Spec(model, parameters, tuple(model.outputs), n, None, None, kernel, mean,
                     bool(adaptive), target, max_evaluations, runner, name)
    if X is None or Y is None:
        fail(_FUNC, "model", "given (with parameters and n), or a design X with outputs Y",
             None)
    if adaptive:
        fail(_FUNC, "adaptive", "False without a model (it runs the model)", adaptive)
    if n is not None:
        fail(_FUNC, "n", "None when X and Y are given", n)
    if isinstance(X, pd.DataFrame) and parameters is not None:
        X = X[list(_check_parameters(parameters).names)]
    Xa = np.asarray(X, dtype=float) if not isinstance(X, pd.DataFrame) else X.to_numpy(float)
    if Xa.ndim == 1:
        Xa = Xa[:, None]
    if Xa.ndim != 2 or not np.all(np.isfinite(Xa)):
        fail(_FUNC, "X", "a finite array of shape (n_samples, n_inputs)",
             f"shape {Xa.shape}" if np.all(np.isfinite(Xa)) else "non-finite values")
    if parameters is None:
        parameters = _box(Xa, X)
    parameters = _check_parameters(parameters)
    Xa = parameters.check_support(Xa, arg="X", func=_FUNC)
    Ya, outputs = _check_outputs(Y, Xa.shape[0])
    _check_enough(_distinct(Xa), len(parameters), mean, "X")
    constant = np.ptp(Ya, axis=0) == 0
    for group, cols in output_groups(outputs).items():
        if constant[cols].all():
            fail(_FUNC, "Y", "varying in every output", f"output {group!r} constant at "
                 f"{Ya[0, cols[0]]!r}", "Drop it: it does not vary over the design.")
    return _Spec(None, parameters, outputs, None, Xa, Ya, kernel, mean, False, None, None,
                 None, "gp")


def _box(Xa: np.ndarray, X: Any) -> Parameters:
    from uqkit.distributions import Uniform

    lo, hi = Xa.min(axis=0), Xa.max(axis=0)
    if np.any(hi <= lo):
        fail(_FUNC, "X", "varying in every column (or give parameters)",
             f"constant column {int(np.flatnonzero(hi <= lo)[0])}")
    names = (list(map(str, X.columns)) if isinstance(X, pd.DataFrame)
             else [f"x{j}" for j in range(Xa.shape[1])])
    return Parameters({nm: Uniform(a, b) for nm, a, b in zip(names, lo, hi, strict=True)})


def _check_parameters(parameters: Any) -> Parameters:
    return check_parameters(_FUNC, parameters)


def _match_inputs(model: Any, parameters: Parameters) -> Parameters:
    return match_inputs(_FUNC, model, parameters)


def _check_outputs(Y: Any, n_rows: int) -> tuple[np.ndarray, tuple[str, ...]]:
    outputs = None
    if isinstance(Y, pd.Series):
        outputs = (str(Y.name) if isinstance(Y.name, str) and Y.name else "y",)
        Y = Y.to_numpy(dtype=float)[:, None]
    elif isinstance(Y, pd.DataFrame):
        outputs = tuple(str(c) for c in Y.columns)
        Y = Y.to_numpy(dtype=float)
    try:
        arr = np.asarray(Y, dtype=float)
    except (TypeError, ValueError):
        fail(_FUNC, "Y", "a real-valued array of shape (n_samples, n_outputs)", type(Y).__name__)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n_rows:
        fail(_FUNC, "Y", f"an array with {n_rows} rows (one per row of X)", f"shape {arr.shape}")
    bad = ~np.all(np.isfinite(arr), axis=1)
    if bad.any():
        fail(_FUNC, "Y", "finite (a GP cannot use NaN or inf outputs)",
             f"{int(bad.sum())} non-finite rows (first: row {int(np.flatnonzero(bad)[0])})",
             "Drop those rows of X and Y (failed runs) before fitting.")
    if outputs is None:
        outputs = ("y",) if arr.shape[1] == 1 else tuple(f"y{j}" for j in range(arr.shape[1]))
    return arr, outputs


def _n_trend(mean: str, d: int) -> int:
    return d + 1 if mean == "linear" else 1


def min_points(d: int, mean: str) -> int:
    """Fewest distinct design points fit_gp accepts."""
    return max(d, _n_trend(mean, d)) + 2


def _check_enough(n: int, d: int, mean: str, arg: str) -> None:
    need = min_points(d, mean)
    if n < need:
        got = n if arg == "n" else f"{n} distinct rows"
        fail(_FUNC, arg, f"at least {need} distinct points for {d} inputs and mean={mean!r}",
             got, "Use more points.")


def _distinct(Xa: np.ndarray) -> int:
    return int(np.unique(Xa, axis=0).shape[0])


# -- assembly -------------------------------------------------------------------------------------
def _merge_duplicates(Xd: np.ndarray, Yd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge repeated rows whose outputs agree; keep replicates with different outputs."""
    _, first, inverse = np.unique(Xd, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if first.size == Xd.shape[0]:
        return Xd, Yd
    keep = np.ones(Xd.shape[0], dtype=bool)
    for i in range(Xd.shape[0]):
        j = first[inverse[i]]
        if j != i and np.array_equal(Yd[i], Yd[j]):
            keep[i] = False
    return Xd[keep], Yd[keep]


def build(spec: _Spec, Xd: np.ndarray, Yd: np.ndarray, rng: np.random.Generator, *,
          n_evaluations: int, info: dict | None = None,
          previous: GaussianProcess | None = None) -> GaussianProcess:
    """Fit the emulator of every output on the design ``(Xd, Yd)`` (finite rows only)."""
    d = len(spec.parameters)
    n_failed = n_evaluations - Xd.shape[0] if spec.model is not None else 0
    Xd, Yd = _merge_duplicates(Xd, Yd)
    if spec.model is not None:
        need = min_points(d, spec.mean)
        if _distinct(Xd) < need:
            raise ModelEvaluationError(
                f"fit_gp needs at least {need} distinct successful evaluations; only "
                f"{_distinct(Xd)} of {n_evaluations} succeeded.")
        constant = np.ptp(Yd, axis=0) == 0
        for group, cols in output_groups(spec.outputs).items():
            if constant[cols].all():
                raise ModelEvaluationError(
                    f"fit_gp cannot emulate output {group!r}: it is constant "
                    f"({Yd[0, cols[0]]!r}) over the design. Drop it from the model outputs.")
    U = to_unit(spec.parameters, Xd)
    groups = list(output_groups(spec.outputs).items())
    rngs = rng.spawn(len(groups))
    blocks, components = [], {}
    for (group, cols), sub in zip(groups, rngs, strict=True):
        block = _fit_block(spec, group, cols, U, Xd, Yd, sub)
        blocks.append(block)
        if block.is_pca:
            components[group] = {"columns": len(cols), "kept": len(block.fits),
                                 "explained": block.explained}
    info = dict(info or {})
    info["components"] = components
    return GaussianProcess(spec.parameters, spec.outputs, spec.kernel, spec.mean,
                           tuple(blocks), np.array(Xd), np.array(Yd),
                           n_evaluations=int(n_evaluations), n_failed=int(n_failed),
                           name=spec.name, info=info)


def _fit_block(spec, group, cols, U, Xd, Yd, rng) -> _Block:
    Yg = Yd[:, cols]
    if len(cols) == 1:
        fit = _fit_one(spec, U, Xd, Yg[:, 0], rng)
        return _Block(group, tuple(cols), np.zeros(1), np.ones((1, 1)), np.zeros(1), (fit,))
    center = Yg.mean(axis=0)
    A, s, Vt = np.linalg.svd(Yg - center, full_matrices=False)
    power = s**2
    total = power.sum()
    frac = np.cumsum(power) / total
    k = int(np.searchsorted(frac, 1.0 - PCA_UNEXPLAINED) + 1)
    k = max(1, min(k, PCA_MAX, len(s), U.shape[0] - min_points(U.shape[1], spec.mean)))
    scores = A[:, :k] * s[:k]
    residual = (power[k:, None] * Vt[k:] ** 2).sum(axis=0) / U.shape[0]
    fits = tuple(_fit_one(spec, U, Xd, scores[:, j], r)
                 for j, r in enumerate(rng.spawn(k)))
    return _Block(group, tuple(cols), center, Vt[:k], residual, fits,
                  explained=float(frac[k - 1]))


def _fit_one(spec, U, Xd, y, rng):
    trend = _trend(spec, Xd, y)
    return fit_core(U, y, kernel=spec.kernel, trend=trend, rng=rng, likelihood="reml",
                    variance=VARIANCE)


def _trend(spec: _Spec, Xd: np.ndarray, y: np.ndarray) -> Trend:
    if spec.mean == "constant":
        return constant_trend()
    if spec.mean == "linear":
        return linear_trend()
    return pce_trend(spec.parameters, Xd, y)


def pce_trend(parameters: Parameters, Xd: np.ndarray, y: np.ndarray) -> Trend:
    """PC-Kriging trend: the terms a sparse PCE (LARS) selects on the design, at most n // 2."""
    import warnings

    from uqkit.pce import PolynomialChaos, fit_pce

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pce = fit_pce(parameters=parameters, X=Xd, Y=y, rng=0)
    coef = pce.coefficients[:, 0]
    order = [0] + [int(i) for i in np.argsort(-np.abs(coef[1:])) + 1 if coef[i] != 0]
    order = order[: max(1, Xd.shape[0] // 2)]
    alphas = pce.multi_indices[sorted(order)]
    names = tuple(f"t{i}" for i in range(len(order)))
    basis = PolynomialChaos(parameters, names, alphas, np.eye(len(order)))

    def function(U: np.ndarray) -> np.ndarray:
        return basis(from_unit(parameters, U))

    return basis_trend(function, name=f"pce({len(order)} terms)")
