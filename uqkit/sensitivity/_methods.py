"""Other global sensitivity methods behind one interface: ``uqkit.sensitivity`` and
``uqkit.sensitivity_from_data`` (FAST, RBD-FAST, delta, PAWN, DGSM, HDMR)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from uqkit._errors import ModelEvaluationError
from uqkit._validation import as_2d_float, check_choice, check_int, check_real, fail, normalize_rng
from uqkit._version import __version__
from uqkit.parameters import Parameters, make_qmc_engine

from ._common import check_problem, evaluate, failure_mask, integer_seed
from ._given_data import delta_indices, dgsm_indices

__all__ = ["sensitivity", "sensitivity_from_data", "SensitivityResult"]

#: method -> (main measure, all measures, reference)
METHODS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "fast": ("ST", ("S1", "ST"), "Cukier et al. (1973); Saltelli et al. (1999) extended FAST "
             "(SALib)"),
    "rbd_fast": ("S1", ("S1",), "Tarantola et al. (2006); Plischke (2010) (SALib)"),
    "delta": ("delta", ("delta",), "Borgonovo (2007); Plischke et al. (2013) given-data "
              "estimator (uqkit)"),
    "pawn": ("median", ("minimum", "mean", "median", "maximum", "CV"),
             "Pianosi & Wagener (2015, 2018) (SALib)"),
    "dgsm": ("dgsm", ("vi", "dgsm"), "Sobol' & Kucherenko (2009), unit space (uqkit)"),
    "hdmr": ("ST", ("S", "ST"), "Li et al. (2010) HDMR (SALib)"),
}
GIVEN_DATA = ("rbd_fast", "delta", "pawn", "hdmr")
_EPS = 1e-12


@dataclass(frozen=True, repr=False)
class SensitivityResult:
    """Indices of one sensitivity method, for one or more outputs.

    ``indices`` and ``conf`` are DataFrames with index = input names and
    MultiIndex columns ``(measure, output)``, so ``indices["S1"]`` is an
    (inputs x outputs) table; ``conf`` holds the interval half-widths where the
    method gives them (NaN otherwise). ``main`` names the headline measure.
    """

    method: str
    indices: pd.DataFrame
    conf: pd.DataFrame | None = None
    main: str = ""
    n_evaluations: int = 0
    n_failed: int = 0
    n_samples: int | None = None
    confidence: float | None = None
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def measures(self) -> list[str]:
        """Measure names, in order."""
        return list(dict.fromkeys(self.indices.columns.get_level_values(0)))

    def __getitem__(self, measure: str) -> pd.DataFrame:
        return self.indices[measure]

    def to_dataframe(self) -> pd.DataFrame:
        """Long format: ``measure, input, output, value, conf``."""
        long = self.indices.stack(level=[0, 1], future_stack=True).rename("value")
        out = long.reset_index()
        out.columns = ["input", "measure", "output", "value"]
        if self.conf is not None:
            c = self.conf.reindex(columns=self.indices.columns)
            out["conf"] = c.stack(level=[0, 1], future_stack=True).to_numpy()
        else:
            out["conf"] = np.nan
        return out[["measure", "input", "output", "value", "conf"]]

    def __repr__(self) -> str:
        table = self.indices[self.main]
        out = table.columns[0]
        top = table[out].sort_values(ascending=False).head(6)
        return (f"SensitivityResult(method={self.method!r}, n_samples={self.n_samples}, "
                f"n_evaluations={self.n_evaluations}, n_failed={self.n_failed})\n"
                f"  {self.main}[{out}]: " + ", ".join(f"{k}={v:.3g}" for k, v in top.items()))

    def report(self, path: str | os.PathLike, *, title: str = "Sensitivity report") -> str:
        """Write this result's section of :func:`uqkit.report` as a self-contained HTML
        file (and its JSON beside it); return the HTML path."""
        from uqkit.reports._report import write_result_report

        return write_result_report(self, path, title=title)

    def _repr_html_(self) -> str:
        from uqkit.reports._repr import card

        return card("SensitivityResult", facts={
            "method": self.method, "samples": self.n_samples,
            "model evaluations": self.n_evaluations, "failed": self.n_failed},
            tables=[("", self.indices)], kind="sensitivity")

    def plot(self, output: Any = None, *, measure: str | None = None, ax: Any = None):
        """Bars of one measure (default: the main one) with half-width error bars."""
        measure = self.main if measure is None else measure
        if measure not in self.measures:
            fail("SensitivityResult.plot", "measure", f"one of {self.measures}", measure)
        table = self.indices[measure]
        output = table.columns[0] if output is None else output
        if output not in table.columns:
            fail("SensitivityResult.plot", "output", f"one of {list(table.columns)}", output)
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6.4, 3.6))
        yerr = None
        if self.conf is not None and (measure, output) in self.conf.columns:
            yerr = self.conf[(measure, output)].to_numpy(dtype=float)
            yerr = None if np.all(np.isnan(yerr)) else np.nan_to_num(yerr)
        x = np.arange(len(table.index))
        ax.bar(x, table[output].to_numpy(), yerr=yerr, capsize=3)
        ax.set_xticks(x)
        ax.set_xticklabels([str(i) for i in table.index])
        ax.set_ylabel(measure)
        ax.set_title(f"{self.method}: {measure} of {output}")
        return ax


def _unit_problem(names) -> dict[str, Any]:
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def _analyze(method, U, Y, names, outputs, *, confidence, n_resamples, rng, options,
             dgsm_parts=None):
    """Run the analyzer per output column; return indices and conf frames."""
    problem = _unit_problem(names)
    vals: dict[tuple[str, str], np.ndarray] = {}
    conf: dict[tuple[str, str], np.ndarray] = {}
    d = len(names)
    nan = np.full(d, np.nan)
    for j, out in enumerate(outputs):
        y = Y[:, j]
        seed = integer_seed(rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SALib's deprecation and runtime chatter
            if method == "fast":
                from SALib.analyze import fast

                S = fast.analyze(problem, y, M=options.get("M", 4), num_resamples=n_resamples,
                                 conf_level=confidence, seed=seed)
                res = {"S1": (S["S1"], S["S1_conf"]), "ST": (S["ST"], S["ST_conf"])}
            elif method == "rbd_fast":
                from SALib.analyze import rbd_fast

                S = rbd_fast.analyze(problem, U, y, M=options.get("M", 10),
                                     num_resamples=n_resamples, conf_level=confidence, seed=seed)
                res = {"S1": (S["S1"], S["S1_conf"])}
            elif method == "pawn":
                from SALib.analyze import pawn

                S = pawn.analyze(problem, U, y, S=options.get("S", 10), seed=seed)
                res = {k: (S[k], nan) for k in ("minimum", "mean", "median", "maximum", "CV")}
            elif method == "hdmr":
                from SALib.analyze import hdmr

                S = hdmr.analyze(problem, U, y, maxorder=options.get("maxorder", 2),
                                 alpha=confidence, seed=seed)
                res = {"S": (np.asarray(S["S"])[:d], np.asarray(S["S_conf"])[:d]),
                       "ST": (np.asarray(S["ST"])[:d], np.asarray(S["ST_conf"])[:d])}
            elif method == "delta":
                dl, lo, hi = delta_indices(U, y, n_resamples=n_resamples,
                                           rng=np.random.default_rng(seed),
                                           confidence=confidence)
                res = {"delta": (dl, (hi - lo) / 2)}
            else:  # dgsm
                y_base, y_step, step = dgsm_parts(j)
                nu, nu_h, bound, bound_h = dgsm_indices(y_base, y_step, step,
                                                        confidence=confidence)
                res = {"vi": (nu, nu_h), "dgsm": (bound, bound_h)}
        for measure, (v, c) in res.items():
            vals[(measure, out)] = np.asarray(v, dtype=float)
            conf[(measure, out)] = np.asarray(c, dtype=float)
    cols = pd.MultiIndex.from_tuples(list(vals), names=["measure", "output"])
    idx = pd.Index(list(names), name="input")
    indices = pd.DataFrame(np.column_stack(list(vals.values())), index=idx, columns=cols)
    confs = pd.DataFrame(np.column_stack(list(conf.values())), index=idx, columns=cols)
    order = sorted(range(len(cols)), key=lambda k: METHODS[method][1].index(cols[k][0]))
    return indices.iloc[:, order], confs.iloc[:, order]


def _check_common(func, method, confidence, n_resamples, allowed):
    check_choice(func, "method", method, allowed)
    confidence = check_real(func, "confidence", confidence)
    if not 0 < confidence < 1:
        fail(func, "confidence", "in (0, 1)", confidence)
    n_resamples = check_int(func, "n_resamples", n_resamples, minimum=0)
    return confidence, n_resamples


def sensitivity(model: Any, parameters: Any, n: int, *, method: str, confidence: float = 0.95,
                n_resamples: int = 100, rng: Any = None, runner: Any = None,
                **options: Any) -> SensitivityResult:
    """Global sensitivity by FAST, RBD-FAST, delta, PAWN, DGSM or HDMR.

    The design is drawn in the unit cube and mapped through each input's inverse
    CDF, so any marginal works; the analysis runs in the unit (quantile) space.

    Parameters
    ----------
    model : Model
    parameters : Parameters
    n : int
        Sample size: runs per input for ``"fast"`` (``n * d`` runs; ``n > 4 M^2``),
        base points for ``"dgsm"`` (``n * (d + 1)`` runs), and the number of runs of
        the scrambled-Sobol' design for the given-data methods (``"rbd_fast"``,
        ``"delta"``, ``"pawn"``, ``"hdmr"``; HDMR needs ``n >= 300``).
    method : {"fast", "rbd_fast", "delta", "pawn", "dgsm", "hdmr"}
    confidence : float
    n_resamples : int
        Bootstrap resamples for the intervals (FAST, RBD-FAST, delta).
    rng : None, int or numpy.random.Generator
    runner : Runner, optional
    **options
        Method options: ``M`` (fast, rbd_fast), ``S`` (pawn slides), ``maxorder`` (hdmr),
        ``step`` (dgsm unit-space step, default 1e-3).

    Returns
    -------
    SensitivityResult

    Raises
    ------
    InvalidParameterError
        Before any model run, for invalid arguments.
    ModelEvaluationError
        For FAST when a run fails (its search curve needs every run).

    References
    ----------
    Cukier, R. I. et al. (1973). J. Chem. Phys. 59, 3873-3878. Saltelli, A., Tarantola,
    S. & Chan, K. (1999). Technometrics 41, 39-56. Tarantola, S., Gatelli, D. & Mara, T.
    (2006). Reliab. Eng. Syst. Saf. 91, 717-727. Plischke, E. (2010). Reliab. Eng. Syst.
    Saf. 95, 354-360. Borgonovo, E. (2007). Reliab. Eng. Syst. Saf. 92, 771-784.
    Plischke, E., Borgonovo, E. & Smith, C. L. (2013). Eur. J. Oper. Res. 226, 536-550.
    Pianosi, F. & Wagener, T. (2015). Environ. Model. Softw. 70, 80-85. Sobol', I. M. &
    Kucherenko, S. (2009). Math. Comput. Simul. 79, 3009-3017. Li, G. et al. (2010).
    J. Phys. Chem. A 114, 6022-6032.

    Examples
    --------
    >>> import uqkit
    >>> model, params, _ = uqkit.examples.ishigami()
    >>> res = uqkit.sensitivity(model, params, 512, method="fast", rng=0)
    >>> res.indices["S1"].round(1).loc["x2", "y"]
    np.float64(0.4)
    """
    func = "sensitivity"
    parameters = check_problem(func, model, parameters)
    confidence, n_resamples = _check_common(func, method, confidence, n_resamples,
                                            tuple(METHODS))
    d = parameters.dim
    M = check_int(func, "M", options.get("M", 4 if method == "fast" else 10), minimum=1)
    minimum = {"fast": 4 * M * M + 1, "hdmr": 300}.get(method, 2)
    n = check_int(func, "n", n, minimum=minimum)
    step = check_real(func, "step", options.get("step", 1e-3), positive=True)
    if step >= 0.5:
        fail(func, "step", "< 0.5 (a unit-space finite-difference step)", step)
    unknown = set(options) - {"M", "S", "maxorder", "step"}
    if unknown:
        fail(func, "options", "among M, S, maxorder, step", sorted(unknown))
    seed_arg = rng
    rng = normalize_rng(rng)
    design_rng, analysis_rng = rng.spawn(2)
    if method == "fast":
        from SALib.sample import fast_sampler

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            U = fast_sampler.sample(_unit_problem(parameters.names), n, M=M,
                                    seed=integer_seed(design_rng))
    else:
        engine = make_qmc_engine("sobol", d, design_rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # n not a power of two
            U = engine.random(n) + 2.0 ** -31
        if method == "dgsm":
            up = U + step <= 1 - _EPS
            signed = np.where(up, step, -step).T  # (d, n)
            blocks = [U]
            for i in range(d):
                Ui = U.copy()
                Ui[:, i] += signed[i]
                blocks.append(Ui)
            U = np.concatenate(blocks)
    U = np.clip(U, _EPS, 1 - _EPS)
    X = parameters._ppf(U)
    ev = evaluate(model, X, runner)
    Y = np.asarray(ev.Y, dtype=float)
    bad = failure_mask(ev)
    outputs = tuple(model.outputs)
    dgsm_parts = None
    if method == "fast" and bad.any():
        raise ModelEvaluationError(f"sensitivity(method='fast'): {int(bad.sum())} runs failed; "
                                   "the FAST search curve needs every run. Use a given-data "
                                   "method such as 'rbd_fast' or 'delta'.")
    if method == "dgsm":
        Yb = Y.reshape(d + 1, n, -1)
        good = ~bad.reshape(d + 1, n).any(axis=0)

        def dgsm_parts(j):
            return Yb[0, good, j], Yb[1:, good, j], signed[:, good]

        n_used = int(good.sum())
    elif method != "fast":
        U, Y = U[~bad], Y[~bad]
        n_used = int((~bad).sum())
    else:
        n_used = n
    if n_used < max(minimum, 2):
        raise ModelEvaluationError(f"sensitivity: only {n_used} usable runs remain after "
                                   f"failures; {method!r} needs at least {max(minimum, 2)}.")
    indices, conf = _analyze(method, U, Y, parameters.names, outputs, confidence=confidence,
                             n_resamples=n_resamples, rng=analysis_rng, options=options,
                             dgsm_parts=dgsm_parts)
    seed = seed_arg if isinstance(seed_arg, (int, np.integer)) and not isinstance(
        seed_arg, bool) else None
    return SensitivityResult(
        method=method, indices=indices, conf=conf, main=METHODS[method][0],
        n_evaluations=int(X.shape[0]), n_failed=int(bad.sum()), n_samples=n,
        confidence=confidence,
        info={"reference": METHODS[method][2], "seed": seed, "n_used": n_used,
              "n_new": int(ev.n_new), "n_cached": int(ev.n_cached),
              "uqkit_version": __version__})


def sensitivity_from_data(parameters: Any, X: Any, Y: Any = None, *, method: str,
                          outputs: Any = None, confidence: float = 0.95, n_resamples: int = 100,
                          rng: Any = None, **options: Any) -> SensitivityResult:
    """Given-data sensitivity indices from evaluations you already have.

    Parameters
    ----------
    parameters : Parameters
        The input distributions the rows of ``X`` were drawn from (independently).
    X : array-like, shape (n_samples, n_inputs), DataFrame with the parameter names, or
        the :class:`uqkit.Evaluations` of a runner (then ``Y`` is omitted; its failed
        rows are dropped and counted)
    Y : array-like, shape (n_samples,) or (n_samples, n_outputs), or DataFrame
    method : {"rbd_fast", "delta", "pawn", "hdmr"}
    outputs : sequence of str, optional
        Output names (default: DataFrame columns, or ``y`` / ``y0, y1, ...``).
    confidence, n_resamples, rng, **options
        As in :func:`sensitivity`.

    Returns
    -------
    SensitivityResult
        ``n_evaluations`` is 0 (no model run); rows with a non-finite output are
        dropped and counted in ``n_failed``.

    Raises
    ------
    InvalidParameterError
        For a method that needs its own design (``"fast"``, ``"dgsm"``), shapes that
        do not match, or inputs outside the support.

    Examples
    --------
    >>> import uqkit
    >>> model, params, _ = uqkit.examples.ishigami()
    >>> X = params.sample(1024, rng=0)
    >>> res = uqkit.sensitivity_from_data(params, X, model(X), method="rbd_fast", rng=0)
    >>> res.main
    'S1'
    """
    func = "sensitivity_from_data"
    if not isinstance(parameters, Parameters):
        if isinstance(parameters, Mapping):
            parameters = Parameters(parameters)
        else:
            fail(func, "parameters", "a uqkit.Parameters", type(parameters).__name__)
    if method in ("fast", "dgsm"):
        fail(func, "method", "a given-data method (" + ", ".join(map(repr, GIVEN_DATA)) + ")",
             method, f"{method!r} needs its own design: use uqkit.sensitivity.")
    confidence, n_resamples = _check_common(func, method, confidence, n_resamples, GIVEN_DATA)
    valid = None
    if Y is None and hasattr(X, "ok") and hasattr(X, "Y"):  # runner Evaluations
        ev = X
        if tuple(ev.inputs) != tuple(parameters.names):
            fail(func, "X", f"evaluations of inputs {list(parameters.names)}", list(ev.inputs))
        outputs = list(ev.outputs) if outputs is None else outputs
        valid = np.asarray(ev.ok, dtype=bool)
        X, Y = np.asarray(ev.X), np.where(valid[:, None], np.asarray(ev.Y, dtype=float), np.nan)
    elif Y is None:
        fail(func, "Y", "the outputs for the rows of X (or pass a runner's Evaluations as X)",
             None)
    if hasattr(X, "columns"):
        missing = [c for c in parameters.names if c not in X.columns]
        if missing:
            fail(func, "X", f"columns named {list(parameters.names)}", list(X.columns))
        X = X[list(parameters.names)].to_numpy()
    X = parameters.check_support(X, arg="X", func=func)
    if hasattr(Y, "columns"):
        outputs = list(Y.columns) if outputs is None else outputs
        Y = Y.to_numpy()
    Y = np.asarray(Y, dtype=float)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2 or Y.shape[0] != X.shape[0]:
        fail(func, "Y", f"an array with {X.shape[0]} rows (one per row of X)",
             f"shape {Y.shape}")
    if outputs is None:
        outputs = ["y"] if Y.shape[1] == 1 else [f"y{j}" for j in range(Y.shape[1])]
    outputs = [str(o) for o in outputs]
    if len(outputs) != Y.shape[1]:
        fail(func, "outputs", f"{Y.shape[1]} names", outputs)
    minimum = 300 if method == "hdmr" else 2
    ok = np.all(np.isfinite(Y), axis=1)
    if ok.sum() < minimum:
        fail(func, "X", f"at least {minimum} rows with finite outputs", int(ok.sum()))
    U = np.clip(parameters.to_unit(X[ok]), _EPS, 1 - _EPS)
    as_2d_float(func, "X", U, parameters.dim)
    rng = normalize_rng(rng)
    indices, conf = _analyze(method, U, Y[ok], parameters.names, outputs,
                             confidence=confidence, n_resamples=n_resamples, rng=rng,
                             options=options)
    return SensitivityResult(
        method=method, indices=indices, conf=conf, main=METHODS[method][0], n_evaluations=0,
        n_failed=int((~ok).sum()), n_samples=int(X.shape[0]), confidence=confidence,
        info={"reference": METHODS[method][2], "n_used": int(ok.sum()),
              "uqkit_version": __version__})
