"""``uqkit.calibrate``: validation, assembly and the run."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from typing import Any

import numpy as np

from .._errors import InvalidParameterError
from .._validation import check_int, fail, normalize_rng
from ..models._protocol import model_identity
from ._noise import NoiseModel
from ._posterior import Posterior
from ._problem import build_problem
from ._sampler import Driver, Settings
from ._screening import screening_density
from ._surrogate import fit_prior_pce, refine_surrogate, sample_surrogate
from ._target import LogPosterior

__all__ = ["calibrate"]

_MODES = ("delayed_acceptance", "approximate")
DEFAULT_MAX_EVALUATIONS = 1_000_000  # budget when neither n_steps nor max_evaluations is given
TRUSTED_SCREENING = {"beta": 1.0, "weight": 0.05}


def _default_runner(runner: Any) -> Any:
    """``runner or uqkit.Runner()`` (the in-process runner while the Runner is not merged)."""
    if runner is not None:
        return runner
    try:
        from ..runner import Runner
    except ImportError:  # runner not available in this tree: call models directly
        return None
    return Runner(progress=False) if _accepts_progress(Runner) else Runner()


def _accepts_progress(cls: Any) -> bool:
    import inspect
    try:
        return "progress" in inspect.signature(cls).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def calibrate(model: Any, prior: Any, data: Any, *, noise: NoiseModel,
              n_walkers: int | None = None, n_steps: int | None = None,
              target_ess: float | None = 1000, max_evaluations: int | None = None,
              surrogate: Any = None, rng: Any = None, runner: Any = None,
              surrogate_mode: str = "delayed_acceptance", initial: Any = None,
              refine: bool | None = None, study: str | None = None) -> Posterior:
    """Bayesian calibration of a model's parameters against observed data.

    Samples the posterior ``p(theta | data) ~ p(data | theta) p(theta)`` by an
    adaptive ensemble Markov chain Monte Carlo, until the effective sample size
    reaches ``target_ess`` with R-hat below 1.01 or a budget is hit, and says
    which (:attr:`Posterior.converged`, :attr:`Posterior.stop_reason`).

    Parameters
    ----------
    model : Model
        The simulator (any :class:`uqkit.Model`, e.g. from :func:`uqkit.as_model`).
    prior : Parameters
        Prior of the model inputs (its marginals); it may also give the prior
        of inferred noise levels under the names ``sigma`` / ``sigma_<group>``.
    data : array, mapping, Series or DataFrame
        Observations: an array of length ``len(model.outputs)``; a mapping or
        Series by output name (a subset of the outputs is allowed; a vector
        output ``V`` may be given as one array); several experiments
        (replicates) as rows of a 2-D array or DataFrame. NaN marks a missing
        value.
    noise : Gaussian or StudentT
        Observation-noise model, e.g. ``uqkit.Gaussian(0.3)`` or
        ``uqkit.Gaussian("infer")`` (the noise level becomes a parameter).
    n_walkers : int, optional
        Number of parallel chains (walkers); every step evaluates one batch of
        ``n_walkers`` proposals. Default ``max(16, 2 * d + 2)``, or 32 when the
        budget allows at least 1000 steps of 32 walkers (the sampler's own cost
        per evaluation halves; effective samples per evaluation are the same), or
        ``max(8, 2 * d + 2)`` for ``d <= 4`` parameters when ``max_evaluations``
        is below 16,000 (longer chains: a reliable R-hat on small budgets).
    n_steps : int, optional
        Maximum number of steps, warm-up included.
    target_ess : float or None
        Stop once the minimum bulk effective sample size over parameters
        reaches this and every R-hat is below 1.01. ``None`` runs the whole
        budget.
    max_evaluations : int, optional
        Budget of full-model evaluations. When neither ``n_steps`` nor
        ``max_evaluations`` is given, the budget is 1,000,000 evaluations.
    surrogate : Model, "pce" or "gp", optional
        A fitted surrogate of ``model`` (same inputs and outputs, e.g. a
        :class:`uqkit.GaussianProcess`), or ``"pce"`` / ``"gp"`` to fit
        :func:`uqkit.fit_pce` / :func:`uqkit.fit_gp` on a small prior design. Used by exact
        delayed acceptance by default, after a refinement on full-model runs
        near the posterior (``refine``).
    rng : None, int or numpy.random.Generator
        Seed; the same seed gives the same posterior, also after a resume.
    runner : Runner, optional
        Evaluates the model (default ``uqkit.Runner()``). With a store, the
        sampler state and the RNG are checkpointed every step and an
        interrupted calibration resumes where it stopped, bitwise identical to
        an uninterrupted run.
    surrogate_mode : {"delayed_acceptance", "approximate"}
        ``"delayed_acceptance"`` (exact: the surrogate screens, the full model
        decides) or ``"approximate"`` (samples the surrogate posterior only;
        labelled as approximate in every report).
    initial : array, optional
        Starting points of the walkers, shape ``(n_walkers, d)`` or ``(d,)``
        (then a small ball around it). Default: draws from the prior.
    refine : bool, optional
        Refine the surrogate before sampling (default: True for delayed
        acceptance, False for the approximate mode): a full-model mode search
        and a few rounds of local PCE fits on full-model runs at the surrogate's
        posterior (see Notes). ``False`` screens with the surrogate as given.
    study : str, optional
        Name of the calibration in the runner's store (default: the model's
        name). A rerun with the same name resumes it; a changed study (data,
        noise, prior, model, walkers, surrogate, seed, a smaller budget) is
        refused with :class:`uqkit.StudyMismatchError` naming the field.
        ``n_steps``, ``max_evaluations`` and ``target_ess`` may grow: the run
        continues the stored chain.

    Returns
    -------
    Posterior

    Raises
    ------
    InvalidParameterError
        For invalid arguments or data that do not match the model's outputs,
        before any model run.
    StudyMismatchError
        When the runner's store holds a different calibration under the same
        study name (before any model run).

    Notes
    -----
    The sampler is a population of independent Metropolis-Hastings chains
    (walkers) that share one adaptive proposal, a mixture of three moves: a
    random walk with the pooled warm-up covariance (Haario et al. 2001), an
    independence proposal from a Gaussian mixture fitted by EM to the
    warm-up draws with a defensive wide copy (Giordani & Kohn 2010), and a
    local random walk whose covariance is that of a mixture component drawn
    by its responsibility at the current point (its proposal-density ratio
    is included, so it follows curved posteriors exactly). Step sizes are
    tuned by Robbins-Monro towards 23.4 % acceptance. The first 60 % of a
    warm-up of at least 200 steps and 3,200 runs targets the tempered posterior (likelihood
    to the power ``0.03 ** (2 / d)``, at most 0.1) so that the walkers
    spread into long curved tails; the mixture fitted there, as multivariate
    t components with 3 degrees of freedom, is the independence proposal's
    defensive part (weight 0.2), which keeps its tails heavier than the
    posterior's. The move probabilities are set from the squared jump
    distance each move achieved during warm-up (independence capped at 1/2,
    every move at least 5 %). The kernel is frozen after warm-up (the first
    quarter of the budget, or 200 steps when running to ``target_ess``), so
    the chains are exact Markov chains, and the walkers do not interact, so
    all proposals of a step go to the model as one batch. Warm-up draws are
    discarded.

    We chose it over emcee's stretch and differential-evolution moves by
    measurement (``benchmarks/bench_calibration.py``, same problems, budgets
    and starting region as the anchor scripts): emcee's ensemble moves need
    about ``d`` times more evaluations per effective sample, and a single
    adaptive-Metropolis chain (tinyDA, OpenTURNS) cannot batch its proposals.
    Where the posterior is close to a mixture of Gaussians, accepted
    independence moves decorrelate a chain in one step; the local walk keeps
    strongly curved posteriors (Rosenbrock) explored.

    Delayed acceptance (Christen & Fox 2005) runs the warm-up on the
    surrogate posterior (no full-model runs), then each step runs a sub-chain
    of surrogate steps (Liu 2001, surrogate transition) whose end point the full
    model accepts with probability ``min(1, pi(y) pi*(x) / (pi(x) pi*(y)))``:
    the chain targets the full model's posterior whatever the surrogate's error,
    and saves evaluations in proportion to the surrogate's accuracy. The
    screening density ``pi*`` is the surrogate posterior with its
    log-likelihood scaled by 0.85, mixed (weight 0.1) with a multivariate t
    (3 degrees of freedom) twice as wide as the surrogate's posterior
    (defensive mixture, Hesterberg 1995): delayed acceptance mixes like an
    independence sampler with proposal ``pi*``, which is slow wherever
    ``pi / pi*`` is large (Mengersen & Tweedie 1996), and a finite run then
    comes out too narrow. When the refinement (below) converged, the surrogate
    is trusted more: ``pi*`` is then the untempered surrogate posterior with
    defensive weight 0.05 (measured on the logistic ODE over 12 seeds: second-stage
    acceptance 0.87 to 0.97, 1.28 to 1.12 full-model runs per effective sample;
    with the same screening on every FitzHugh-Nagumo run, 2 of 25 seeds had a
    walker stuck in the tail, so refinements that did not converge keep the
    safer density). The sub-chain length follows the surrogate's error
    (robust spread) at the walkers at the end of warm-up.

    A surrogate fitted over the whole prior is often poor where the posterior
    lives, so by default (``refine``) it is first refined, before any sampling
    (Li & Marzouk 2014; local approximations, Conrad et al. 2016): the full
    model's posterior mode is found by L-BFGS-B from the surrogate's best
    point, with its Laplace covariance; then, in rounds, the full model runs at
    draws of the current surrogate's posterior and of a Gaussian twice as wide,
    and a PCE (least squares, degree capped at four runs per term) is fitted on
    all runs in the whitened coordinates of the current posterior
    approximation, within +-8 sd or as far as the runs in the full posterior's
    bulk reach (the base surrogate continues it outside). Runs in the bulk
    beyond the approximation's 99 % radius are followed by runs 35 % further
    out (a frontier search), so that a long tail the surrogate misses is found
    and learned.
    Rounds (at most 8) stop once the log-posterior error's sd, at the
    surrogate's posterior draws and at the wide points in the full posterior's
    bulk, is below 0.15, the approximation moved by less than 0.25 sd and the
    frontier stopped growing. The surrogate kept is the last fit (on every run), unless
    its error at the runs in the full posterior's bulk is twice that of the round with
    the smallest measured error. These runs are
    counted in ``n_model_evaluations`` (``surrogate_info`` itemises them). The
    surrogate is fixed before the chain starts, so every draw comes from exact
    delayed acceptance for one fixed surrogate; no adaptation happens during
    sampling.

    With a store, the calibration is recorded as the study ``study`` (default
    the model's name) and checkpointed every step; rerunning the same call
    resumes it bitwise (the refinement runs again from the same seed and hits
    the store's cache). A calibration without ``rng`` cannot be resumed and is
    not checked.

    References
    ----------
    Haario, H., Saksman, E. and Tamminen, J. (2001). An adaptive Metropolis
    algorithm. Bernoulli 7(2), 223-242.
    Giordani, P. and Kohn, R. (2010). Adaptive independent Metropolis-Hastings by
    fast estimation of mixtures of normals. J. Comput. Graph. Stat. 19(2), 243-259.
    Christen, J. A. and Fox, C. (2005). Markov chain Monte Carlo using an
    approximation. J. Comput. Graph. Stat. 14(4), 795-810.
    Liu, J. S. (2001). Monte Carlo Strategies in Scientific Computing, Sec. 9.4.3
    (surrogate transition method). Springer.
    Li, J. and Marzouk, Y. M. (2014). Adaptive construction of surrogates for the
    Bayesian solution of inverse problems. SIAM J. Sci. Comput. 36(3), A1163-A1186.
    Conrad, P. R., Marzouk, Y. M., Pillai, N. S. and Smith, A. (2016). Accelerating
    asymptotically exact MCMC for computationally intensive models via local
    approximations. J. Am. Stat. Assoc. 111(516), 1591-1607.
    Cui, T., Fox, C. and O'Sullivan, M. J. (2011). Bayesian calibration of a
    large-scale geothermal reservoir model by a new adaptive delayed acceptance
    Metropolis Hastings algorithm. Water Resour. Res. 47, W10521.
    Roberts, G. O. and Rosenthal, J. S. (2009). Examples of adaptive MCMC.
    J. Comput. Graph. Stat. 18(2), 349-367.
    Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. and Buerkner, P.-C. (2021).
    Rank-normalization, folding, and localization: an improved R-hat. Bayesian
    Analysis 16(2), 667-718.

    Examples
    --------
    >>> import numpy as np, uqkit
    >>> model = uqkit.as_model(lambda a, b: (a + b, a - b), outputs=("s", "d"))
    >>> prior = uqkit.Parameters(a=uqkit.Normal(0, 1), b=uqkit.Normal(0, 1))
    >>> post = uqkit.calibrate(model, prior, [1.0, 0.2], noise=uqkit.Gaussian(0.1),
    ...                        target_ess=400, rng=0)
    >>> bool(post.converged)
    True
    """
    problem = build_problem(model, prior, data, noise)
    d = problem.dim
    n_walkers_given = n_walkers is not None
    if n_walkers is None:
        n_walkers = max(16, 2 * d + 2)
    n_walkers = check_int("calibrate", "n_walkers", n_walkers, minimum=2)
    if n_steps is not None:
        n_steps = check_int("calibrate", "n_steps", n_steps, minimum=2)
    if max_evaluations is not None:
        max_evaluations = check_int("calibrate", "max_evaluations", max_evaluations,
                                    minimum=2 * n_walkers)
    if target_ess is not None:
        if isinstance(target_ess, bool) or not isinstance(target_ess, numbers.Real) or not (
                target_ess > 0):
            fail("calibrate", "target_ess", "a number > 0 or None", target_ess)
        target_ess = float(target_ess)
    if surrogate_mode not in _MODES:
        fail("calibrate", "surrogate_mode", "one of " + ", ".join(map(repr, _MODES)),
             surrogate_mode)
    if surrogate is not None and not isinstance(surrogate, str):
        _check_surrogate(surrogate, model, problem)
    elif isinstance(surrogate, str) and surrogate not in ("pce", "gp"):
        fail("calibrate", "surrogate", "a fitted surrogate model, 'pce', 'gp' or None", surrogate)
    if surrogate == "pce":
        if not _has_pce():
            raise InvalidParameterError(
                "The 'surrogate' parameter of calibrate is 'pce' but uqkit.fit_pce is not "
                "available in this installation. Pass a fitted surrogate model instead.")
    budget_defaulted = n_steps is None and max_evaluations is None
    if budget_defaulted:
        max_evaluations = DEFAULT_MAX_EVALUATIONS
    if not n_walkers_given and n_walkers < 32 and (n_steps is None or n_steps >= 1000) and (
            max_evaluations is None or max_evaluations >= 32 * 1000):
        # a budget of at least 1000 steps of 32 walkers: 32 walkers halve the sampler's cost
        # per evaluation at the same effective samples per evaluation (measured on the
        # banana, benchmarks/bench_calibration.py); smaller budgets keep the steps
        n_walkers = 32
    elif (not n_walkers_given and d <= 4 and n_steps is None and max_evaluations is not None
          and max_evaluations < 16 * 1000):
        # a small budget (fewer than 1000 steps of 16 walkers) with few parameters: 8-10
        # walkers run twice the steps of 16, so the split R-hat of each chain is reliable
        # (measured on the logistic ODE at 6,000 runs over 30 seeds: R-hat < 1.01 on 30/30
        # and at least 168 ESS per 1000 runs with 8 walkers; 16/30 and 77 with 16; from
        # prior draws 11/16 against 0/16; better R-hat on 3-D and 4-D Gaussians too;
        # benchmarks/bench_calibration.py). From 24,000 runs on, 16 walkers did as well or
        # better (ODE at 30,000: median 164 against 149 ESS per 1000 runs over 16 seeds)
        n_walkers = max(8, 2 * d + 2)
    seeded = rng is not None
    rng = normalize_rng(rng)
    seed_state = json.dumps(rng.bit_generator.state, sort_keys=True)
    X0 = _initial(initial, n_walkers, problem, rng)
    runner = _default_runner(runner)

    budget_steps = math.inf
    if n_steps is not None:
        budget_steps = n_steps
    if max_evaluations is not None and not (budget_defaulted and target_ess is not None):
        # the starting points cost one batch of n_walkers evaluations
        budget_steps = min(budget_steps, max(max_evaluations // n_walkers - 1, 1))
    n_warmup = 200 if budget_steps == math.inf else int(np.clip(budget_steps // 4, 20, 2000))
    if budget_steps != math.inf:
        # the warm-up leaves at least one sampling step inside the budget (it ran past a
        # small max_evaluations before: 336 runs for a budget of 64)
        n_warmup = min(n_warmup, max(int(budget_steps) - 1, 1))
    if refine is None:
        refine = surrogate is not None and surrogate_mode == "delayed_acceptance"
    # the study is checked against the store before any model run (RELIABILITY A7)
    store = getattr(runner, "store", None) if runner is not None else None
    name, grown = None, False
    if store is not None:
        if seeded and hasattr(store, "check_study"):
            study_id = "calibrate:" + (study if study is not None
                                       else model_identity(model)["name"])
            spec = _study_spec(problem, model, n_walkers, surrogate, surrogate_mode, refine,
                               seed_state, initial, n_steps, max_evaluations, target_ess)
            old = store.check_study(study_id, spec, extendable=_EXTENDABLE)
            grown = old is not None and any(old.get(f) != spec[f] for f in _EXTENDABLE)
            name = study_id
            n_warmup = _stored_warmup(store, name, n_warmup)
        else:  # unseeded: a fresh chain every run (nothing to resume)
            name = _checkpoint_name(problem, model, n_walkers, n_warmup, surrogate,
                                    surrogate_mode, refine, seed_state)
    mode = "plain"
    n_fit = 0
    surrogate_model = None
    refinement = None
    if surrogate is not None:
        mode = surrogate_mode
        # the surrogate's own stream: the same seed rebuilds the same surrogate on a resume
        srng = np.random.default_rng(rng.integers(2**63))
        if surrogate == "gp":
            from ..gp._calibration import fit_prior_gp
            surrogate_model, n_fit = fit_prior_gp(model, problem, runner, srng)
        elif isinstance(surrogate, str):
            surrogate_model, n_fit = fit_prior_pce(model, problem, runner, srng)
        else:
            surrogate_model = surrogate
        if refine:
            cap = None if max_evaluations is None else (max_evaluations - n_fit) // 2
            refinement = refine_surrogate(problem, model, surrogate_model, runner, srng, X0,
                                          max_evaluations=cap)
            surrogate_model = refinement.surrogate
            n_fit += refinement.n_evaluations
            X0 = refinement.X_last
    settings = Settings(n_walkers=n_walkers, n_warmup=n_warmup, max_steps=n_steps,
                        max_evaluations=None if max_evaluations is None
                        else max_evaluations - n_fit,
                        target_ess=target_ess, mode=mode, temper=refinement is None)
    full = LogPosterior(problem, model, runner)
    surr = None
    if surrogate_model is not None:
        if mode == "delayed_acceptance":
            # draws of the surrogate's posterior place the screening density's defensive part
            draws = (refinement.draws if refinement is not None else
                     sample_surrogate(problem, surrogate_model, X0, srng)[0])
            # a refinement that met its accuracy target with no growing frontier is trusted
            # more: untempered screening and a lighter defensive part (see _screening)
            trusted = refinement is not None and refinement.converged
            surr = screening_density(problem, surrogate_model, draws, srng,
                                     **(TRUSTED_SCREENING if trusted else {}))
        else:
            surr = LogPosterior(problem, surrogate_model, None)
    driver = Driver(settings, full, surr, rng, store=store, name=name)
    resumed = driver.resume()
    if resumed and driver.stop_reason and not grown:
        result = driver._result()
    else:
        driver.stop_reason = ""
        if driver.resumed_at is None:
            driver.start(X0)
        result = driver.run()
    info = {}
    if surrogate_model is not None:
        info = {"n_fit_evaluations": n_fit, "refined": False, "n_rounds": 0, "errors": []}
        if refinement is not None:
            info.update(refined=refinement.converged, n_rounds=refinement.n_rounds,
                        errors=[float(e) for e in refinement.errors])
    return Posterior._from_run(problem, result, settings, runner=runner,
                               surrogate=surrogate_model, n_fit_evaluations=n_fit, rng=rng,
                               surrogate_info=info)


def _has_pce() -> bool:
    import importlib.util
    if importlib.util.find_spec("uqkit.pce") is None:
        return False
    import uqkit.pce as pce
    return hasattr(pce, "fit_pce")


def _check_surrogate(surrogate: Any, model: Any, problem: Any) -> None:
    from ..models._protocol import check_model
    check_model(surrogate, "calibrate (surrogate)")
    if tuple(surrogate.inputs) != tuple(model.inputs):
        raise InvalidParameterError(
            f"The 'surrogate' parameter of calibrate must have the model's inputs "
            f"{tuple(model.inputs)}. Got {tuple(surrogate.inputs)} instead.")
    needed = [model.outputs[c] for c in problem.columns]
    if tuple(surrogate.outputs) != tuple(model.outputs):
        missing = [o for o in needed if o not in surrogate.outputs]
        if missing:
            raise InvalidParameterError(
                f"The 'surrogate' parameter of calibrate must predict every observed output. "
                f"Got no {missing}.")
        raise InvalidParameterError(
            "The 'surrogate' parameter of calibrate must have the model's outputs "
            f"{tuple(model.outputs)[:6]} in the same order.")


def _initial(initial: Any, n_walkers: int, problem: Any, rng: np.random.Generator) -> np.ndarray:
    d = problem.dim
    if initial is None:
        return problem.parameters.sample(n_walkers, method="random", rng=rng)
    arr = np.asarray(initial, dtype=float)
    if arr.shape == (d,):
        scale = np.maximum(np.abs(arr) * 1e-3, 1e-6)
        sd = problem.parameters.std
        scale = np.where(np.isfinite(sd), np.minimum(1e-2 * sd, scale + 1e-2 * sd), scale)
        arr = arr + scale * rng.standard_normal((n_walkers, d))
    if arr.shape != (n_walkers, d) or not np.all(np.isfinite(arr)):
        fail("calibrate", "initial", f"a finite array of shape ({d},) or ({n_walkers}, {d})",
             f"shape {np.shape(initial)}")
    if not np.all(np.isfinite(problem.logprior(arr))):
        fail("calibrate", "initial", "inside the support of the prior", "points outside it")
    return arr


_EXTENDABLE = ("n_steps", "max_evaluations", "target_ess")


def _study_spec(problem, model, n_walkers, surrogate, surrogate_mode, refine, seed_state,
                initial, n_steps, max_evaluations, target_ess) -> dict[str, Any]:
    """What a resumed calibration must share with the stored one (budgets may grow)."""
    ps = problem.spec()
    if surrogate is None or isinstance(surrogate, str):
        surr = surrogate
    else:
        surr = model_identity(surrogate)["id"]
    init = None if initial is None else hashlib.sha256(
        np.ascontiguousarray(np.asarray(initial, dtype=float)).tobytes()).hexdigest()[:16]
    ident = model_identity(model)
    # the model by its cache identity (name, version, inputs, outputs), as the runner's
    # cache: a changed implementation under the same version only warns there
    return {"model": ident["id"],
            "prior": ps["parameters"], "data": ps["data"], "observed_outputs": ps["columns"],
            "noise": ps["noise"], "sigma": ps["sigma"], "n_walkers": n_walkers,
            "surrogate": None if surr is None else {"surrogate": surr, "mode": surrogate_mode,
                                                     "refine": bool(refine)},
            "seed": seed_state, "initial": init,
            "n_steps": math.inf if n_steps is None else n_steps,
            "max_evaluations": math.inf if max_evaluations is None else max_evaluations,
            "target_ess": math.inf if target_ess is None else target_ess}


def _stored_warmup(store, name: str, n_warmup: int) -> int:
    """The warm-up length of the first run of a study (a grown budget keeps it)."""
    got = store.load_checkpoint(name)
    if got is not None and "n_warmup" in got[1]:
        return int(got[1]["n_warmup"])
    return n_warmup


def _checkpoint_name(problem, model, n_walkers, n_warmup, surrogate, surrogate_mode, refine,
                     seed_state) -> str:
    spec = {"problem": problem.spec(), "model": model_identity(model)["id"],
            "n_walkers": n_walkers, "n_warmup": n_warmup, "seed": seed_state,
            "surrogate": surrogate if surrogate is None or isinstance(surrogate, str)
            else model_identity(surrogate)["id"], "mode": surrogate_mode, "refine": refine}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
    return f"calibrate-{digest[:20]}"
