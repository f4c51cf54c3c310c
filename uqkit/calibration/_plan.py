"""The budget plan of a calibration: steps, warm-up and where the checkpoint lives.

:func:`make_plan` turns a :class:`~._spec.Spec` into the arithmetic every
method shares: how many sampler steps the budget allows, how long the
warm-up is, and, with a store, the study's name and whether its budget grew.
The study is checked against the store here, before any model run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ._spec import EXTENDABLE, Spec

__all__ = ["Plan", "make_plan"]

WARMUP_TO_TARGET = 200  # warm-up steps when running to target_ess without a step budget
MAX_WARMUP = 2000


@dataclass(frozen=True)
class Plan:
    """The budget arithmetic and the checkpoint of one calibration."""

    budget_steps: float        # sampler steps the budget allows (inf: none)
    n_warmup: int
    store: Any = None
    name: str | None = None    # checkpoint name in the store (None: no checkpoints)
    grown: bool = False        # a resumed study whose budget grew
    stored_warmup: int | None = None  # the warm-up of the study's first run, when resumed
    progress: Any = None       # a ._progress.Progress (model runs done), or None

    def report(self, done: int, status: str = "") -> None:
        """Tell the progress bar how many model runs are done."""
        if self.progress is not None:
            self.progress.update(done, status)


def make_plan(spec: Spec, runner: Any, progress: Any = None) -> Plan:
    """The plan of ``spec``; with a seeded store, the study is checked (or recorded) here.

    Raises
    ------
    StudyMismatchError
        When the store holds a different calibration under the same study name.
    """
    budget_steps = math.inf
    if spec.n_steps is not None:
        budget_steps = spec.n_steps
    if spec.max_evaluations is not None and not (spec.budget_defaulted
                                                 and spec.target_ess is not None):
        # the starting points cost one batch of n_walkers evaluations
        budget_steps = min(budget_steps, max(spec.max_evaluations // spec.n_walkers - 1, 1))
    n_warmup = (WARMUP_TO_TARGET if budget_steps == math.inf
                else int(np.clip(budget_steps // 4, 20, MAX_WARMUP)))
    if budget_steps != math.inf:
        # the warm-up leaves at least one sampling step inside the budget
        n_warmup = min(n_warmup, max(int(budget_steps) - 1, 1))
    plan = Plan(budget_steps=budget_steps, n_warmup=n_warmup, progress=progress)
    store = getattr(runner, "store", None) if runner is not None else None
    if store is None:
        return plan
    if spec.seeded and hasattr(store, "check_study"):
        new = spec.fingerprint()
        old = store.check_study(spec.study_id, new, extendable=EXTENDABLE)
        grown = old is not None and any(old.get(f) != new[f] for f in EXTENDABLE)
        stored = _stored_warmup(store, spec.study_id)
        return replace(plan, store=store, name=spec.study_id, grown=grown,
                       stored_warmup=stored, n_warmup=n_warmup if stored is None else stored)
    # unseeded: a fresh chain every run (nothing to resume)
    return replace(plan, store=store, name=spec.checkpoint_name(n_warmup))


def _stored_warmup(store: Any, name: str) -> int | None:
    """The warm-up length of the first run of a study (a grown budget keeps it)."""
    got = store.load_checkpoint(name)
    if got is not None and "n_warmup" in got[1]:
        return int(got[1]["n_warmup"])
    return None
