"""``uqkit.calibrate``: specification, plan, method, ``Posterior``."""

from __future__ import annotations

from typing import Any

from . import _emcee, _smc  # noqa: F401  (register their methods)
from ._methods import METHODS
from ._noise import NoiseModel
from ._plan import make_plan
from ._posterior import Posterior
from ._progress import Progress
from ._spec import specify

__all__ = ["calibrate"]


def default_runner(runner: Any) -> Any:
    """``runner``, or ``uqkit.Runner()`` when None (its progress setting, ``"auto"``, shows
    the calibration's bar in a terminal or a notebook only)."""
    if runner is not None:
        return runner
    from ..runner import Runner
    return Runner()


def calibrate(model: Any, prior: Any, data: Any, *, noise: NoiseModel,
              n_walkers: int | None = None, n_steps: int | None = None,
              target_ess: float | None = 1000, max_evaluations: int | None = None,
              surrogate: Any = None, rng: Any = None, runner: Any = None,
              surrogate_mode: str = "delayed_acceptance", initial: Any = None,
              refine: bool | None = None, study: str | None = None,
              method: str = "auto") -> Posterior:
    """Bayesian calibration of a model's parameters against observed data.

    Samples the posterior ``p(theta | data) ~ p(data | theta) p(theta)`` until
    the effective sample size reaches ``target_ess`` with R-hat below 1.01 or a
    budget is hit, and says which (:attr:`Posterior.converged`,
    :attr:`Posterior.stop_reason`). The default method, ``"auto"``, moves
    prior draws to the posterior by tempered sequential Monte Carlo (which
    also estimates the evidence, :attr:`Posterior.log_evidence`) and then runs
    the adaptive ensemble sampler from the particles.

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
    method : {"auto", "ensemble", "smc", "emcee"}
        ``"ensemble"``: the adaptive ensemble Metropolis-Hastings sampler
        described in the Notes. ``"smc"``: adaptive tempered sequential Monte
        Carlo from the prior (Del Moral et al. 2006; Ching & Chen 2007), with
        ``n_walkers`` particles (default ``max(1000, 1.25 target_ess)``); it
        gives the evidence and its standard error. ``"emcee"``: emcee's
        ``EnsembleSampler`` with differential-evolution (0.8) and DE-snooker
        (0.2) moves, checkpointed every step. ``"auto"`` (default): SMC with
        200 particles on at most half the budget, then the ensemble sampler
        from its particles (untempered warm-up); the ensemble sampler alone
        when ``initial``, ``n_walkers``, ``n_steps`` or a ``surrogate`` is
        given (the chain is then the user's). :attr:`Posterior.method` and
        :attr:`Posterior.method_reason` say what ran and why. A combination
        a method cannot run (``surrogate`` with ``"smc"`` or ``"emcee"``,
        ``initial`` or ``n_steps`` with ``"smc"``) is refused before any run.
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
    The ensemble sampler is a population of independent Metropolis-Hastings chains
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
    Del Moral, P., Doucet, A. and Jasra, A. (2006). Sequential Monte Carlo samplers.
    J. R. Stat. Soc. B 68(3), 411-436.
    Ching, J. and Chen, Y.-C. (2007). Transitional Markov chain Monte Carlo method.
    J. Eng. Mech. 133(7), 816-832.
    Foreman-Mackey, D., Hogg, D. W., Lang, D. and Goodman, J. (2013). emcee: the MCMC
    hammer. PASP 125(925), 306-312.
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
    spec, rng = specify(model, prior, data, noise=noise, method=method,
                        methods=tuple(METHODS), n_walkers=n_walkers, n_steps=n_steps,
                        target_ess=target_ess, max_evaluations=max_evaluations,
                        surrogate=surrogate, rng=rng, surrogate_mode=surrogate_mode,
                        initial=initial, refine=refine, study=study)
    sampler = METHODS[spec.method]()
    sampler.check(spec)
    runner = default_runner(runner)
    total = None if spec.budget_defaulted else spec.max_evaluations
    progress = Progress(runner, total)
    try:
        plan = make_plan(spec, runner, progress)  # checks the study: no model run before
        outcome = sampler.run(spec, plan, runner, rng)
    finally:
        progress.close()
    return Posterior._from_run(
        spec.problem, outcome.result, outcome.settings, runner=runner,
        surrogate=outcome.surrogate, n_fit_evaluations=outcome.n_fit_evaluations, rng=rng,
        surrogate_info=outcome.surrogate_info, log_evidence=outcome.log_evidence,
        log_evidence_se=outcome.log_evidence_se, method=outcome.method,
        method_reason=outcome.reason, converged=outcome.converged)
