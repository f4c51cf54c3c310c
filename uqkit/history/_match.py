"""History matching in waves: emulate, rule out implausible inputs, run again inside NROY."""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import numpy as np

from .._errors import UQKitWarning
from .._validation import normalize_rng
from ..multifidelity._design import maximin_subset
from ._emulators import fit_emulator, split_fitted
from ._nroy import N_POPULATION, Cut, subset_cut
from ._result import HistoryMatch, nroy_score
from ._validate import Spec, history_match_iv

__all__ = ["history_match", "EmptyNROYWarning"]

#: NROY "stopped shrinking" when a wave keeps more than this fraction of the previous NROY
STABLE_RATIO = 0.9
#: emulator "precise enough" when its mean variance in NROY is below this fraction of the
#: observation + discrepancy variance, for every output
PRECISE_RATIO = 0.1


class EmptyNROYWarning(UQKitWarning):
    """History matching ruled out the whole parameter space."""


def history_match(model: Any, parameters: Any, observations: Any, *, obs_variance: Any,
                  discrepancy_variance: Any = 0.0, threshold: float = 3.0, rank: int = 1,
                  n_waves: int | None = None, runs_per_wave: int | None = None,
                  emulator: Any = "gp", rng: Any = None, runner: Any = None) -> HistoryMatch:
    """Rule out implausible inputs in waves of simulator runs and emulators.

    Each wave draws ``runs_per_wave`` space-filling points of the current
    not-ruled-out-yet (NROY) space, runs the simulator on them as one runner
    batch, fits one emulator per observed output on the runs inside the current
    NROY space, and keeps the inputs whose implausibility

    .. math:: I_j(x) = \\frac{|E[f_j(x)] - z_j|}{\\sqrt{\\mathrm{Var}[f_j(x)]
              + \\sigma^2_{obs,j} + \\sigma^2_{disc,j}}}

    combined over outputs by its ``rank``-th largest value, is at most
    ``threshold`` (and was under every earlier wave's emulators).

    Parameters
    ----------
    model : Model or fitted emulator
        The simulator, or an already-fitted emulator (anything with ``inputs``,
        ``outputs`` and ``predict(X, return_std=True)`` returning mean and sd of
        shape ``(n, n_outputs)``, such as :class:`uqkit.GaussianProcess`): then a
        single cut is made and nothing is run.
    parameters : Parameters
        Prior ranges of the model inputs. NROY is a subset of their support;
        "uniform in NROY" means the prior restricted to NROY.
    observations : array or mapping
        Observed value per output (NaN where missing), or a mapping / Series by
        output name (a subset of the outputs). Only observed outputs are matched.
    obs_variance, discrepancy_variance : float, array or mapping
        Observation-error and model-discrepancy variances (not sds), one number
        for all outputs, one per output (or per observed output), or by name.
    threshold : float
        Implausibility cut-off (3, after Pukelsheim's three-sigma rule).
    rank : {1, 2, 3}
        Combine the outputs by their largest (1), second (2) or third (3) largest
        implausibility.
    n_waves : int, optional
        Maximum number of waves (default 10). Waves stop earlier when NROY
        shrinks by less than 10 % in a wave, when the emulators' mean variance
        in NROY is below 10 % of the other variances for every output, or when
        NROY is empty.
    runs_per_wave : int, optional
        Simulator runs per wave (default ``max(10 d, 20)``).
    emulator : "gp" or callable
        ``"gp"``: a Gaussian process per output (:func:`uqkit.fit_gp`). A callable
        ``fit(X, y)`` returning an object with ``predict(X, return_std=True)``
        (mean and sd of one output) replaces it.
    rng : None, int or numpy.random.Generator
        Seed of the designs and of the NROY sampler.
    runner : Runner, optional
        Evaluates the simulator (default ``uqkit.Runner()``).

    Returns
    -------
    HistoryMatch

    Raises
    ------
    InvalidParameterError
        For invalid arguments (negative variances, unknown output names, bad
        ``rank``), before any model run.

    Warns
    -----
    EmptyNROYWarning
        When every input is ruled out; the runs made so far are kept in the
        result (``X``, ``Y``) and in the runner's store.

    Notes
    -----
    NROY is represented by a population of 1000 points uniform in it. Each cut
    is a subset simulation (Au & Beck 2001): the population is cut through
    intermediate implausibility levels (its 10 % quantile each time),
    resampled and moved by random-walk Metropolis restricted to the set, so
    NROY fractions far below the 1e-4 where rejection sampling becomes
    impractical cost a few extra levels (each level divides the fraction by
    ten). The NROY fraction is the product of the fractions kept. Wave 1 uses a
    Latin hypercube of the prior; later waves a maximin subset of the
    population, so the runs cover NROY evenly.

    References
    ----------
    Craig, P. S., Goldstein, M., Seheult, A. H. and Smith, J. A. (1997). Pressure
    matching for hydrocarbon reservoirs: a case study in the use of Bayes linear
    strategies for large computer experiments. Case Studies in Bayesian
    Statistics III, 37-93.
    Vernon, I., Goldstein, M. and Bower, R. G. (2010). Galaxy formation: a Bayesian
    uncertainty analysis. Bayesian Analysis 5(4), 619-669.
    Andrianakis, I. et al. (2015). Bayesian history matching of complex infectious
    disease models using emulation. PLoS Comput. Biol. 11(1), e1003968.
    Coveney, S. and Clayton, R. H. (2018). Fitting two human atrial cell models to
    experimental data using Bayesian history matching. Prog. Biophys. Mol. Biol.
    139, 43-58.
    Au, S.-K. and Beck, J. L. (2001). Estimation of small failure probabilities in
    high dimensions by subset simulation. Probab. Eng. Mech. 16(4), 263-277.

    Examples
    --------
    >>> import uqkit
    >>> model = uqkit.as_model(lambda a, b: (a + b, a - b), outputs=("s", "d"))
    >>> prior = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Uniform(0, 1))
    >>> hm = uqkit.history_match(model, prior, {"s": 1.0, "d": 0.2},
    ...                          obs_variance=0.05**2, rng=0)
    >>> bool(0.03 < hm.nroy_fraction < 0.06)   # |a + b - 1|, |a - b - 0.2| <= 0.15: 0.045
    True
    """
    spec = history_match_iv(model, parameters, observations, obs_variance,
                            discrepancy_variance, threshold, rank, n_waves, runs_per_wave,
                            emulator)
    if runner is not None and not callable(getattr(runner, "evaluate", None)):
        from .._validation import fail

        fail("history_match", "runner", "a uqkit.Runner (or None)", type(runner).__name__)
    rng = normalize_rng(rng)
    from ..pce._blas import single_threaded_blas

    with contextlib.ExitStack() as stack:
        # many small triangular solves: threaded BLAS only adds contention
        stack.enter_context(single_threaded_blas())
        if runner is None and not spec.fitted:
            from ..runner import Runner

            runner = stack.enter_context(Runner(progress=False))
        return _run_waves(spec, rng, runner)


class _Runs:
    """Every simulator run so far (kept whatever happens to NROY)."""

    def __init__(self, d: int, m: int) -> None:
        self.X, self.Y = np.empty((0, d)), np.empty((0, m))
        self.wave = np.empty(0, dtype=int)
        self.n_failed = 0

    def add(self, X: np.ndarray, Y: np.ndarray, wave: int, n_failed: int) -> None:
        self.X, self.Y = np.vstack([self.X, X]), np.vstack([self.Y, Y])
        self.wave = np.concatenate([self.wave, np.full(len(X), wave)])
        self.n_failed += n_failed


def _run_and_fit(spec: Spec, wave: int, U: np.ndarray, cuts: list[Cut], runs: _Runs,
                 runner: Any, rng: np.random.Generator, row: dict) -> tuple[Any, ...]:
    """One wave's runs (one runner batch inside NROY) and its emulators, one per output."""
    params, d = spec.parameters, spec.parameters.dim
    if wave == 1:
        Xw = params.sample(spec.runs_per_wave, method="lhs", rng=rng)
    else:
        Xw = params.from_unit(U[maximin_subset(U, spec.runs_per_wave, rng)])
    ev = runner.evaluate(spec.model, Xw)
    Yw = np.asarray(ev.Y, dtype=float)
    ok = np.asarray(ev.ok, dtype=bool) & np.all(np.isfinite(Yw[:, spec.columns]), axis=1)
    if cuts:
        _validate_previous(row, cuts[-1], Xw[ok], Yw[ok][:, spec.columns], spec)
    runs.add(Xw, Yw, wave, int((~ok).sum()))
    good = np.all(np.isfinite(runs.Y[:, spec.columns]), axis=1)
    train = good.copy()
    if cuts:  # the runs inside the previous waves' NROY, when there are enough
        inside = np.zeros(len(runs.X), dtype=bool)
        inside[good] = nroy_score(cuts, params, spec.threshold, runs.X[good]) <= spec.threshold
        if inside.sum() >= d + 2:
            train = inside
    row.update(runs=len(Xw), failed=int((~ok).sum()), train_runs=int(train.sum()))
    return tuple(fit_emulator(spec.emulator, params, runs.X[train], runs.Y[train, c], rng)
                 for c in spec.columns)


def _run_waves(spec: Spec, rng: np.random.Generator, runner: Any) -> HistoryMatch:
    params = spec.parameters
    other = spec.obs_variance + spec.discrepancy_variance
    U = rng.random((N_POPULATION, params.dim))
    cuts: list[Cut] = []
    rows: list[dict[str, Any]] = []
    runs = _Runs(params.dim, len(spec.model.outputs))
    fraction, stop = 1.0, "max_waves"
    for wave in range(1, spec.n_waves + 1):
        row: dict[str, Any] = {"wave": wave}
        if spec.fitted:
            emulators = split_fitted(spec.model, list(spec.columns))
            row.update(runs=0, failed=0, train_runs=0)
        else:
            emulators = _run_and_fit(spec, wave, U, cuts, runs, runner, rng, row)
        cuts.append(Cut(emulators, spec.observed, other, spec.rank))
        out = subset_cut(U, lambda V, level, cs=tuple(cuts): _score(cs, params, spec.threshold,
                                                                   V, level),
                         spec.threshold, rng)
        fraction *= out["ratio"]
        row.update(nroy_fraction=fraction, kept=out["ratio"], levels=len(out["levels"]),
                   min_implausibility=out["min_score"])
        if out["U"] is None:
            rows.append(row)
            stop = "empty"
            U = None
            warnings.warn(
                f"History matching ruled out the whole parameter space at wave {wave}: the "
                f"smallest implausibility found is {out['min_score']:.3g} > threshold "
                f"{spec.threshold:g}. Every run is kept (HistoryMatch.X, .Y and the runner's "
                f"store). Check the observations and variances, add discrepancy variance, or "
                f"raise the threshold.", EmptyNROYWarning, stacklevel=3)
            break
        U = out["U"]
        _, emu_var = cuts[-1].per_output(params.from_unit(U))
        ratio = emu_var.mean(axis=0) / other
        for name, r in zip(spec.outputs, ratio):
            row[f"emulator_var_ratio_{name}"] = float(r)
        rows.append(row)
        if spec.fitted:
            stop = "fitted_emulator"
            break
        if wave > 1 and out["ratio"] > STABLE_RATIO:
            stop = "nroy_stable"
            break
        if np.all(ratio < PRECISE_RATIO):
            stop = "emulator_precise"
            break
    return HistoryMatch(spec=spec, cuts=tuple(cuts), rows=tuple(rows), population=U,
                        nroy_fraction=float(fraction), X=runs.X, Y=runs.Y,
                        wave_of_run=runs.wave, n_evaluations=int(len(runs.X)),
                        n_failed=runs.n_failed, stop_reason=stop)


def _validate_previous(row: dict, cut: Cut, X: np.ndarray, Y: np.ndarray, spec: Spec) -> None:
    """Out-of-sample check of the previous wave's emulators at this wave's runs."""
    if len(X) == 0:
        return
    for j, (name, em) in enumerate(zip(spec.outputs, cut.emulators)):
        mean, std = em.predict(X, return_std=True)
        err = np.asarray(mean, dtype=float).ravel() - Y[:, j]
        row[f"rmse_{name}"] = float(np.sqrt(np.mean(err ** 2)))
        z = np.abs(err) / np.maximum(np.asarray(std, dtype=float).ravel(), 1e-300)
        row[f"outside_3sd_{name}"] = float(np.mean(z > 3))


def _score(cuts: tuple[Cut, ...], params: Any, threshold: float, U: np.ndarray,
           level: float) -> np.ndarray:
    """The last wave's implausibility at unit-cube points; inf where an earlier wave ruled out."""
    X = params.from_unit(U)
    s = cuts[-1].combined(X)
    alive = np.flatnonzero(s <= level)
    for cut in cuts[:-1]:
        if alive.size == 0:
            break
        bad = cut.combined(X[alive]) > threshold
        s[alive[bad]] = np.inf
        alive = alive[~bad]
    return s
