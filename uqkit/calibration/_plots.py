"""Posterior figures: pair (corner), trace, and predictive-versus-data plots."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import fail

__all__ = ["plot_posterior"]

_KINDS = ("pair", "trace", "predictive")
_MAX_PARAMS = 6


def plot_posterior(post: Any, kind: str = "pair", *, ax: Any = None) -> Any:
    """Draw one of the posterior figures and return its axes."""
    if kind not in _KINDS:
        fail("Posterior.plot", "kind", "one of " + ", ".join(map(repr, _KINDS)), kind)
    import matplotlib.pyplot as plt
    names = list(post.names)[:_MAX_PARAMS]
    d = len(names)
    if not post.has_draws and kind in ("pair", "trace"):
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 2))
        ax = np.ravel(ax)[0] if isinstance(ax, np.ndarray) else ax
        ax.text(0.5, 0.5, f"no posterior draws: stopped by {post.stop_reason} during warm-up",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    if kind == "pair":
        if ax is None:
            _, ax = plt.subplots(d, d, figsize=(2.2 * d + 1, 2.2 * d + 1), squeeze=False)
        x = post.samples[names].to_numpy()
        step = max(1, len(x) // 3000)
        xs = x[::step]
        for i in range(d):
            for j in range(d):
                a = ax[i, j]
                if j > i:
                    a.set_visible(False)
                    continue
                if i == j:
                    a.hist(x[:, i], bins=40, color="C0", alpha=0.8)
                    a.set_yticks([])
                else:
                    a.scatter(xs[:, j], xs[:, i], s=2, alpha=0.3, color="C0", rasterized=True)
                if i == d - 1:
                    a.set_xlabel(names[j])
                if j == 0 and i > 0:
                    a.set_ylabel(names[i])
        return ax
    if kind == "trace":
        if ax is None:
            _, ax = plt.subplots(d, 1, figsize=(8, 1.6 * d + 0.6), squeeze=False, sharex=True)
            ax = ax[:, 0]
        ax = np.atleast_1d(ax)
        for i in range(d):
            for w in range(min(post.n_walkers, 8)):
                ax[i].plot(post.chain[w, :, i], lw=0.5, alpha=0.7)
            ax[i].set_ylabel(names[i])
        ax[-1].set_xlabel("draw (after warm-up)")
        return ax
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    problem = post._problem
    outputs = list(problem.model.outputs)
    cols = problem.columns
    pred = post._predictive
    pos = np.arange(len(cols))
    if pred:
        Y = pred["Y"].reshape(-1, pred["Y"].shape[-1])[:, cols]
        Y = Y[np.all(np.isfinite(Y), axis=1)]
        if len(Y):
            lo, med, hi = np.quantile(Y, [0.05, 0.5, 0.95], axis=0)
            ax.fill_between(pos, lo, hi, color="C0", alpha=0.3, label="90% band (model)")
            ax.plot(pos, med, color="C0", label="posterior median")
    for e in range(problem.data.shape[0]):
        ax.plot(pos, problem.data[e], "k.", ms=4, label="data" if e == 0 else None)
    ax.set_xticks(pos)
    ax.set_xticklabels([outputs[c] for c in cols], rotation=90 if len(cols) > 8 else 0,
                       fontsize=7 if len(cols) > 8 else 9)
    ax.legend(loc="best", fontsize=8)
    return ax
