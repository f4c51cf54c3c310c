"""Adaptive tempered sequential Monte Carlo from the prior to the posterior.

The particles move through the tempered posteriors
``pi_beta(theta) ~ p(theta) L(theta) ** beta`` from ``beta = 0`` (prior draws)
to ``beta = 1`` (the posterior), as in Del Moral, Doucet & Jasra (2006) and
TMCMC (Ching & Chen 2007). Each stage

1. picks the next temperature by bisection so that the effective sample size
   of the incremental weights ``L ** (beta' - beta)`` is ``ess_fraction``
   times that of the current particles (Jasra et al. 2011);
2. multiplies the evidence estimate by the mean incremental weight;
3. resamples (systematic resampling) and
4. rejuvenates the particles by Metropolis-Hastings moves that leave
   ``pi_beta'`` invariant: a random walk with the particles' covariance (its
   scale tuned towards 23.4 % acceptance) alternating with an independence
   proposal from a multivariate t fitted to the particles (Chopin 2002). Moves
   repeat until the particles have moved, in the particles' whitened metric, a
   mean squared distance of ``d`` from where the stage started (half of the
   ``2 d`` of independent draws), at most ``MAX_MOVES`` times.

Every batch of the stage (the particles, then each move's proposals) is one
runner call. The particles are split into ``n_islands`` islands that are
resampled separately (Vergé et al. 2015), so each island gives an
independent evidence estimate: their spread is the standard error of
``log Z``. With a store, the state is checkpointed after every stage and a
resumed run continues bitwise.

References
----------
Del Moral, P., Doucet, A. and Jasra, A. (2006). Sequential Monte Carlo samplers.
J. R. Stat. Soc. B 68(3), 411-436.
Ching, J. and Chen, Y.-C. (2007). Transitional Markov chain Monte Carlo method for
Bayesian model updating, model class selection, and model averaging. J. Eng.
Mech. 133(7), 816-832.
Chopin, N. (2002). A sequential particle filter method for static models.
Biometrika 89(3), 539-551.
Jasra, A., Stephens, D. A., Doucet, A. and Tsagaris, T. (2011). Inference for Levy-driven
stochastic volatility models via adaptive sequential Monte Carlo. Scand. J. Stat. 38, 1-22.
Vergé, C., Dubarry, C., Del Moral, P. and Moulines, E. (2015). On parallel implementation
of sequential Monte Carlo methods: the island particle model. Stat. Comput. 25, 243-260.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import logsumexp

from ._diagnostics import diagnose
from ._methods import Method, Outcome, register
from ._moves import safe_cholesky
from ._sampler import RunResult, Settings
from ._target import LogPosterior

__all__ = ["SMC", "SMCResult", "run_smc"]

ESS_FRACTION = 0.5   # incremental-weight ESS kept per stage
MAX_MOVES = 20       # Metropolis-Hastings moves per stage at most
T_DOF = 5.0          # degrees of freedom of the independence proposal
_ACC_TARGET = 0.234


@dataclass
class SMCResult:
    X: np.ndarray            # (N, d) particles (equally weighted)
    lp: np.ndarray           # log prior
    ll: np.ndarray           # log likelihood
    Y: np.ndarray            # (N, m) model outputs at the particles
    beta: float
    log_evidence: float
    log_evidence_se: float
    ess: float               # ESS of the last stage's weights
    n_evaluations: int
    n_stages: int
    stop_reason: str         # "converged" (beta reached 1) or "max_evaluations"
    n_islands: int
    betas: list = field(default_factory=list)
    acceptance: float = float("nan")
    resumed_at: int | None = None
    moved: np.ndarray | None = None


class _State:
    def __init__(self, X, lp, ll, Y, log_z, betas, stage, scale, acc) -> None:
        self.X, self.lp, self.ll, self.Y = X, lp, ll, Y
        self.log_z, self.betas, self.stage = log_z, betas, stage
        self.scale, self.acc, self.ess = scale, acc, float("nan")
        self.moved = np.ones(len(X), dtype=bool)  # particles moved since the last resampling

    @property
    def beta(self) -> float:
        return self.betas[-1]


def run_smc(target: LogPosterior, n_particles: int, rng: np.random.Generator, *,
            max_evaluations: int | None = None, store: Any = None, name: str | None = None,
            n_islands: int = 10, ess_fraction: float = ESS_FRACTION,
            max_moves: int = MAX_MOVES, progress: Any = None) -> SMCResult:
    """Run (or resume) the tempered SMC sampler on ``target``; see the module notes.

    ``n_particles`` is rounded up to a multiple of the number of islands
    (``min(n_islands, n_particles // 20)``, at least 1).
    """
    problem = target.problem
    K = max(1, min(n_islands, n_particles // 20))
    N = -(-n_particles // K) * K
    resumed_at = None
    state = _load(store, name, target, rng) if store is not None else None
    if state is not None:
        resumed_at = state.stage
    else:
        if max_evaluations is not None and N > max_evaluations:
            return _result(None, target, K, "max_evaluations", None, N, problem.dim)
        X = problem.parameters.sample(N, method="random", rng=rng)
        lp, ll, Y = target(X)
        Y = Y if Y is not None else np.full((N, len(target.model.outputs)), np.nan)
        state = _State(X, lp, ll, Y, np.zeros(K), [0.0], 0,
                       2.38 / math.sqrt(problem.dim), [])
        _save(store, name, state, target, rng)
    stop = "converged"
    while state.beta < 1.0:
        need = N * 2  # the stage's first move: one batch, and at least one more
        if max_evaluations is not None and target.n_evaluations + need > max_evaluations:
            stop = "max_evaluations"
            break
        _stage(state, target, rng, K, ess_fraction, max_moves, max_evaluations)
        _save(store, name, state, target, rng)
        if progress is not None:
            progress(target.n_evaluations, f"stage {state.stage}, temperature {state.beta:.3g}")
    return _result(state, target, K, stop, resumed_at, N, problem.dim)


def _next_beta(ll: np.ndarray, beta: float, fraction: float) -> float:
    finite = np.isfinite(ll)
    n_ok = int(finite.sum())
    if n_ok == 0:
        return 1.0
    llf = ll[finite]

    def ess(db: float) -> float:
        lw = db * llf
        lw = lw - lw.max()
        w = np.exp(lw)
        return float(w.sum() ** 2 / (w ** 2).sum())

    goal = fraction * n_ok
    if ess(1.0 - beta) >= goal:
        return 1.0
    lo, hi = 0.0, 1.0 - beta
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if ess(mid) >= goal:
            lo = mid
        else:
            hi = mid
    return beta + max(lo, 1e-12)


def _systematic(w: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    c = np.cumsum(w)
    c[-1] = 1.0
    return np.searchsorted(c, (rng.random() + np.arange(n)) / n)


def _stage(state: _State, target: LogPosterior, rng: np.random.Generator, K: int,
           fraction: float, max_moves: int, max_evaluations: int | None) -> None:
    N, d = state.X.shape
    m = N // K
    beta = state.beta
    new_beta = _next_beta(state.ll, beta, fraction)
    with np.errstate(invalid="ignore"):
        lw = np.where(np.isfinite(state.ll), (new_beta - beta) * state.ll, -np.inf)
    w_all = np.exp(lw - lw.max()) if np.isfinite(lw).any() else np.full(N, 1.0)
    state.ess = float(w_all.sum() ** 2 / (w_all ** 2).sum())
    idx = np.empty(N, dtype=np.int64)
    for k in range(K):
        sl = slice(k * m, (k + 1) * m)
        lwk = lw[sl]
        if np.isfinite(lwk).any():
            state.log_z[k] += float(logsumexp(lwk) - math.log(m))
            wk = np.exp(lwk - lwk.max())
            idx[sl] = k * m + _systematic(wk / wk.sum(), m, rng)
        else:  # the island died: its estimate is zero; refill it from the population
            state.log_z[k] = -np.inf
            idx[sl] = _systematic(w_all / w_all.sum(), m, rng)
    state.X, state.lp, state.ll, state.Y = (state.X[idx], state.lp[idx], state.ll[idx],
                                            state.Y[idx])
    state.betas.append(new_beta)
    state.stage += 1
    _move(state, target, rng, max_moves, max_evaluations)


def _tempered(lp: np.ndarray, ll: np.ndarray, beta: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return lp + np.where(np.isfinite(ll), beta * ll, -np.inf)


def _move(state: _State, target: LogPosterior, rng: np.random.Generator, max_moves: int,
          max_evaluations: int | None) -> None:
    """Metropolis-Hastings rejuvenation of the particles at the current temperature."""
    N, d = state.X.shape
    beta = state.beta
    mean = state.X.mean(axis=0)
    cov = np.atleast_2d(np.cov(state.X, rowvar=False)) if N > 1 else np.eye(d)
    L = safe_cholesky(cov)
    start = state.X.copy()
    cur = _tempered(state.lp, state.ll, beta)
    accs = []
    for j in range(max_moves):
        if max_evaluations is not None and target.n_evaluations + N > max_evaluations:
            break
        z = rng.standard_normal((N, d))
        if j % 2 == 0:  # random walk with the particles' covariance
            prop = state.X + state.scale * z @ L.T
            logq = np.zeros(N)
        else:  # independence: multivariate t with the particles' mean and covariance
            g = rng.chisquare(T_DOF, size=N) / T_DOF
            prop = mean + (z / np.sqrt(g)[:, None]) @ L.T
            logq = _t_logpdf(state.X, mean, L) - _t_logpdf(prop, mean, L)
        lp, ll, Y = target(prop)
        new = _tempered(lp, ll, beta)
        with np.errstate(invalid="ignore"):
            logr = new - cur + logq
        acc = np.log(rng.random(N)) < np.nan_to_num(logr, nan=-np.inf)
        state.X[acc], state.lp[acc], state.ll[acc], cur[acc] = prop[acc], lp[acc], ll[acc], new[acc]
        if Y is not None:
            state.Y[acc] = Y[acc]
        rate = float(acc.mean())
        accs.append(rate)
        if j % 2 == 0:
            state.scale *= math.exp(np.clip(rate - _ACC_TARGET, -1.0, 1.0))
        moved = np.linalg.solve(L, (state.X - start).T)
        if j >= 1 and float(np.mean(np.sum(moved ** 2, axis=0))) >= d:
            break
    state.acc.append(float(np.mean(accs)) if accs else float("nan"))
    state.moved = np.any(state.X != start, axis=1)


def _t_logpdf(X: np.ndarray, mean: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Log density of the multivariate t (``T_DOF``), up to a constant shared by all rows."""
    d = len(mean)
    u = np.linalg.solve(L, (X - mean).T)
    return -0.5 * (T_DOF + d) * np.log1p(np.sum(u ** 2, axis=0) / T_DOF)


def _evidence(log_z: np.ndarray) -> tuple[float, float]:
    """``log Z`` as the mean of the islands' estimates, and its delta-method standard error."""
    K = len(log_z)
    lz = float(logsumexp(log_z) - math.log(K))
    if K < 2 or not math.isfinite(lz):
        return lz, float("nan")
    r = np.exp(log_z - lz)  # Z_k / Z
    return lz, float(np.std(r, ddof=1) / math.sqrt(K))


def _result(state: _State | None, target: LogPosterior, K: int, stop: str,
            resumed_at: int | None, N: int, d: int) -> SMCResult:
    if state is None:
        nan = np.full((0, d), np.nan)
        return SMCResult(X=nan, lp=np.empty(0), ll=np.empty(0), Y=np.empty((0, 0)), beta=0.0,
                         log_evidence=float("nan"), log_evidence_se=float("nan"),
                         ess=float("nan"), n_evaluations=target.n_evaluations, n_stages=0,
                         stop_reason=stop, n_islands=K)
    done = state.beta >= 1.0
    lz, se = _evidence(state.log_z) if done else (float("nan"), float("nan"))
    return SMCResult(X=state.X, lp=state.lp, ll=state.ll, Y=state.Y, beta=state.beta,
                     log_evidence=lz, log_evidence_se=se, ess=state.ess,
                     n_evaluations=target.n_evaluations, n_stages=state.stage,
                     stop_reason="converged" if done else stop, n_islands=K,
                     betas=list(state.betas),
                     acceptance=float(np.nanmean(state.acc)) if state.acc else float("nan"),
                     resumed_at=resumed_at, moved=state.moved)


def _save(store: Any, name: str | None, state: _State, target: LogPosterior,
          rng: np.random.Generator) -> None:
    if store is None or name is None:
        return
    arrays = {"X": state.X, "lp": state.lp, "ll": state.ll, "Y": state.Y, "log_z": state.log_z,
              "betas": np.asarray(state.betas), "acc": np.asarray(state.acc, dtype=float)}
    meta = {"stage": state.stage, "scale": state.scale, "ess": state.ess,
            "n_eval": target.n_evaluations, "rng": json.dumps(rng.bit_generator.state)}
    store.save_checkpoint(name, arrays, meta)


def _load(store: Any, name: str | None, target: LogPosterior,
          rng: np.random.Generator) -> _State | None:
    got = store.load_checkpoint(name) if name is not None else None
    if got is None:
        return None
    a, meta = got
    state = _State(np.array(a["X"]), np.array(a["lp"]), np.array(a["ll"]), np.array(a["Y"]),
                   np.array(a["log_z"]), [float(b) for b in a["betas"]], int(meta["stage"]),
                   float(meta["scale"]), [float(v) for v in a["acc"]])
    state.ess = float(meta["ess"])
    target.n_evaluations = int(meta["n_eval"])
    rng.bit_generator.state = json.loads(meta["rng"])
    return state


@register
class SMC(Method):
    """Adaptive tempered SMC (see the module notes); gives the evidence.

    ``n_walkers`` is the number of particles (default ``max(1000, 1.25 target_ess)``).
    The posterior's ``chain`` holds the islands as chains and their particles as
    draws, so ESS and R-hat compare the islands.
    """

    name = "smc"

    def check(self, spec) -> None:
        if spec.surrogate is not None:
            self.refuse(spec, "surrogate", "SMC runs the full model at every particle",
                        "Use method='ensemble' (or 'auto') for delayed acceptance.")
        if spec.initial is not None:
            self.refuse(spec, "initial", "SMC starts from prior draws",
                        "Drop 'initial', or use method='ensemble'.")
        if spec.n_steps is not None:
            self.refuse(spec, "n_steps", "SMC runs temperature stages, not steps",
                        "Bound it with max_evaluations instead.")

    @staticmethod
    def sample(spec, plan, runner, rng, *, n_particles: int, max_evaluations: int | None,
               max_moves: int = MAX_MOVES) -> SMCResult:
        """Run (or resume) SMC for ``spec``, checkpointed under ``plan.name + "/smc"``."""
        target = LogPosterior(spec.problem, spec.model, runner)
        name = None if plan.name is None else plan.name + "/smc"
        return run_smc(target, n_particles, rng, max_evaluations=max_evaluations,
                       store=plan.store, name=name, progress=plan.report,
                       max_moves=max_moves)

    def run(self, spec, plan, runner, rng) -> Outcome:
        if spec.n_walkers_given:
            n = spec.n_walkers
        else:
            n = max(1000, math.ceil(1.25 * (spec.target_ess or 0)))
        smc = self.sample(spec, plan, runner, rng, n_particles=n,
                          max_evaluations=spec.max_evaluations)
        K, d = smc.n_islands, spec.problem.dim
        m = len(smc.X) // K
        T = m if smc.beta >= 1.0 else 0  # no posterior draws before the last temperature

        def steps(a):  # (K m, ...) -> (m, K, ...): islands as walkers, particles as steps
            return np.swapaxes(a.reshape(K, m, *a.shape[1:]), 0, 1)[:T]
        chain = steps(smc.X) if T else np.empty((0, K, d))
        diag = diagnose(np.swapaxes(chain, 0, 1))
        lpost = steps(smc.lp + smc.ll) if T else np.empty((0, K))
        moved = smc.moved if smc.moved is not None else np.zeros(len(smc.X), dtype=bool)
        result = RunResult(
            chain=chain, log_posterior=lpost,
            log_likelihood=steps(smc.ll) if T else np.empty((0, K)),
            accepted=steps(moved) if T else np.empty((0, K), dtype=bool),
            independence=np.zeros((T, K), dtype=bool), n_warmup=0,
            stop_reason="" if smc.stop_reason == "converged" else smc.stop_reason,
            diagnostics=diag, n_evaluations=smc.n_evaluations, n_surrogate_evaluations=0,
            subchain_length=1, move_probabilities=np.array([0.5, 0.5, 0.0]),
            snapshots={s: Y for s, Y in enumerate(steps(smc.Y))} if T else {},
            resumed_at=smc.resumed_at)
        settings = Settings(n_walkers=K, n_warmup=0, max_steps=None,
                            max_evaluations=spec.max_evaluations, target_ess=spec.target_ess)
        # converged: the last temperature reached with enough effective particles. R-hat
        # between islands is reported, not required: islands of m independent particles
        # give an R-hat spread of order 1 / m around 1 even when exact
        ess = float(np.min(diag["ess_bulk"])) if T else 0.0
        converged = bool(T) and (spec.target_ess is None or ess >= spec.target_ess)
        return Outcome(result=result, settings=settings, log_evidence=smc.log_evidence,
                       converged=converged,
                       log_evidence_se=smc.log_evidence_se, method=self.name,
                       reason=f"requested ({smc.n_stages} stages, {len(smc.X)} particles in "
                              f"{K} islands)")
