"""Multi-fidelity example pairs: the same quantity computed cheaply and accurately."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import check_int, fail
from ..distributions import Uniform
from ..models import as_model
from ..parameters import Parameters

__all__ = ["MultiFidelityExample", "borehole_fidelities", "nonlinear_fidelities",
           "cardiac_cable_fidelities"]

_BOREHOLE_NAMES = ("rw", "r", "Tu", "Hu", "Tl", "Hl", "L", "Kw")
_BOREHOLE_LO = np.array([0.05, 100, 63070, 990, 63.1, 700, 1120, 9855])
_BOREHOLE_HI = np.array([0.15, 50000, 115600, 1110, 116, 820, 1680, 12045])


@dataclass(frozen=True)
class MultiFidelityExample:
    """Models of one quantity from the cheapest to the most accurate, and their inputs.

    Unpacks as ``models, parameters = uqkit.examples.borehole_fidelities()``.
    """

    models: tuple[Any, ...]
    parameters: Parameters
    description: str = field(default="", repr=False)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.models, self.parameters))


def _borehole(X: np.ndarray, low: bool) -> np.ndarray:
    rw, r, Tu, Hu, Tl, Hl, L, Kw = X.T
    lr = np.log(r / rw)
    if low:
        return 5 * Tu * (Hu - Hl) / (lr * (1.5 + 2 * L * Tu / (lr * rw**2 * Kw) + Tu / Tl))
    return 2 * np.pi * Tu * (Hu - Hl) / (lr * (1 + 2 * L * Tu / (lr * rw**2 * Kw) + Tu / Tl))


def borehole_fidelities() -> MultiFidelityExample:
    """The borehole function and its low-fidelity version of Xiong et al. (2013).

    High fidelity: ``2 pi Tu (Hu - Hl) / (ln(r/rw) (1 + 2 L Tu / (ln(r/rw) rw^2 Kw)
    + Tu/Tl))``; low fidelity: ``5 Tu (Hu - Hl) / (ln(r/rw) (1.5 + 2 L Tu /
    (ln(r/rw) rw^2 Kw) + Tu/Tl))``. The 8 inputs are uniform on the ranges of the
    Surjanovic-Bingham library (``rw`` in [0.05, 0.15], ``r`` in [100, 50000], ...),
    as in the multi-fidelity literature (unlike :func:`borehole`, whose ``rw`` and
    ``r`` are normal and log-normal).

    References
    ----------
    Xiong, S., Qian, P. Z. G. and Wu, C. F. J. (2013). Sequential design and analysis
    of high-accuracy and low-accuracy computer codes. Technometrics 55(1), 37-46.
    Harper, W. V. and Gupta, S. K. (1983). Sensitivity/uncertainty analysis of a
    borehole scenario comparing Latin hypercube sampling and deterministic
    sensitivity approaches. BMI/ONWI-516.
    """
    models = tuple(
        as_model(lambda X, low=low: _borehole(X, low), inputs=_BOREHOLE_NAMES, outputs=("y",),
                 vectorized=True, name=f"uqkit.examples.borehole_{tag}", version="1")
        for low, tag in ((True, "low_fidelity"), (False, "high_fidelity")))
    params = Parameters({n: Uniform(lo, hi)
                         for n, lo, hi in zip(_BOREHOLE_NAMES, _BOREHOLE_LO, _BOREHOLE_HI)})
    return MultiFidelityExample(models, params, "Borehole: Xiong et al. (2013) low fidelity, "
                                                "Harper & Gupta (1983) high fidelity")


def nonlinear_fidelities() -> MultiFidelityExample:
    """The nonlinearly related pair of Perdikaris et al. (2017), ``x ~ U(0, 1)``.

    Low fidelity ``f_l(x) = sin(8 pi x)``, high fidelity ``f_h(x) = (x - sqrt(2))
    f_l(x)^2``: no linear scaling of ``f_l`` approximates ``f_h``, so AR1
    co-kriging fails where the nonlinear autoregressive GP succeeds.

    References
    ----------
    Perdikaris, P., Raissi, M., Damianou, A., Lawrence, N. D. and Karniadakis, G. E.
    (2017). Nonlinear information fusion algorithms for data-efficient multi-fidelity
    modelling. Proc. R. Soc. A 473, 20160751 (section 3a).
    """
    def low(X: np.ndarray) -> np.ndarray:
        return np.sin(8 * np.pi * X[:, 0])

    def high(X: np.ndarray) -> np.ndarray:
        return (X[:, 0] - np.sqrt(2)) * low(X) ** 2

    models = tuple(as_model(f, inputs=("x",), outputs=("y",), vectorized=True,
                            name=f"uqkit.examples.perdikaris_{tag}", version="1")
                   for f, tag in ((low, "low_fidelity"), (high, "high_fidelity")))
    return MultiFidelityExample(models, Parameters(x=Uniform(0.0, 1.0)),
                                "Perdikaris et al. (2017): sin(8 pi x) and "
                                "(x - sqrt 2) sin(8 pi x)^2")


def cardiac_cable_fidelities(n_cells: tuple[int, ...] = (20, 80),
                             outputs: tuple[str, ...] = ("apd", "cv"),
                             **options: Any) -> MultiFidelityExample:
    """The cardiac cable (:func:`cardiac_cable`) at several mesh resolutions.

    Parameters
    ----------
    n_cells : tuple of int
        Cells of each fidelity, coarsest (cheapest) first. At ``n_cells=20``
        (``dx = 2`` mm) APD is within 2 % and CV within 9 % of their spread of the
        ``n_cells=80`` values, and correlated with them above 0.999.
    outputs : tuple of str
        Scalar outputs kept (``"apd"``, ``"cv"``).
    **options
        Other settings of :func:`cardiac_cable` (``length``, ``dt``, ...).
    """
    from ._cardiac import cardiac_cable

    n_cells = tuple(check_int("cardiac_cable_fidelities", "n_cells", k, minimum=8)
                    for k in n_cells)
    if len(n_cells) < 2 or list(n_cells) != sorted(n_cells):
        fail("cardiac_cable_fidelities", "n_cells", "at least two increasing cell counts",
             n_cells)
    outputs = tuple(outputs)
    if not outputs or any(o not in ("apd", "cv") for o in outputs):
        fail("cardiac_cable_fidelities", "outputs", "a subset of ('apd', 'cv')", outputs)
    models, params = [], None
    for k in n_cells:
        full, params, _ = cardiac_cable(n_cells=k, **options)
        cols = [full.outputs.index(o) for o in outputs]

        def scalar(X: np.ndarray, full=full, cols=cols) -> np.ndarray:
            return np.asarray(full(X))[:, cols]

        models.append(as_model(scalar, inputs=full.inputs, outputs=outputs, vectorized=True,
                               name=f"{full.name}[{','.join(outputs)}]", version="1"))
    return MultiFidelityExample(tuple(models), params,
                                "Cardiac cable at n_cells = " + ", ".join(map(str, n_cells)))
