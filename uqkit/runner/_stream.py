"""Large designs through a store: evaluated in chunks, so memory stays bounded.

A design of more than :data:`STREAM_ROWS` rows evaluated with a store is split
after removing duplicate rows: each chunk is one evaluation job (keys, claims,
lookups, model calls and writes of that chunk only), sharing one circuit
breaker. Only the per-row results (outputs, status, error) of the whole design
are kept, and its cache keys are computed when first asked for
(:class:`~uqkit.runner._evaluations.HexKeys`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..models._protocol import model_identity
from ._breaker import Breaker
from ._evaluations import Evaluations, HexKeys
from ._job import _Job
from ._rows import _dedupe_rows

if TYPE_CHECKING:
    from ._runner import Runner

__all__ = ["STREAM_ROWS", "evaluate_streamed"]

#: rows per chunk of a large design evaluated with a store
STREAM_ROWS = 32768

_OUTSIDE = "outside the parameters' support"
#: the statuses a job returns, sorted: the chunks' statuses are kept as one byte a row,
#: a position in this array
_SORTED = np.sort(np.array(["ok", "nonfinite", "failed", "pending", "invalid",
                            "interrupted"], dtype="<U11"))
_OK = int(np.searchsorted(_SORTED, "ok"))


def evaluate_streamed(runner: Runner, model: Any, X: np.ndarray, invalid: np.ndarray, *,
                      on_failure: str | None = None,
                      max_failures: int | None = None) -> Evaluations:
    """:meth:`uqkit.Runner.evaluate` with a store, chunk by chunk (same results).

    ``on_failure`` and ``max_failures`` are the per-call overrides of
    :meth:`uqkit.Runner.evaluate`.
    """
    n = X.shape[0]
    rep, uniq = _dedupe_rows(X, invalid)
    u, m = len(uniq), len(model.outputs)
    uY = np.full((u, m), np.nan)
    ucode = np.full(u, _OK, dtype=np.uint8)
    uerrors: dict[int, str] = {}
    n_new = n_attempts = 0
    breaker = Breaker(max_failures or runner.max_consecutive_failures, runner.max_failure_rate)
    for start in range(0, u, STREAM_ROWS):
        rows = uniq[start:start + STREAM_ROWS]
        ev = _Job(runner, model, X[rows], np.zeros(len(rows), dtype=bool),
                  breaker=breaker, on_failure=on_failure, max_failures=max_failures).run()
        at = slice(start, start + len(rows))
        uY[at] = ev.Y
        if not ev.ok.all() or (ev.status != "ok").any():
            ucode[at] = np.searchsorted(_SORTED, ev.status)
        if not ev.ok.all() or ev.errors.count(None) != len(rows):
            uerrors.update((start + i, e) for i, e in enumerate(ev.errors) if e is not None)
        n_new += ev.n_new
        n_attempts += ev.n_attempts
    ustatus = _SORTED[ucode]
    del ucode
    valid = rep >= 0
    if u == n:  # every row valid and distinct
        Y, status = uY, ustatus
        where = np.arange(n)
    else:
        where = np.searchsorted(uniq, rep[valid])
        Y = np.full((n, m), np.nan)
        Y[valid] = uY[where]
        status = np.full(n, "invalid", dtype="<U11")
        status[valid] = ustatus[where]
    if uerrors or not valid.all():
        errors = [_OUTSIDE] * n
        for i, w in zip(np.flatnonzero(valid).tolist(), where.tolist()):
            errors[i] = uerrors.get(w)
        errors_t = tuple(errors)
    else:
        errors_t = (None,) * n
    ok = status == "ok"
    if runner.allow_nonfinite:
        ok |= status == "nonfinite"
    return Evaluations(
        X=X, Y=Y, ok=ok, status=status, errors=errors_t,
        keys=HexKeys(model_id=model_identity(model)["id"], X=X), n_new=n_new,
        n_cached=int(valid.sum()) - n_new, n_attempts=n_attempts,
        inputs=tuple(model.inputs), outputs=tuple(model.outputs),
        model_name=str(getattr(model, "name", None) or type(model).__name__))
