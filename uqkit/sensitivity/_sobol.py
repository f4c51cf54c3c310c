"""Monte-Carlo (randomised quasi-Monte-Carlo) Sobol' indices: ``uqkit.sobol``."""

from __future__ import annotations

import hashlib
import numbers
import warnings
from typing import Any

import numpy as np
import pandas as pd

from uqkit._errors import ModelEvaluationError, UQKitWarning
from uqkit._validation import (
    check_choice,
    check_int,
    check_real,
    fail,
    is_power_of_two,
    normalize_rng,
)
from uqkit._version import __version__
from uqkit.models import model_identity, output_groups
from uqkit.parameters import make_qmc_engine

from ._common import check_problem, evaluate, failure_mask
from ._estimators import ESTIMATORS, SECOND_ORDER_REFERENCE, estimate
from ._results import SobolResult

__all__ = ["sobol"]

_FUNC = "sobol"


class _Design:
    """The Saltelli design grown in Sobol'-sequence blocks from one scrambled engine.

    Base sample ``k`` is point ``k`` of a scrambled Sobol' sequence in ``2d``
    dimensions: ``A`` takes the first ``d`` coordinates and ``B`` the last ``d``.
    ``engine.random(k)`` continues the sequence, so growing ``n`` to ``2n``
    appends points ``n..2n-1`` and keeps every earlier row (and its cached run).
    """

    def __init__(self, parameters, second_order: bool, rng: np.random.Generator):
        self.parameters = parameters
        self.d = parameters.dim
        self.second_order = second_order
        self.n_blocks = self.d + 2 + (self.d if second_order else 0)
        self.engine = make_qmc_engine("sobol", 2 * self.d, rng)
        # scipy returns multiples of 2^-bits, so 0 is possible: shift to the cell
        # midpoint so unbounded inverse CDFs stay finite.
        self._shift = 2.0 ** -(getattr(self.engine, "bits", 30) + 1)

    def draw(self, k: int) -> np.ndarray:
        """The next ``k`` base samples as rows ``[A; B; AB_1..AB_d; (BA_1..BA_d)]``."""
        d = self.d
        U = self.engine.random(k)
        U += self._shift
        Z = self.parameters._ppf(np.vstack([U[:, :d], U[:, d:]]))
        A, B = Z[:k], Z[k:]
        X = np.empty((self.n_blocks, k, d))
        X[0], X[1] = A, B
        X[2:2 + d] = A
        for i in range(d):
            X[2 + i, :, i] = B[:, i]
        if self.second_order:
            X[2 + d:] = B
            for i in range(d):
                X[2 + d + i, :, i] = A[:, i]
        return X.reshape(self.n_blocks * k, d)


def _check_args(n, second_order, method, confidence, n_resamples, target_width,
                max_evaluations, n_blocks_of):
    n = check_int(_FUNC, "n", n, minimum=2)
    if not is_power_of_two(n):
        rounded = 1 << (n - 1).bit_length()
        warnings.warn(
            f"The 'n' parameter of sobol should be a power of 2 (Sobol' points are balanced "
            f"only then). Got {n}; using n={rounded}.", UQKitWarning, stacklevel=3)
        n = rounded
    if not isinstance(second_order, (bool, np.bool_)):
        fail(_FUNC, "second_order", "True or False", second_order)
    check_choice(_FUNC, "method", method, tuple(ESTIMATORS))
    confidence = check_real(_FUNC, "confidence", confidence)
    if not 0 < confidence < 1:
        fail(_FUNC, "confidence", "in (0, 1)", confidence)
    n_resamples = check_int(_FUNC, "n_resamples", n_resamples, minimum=0)
    if target_width is not None:
        target_width = check_real(_FUNC, "target_width", target_width, positive=True)
        if n_resamples < 100:
            fail(_FUNC, "n_resamples", "at least 100 when target_width is given (the widths "
                 "come from the bootstrap)", n_resamples)
    first_cost = n * n_blocks_of(bool(second_order))
    if max_evaluations is not None:
        max_evaluations = check_int(_FUNC, "max_evaluations", max_evaluations,
                                    minimum=first_cost)
    return n, bool(second_order), confidence, n_resamples, target_width, max_evaluations


def sobol(model: Any, parameters: Any, n: int, *, second_order: bool = False,
          method: str = "saltelli_2010", confidence: float = 0.95, n_resamples: int = 1000,
          target_width: float | None = None, max_evaluations: int | None = None,
          rng: Any = None, runner: Any = None) -> SobolResult:
    """First, total (and second) order Sobol' indices with bootstrap confidence intervals.

    Parameters
    ----------
    model : Model
        The model (see :func:`uqkit.as_model`); every evaluation goes through ``runner``.
    parameters : Parameters
        One independent distribution per model input (any marginal: the design is
        mapped through the inverse CDFs).
    n : int
        Number of base samples, a power of two (other values are rounded up with a
        warning). The design has ``n * (d + 2)`` rows, ``n * (2d + 2)`` with
        ``second_order``.
    second_order : bool
        Also estimate the second-order indices (Saltelli 2002), for ``n * d`` more runs.
    method : {"saltelli_2010", "jansen_1999", "janon_2014"}
        First-order estimator: Saltelli et al. (2010), Jansen (1999), or Janon et al.
        (2014) (asymptotically efficient; also uses Janon's pairwise variance for the
        total index). Total order uses Jansen (1999) in all three.
    confidence : float
        Level of the percentile bootstrap intervals.
    n_resamples : int
        Bootstrap resamples (0: no intervals).
    target_width : float, optional
        Grow the design by doubling ``n`` (continuing the same Sobol' sequence and
        reusing every evaluation) until every interval half-width is at most this,
        or the budget ``max_evaluations`` would be exceeded; ``info["stopping_reason"]``
        says which.
    max_evaluations : int, optional
        Budget for ``target_width`` (default: 64 times the initial design).
    rng : None, int or numpy.random.Generator
        Seeds the scrambling and the bootstrap; the same seed gives the same result,
        and a larger ``n`` with the same seed extends the same design.
    runner : Runner, optional
        Evaluates the design (``uqkit.Runner()`` when None). Under
        ``on_failure="skip"`` or ``"nan"``, a base sample with any failed or
        non-finite run is dropped with its whole A/B/AB block and counted.

    Returns
    -------
    SobolResult
        Indices as DataFrames (index = inputs, columns = outputs), bootstrap intervals
        and standard errors, aggregated indices for vector outputs, ``n_evaluations``,
        ``n_failed`` and ``info`` (estimators, stopping reason, dropped blocks, seed).

    Raises
    ------
    InvalidParameterError
        For invalid arguments, before any model run.
    ModelEvaluationError
        If a run fails under ``on_failure="raise"``, or fewer than 2 complete blocks remain.
    StudyMismatchError
        If the runner's store holds this study with another seed, method or distribution.

    Notes
    -----
    The design uses scrambled Sobol' points (randomised QMC), which is far more
    accurate per run than Monte Carlo. The bootstrap resamples base samples as if they
    were independent: for smooth models the intervals are then conservative, but for
    very small indices of non-smooth models the QMC error can exceed the i.i.d.
    bootstrap error (seen for the G-function at n = 2^11, where one index of size 7e-5
    had an error twice its bootstrap SE). When coverage matters for such indices, run
    a few independent seeds and use their spread.

    Vector outputs (``outputs={"V": 200}``) get indices per column and generalised
    indices per group: the variance-weighted average of the per-column indices
    (Gamboa et al. 2014).

    References
    ----------
    Saltelli, A. (2002). Making best use of model evaluations to compute sensitivity
    indices. Comput. Phys. Commun. 145, 280-297.
    Saltelli, A., Annoni, P., Azzini, I., Campolongo, F., Ratto, M. & Tarantola, S.
    (2010). Variance based sensitivity analysis of model output. Design and estimator
    for the total sensitivity index. Comput. Phys. Commun. 181, 259-270.
    Jansen, M. J. W. (1999). Analysis of variance designs for model output. Comput.
    Phys. Commun. 117, 35-43.
    Janon, A., Klein, T., Lagnoux, A., Nodet, M. & Prieur, C. (2014). Asymptotic
    normality and efficiency of two Sobol index estimators. ESAIM: PS 18, 342-364.
    Gamboa, F., Janon, A., Klein, T. & Lagnoux, A. (2014). Sensitivity analysis for
    multidimensional and functional outputs. Electron. J. Stat. 8, 575-603.

    Examples
    --------
    >>> import uqkit
    >>> model, params, ref = uqkit.examples.ishigami()
    >>> res = uqkit.sobol(model, params, 1024, rng=0)
    >>> res.n_evaluations
    5120
    >>> bool(abs(res.first.loc["x2", "y"] - ref.first["x2"]) < 0.05)
    True
    """
    parameters = check_problem(_FUNC, model, parameters)
    d = parameters.dim
    n, second_order, confidence, n_resamples, target_width, max_evaluations = _check_args(
        n, second_order, method, confidence, n_resamples, target_width, max_evaluations,
        lambda so: d + 2 + (d if so else 0))
    rng_arg = rng
    rng = normalize_rng(rng)
    design_rng, boot_rng = rng.spawn(2)
    design = _Design(parameters, second_order, design_rng)
    nb = design.n_blocks
    if max_evaluations is None:
        max_evaluations = n * nb * (64 if target_width is not None else 1)
    outputs = tuple(model.outputs)
    m = len(outputs)

    X = design.draw(n)
    seed = (int(rng_arg) if isinstance(rng_arg, numbers.Integral)
            and not isinstance(rng_arg, bool) else None)
    fingerprint = hashlib.sha256(X[:1].tobytes()).hexdigest()[:16]
    study = _check_study(runner, model, parameters, n, method, second_order, seed,
                         fingerprint, rng_arg)

    Ys: list[np.ndarray] = []
    bads: list[np.ndarray] = []
    n_total = n_new = n_cached = n_failed = 0
    history: list[dict[str, Any]] = []
    while True:
        k = X.shape[0] // nb
        ev = evaluate(model, X, runner)
        Y = np.asarray(ev.Y, dtype=float)
        if Y.shape != (X.shape[0], m):
            raise ModelEvaluationError(f"sobol: the runner returned Y of shape {Y.shape}; "
                                       f"expected {(X.shape[0], m)}.")
        bad_rows = failure_mask(ev)
        n_failed += int(bad_rows.sum())
        n_new += int(getattr(ev, "n_new", X.shape[0]))
        n_cached += int(getattr(ev, "n_cached", 0))
        Ys.append(Y.reshape(nb, k, m))
        bads.append(bad_rows.reshape(nb, k).any(axis=0))
        n_total += k
        fit = _fit(np.concatenate(Ys, axis=1), np.concatenate(bads), d, method, second_order,
                   n_resamples, boot_rng, confidence)
        if target_width is None:
            reason = "fixed n"
            break
        width = fit["max_half_width"]
        history.append({"n": n_total, "n_evaluations": n_total * nb,
                        "max_half_width": width})
        if not width > target_width:  # (NaN widths: nothing left to estimate)
            reason = "target_width reached"
            break
        if 2 * n_total * nb > max_evaluations:
            reason = "max_evaluations reached"
            break
        X = design.draw(n_total)  # the next Sobol' block doubles n
    return _build_result(fit, parameters.names, outputs, n_total, nb, n_failed, method,
                         second_order, confidence if n_resamples else None, {
                             "stopping_reason": reason, "target_width": target_width,
                             "max_evaluations": max_evaluations if target_width else None,
                             "history": history, "n_new": n_new, "n_cached": n_cached,
                             "seed": seed, "design_fingerprint": fingerprint,
                             "study": study, "n_resamples": n_resamples})


def _check_study(runner, model, parameters, n, method, second_order, seed, fingerprint,
                 rng_arg) -> str | None:
    """Record or check the study spec in the runner's store (RELIABILITY A7)."""
    store = getattr(runner, "store", None)
    if store is None or not hasattr(store, "check_study"):
        return None
    if rng_arg is None:  # an unseeded design cannot be resumed: nothing to check
        return None
    study_id = "sobol:" + model_identity(model)["id"][:16]
    spec = {"method": "sobol", "estimator": method, "second_order": second_order,
            "parameters": parameters.to_dict(), "seed": seed if seed is not None
            else fingerprint, "n": n}
    store.check_study(study_id, spec, extendable=("n",))
    return study_id


def _fit(Y, bad, d, method, second_order, n_resamples, rng, confidence) -> dict[str, Any]:
    """Estimates from the complete blocks of ``Y`` (n_blocks, n, m)."""
    good = ~bad
    n_good = int(good.sum())
    if n_good < 2:
        raise ModelEvaluationError(
            f"sobol: only {n_good} of {bad.size} base samples have all their runs; at least 2 "
            "complete A/B/AB blocks are needed. Inspect the runner's failures.")
    Y = Y[:, good]
    fA, fB, fAB = Y[0], Y[1], Y[2:2 + d]
    fBA = Y[2 + d:] if second_order else None
    point, reps = estimate(fA, fB, fAB, fBA, method=method, n_resamples=n_resamples, rng=rng)
    fit: dict[str, Any] = {"point": point, "reps": reps, "n_good": n_good,
                           "n_dropped": int(bad.sum()),
                           "mean": np.concatenate([fA, fB]).mean(0), "max_half_width": None}
    if reps is not None:
        lo, hi = (1 - confidence) / 2, (1 + confidence) / 2
        fit["ci"] = {}
        widths = []
        for key in ("first", "total", "second"):
            arr = getattr(reps, key)
            if arr is None:
                continue
            with warnings.catch_warnings():  # all-NaN slices (constant outputs)
                warnings.simplefilter("ignore", RuntimeWarning)
                q = np.nanquantile(arr, [lo, hi], axis=0)
                se = np.nanstd(arr, axis=0, ddof=1)
            fit["ci"][key] = (q[0], q[1], se)
            widths.append((q[1] - q[0]) / 2)
        w = np.concatenate([x.ravel() for x in widths])
        fit["max_half_width"] = float(np.nanmax(w)) if np.isfinite(w).any() else float("nan")
    return fit


def _frame(arr, index, columns) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(arr, dtype=float), index=index, columns=columns)


def _ci_frame(low, high, index, columns) -> pd.DataFrame:
    return pd.concat({"low": _frame(low, index, columns), "high": _frame(high, index, columns)},
                     axis=1, names=["bound", "output"])


def _build_result(fit, names, outputs, n_total, nb, n_failed, method, second_order,
                  confidence, info) -> SobolResult:
    point, reps = fit["point"], fit["reps"]
    idx = pd.Index(names, name="input")
    cols = pd.Index(outputs, name="output")
    pairs = None
    if second_order:
        ii, jj = np.triu_indices(len(names), 1)
        pairs = pd.MultiIndex.from_arrays([[names[i] for i in ii], [names[j] for j in jj]],
                                          names=["input_i", "input_j"])
    kw: dict[str, Any] = {}
    if reps is not None:
        ci = fit["ci"]
        kw["first_ci"] = _ci_frame(ci["first"][0], ci["first"][1], idx, cols)
        kw["total_ci"] = _ci_frame(ci["total"][0], ci["total"][1], idx, cols)
        kw["first_se"] = _frame(ci["first"][2], idx, cols)
        kw["total_se"] = _frame(ci["total"][2], idx, cols)
        if second_order:
            kw["second_ci"] = _ci_frame(ci["second"][0], ci["second"][1], pairs, cols)
    groups = {g: c for g, c in output_groups(outputs).items() if len(c) > 1}
    if groups:
        gidx = pd.Index(list(groups), name="output")
        agg = [point.aggregated(c) for c in groups.values()]
        kw["aggregated_first"] = _frame(np.stack([a[0] for a in agg], 1), idx, gidx)
        kw["aggregated_total"] = _frame(np.stack([a[1] for a in agg], 1), idx, gidx)
        if reps is not None:
            lo, hi = (1 - confidence) / 2, (1 + confidence) / 2
            ragg = [reps.aggregated(c) for c in groups.values()]
            for key, pos in (("aggregated_first_ci", 0), ("aggregated_total_ci", 1)):
                arr = np.stack([r[pos] for r in ragg], -1)  # (R, d, g)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    q = np.nanquantile(arr, [lo, hi], axis=0)
                kw[key] = _ci_frame(q[0], q[1], idx, gidx)
    first_ref, total_ref = ESTIMATORS[method]
    info = {
        "estimators": {"first": first_ref, "total": total_ref,
                       **({"second": SECOND_ORDER_REFERENCE} if second_order else {})},
        "design": "Saltelli design on a scrambled Sobol' sequence (randomised QMC)",
        "bootstrap": ("percentile intervals, Bernoulli(1/2)-weight bootstrap over base "
                      "samples" if reps is not None else None),
        "n_base_used": fit["n_good"], "n_dropped_blocks": fit["n_dropped"],
        "uqkit_version": __version__, **info,
    }
    return SobolResult(
        first=_frame(point.first, idx, cols), total=_frame(point.total, idx, cols),
        second=_frame(point.second, pairs, cols) if second_order else None,
        mean=pd.Series(fit["mean"], index=cols, name="mean"),
        variance=pd.Series(point.variance, index=cols, name="variance"),
        n_evaluations=n_total * nb, n_failed=n_failed, n_samples=n_total,
        method=method, confidence=confidence, info=info, **kw)
