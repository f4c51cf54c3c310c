"""``fit_multifidelity``: nested designs, one runner batch per fidelity, recursive fits."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import as_2d_float, check_int, fail, normalize_rng
from ..parameters import Parameters
from ._design import nested_unit_designs
from ._levels import fit_level
from ._model import LevelCounts, MultiFidelityGP

__all__ = ["fit_multifidelity"]

_FUNC = "fit_multifidelity"
_METHODS = ("ar1", "nargp")


def fit_multifidelity(models: Sequence[Any], parameters: Parameters, *,
                      n: Sequence[int] | None = None, X: Sequence[Any] | None = None,
                      Y: Sequence[Any] | None = None, method: str = "ar1", rng: Any = None,
                      runner: Any = None) -> MultiFidelityGP:
    """Multi-fidelity Gaussian-process emulator of the most expensive of several models.

    Parameters
    ----------
    models : sequence of Model
        Two or more fidelities of one simulator, from the cheapest to the most
        expensive (for example ``cardiac_cable(n_cells=20)`` then
        ``cardiac_cable(n_cells=80)``, or the steps of a :class:`uqkit.Chain`).
        They must share inputs and outputs.
    parameters : Parameters
        Distributions of the inputs (the designs are drawn from them; the GPs
        work in their CDF coordinates).
    n : sequence of int, optional
        Runs per fidelity, cheapest first, non-increasing. The designs are
        nested: a Latin hypercube at the cheapest level, then at each level a
        maximin subset of the level below. Default: ``20 d`` runs at the
        cheapest level, a quarter of that at each level above (at least
        ``d + 2``).
    X : sequence of arrays, optional
        Your own design per level (cheapest first) instead of ``n``; nested
        designs are best but not required.
    Y : sequence of arrays, optional
        The outputs at ``X`` per level: then nothing is run.
    method : {"ar1", "nargp"}
        ``"ar1"``: autoregressive co-kriging ``f_l = rho_l f_{l-1} + delta_l``
        (Kennedy & O'Hagan 2000), fitted level by level (Le Gratiet 2013).
        ``"nargp"``: nonlinear autoregressive GP, ``f_l = g_l(x, f_{l-1}(x))``
        (Perdikaris et al. 2017), for fidelities related nonlinearly.
    rng : None, int or numpy.random.Generator
        Seed of the designs and of the hyperparameter starts.
    runner : Runner, optional
        Evaluates the models, one batch per level (default ``uqkit.Runner()``).

    Returns
    -------
    MultiFidelityGP

    Raises
    ------
    InvalidParameterError
        If the models do not share inputs and outputs, the run counts are not
        non-increasing, or ``X``/``Y`` do not match the models; before any run.

    Notes
    -----
    Each level and output is a Gaussian process of the :mod:`uqkit.gp` engine
    (anisotropic kernel, hyperparameters by maximum likelihood; the base and
    AR1 levels take the Matern 5/2 or the squared-exponential kernel, whichever
    has the larger likelihood). For AR1 the
    level-``l`` GP has the universal-kriging trend ``[1, m_{l-1}(x)]``, so
    ``rho_l`` is estimated with the trend by generalised least squares; with
    nested designs this recursive fit is the exact co-kriging predictor of the
    joint model with the cost of independent fits (Le Gratiet 2013). NARGP
    levels take ``f_{l-1}`` as an extra input of a squared-exponential kernel
    and integrate over its predictive uncertainty by Gauss-Hermite quadrature.
    Failed runs are dropped from their level's fit and counted in ``n_failed``.

    References
    ----------
    Kennedy, M. C. and O'Hagan, A. (2000). Predicting the output from a complex
    computer code when fast approximations are available. Biometrika 87(1), 1-13.
    Le Gratiet, L. (2013). Bayesian analysis of hierarchical multifidelity codes.
    SIAM/ASA J. Uncertainty Quantification 1(1), 244-269.
    Perdikaris, P., Raissi, M., Damianou, A., Lawrence, N. D. and Karniadakis, G. E.
    (2017). Nonlinear information fusion algorithms for data-efficient multi-fidelity
    modelling. Proc. R. Soc. A 473, 20160751.

    Examples
    --------
    >>> import numpy as np, uqkit
    >>> low = uqkit.as_model(lambda x: np.sin(8 * x), name="low")
    >>> high = uqkit.as_model(lambda x: 1.5 * np.sin(8 * x) + x, name="high")
    >>> mf = uqkit.fit_multifidelity([low, high], uqkit.Parameters(x=uqkit.Uniform(0, 1)),
    ...                              n=(20, 6), rng=0)
    >>> tuple(mf.n_evaluations)
    (20, 6)
    >>> bool(np.allclose(mf.predict([[0.3]]), 1.5 * np.sin(2.4) + 0.3, atol=0.05))
    True
    """
    models, params, n, X, Y, method = _fit_multifidelity_iv(models, parameters, n, X, Y,
                                                            method)
    if runner is not None and not callable(getattr(runner, "evaluate", None)):
        fail(_FUNC, "runner", "a uqkit.Runner (or None)", type(runner).__name__)
    rng = normalize_rng(rng)
    if X is None:
        X = [params.from_unit(U) for U in nested_unit_designs(n, params.dim, rng)]
    failed = [0] * len(models)
    if Y is None:
        Y = []
        with contextlib.ExitStack() as stack:
            if runner is None:
                from ..runner import Runner

                runner = stack.enter_context(Runner(progress=False))
            for level, (model, Xl) in enumerate(zip(models, X)):
                ev = runner.evaluate(model, Xl)
                Yl = np.asarray(ev.Y, dtype=float)
                failed[level] = int(len(Xl) - np.asarray(ev.ok, dtype=bool).sum())
                Y.append(Yl)
    outputs = tuple(models[0].outputs)
    levels = []
    for j in range(len(outputs)):
        fitted: tuple = ()
        for Xl, Yl in zip(X, Y):
            ok = np.isfinite(Yl[:, j])
            if ok.sum() < 3:
                fail(_FUNC, "models", f"at least 3 finite values of output {outputs[j]!r} at "
                     "every level", f"{int(ok.sum())} at level {len(fitted)}",
                     "Check the failed runs in the runner's store or give more runs.")
            level = fit_level(method, fitted, params.to_unit(Xl[ok]), Yl[ok, j], rng)
            fitted = (*fitted, level)
        levels.append(fitted)
    name = "multifidelity_gp(" + ",".join(
        str(getattr(m, "name", type(m).__name__)) for m in models) + ")"
    return MultiFidelityGP(params, outputs, method, tuple(levels), tuple(X), tuple(Y),
                           LevelCounts(len(Xl) for Xl in X), LevelCounts(failed), name=name,
                           info={"n_levels": len(models)})


def _fit_multifidelity_iv(models, parameters, n, X, Y, method):
    """Validate every argument before any run; return them normalised."""
    if isinstance(models, (str, bytes)) or not isinstance(models, Sequence) or len(models) < 2:
        fail(_FUNC, "models", "a sequence of at least two models, cheapest first",
             type(models).__name__ if not isinstance(models, Sequence) else len(models))
    models = list(models)
    for i, m in enumerate(models):
        if getattr(m, "inputs", None) is None or getattr(m, "outputs", None) is None:
            fail(_FUNC, f"models[{i}]", "a uqkit Model (inputs, outputs, __call__)",
                 type(m).__name__)
    inputs, outputs = tuple(models[0].inputs), tuple(models[0].outputs)
    for i, m in enumerate(models[1:], start=1):
        if tuple(m.inputs) != inputs:
            fail(_FUNC, "models", f"fidelities with the same inputs (model 0 has {list(inputs)})",
                 f"model {i} with inputs {list(m.inputs)}",
                 "Every fidelity must take the same inputs in the same order; wrap a model "
                 "with uqkit.as_model to rename or reorder them.")
        if tuple(m.outputs) != outputs:
            fail(_FUNC, "models", f"fidelities with the same outputs (model 0 has "
                 f"{list(outputs)})", f"model {i} with outputs {list(m.outputs)}")
    if not isinstance(parameters, Parameters):
        fail(_FUNC, "parameters", "a uqkit.Parameters", type(parameters).__name__)
    if set(parameters.names) != set(inputs) or len(parameters) != len(inputs):
        fail(_FUNC, "parameters", f"a distribution for exactly the model inputs {list(inputs)}",
             list(parameters.names))
    parameters = parameters.subset(inputs)
    if method not in _METHODS:
        fail(_FUNC, "method", "one of " + ", ".join(map(repr, _METHODS)), method)
    d, n_levels = len(inputs), len(models)
    if X is not None and n is not None:
        fail(_FUNC, "n", "None when X is given", n, "Give either n or X.")
    if Y is not None and X is None:
        fail(_FUNC, "X", "the design of each level when Y is given", None)
    if X is not None:
        X = _per_level("X", X, n_levels, d)
        if Y is not None:
            Y = _per_level("Y", Y, n_levels, len(outputs), allow_nan=True)
            for level, (Xl, Yl) in enumerate(zip(X, Y)):
                if len(Xl) != len(Yl):
                    fail(_FUNC, "Y", f"{len(Xl)} rows at level {level} (one per row of X)",
                         f"{len(Yl)} rows")
        return models, parameters, None, X, Y, method
    if n is None:
        first = 20 * d
        n = tuple(max(first // 4 ** k, d + 2) for k in range(n_levels))
    if isinstance(n, (int, np.integer)) or len(n) != n_levels:
        fail(_FUNC, "n", f"a tuple of {n_levels} run counts (one per model, cheapest first)", n)
    n = tuple(check_int(_FUNC, "n", k, minimum=3) for k in n)
    if any(b > a for a, b in zip(n, n[1:])):
        fail(_FUNC, "n", "non-increasing run counts (nested designs: each level a subset of "
             "the cheaper one)", n)
    return models, parameters, n, None, None, method


def _per_level(arg, value, n_levels, n_columns, allow_nan=False):
    if isinstance(value, np.ndarray) or not isinstance(value, Sequence) or len(value) != n_levels:
        fail(_FUNC, arg, f"a sequence of {n_levels} arrays (one per model, cheapest first)",
             type(value).__name__)
    out = []
    for level, arr in enumerate(value):
        if allow_nan:
            a = np.asarray(arr, dtype=float)
            if a.ndim == 1 and n_columns == 1:
                a = a[:, None]
            if a.ndim != 2 or a.shape[1] != n_columns:
                fail(_FUNC, f"{arg}[{level}]", f"an array with {n_columns} columns",
                     f"shape {a.shape}")
            out.append(a)
        else:
            out.append(as_2d_float(_FUNC, f"{arg}[{level}]", arr, n_columns))
    return out
