"""Multiscale composition: the outputs of one model feed the inputs of the next."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from uqkit._errors import EvaluationFailure
from uqkit._validation import as_2d_float, fail

from ._protocol import check_model, model_identity

__all__ = ["Chain"]

_FUNC = "Chain"


class Chain:
    """Models evaluated in sequence, later steps reading earlier steps' outputs.

    Parameters
    ----------
    *models : Model
        The steps, in evaluation order (a cell model, then a tissue model...).
    links : mapping of str to str, optional
        ``{"tissue_input": "cell_output"}``: feed an earlier output to a later
        input of another name. Without a link, an input takes the output of the
        same name from the latest earlier step that has one.
    names : sequence of str, optional
        Step names (default: each model's ``name``, made unique).

    Attributes
    ----------
    inputs : tuple of str
        The free inputs (not produced by an earlier step), in first-use order.
    outputs : tuple of str
        The outputs of every step, in step order.
    steps : dict
        Step name -> model.

    Notes
    -----
    A chain is a :class:`uqkit.Model`: every method (Sobol, PCE, calibration)
    works on it, and all intermediate outputs are returned, so their
    uncertainty is analysed too. It is ``vectorized`` when every step is; a
    step's :class:`uqkit.EvaluationFailure` fails the row with the step's name
    in the message. Replace an expensive step by a surrogate with
    :meth:`replace`.

    Examples
    --------
    >>> import uqkit
    >>> cell = uqkit.as_model(lambda g: 2 * g, outputs=["apd"], name="cell")
    >>> tissue = uqkit.as_model(lambda apd, D: apd / D, outputs=["cv"], name="tissue")
    >>> chain = uqkit.Chain(cell, tissue)
    >>> chain.inputs, chain.outputs
    (('g', 'D'), ('apd', 'cv'))
    >>> chain([[1.0, 4.0]])
    array([[2. , 0.5]])
    """

    def __init__(self, *models: Any, links: Mapping[str, str] | None = None,
                 names: list[str] | None = None) -> None:
        if len(models) == 1 and isinstance(models[0], (list, tuple)):
            models = tuple(models[0])
        if len(models) < 1:
            fail(_FUNC, "models", "at least one model", models)
        for mdl in models:
            check_model(mdl, _FUNC)
        if names is None:
            names = []
            for i, mdl in enumerate(models):
                base = str(getattr(mdl, "name", None) or f"step{i}")
                names.append(base if base not in names else f"{base}_{i}")
        names = list(names)
        if len(names) != len(models) or len(set(names)) != len(names):
            fail(_FUNC, "names", f"{len(models)} distinct step names", names)
        if links is not None and not isinstance(links, Mapping):
            fail(_FUNC, "links", "a mapping {later_input: earlier_output}", links)
        self.links = dict(links or {})
        self.steps = dict(zip(names, models, strict=False))
        self._build()

    def _build(self) -> None:
        produced: dict[str, int] = {}  # output column -> step index
        free: list[str] = []
        plan = []  # per step: list of (source, index) with source "x" (free) or step index
        used_links = set()
        outputs: list[str] = []
        for k, (sname, mdl) in enumerate(self.steps.items()):
            sources = []
            for name in mdl.inputs:
                src = self.links.get(name, name)
                if name in self.links:
                    used_links.add(name)
                    if src not in produced:
                        fail(_FUNC, "links", f"links to outputs of steps before {sname!r} "
                             f"(available: {sorted(produced)})", f"{name!r}: {src!r}")
                if src in produced:
                    sources.append(("y", outputs.index(src)))
                else:
                    if name not in free:
                        free.append(name)
                    sources.append(("x", free.index(name)))
            plan.append(sources)
            for out in mdl.outputs:
                if out in produced:
                    fail(_FUNC, "models", "steps with distinct output names", out,
                         f"Both {list(self.steps)[produced[out]]!r} and {sname!r} produce it; "
                         "rename one (and use links=).")
                produced[out] = k
                outputs.append(out)
        unused = set(self.links) - used_links
        if unused:
            fail(_FUNC, "links", "keys that are inputs of some step", sorted(unused)[0])
        clash = set(free) & set(outputs)
        if clash:
            fail(_FUNC, "models", "free inputs distinct from outputs", sorted(clash)[0],
                 "An input of an early step has the name of a later step's output.")
        if not free:
            fail(_FUNC, "models", "a chain with at least one free input", list(self.steps))
        self.inputs = tuple(free)
        self.outputs = tuple(outputs)
        self._plan = plan
        self.vectorized = all(getattr(m, "vectorized", False) for m in self.steps.values())
        ids = [[s, model_identity(m)["id"]] for s, m in self.steps.items()]
        digest = hashlib.sha256(json.dumps({"steps": ids, "links": self.links},
                                           sort_keys=True).encode()).hexdigest()
        self.name = "chain(" + ",".join(self.steps) + ")"
        self.version = None
        self.identity = f"chain:{digest}"

    def __call__(self, X: Any) -> np.ndarray:
        X = as_2d_float(self.name, "X", X, len(self.inputs))
        n = X.shape[0]
        Y = np.empty((n, len(self.outputs)))
        col = 0
        for (sname, mdl), sources in zip(self.steps.items(), self._plan, strict=False):
            Xs = np.empty((n, len(sources)))
            for j, (kind, idx) in enumerate(sources):
                Xs[:, j] = X[:, idx] if kind == "x" else Y[:, idx]
            if not np.all(np.isfinite(Xs)):
                bad = [mdl.inputs[j] for j in np.nonzero(~np.isfinite(Xs).all(axis=0))[0]]
                raise EvaluationFailure(
                    "invalid_input", f"step {sname!r} would receive non-finite inputs {bad} "
                    "from earlier steps", retryable=False, step=sname)
            try:
                Ys = np.asarray(mdl(Xs), dtype=float)
            except EvaluationFailure as exc:
                exc.message = f"step {sname!r}: {exc.message}"
                exc.args = (exc.message,)
                exc.details.setdefault("step", sname)
                raise
            m = len(mdl.outputs)
            if Ys.shape != (n, m):
                raise EvaluationFailure(
                    "shape_mismatch", f"step {sname!r} returned shape {Ys.shape} vs ({n}, {m})",
                    retryable=False, step=sname)
            Y[:, col:col + m] = Ys
            col += m
        return Y

    def replace(self, step: str, model: Any) -> Chain:
        """A new chain with ``step`` replaced by ``model`` (e.g. a surrogate).

        The replacement must produce the step's outputs (same names); its inputs
        are wired again by name and ``links``.
        """
        if step not in self.steps:
            fail("Chain.replace", "step", f"one of {list(self.steps)}", step)
        check_model(model, "Chain.replace")
        old = self.steps[step]
        if tuple(model.outputs) != tuple(old.outputs):
            fail("Chain.replace", "model", f"a model with outputs {tuple(old.outputs)}",
                 tuple(model.outputs))
        steps = dict(self.steps)
        steps[step] = model
        return Chain(*steps.values(), links=self.links, names=list(steps))

    def __repr__(self) -> str:
        return (f"Chain({', '.join(self.steps)}; inputs={self.inputs}, "
                f"outputs={len(self.outputs)})")

    def _repr_html_(self) -> str:
        import pandas as pd

        from uqkit.reports._repr import card

        df = pd.DataFrame({"inputs": [", ".join(m.inputs) for m in self.steps.values()],
                           "outputs": [", ".join(m.outputs) for m in self.steps.values()]},
                          index=pd.Index(list(self.steps), name="step"))
        return card("Chain", tables=[("", df)])
