"""Implausibility and optical-depth pair plots of a :class:`HistoryMatch`."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["pair_plot"]


def pair_plot(hm: Any, *, n_points: int, bins: int, rng: Any, axes: Any = None):
    import matplotlib.pyplot as plt

    params = hm.parameters
    d = params.dim
    rng = np.random.default_rng(rng)
    U = rng.random((n_points, d))
    imp = hm.implausibility(params.from_unit(U))
    inside = imp <= hm.threshold
    if axes is None:
        _, axes = plt.subplots(d, d, figsize=(2.2 * d + 1, 2.2 * d), squeeze=False)
    axes = np.asarray(axes).reshape(d, d)
    edges = np.linspace(0, 1, bins + 1)
    cell = np.minimum((U * bins).astype(int), bins - 1)
    vmax = max(2 * hm.threshold, 1e-9)
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            if i == j:
                frac = np.array([inside[cell[:, j] == b].mean() if (cell[:, j] == b).any()
                                 else 0.0 for b in range(bins)])
                ax.bar(edges[:-1], frac, width=1 / bins, align="edge", color="0.4")
                ax.set_ylim(0, max(frac.max() * 1.1, 1e-3))
            else:
                grid = np.full((bins, bins), np.nan)
                flat = cell[:, i] * bins + cell[:, j]
                if i > j:  # minimum implausibility
                    vals = np.full(bins * bins, np.inf)
                    np.minimum.at(vals, flat, imp)
                    grid = np.where(np.isinf(vals), np.nan, vals).reshape(bins, bins)
                    im_low = ax.pcolormesh(edges, edges, grid, vmin=0, vmax=vmax,
                                           cmap="viridis_r")
                else:  # optical depth
                    hit = np.bincount(flat, weights=inside, minlength=bins * bins)
                    cnt = np.bincount(flat, minlength=bins * bins)
                    grid = np.where(cnt > 0, hit / np.maximum(cnt, 1), np.nan).reshape(bins, bins)
                    im_up = ax.pcolormesh(edges, edges, grid, vmin=0, cmap="magma")
            ax.set_xlim(0, 1)
            if i != j:
                ax.set_ylim(0, 1)
            if i == d - 1:
                ax.set_xlabel(params.names[j])
            if j == 0:
                ax.set_ylabel(params.names[i])
            ax.tick_params(labelsize=6)
    fig = axes[0, 0].figure
    if d > 1:
        fig.colorbar(im_low, ax=list(axes[:, 0]), label="min implausibility", shrink=0.6)
        fig.colorbar(im_up, ax=list(axes[0, :]), label="optical depth", shrink=0.6,
                     location="top")
    fig.suptitle("History matching: axes in prior quantiles (CDF)", fontsize=9)
    return axes
