"""The validated, frozen specification of a calibration (also its study fingerprint).

:func:`specify` checks every argument of :func:`uqkit.calibrate` before any
model run and resolves the defaults that define the study (the number of
walkers, the default budget). The result, :class:`Spec`, is what a method
runs and what the store compares on a resume (:meth:`Spec.fingerprint`).
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InvalidParameterError
from .._validation import check_int, fail, normalize_rng
from ..models._protocol import model_identity
from ._problem import Problem, build_problem

__all__ = ["Spec", "specify", "initial_walkers", "EXTENDABLE", "R_HAT_LIMIT",
           "DEFAULT_MAX_EVALUATIONS"]

R_HAT_LIMIT = 1.01  # convergence: every rank-normalised split R-hat below this (Vehtari 2021)
DEFAULT_MAX_EVALUATIONS = 1_000_000  # budget when neither n_steps nor max_evaluations is given
EXTENDABLE = ("n_steps", "max_evaluations", "target_ess")  # may grow on a resumed study
SURROGATE_MODES = ("delayed_acceptance", "approximate")
SURROGATE_NAMES = ("pce", "gp")


@dataclass(frozen=True)
class Spec:
    """Everything a calibration is, validated and with its defaults resolved."""

    problem: Problem
    model: Any
    method: str
    n_walkers: int
    n_walkers_given: bool
    n_steps: int | None
    max_evaluations: int | None
    budget_defaulted: bool
    target_ess: float | None
    surrogate: Any
    surrogate_mode: str
    refine: bool
    initial: Any
    seeded: bool
    seed_state: str
    study: str | None

    @property
    def identity(self) -> dict[str, Any]:
        """The model's cache identity (computed once per specification)."""
        return _identity(self.model)

    @property
    def study_id(self) -> str:
        return "calibrate:" + (self.study if self.study is not None else self.identity["name"])

    def fingerprint(self) -> dict[str, Any]:
        """What a resumed calibration must share with the stored one (budgets may grow).

        The model enters by its cache identity (name, version, inputs, outputs), as
        in the runner's cache.
        """
        ps = self.problem.spec()
        surr = self.surrogate
        if surr is not None and not isinstance(surr, str):
            surr = _identity(surr)["id"]
        init = None if self.initial is None else hashlib.sha256(
            np.ascontiguousarray(np.asarray(self.initial, dtype=float)).tobytes()).hexdigest()[:16]
        out = {"model": self.identity["id"],
               "prior": ps["parameters"], "data": ps["data"],
               "observed_outputs": ps["columns"], "noise": ps["noise"], "sigma": ps["sigma"],
               "n_walkers": self.n_walkers,
               "surrogate": None if surr is None else {"surrogate": surr,
                                                        "mode": self.surrogate_mode,
                                                        "refine": bool(self.refine)},
               "seed": self.seed_state, "initial": init,
               "n_steps": math.inf if self.n_steps is None else self.n_steps,
               "max_evaluations": (math.inf if self.max_evaluations is None
                                   else self.max_evaluations),
               "target_ess": math.inf if self.target_ess is None else self.target_ess}
        if self.method != "ensemble":  # the ensemble's studies keep their stored form
            out["method"] = self.method
        return out

    def checkpoint_name(self, n_warmup: int) -> str:
        """A unique name for an unseeded run's checkpoint (never resumed)."""
        surr = self.surrogate
        spec = {"problem": self.problem.spec(), "model": self.identity["id"],
                "n_walkers": self.n_walkers, "n_warmup": n_warmup, "seed": self.seed_state,
                "surrogate": surr if surr is None or isinstance(surr, str)
                else _identity(surr)["id"], "mode": self.surrogate_mode,
                "refine": self.refine, "method": self.method}
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()
                                ).hexdigest()
        return f"calibrate-{digest[:20]}"


def _identity(model: Any) -> dict[str, Any]:
    return model_identity(model)


def specify(model: Any, prior: Any, data: Any, *, noise: Any, method: str,
            methods: tuple[str, ...], n_walkers: int | None, n_steps: int | None,
            target_ess: float | None, max_evaluations: int | None, surrogate: Any,
            rng: Any, surrogate_mode: str, initial: Any, refine: bool | None,
            study: str | None) -> tuple[Spec, np.random.Generator]:
    """Validate the arguments of :func:`uqkit.calibrate` (no model run) into a :class:`Spec`.

    Returns the specification and the normalised random generator.
    """
    if not isinstance(method, str) or method not in methods:
        fail("calibrate", "method", "one of " + ", ".join(map(repr, methods)), method)
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
    if surrogate_mode not in SURROGATE_MODES:
        fail("calibrate", "surrogate_mode", "one of " + ", ".join(map(repr, SURROGATE_MODES)),
             surrogate_mode)
    if isinstance(surrogate, str):
        if surrogate not in SURROGATE_NAMES:
            fail("calibrate", "surrogate", "a fitted surrogate model, "
                 + ", ".join(map(repr, SURROGATE_NAMES)) + " or None", surrogate)
    elif surrogate is not None:
        _check_surrogate(surrogate, model, problem)
    budget_defaulted = n_steps is None and max_evaluations is None
    if budget_defaulted:
        max_evaluations = DEFAULT_MAX_EVALUATIONS
    if not n_walkers_given:
        n_walkers = _default_walkers(d, n_walkers, n_steps, max_evaluations)
    seeded = rng is not None
    rng = normalize_rng(rng)
    if refine is None:
        refine = surrogate is not None and surrogate_mode == "delayed_acceptance"
    spec = Spec(problem=problem, model=model, method=method, n_walkers=n_walkers,
                n_walkers_given=n_walkers_given, n_steps=n_steps,
                max_evaluations=max_evaluations, budget_defaulted=budget_defaulted,
                target_ess=target_ess, surrogate=surrogate, surrogate_mode=surrogate_mode,
                refine=bool(refine), initial=initial, seeded=seeded,
                seed_state=json.dumps(rng.bit_generator.state, sort_keys=True), study=study)
    if initial is not None:
        check_initial(initial, n_walkers, problem)
    return spec, rng


def _default_walkers(d: int, n_walkers: int, n_steps: int | None,
                     max_evaluations: int | None) -> int:
    """The default number of walkers for a budget.

    A budget of at least 1000 steps of 32 walkers takes 32: they halve the
    sampler's own cost per evaluation at the same effective samples per
    evaluation (banana, ``benchmarks/bench_calibration.py``). A small budget
    (fewer than 1000 steps of 16 walkers) with at most 4 parameters takes
    ``max(8, 2 d + 2)``: twice the steps of 16 walkers make each chain's split
    R-hat reliable (logistic ODE at 6,000 runs; from 24,000 runs on, 16 walkers
    did as well).
    """
    if n_walkers < 32 and (n_steps is None or n_steps >= 1000) and (
            max_evaluations is None or max_evaluations >= 32 * 1000):
        return 32
    if d <= 4 and n_steps is None and max_evaluations is not None and (
            max_evaluations < 16 * 1000):
        return max(8, 2 * d + 2)
    return n_walkers


def _check_surrogate(surrogate: Any, model: Any, problem: Problem) -> None:
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


def check_initial(initial: Any, n_walkers: int, problem: Problem) -> None:
    """``initial`` is ``(d,)`` or ``(n_walkers, d)``, finite and inside the prior support."""
    d = problem.dim
    arr = np.asarray(initial, dtype=float)
    if arr.shape not in ((d,), (n_walkers, d)) or not np.all(np.isfinite(arr)):
        fail("calibrate", "initial", f"a finite array of shape ({d},) or ({n_walkers}, {d})",
             f"shape {np.shape(initial)}")
    if not np.all(np.isfinite(problem.logprior(np.atleast_2d(arr)))):
        fail("calibrate", "initial", "inside the support of the prior", "points outside it")


def initial_walkers(spec: Spec, rng: np.random.Generator) -> np.ndarray:
    """The walkers' starting points: ``initial`` (a small ball around a point) or prior draws."""
    problem, n_walkers, d = spec.problem, spec.n_walkers, spec.problem.dim
    if spec.initial is None:
        return problem.parameters.sample(n_walkers, method="random", rng=rng)
    arr = np.asarray(spec.initial, dtype=float)
    if arr.shape == (d,):
        scale = np.maximum(np.abs(arr) * 1e-3, 1e-6)
        sd = problem.parameters.std
        scale = np.where(np.isfinite(sd), np.minimum(1e-2 * sd, scale + 1e-2 * sd), scale)
        arr = arr + scale * rng.standard_normal((n_walkers, d))
        if not np.all(np.isfinite(problem.logprior(arr))):
            fail("calibrate", "initial", "inside the support of the prior", "points outside it")
    return arr
