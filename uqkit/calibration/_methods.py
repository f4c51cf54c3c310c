"""Sampling methods of :func:`uqkit.calibrate` behind one small interface.

A method is a class registered under its name with :func:`register`. It has

- ``check(spec)``: refuse, with :class:`uqkit.InvalidParameterError` and before
  any model run, what it cannot do (e.g. a surrogate with ``"emcee"``);
- ``run(spec, plan, runner, rng)``: sample, resuming from ``plan``'s checkpoint,
  and return an :class:`Outcome`.

The driver (:func:`uqkit.calibrate`) only looks a method up by name, so
adding one does not touch it (emcee's moves and backends follow the same
separation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from .._errors import InvalidParameterError
from ._plan import Plan
from ._sampler import Driver, RunResult, Settings
from ._screening import screening_density
from ._spec import Spec, initial_walkers
from ._surrogate import fit_prior_pce, refine_surrogate, sample_surrogate
from ._target import LogPosterior

__all__ = ["Method", "Outcome", "METHODS", "register", "resolve_surrogate"]

# a refinement that met its accuracy target with no growing frontier is trusted more:
# untempered screening and a lighter defensive part (see _screening)
TRUSTED_SCREENING = {"beta": 1.0, "weight": 0.05}

METHODS: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make ``cls`` available as ``calibrate(method=cls.name)``."""
    METHODS[cls.name] = cls
    return cls


@dataclass
class Outcome:
    """What a method hands to :class:`~._posterior.Posterior`."""

    result: RunResult
    settings: Settings
    n_fit_evaluations: int = 0       # full-model runs outside ``result`` (fits, SMC stage)
    surrogate: Any = None
    surrogate_info: dict[str, Any] = field(default_factory=dict)
    log_evidence: float = math.nan
    log_evidence_se: float = math.nan
    converged: bool | None = None     # None: ESS and R-hat decide
    method: str = ""
    reason: str = ""


class Method:
    """A sampling method (see the module notes)."""

    name: ClassVar[str] = ""

    def check(self, spec: Spec) -> None:
        """Refuse a specification this method cannot run (before any model run)."""

    def run(self, spec: Spec, plan: Plan, runner: Any, rng: np.random.Generator) -> Outcome:
        raise NotImplementedError

    @staticmethod
    def refuse(spec: Spec, argument: str, why: str, remedy: str) -> None:
        raise InvalidParameterError(
            f"The '{argument}' parameter of calibrate is not supported with "
            f"method={spec.method!r}: {why}. {remedy}")


def resolve_surrogate(spec: Spec, runner: Any, rng: np.random.Generator) -> tuple[Any, int]:
    """The surrogate model of ``spec`` and the full-model runs spent building it.

    A surrogate given by name (``"pce"`` or ``"gp"``) is fitted here; a fitted
    model is used as given.
    """
    if spec.surrogate == "pce":
        return fit_prior_pce(spec.model, spec.problem, runner, rng)
    if spec.surrogate == "gp":
        from ..gp._calibration import fit_prior_gp

        return fit_prior_gp(spec.model, spec.problem, runner, rng)
    return spec.surrogate, 0


@register
class Ensemble(Method):
    """The adaptive ensemble Metropolis-Hastings sampler (:mod:`._sampler`)."""

    name = "ensemble"

    def run(self, spec: Spec, plan: Plan, runner: Any, rng: np.random.Generator, *,
            X0: np.ndarray | None = None, used: int = 0, temper: bool = True) -> Outcome:
        """Sample; ``X0`` starts the walkers elsewhere than :func:`initial_walkers`,
        after ``used`` full-model runs of an earlier stage (counted in the budget)."""
        problem = spec.problem
        if X0 is None:
            X0 = initial_walkers(spec, rng)
        mode, n_fit, surrogate, refinement = "plain", 0, None, None
        if spec.surrogate is not None:
            mode = spec.surrogate_mode
            # the surrogate's own stream: the same seed rebuilds the same surrogate on a resume
            srng = np.random.default_rng(rng.integers(2**63))
            surrogate, n_fit = resolve_surrogate(spec, runner, srng)
            if spec.refine:
                cap = (None if spec.max_evaluations is None
                       else (spec.max_evaluations - n_fit) // 2)
                refinement = refine_surrogate(problem, spec.model, surrogate, runner, srng, X0,
                                              max_evaluations=cap)
                surrogate = refinement.surrogate
                n_fit += refinement.n_evaluations
                X0 = refinement.X_last
        left = None if spec.max_evaluations is None else spec.max_evaluations - n_fit - used
        settings = Settings(n_walkers=spec.n_walkers, n_warmup=plan.n_warmup,
                            max_steps=spec.n_steps, max_evaluations=left,
                            target_ess=spec.target_ess, mode=mode,
                            temper=temper and refinement is None)
        full = LogPosterior(problem, spec.model, runner)
        surr = None
        if surrogate is not None:
            if mode == "delayed_acceptance":
                # draws of the surrogate's posterior place the screening density's defensive part
                draws = (refinement.draws if refinement is not None else
                         sample_surrogate(problem, surrogate, X0, srng)[0])
                trusted = refinement is not None and refinement.converged
                surr = screening_density(problem, surrogate, draws, srng,
                                         **(TRUSTED_SCREENING if trusted else {}))
            else:
                surr = LogPosterior(problem, surrogate, None)
        driver = Driver(settings, full, surr, rng, store=plan.store, name=plan.name,
                        progress=lambda n, status: plan.report(used + n_fit + n, status))
        if driver.resume() and driver.stop_reason and not plan.grown:
            result = driver.result()
        else:
            driver.stop_reason = ""
            if driver.resumed_at is None:
                driver.start(X0)
            result = driver.run()
        info = {}
        if surrogate is not None:
            info = {"n_fit_evaluations": n_fit, "refined": False, "n_rounds": 0, "errors": []}
            if refinement is not None:
                info.update(refined=refinement.converged, n_rounds=refinement.n_rounds,
                            errors=[float(e) for e in refinement.errors])
        return Outcome(result=result, settings=settings, n_fit_evaluations=n_fit,
                       surrogate=surrogate, surrogate_info=info, method=self.name,
                       reason="requested")


@register
class Auto(Method):
    """SMC from the prior to the posterior, then the ensemble sampler from its particles.

    The ensemble sampler alone when the user set up the chain (``initial``,
    ``n_walkers`` or ``n_steps``) or gave a surrogate (delayed acceptance runs
    on the ensemble sampler and refines the surrogate from its own start).
    """

    name = "auto"

    def run(self, spec: Spec, plan: Plan, runner: Any, rng: np.random.Generator) -> Outcome:
        from ._smc import SMC
        reason = _ensemble_only(spec)
        if reason:
            out = Ensemble().run(spec, plan, runner, rng)
            return replace(out, method="ensemble", reason=reason)
        srng = np.random.default_rng(rng.integers(2**63))
        cap = None if spec.max_evaluations is None else spec.max_evaluations // 2
        n = SMC_PARTICLES if cap is None else int(np.clip(cap // 30, 50, SMC_PARTICLES))
        smc = SMC.sample(spec, plan, runner, srng, n_particles=n, max_evaluations=cap)
        used = smc.n_evaluations
        reached = smc.beta >= 1.0
        idx = rng.choice(len(smc.X), size=spec.n_walkers, replace=False) if reached else None
        X0 = smc.X[idx] if reached else initial_walkers(spec, rng)
        left_steps = (math.inf if spec.max_evaluations is None or (
            spec.budget_defaulted and spec.target_ess is not None)
            else max((spec.max_evaluations - used) // spec.n_walkers - 1, 1))
        if plan.stored_warmup is None:
            if left_steps != math.inf:
                plan = replace(plan, n_warmup=int(np.clip(left_steps // 4, 20, plan.n_warmup)))
            else:  # to target_ess: the warm-up that fits the mixture proposal grows with d
                plan = replace(plan, n_warmup=max(plan.n_warmup,
                                                  WARMUP_STEPS_PER_DIM * spec.problem.dim))
        # particles at the posterior need no tempered warm-up start (10-D Gaussian from a
        # Normal(0, 100) prior: 110 ESS per 1000 runs untempered, 41 tempered)
        out = Ensemble().run(spec, plan, runner, rng, X0=X0, used=used, temper=not reached)
        why = ("started from prior draws: tempered SMC reached the posterior "
               f"({smc.n_stages} stages, {used} runs, evidence), then the ensemble "
               "sampler ran from its particles")
        if not reached:
            why = ("started from prior draws: tempered SMC ran out of its half of the budget "
                   f"at temperature {smc.beta:.3g}; the ensemble sampler ran from prior draws")
        return replace(out, n_fit_evaluations=out.n_fit_evaluations + used,
                       log_evidence=smc.log_evidence, log_evidence_se=smc.log_evidence_se,
                       method="smc+ensemble", reason=why)


# particles of auto's SMC stage: enough to reach the posterior; with a budget, fewer, so that
# SMC's ~10 stages of ~2 batches fit in half of it (the logistic ODE at 6,000 runs takes ~2,000)
SMC_PARTICLES = 200
# warm-up steps per parameter of auto's ensemble stage when running to target_ess: its
# proposal mixture is fitted on the warm-up draws (10-D Gaussian from SMC particles, Normal(0,
# 100) prior: 200 steps gave 21 ESS per 1000 runs, 400 steps 110)
WARMUP_STEPS_PER_DIM = 40


def _ensemble_only(spec: Spec) -> str:
    """Why ``"auto"`` runs the ensemble sampler alone ("" when it runs SMC first)."""
    if spec.surrogate is not None:
        return "a surrogate: delayed acceptance runs on the ensemble sampler"
    if spec.initial is not None:
        return "initial points given: the chain starts there"
    if spec.n_walkers_given or spec.n_steps is not None:
        return "n_walkers or n_steps given: the ensemble sampler's settings"
    return ""
