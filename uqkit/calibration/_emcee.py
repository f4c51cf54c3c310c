"""``method="emcee"``: emcee's affine-invariant ensemble sampler behind the runner.

emcee's ``EnsembleSampler`` with ``vectorize=True`` and, by default,
differential-evolution moves (0.8) and DE-snooker moves (0.2) (ter Braak
2006; ter Braak & Vrugt 2008; Foreman-Mackey et al. 2013). emcee updates the
walkers in two halves (red-blue), so every half-step's proposals are one
runner batch. The walkers, their log-posteriors and emcee's random state are
checkpointed in the store after every step, so a resumed run continues
bitwise.

References
----------
Foreman-Mackey, D., Hogg, D. W., Lang, D. and Goodman, J. (2013). emcee: the MCMC
hammer. PASP 125(925), 306-312.
ter Braak, C. J. F. (2006). A Markov chain Monte Carlo version of the genetic algorithm
differential evolution. Stat. Comput. 16, 239-249.
ter Braak, C. J. F. and Vrugt, J. A. (2008). Differential evolution Markov chain with
snooker updater and fewer chains. Stat. Comput. 18, 435-446.
"""

from __future__ import annotations

import json
import math

import numpy as np

from ._diagnostics import diagnose
from ._history import History
from ._methods import Method, Outcome, register
from ._sampler import CHUNK, RunResult, Settings
from ._spec import R_HAT_LIMIT, initial_walkers
from ._target import LogPosterior

__all__ = ["Emcee"]


def default_moves():
    import emcee
    return [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]


class _Target:
    """emcee's vectorised log-probability, remembering each row's log-likelihood and outputs."""

    def __init__(self, full: LogPosterior) -> None:
        self.full = full
        self.seen: dict[bytes, tuple[float, np.ndarray | None]] = {}

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=float)
        lp, ll, Y = self.full(X)
        for i in range(len(X)):
            self.seen[X[i].tobytes()] = (float(ll[i]), None if Y is None else Y[i])
        return lp + ll

    def lookup(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ll = np.empty(len(X))
        Y = np.full((len(X), len(self.full.model.outputs)), np.nan)
        for i, row in enumerate(np.ascontiguousarray(X, dtype=float)):
            v, y = self.seen.get(row.tobytes(), (math.nan, None))
            ll[i] = v
            if y is not None:
                Y[i] = y
        return ll, Y


@register
class Emcee(Method):
    """emcee's ensemble sampler (DE 0.8 + DE-snooker 0.2), checkpointed every step."""

    name = "emcee"

    def check(self, spec) -> None:
        if spec.surrogate is not None:
            self.refuse(spec, "surrogate", "emcee's moves have no delayed-acceptance stage",
                        "Drop 'surrogate', or use method='ensemble' (or 'auto').")
        if spec.n_walkers < 2 * spec.problem.dim:
            self.refuse(spec, "n_walkers", f"emcee needs at least 2 d = "
                        f"{2 * spec.problem.dim} walkers, got {spec.n_walkers}",
                        "Raise n_walkers.")

    def run(self, spec, plan, runner, rng) -> Outcome:
        import emcee
        W, d = spec.n_walkers, spec.problem.dim
        X0 = initial_walkers(spec, rng)
        full = LogPosterior(spec.problem, spec.model, runner)
        target = _Target(full)
        sampler = emcee.EnsembleSampler(W, d, target, moves=default_moves(), vectorize=True)
        sampler.random_state = np.random.RandomState(
            int(rng.integers(2**32))).get_state()
        hist = History(W, d)
        state, meta = None, {}
        got = plan.store.load_checkpoint(plan.name) if plan.store is not None else None
        resumed_at = None
        if got is not None:
            arrays, meta = got
            hist.load(plan.store, plan.name, CHUNK, int(meta["t"]), arrays)
            rs = json.loads(meta["random_state"])
            state = emcee.State(np.array(arrays["X"]), log_prob=np.array(arrays["lp"]),
                                random_state=(rs[0], np.array(arrays["mt_keys"], dtype=np.uint32),
                                              rs[1], rs[2], rs[3]))
            full.n_evaluations = int(meta["n_eval"])
            resumed_at = int(meta["t"])
            Y = np.array(arrays["Y"])
            ll = np.array(arrays["ll"])
        else:
            lp0 = target(X0)
            ll, Y = target.lookup(X0)
            state = emcee.State(X0, log_prob=lp0, random_state=sampler.random_state)
        loop = _Loop(spec, plan, hist, full, meta)
        if not (got is not None and meta.get("done") and not plan.grown):
            loop.stop_reason = ""
            loop.save(state, ll, Y, sampler)
            while not loop.stop_before_step():
                new = sampler.sample(state, iterations=1, store=False,
                                     skip_initial_state_check=True)
                nxt = next(new)
                acc = np.any(nxt.coords != state.coords, axis=1)
                ll_new, Y_new = target.lookup(nxt.coords)
                ll = np.where(acc, ll_new, ll)
                Y = np.where(acc[:, None], Y_new, Y)
                target.seen.clear()
                state = nxt
                hist.append(state.coords, state.log_prob, ll, acc, np.zeros(W, dtype=np.int8))
                done = loop.check()
                loop.save(state, ll, Y, sampler, done)
                plan.report(full.n_evaluations, f"step {len(hist)}")
                if done:
                    loop.stop_reason = "converged"
                    break
        n = len(hist)
        nw = min(loop.n_warmup(n), n)
        diag = diagnose(np.moveaxis(hist.x[nw:n], 0, 1))
        result = RunResult(
            chain=hist.x[:n], log_posterior=hist.lp[:n], log_likelihood=hist.ll[:n],
            accepted=hist.acc[:n], independence=hist.ind[:n].astype(bool), n_warmup=nw,
            stop_reason=loop.stop_reason, diagnostics=diag, n_evaluations=full.n_evaluations,
            n_surrogate_evaluations=0, subchain_length=1,
            move_probabilities=np.full(3, np.nan), snapshots={n - 1: Y} if n > nw else {},
            resumed_at=resumed_at)
        settings = Settings(n_walkers=W, n_warmup=nw, max_steps=spec.n_steps,
                            max_evaluations=spec.max_evaluations, target_ess=spec.target_ess)
        return Outcome(result=result, settings=settings, method=self.name,
                       reason="requested (DE 0.8 + DE-snooker 0.2)")


class _Loop:
    """Budget, convergence checks and checkpoints of the emcee run."""

    def __init__(self, spec, plan, hist: History, full: LogPosterior, meta: dict) -> None:
        self.spec, self.plan, self.hist, self.full = spec, plan, hist, full
        self.next_check = int(meta.get("next_check", plan.n_warmup + 20))
        self.passes = int(meta.get("passes", 0))
        self.stop_reason = meta.get("stop_reason", "")

    def n_warmup(self, t: int) -> int:
        """The plan's warm-up; running to ``target_ess``, at least the first half of the chain."""
        if self.spec.target_ess is None:
            return self.plan.n_warmup
        return max(self.plan.n_warmup, t // 2)

    def stop_before_step(self) -> bool:
        spec, t = self.spec, len(self.hist)
        if spec.n_steps is not None and t >= spec.n_steps:
            self.stop_reason = "n_steps"
            return True
        if (spec.max_evaluations is not None
                and self.full.n_evaluations + spec.n_walkers > spec.max_evaluations):
            self.stop_reason = "max_evaluations"
            return True
        return False

    def check(self) -> bool:
        t = len(self.hist)
        if self.spec.target_ess is None or t < self.next_check:
            return False
        nw = self.n_warmup(t)
        diag = diagnose(np.moveaxis(self.hist.x[nw:t], 0, 1))
        ok = bool(np.all(np.isfinite(diag["r_hat"])))
        ess = float(np.min(diag["ess_bulk"])) if ok else 0.0
        rhat = float(np.max(diag["r_hat"])) if ok else math.inf
        self.next_check = t + max(20, t // 10)
        if ess >= self.spec.target_ess and rhat < R_HAT_LIMIT:
            self.passes += 1  # two passes in a row, as the ensemble sampler
            return self.passes >= 2
        self.passes = 0
        return False

    def save(self, state, ll, Y, sampler, done: bool = False) -> None:
        store, name = self.plan.store, self.plan.name
        if store is None:
            return
        rs = sampler.random_state
        arrays = {"X": state.coords, "lp": state.log_prob, "ll": ll, "Y": Y,
                  "mt_keys": np.asarray(rs[1], dtype=float),
                  **self.hist.save(store, name, CHUNK)}
        meta = {"t": len(self.hist), "n_warmup": self.plan.n_warmup,
                "n_eval": self.full.n_evaluations,
                "random_state": json.dumps([rs[0], int(rs[2]), int(rs[3]), float(rs[4])]),
                "next_check": self.next_check, "passes": self.passes, "done": bool(done),
                "stop_reason": "converged" if done else ""}
        store.save_checkpoint(name, {k: np.asarray(v, dtype=float) for k, v in arrays.items()},
                              meta)
