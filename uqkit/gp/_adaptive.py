"""Adaptive design for ``fit_gp(adaptive=True)``: batches that minimise the integrated variance.

Each batch has as many points as the runner has workers and is one ``runner.evaluate`` call.
Its points are chosen greedily from random candidates drawn from the input distribution: the
next point is the candidate whose observation most reduces the integrated mean squared error
(IMSE) of the emulator over integration points from the same distribution,
``sum_i cov(x_i, c)^2 / (var(c) + noise)``, and the covariance is then updated as if it had
been observed (the variance does not depend on the value observed, so no fantasy value is
needed: this is the kriging-believer batch). With several emulated components (outputs,
principal components) the reductions are weighted by each component's share of its output's
variance. Hyperparameters are refitted when the design has grown by 10 % since the last fit;
in between the GPs are conditioned on the new runs with fixed hyperparameters.

References
----------
Sacks, J., Schiller, S. B. & Welch, W. J. (1989). Designs for computer experiments.
Technometrics 31(1), 41-47.
Chevalier, C. & Ginsbourger, D. (2013). Fast computation of the multi-points expected
improvement with applications in batch selection. LION 7, 59-69 (kriging believer).
Gramacy, R. B. (2020). Surrogates, chapter 6 (sequential design by integrated variance).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ._fit import _Spec, build, evaluate
from ._inputs import to_unit
from ._process import GaussianProcess

__all__ = ["fit_adaptive", "imse_batch"]

N_CANDIDATES, N_INTEGRATION = 1000, 500
REFIT_GROWTH = 0.10


def _workers(runner) -> int:
    try:
        return max(1, int(runner.n_workers))
    except (AttributeError, TypeError, ValueError):
        return 1


def imse_batch(gp: GaussianProcess, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` new design points (rows of ``X``) chosen by greedy IMSE reduction."""
    params = gp.parameters
    Xc = params.sample(N_CANDIDATES, method="random", rng=rng)
    Xi = params.sample(N_INTEGRATION, method="random", rng=rng)
    Uc, Ui = to_unit(params, Xc), to_unit(params, Xi)
    Z = np.vstack([Ui, Uc])
    covs, taus, weights = [], [], []
    for block in gp.blocks:
        share = np.sum(block.loadings**2, axis=1)
        power = np.array([np.var(f.y) for f in block.fits]) * share
        w = power / power.sum() / len(gp.blocks) if power.sum() > 0 else np.zeros_like(power)
        for fit, wk in zip(block.fits, w, strict=True):
            scale = fit.sigma2 * fit.y_scale**2
            covs.append(fit.posterior_cov(Z, Uc) / scale)
            taus.append(fit.nugget + 1e-12)
            weights.append(wk)
    m = len(Ui)
    chosen: list[int] = []
    cand = np.arange(len(Uc))
    for _ in range(size):
        score = np.zeros(len(Uc))
        for C, tau, w in zip(covs, taus, weights, strict=True):
            var_c = np.maximum(C[m + cand, cand], 0.0)
            score += w * np.sum(C[:m] ** 2, axis=0) / (var_c + tau)
        score[chosen] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        for C, tau in zip(covs, taus, strict=True):
            col = C[:, best].copy()
            C -= np.outer(col, C[m + best] / (col[m + best] + tau))
    return Xc[chosen]


def _condition(gp: GaussianProcess, Xnew: np.ndarray, Ynew: np.ndarray,
               n_evaluations: int, info: dict) -> GaussianProcess:
    """The same hyperparameters (and principal components) conditioned on extra runs."""
    Unew = to_unit(gp.parameters, Xnew)
    blocks = []
    for block in gp.blocks:
        scores = (Ynew[:, block.columns] - block.center) @ block.loadings.T
        fits = tuple(f.condition(Unew, scores[:, k]) for k, f in enumerate(block.fits))
        blocks.append(replace(block, fits=fits))
    return GaussianProcess(gp.parameters, gp.outputs, gp.kernel, gp.mean, tuple(blocks),
                           np.vstack([gp.X, Xnew]), np.vstack([gp.Y, Ynew]),
                           n_evaluations=n_evaluations,
                           n_failed=n_evaluations - gp.X.shape[0] - Xnew.shape[0],
                           name=gp.name, info=info)


def fit_adaptive(spec: _Spec, rng: np.random.Generator) -> GaussianProcess:
    """Initial LHS design, then IMSE batches until the LOO error target or the budget."""
    d = len(spec.parameters)
    target = 0.01 if spec.target is None else spec.target
    budget = spec.max_evaluations if spec.max_evaluations is not None else spec.n + 20 * d
    batch = _workers(spec.runner)
    X = spec.parameters.sample(spec.n, method="lhs", rng=rng)
    Y, ok = evaluate(spec.model, X, spec.runner)
    n_eval = X.shape[0]
    history: list[dict] = []
    info = {"history": history, "target": target, "max_evaluations": budget,
            "batch_size": batch}
    gp = build(spec, X[ok], Y[ok], rng, n_evaluations=n_eval, info=info)
    n_fitted = gp.X.shape[0]
    while True:
        loo = float(np.nanmax(gp.loo_error.to_numpy()))
        history.append({"n_evaluations": n_eval, "loo_error": loo})
        if loo <= target:
            info["stop_reason"] = f"leave-one-out error {loo:.3g} <= target {target:g}"
            break
        if n_eval >= budget:
            info["stop_reason"] = f"budget of {budget} evaluations reached (LOO {loo:.3g})"
            break
        Xnew = imse_batch(gp, min(batch, budget - n_eval), rng)
        Ynew, okn = evaluate(spec.model, Xnew, spec.runner)
        n_eval += Xnew.shape[0]
        X, Y, ok = np.vstack([X, Xnew]), np.vstack([Y, Ynew]), np.concatenate([ok, okn])
        if X[ok].shape[0] >= (1 + REFIT_GROWTH) * n_fitted:
            gp = build(spec, X[ok], Y[ok], rng, n_evaluations=n_eval, info=info)
            n_fitted = gp.X.shape[0]
        elif okn.any():
            gp = _condition(gp, Xnew[okn], Ynew[okn], n_eval, info)
    gp.info.update(info)  # the final stop reason (the emulator is not yet shared)
    return gp
