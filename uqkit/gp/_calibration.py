"""The Gaussian-process base surrogate of ``calibrate(..., surrogate="gp")``.

The prior GP is then refined near the posterior exactly as the prior PCE is
(:func:`uqkit.calibration._surrogate.refine_surrogate`), and sampling is exact delayed
acceptance with the refined surrogate as screening density.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fit_prior_gp"]


def fit_prior_gp(model: Any, problem: Any, runner: Any, rng: np.random.Generator,
                 n: int | None = None):
    """``uqkit.fit_gp`` on a prior Latin-hypercube design of the model inputs.

    Only the observed outputs are emulated with a GP of their own; ``n`` defaults to
    ``max(10 d, 20)`` runs (a GP needs far fewer runs than a PCE of the same accuracy).
    """
    from ._fit import fit_gp

    d = len(model.inputs)
    n = n if n is not None else max(10 * d, 20)
    gp = fit_gp(model, problem.parameters.subset(model.inputs), n=n, rng=rng, runner=runner)
    return gp, int(gp.n_evaluations)
