"""Two-scale cardiac example: Aliev-Panfilov cells in a 1-D monodomain cable."""

from __future__ import annotations

import numpy as np

from .._validation import check_int, check_real, fail
from ..distributions import Uniform
from ..models import as_model
from ..parameters import Parameters
from ._analytic import Example

__all__ = ["cardiac_cable", "simulate_cable"]

#: time scale of the dimensionless Aliev-Panfilov model (ms per unit), Aliev & Panfilov 1996
TIME_SCALE_MS = 12.9
#: mu2 of the restitution term (fixed, Aliev & Panfilov 1996)
MU2 = 0.3
_INPUTS = ("D", "k", "a", "eps0", "mu1")
_NOMINAL = np.array([1.0, 8.0, 0.15, 0.003, 0.25])
_THRESHOLD = 0.5   # activation: upstroke through half amplitude
_REPOL = 0.1       # APD90: 90 % repolarisation (rest 0, plateau ~1)


def _neumann_basis(n_cells: int, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of the 3-point finite-difference Laplacian with no-flux ends.

    For cell-centred nodes the matrix is symmetric (diagonal -1 at both ends)
    and diagonalised by the orthonormal DCT-II basis:
    ``lambda_j = (2 - 2 cos(pi j / n)) / dx^2``.
    """
    j = np.arange(n_cells)
    i = np.arange(n_cells)
    basis = np.cos(np.pi * np.outer(i + 0.5, j) / n_cells)
    basis /= np.linalg.norm(basis, axis=0)
    lam = (2.0 - 2.0 * np.cos(np.pi * j / n_cells)) / dx**2
    return basis, lam


def simulate_cable(X: np.ndarray, *, length: float = 40.0, n_cells: int = 80,
                   dt: float = 0.4, duration: float = 600.0, n_times: int = 40,
                   stimulus_length: float = 2.0,
                   record_map: bool = False) -> dict[str, np.ndarray]:
    """Simulate the cable for each row of ``X = [D, k, a, eps0, mu1]``; see :func:`cardiac_cable`.

    Returns a dict with ``apd`` (ms), ``cv`` (m/s), ``activation`` (fraction of the
    cable depolarised at ``times``), ``times`` (ms) and ``x`` (cell centres, mm);
    with ``record_map=True`` also ``activation_times`` (ms, shape
    ``(n, n_cells)``, NaN where a cell never activated).
    """
    # threaded BLAS gains nothing on these small products and, on a shared machine,
    # made a 1000-sample batch 20x slower (62 s against 3.4 s on 2 loaded cores)
    from ..pce._blas import single_threaded_blas

    with single_threaded_blas():
        return _simulate(np.asarray(X, dtype=float), length, n_cells, dt, duration, n_times,
                         stimulus_length, record_map)


def _cell_rates(u, v, hk, h, a, ap1, eps0, mu1):
    """Aliev-Panfilov right-hand side times the dimensionless step ``h``."""
    ku_h = hk * u
    hv = h * v
    du = ku_h * (u - a) * (1.0 - u) - u * hv
    dv = (eps0 + mu1 * v / (u + MU2)) * (ku_h * (ap1 - u) - hv)
    return du, dv


def _simulate(X, length, n_cells, dt, duration, n_times, stimulus_length, record_map):
    n = X.shape[0]
    D, k, a, eps0, mu1 = (X[:, i:i + 1] for i in range(5))
    dx = length / n_cells
    x = (np.arange(n_cells) + 0.5) * dx
    basis, lam = _neumann_basis(n_cells, dx)
    # exact solution of the diffusion substep in the Laplacian's eigenbasis
    decay = np.exp(-dt * D * lam[None, :])                       # (n, n_cells)
    n_steps = int(round(duration / dt))
    h = dt / TIME_SCALE_MS                                       # dimensionless step
    hk, ap1 = h * k, a + 1.0
    u = np.zeros((n, n_cells))
    u[:, x < stimulus_length] = 1.0
    v = np.zeros((n, n_cells))
    # recorded cells: 25 %, 50 % (APD) and 75 % of the cable, or all of them
    i1, mid, i2 = int(round(0.25 * n_cells)), n_cells // 2, int(round(0.75 * n_cells))
    cols = np.arange(n_cells) if record_map else np.array([i1, mid, i2])
    jmid = mid if record_map else 1
    t_act = np.where(x[cols] < stimulus_length, 0.0, np.nan) * np.ones((n, 1))
    t_repol = np.full(n, np.nan)
    times = duration * np.arange(1, n_times + 1) / n_times
    sample_at = dict(zip(np.round(times / dt).astype(int).tolist(), range(n_times)))
    activation = np.zeros((n, n_times))
    uc_old = u[:, cols]
    for step in range(1, n_steps + 1):
        # cell model (Heun, 2nd order; Lie splitting), then diffusion (exact)
        du1, dv1 = _cell_rates(u, v, hk, h, a, ap1, eps0, mu1)
        u1, v1 = u + du1, v + dv1
        du2, dv2 = _cell_rates(u1, v1, hk, h, a, ap1, eps0, mu1)
        u_react = u + 0.5 * (du1 + du2)
        v = v + 0.5 * (dv1 + dv2)
        u = ((u_react @ basis) * decay) @ basis.T
        uc = u[:, cols]
        # activation times: first upward crossing of the threshold (linear in time)
        up = (uc >= _THRESHOLD) & (uc_old < _THRESHOLD)
        if up.any():
            up &= np.isnan(t_act)
            frac = (_THRESHOLD - uc_old[up]) / (uc[up] - uc_old[up])
            t_act[up] = (step - 1 + frac) * dt
        # APD90 at the recording site (middle of the cable)
        down = (uc[:, jmid] < _REPOL) & (uc_old[:, jmid] >= _REPOL)
        if down.any():
            down &= np.isnan(t_repol) & ~np.isnan(t_act[:, jmid])
            um, um_old = uc[down, jmid], uc_old[down, jmid]
            t_repol[down] = (step - 1 + (um_old - _REPOL) / (um_old - um)) * dt
        uc_old = uc
        j = sample_at.get(step)
        if j is not None:
            activation[:, j] = np.mean(u >= _THRESHOLD, axis=1)
    apd = t_repol - t_act[:, jmid]
    c1, c2 = (i1, i2) if record_map else (0, 2)
    cv = (x[i2] - x[i1]) / (t_act[:, c2] - t_act[:, c1])        # mm/ms == m/s
    out = {"apd": apd, "cv": cv, "activation": activation, "times": times, "x": x}
    if record_map:
        out["activation_times"] = t_act
    return out


def cardiac_cable(*, length: float = 40.0, n_cells: int = 80, dt: float = 0.4,
                  duration: float = 600.0, n_times: int = 40) -> Example:
    r"""Aliev-Panfilov cardiac cells coupled in a 1-D monodomain cable (two scales).

    The cell scale is the Aliev-Panfilov model of the ventricular action
    potential, the tissue scale a monodomain cable of length ``length`` (mm)
    with no-flux ends, excited at its left end (``u = 1`` at
    ``x < 2`` mm):

    .. math::

        \partial_t u &= D\,\partial_{xx} u + \tfrac{1}{T}\,[-k\,u(u-a)(u-1) - u\,v] \\
        \partial_t v &= \tfrac{1}{T}\,\varepsilon(u, v)\,[-v - k\,u(u-a-1)], \qquad
        \varepsilon(u, v) = \varepsilon_0 + \frac{\mu_1 v}{u + \mu_2}

    with ``u`` the normalised transmembrane potential (``V = 100 u - 80`` mV),
    ``v`` the recovery variable, ``T = 12.9`` ms and ``mu2 = 0.3``.

    Inputs (uniform, around the published values ``k=8, a=0.15, eps0=0.002,
    mu1=0.2`` of Aliev & Panfilov 1996; ``D`` around the 1 mm^2/ms used with
    this model by Goktepe & Kuhl 2009; the conduction velocities, 0.2-0.65
    m/s, are those of ventricular myocardium):

    ======  ==================  ===========================================
    name    range               meaning
    ======  ==================  ===========================================
    D       U(0.5, 2.0) mm2/ms  monodomain diffusivity (conductivity)
    k       U(6, 10)            excitability (upstroke strength)
    a       U(0.13, 0.2)        excitation threshold
    eps0    U(0.002, 0.004)     recovery rate (sets the APD)
    mu1     U(0.2, 0.3)         restitution (recovery feedback)
    ======  ==================  ===========================================

    Outputs: ``apd`` (ms), the APD90 at the middle of the cable (from the
    upstroke through ``u = 0.5`` to the fall below ``u = 0.1``); ``cv`` (m/s),
    the conduction velocity between the activation times at 25 % and 75 % of
    the cable; ``activation`` (``n_times`` values), the fraction of the cable
    depolarised (``u >= 0.5``) at times ``model.times`` = ``duration * j /
    n_times``, ``j = 1..n_times`` (ms): it rises as the wave crosses the cable
    (slope set by ``cv``) and falls with repolarisation (set by ``apd``).
    Rows where the wave fails to propagate (possible only outside the ranges)
    and rows outside the model's domain (``D <= 0``, ``k <= 0``, ``a`` outside
    ``[0, 1)``, negative ``eps0`` or ``mu1``) return NaN.

    Parameters
    ----------
    length : float
        Cable length (mm).
    n_cells : int
        Finite-difference cells (``dx = length / n_cells``).
    dt : float
        Time step (ms).
    duration : float
        Simulated time (ms); must cover the repolarisation for ``apd``.
    n_times : int
        Number of time points of the ``activation`` series.

    Returns
    -------
    Example
        ``model, parameters, reference``; ``reference`` is None (no closed form).
        The model is vectorized: numpy over samples and cells at once.

    Notes
    -----
    Numerics: the 3-point finite-difference Laplacian on cell-centred nodes
    with no-flux ends; Lie splitting of the cell model (Heun's second-order
    method) and the diffusion, whose substep is solved exactly in the
    Laplacian's eigenbasis (orthonormal DCT-II), so the step is limited by
    the cell dynamics only, not by ``dt < dx^2 / (2 D)``. At the corners of the
    input box the default resolution (``dx = 0.5`` mm, ``dt = 0.4`` ms) is
    within 0.2 % in ``apd`` and 0.5 % in ``cv`` of a run with ``dx`` four and
    ``dt`` four times smaller (pinned in ``tests/test_examples_biomed.py``).
    Away from the ends the front travels at the speed of the Nagumo equation,
    ``c = (1 - 2a) sqrt(k D / (2 T))`` (McKean 1970), and so ``cv ~ sqrt(D)``
    as cable theory predicts; the tests check both. The cable is 40 mm long
    so that the start-up transient of the stimulus and the end effect bias
    ``cv`` by less than 2 % everywhere in the box. Over the box ``apd`` spans
    about 120-470 ms and ``cv`` 0.2-0.65 m/s.

    Cost (numpy 2.4, one core, measured with ``benchmarks/bench_examples.py``
    and by hand): one run of the default model takes 46 ms on a quiet core
    (150-210 ms while the 2-core development machine ran 6 other jobs);
    in a batch of 512 samples, 2.6 ms per sample. BLAS is kept
    single-threaded during the run.

    References
    ----------
    Aliev, R. R. & Panfilov, A. V. (1996). A simple two-variable model of
    cardiac excitation. Chaos, Solitons & Fractals 7(3), 293-301.
    FitzHugh, R. (1961). Impulses and physiological states in theoretical
    models of nerve membrane. Biophysical Journal 1(6), 445-466.
    Nagumo, J., Arimoto, S. & Yoshizawa, S. (1962). An active pulse
    transmission line simulating nerve axon. Proc. IRE 50(10), 2061-2070.
    McKean, H. P. (1970). Nagumo's equation. Advances in Mathematics 4, 209-223.
    Goktepe, S. & Kuhl, E. (2009). Computational modeling of cardiac
    electrophysiology: a novel finite element approach. Int. J. Numer. Meth.
    Engng 79, 156-178.

    Examples
    --------
    >>> import uqkit
    >>> model, params, _ = uqkit.examples.cardiac_cable()
    >>> Y = model(params.sample(2, rng=0))
    >>> Y.shape
    (2, 42)
    """
    length = check_real("cardiac_cable", "length", length, positive=True)
    n_cells = check_int("cardiac_cable", "n_cells", n_cells, minimum=8)
    dt = check_real("cardiac_cable", "dt", dt, positive=True)
    duration = check_real("cardiac_cable", "duration", duration, positive=True)
    n_times = check_int("cardiac_cable", "n_times", n_times, minimum=1)
    if dt > 0.5:
        fail("cardiac_cable", "dt", "at most 0.5 ms (forward Euler on the cell model)", dt)
    if length < 4.0:
        fail("cardiac_cable", "length", "at least 4 mm (the stimulus covers 2 mm)", length)
    if duration < dt * n_times:
        fail("cardiac_cable", "duration", f"at least dt * n_times = {dt * n_times:g} ms",
             duration)
    options = dict(length=length, n_cells=n_cells, dt=dt, duration=duration, n_times=n_times)

    def cable(X: np.ndarray) -> dict[str, np.ndarray]:
        # outside the model's domain (D, k <= 0; a outside [0, 1); eps0, mu1 < 0): NaN rows
        bad = ((X[:, 0] <= 0) | (X[:, 1] <= 0) | (X[:, 2] < 0) | (X[:, 2] >= 1)
               | (X[:, 3] < 0) | (X[:, 4] < 0))
        out = simulate_cable(np.where(bad[:, None], _NOMINAL, X), **options)
        return {"apd": np.where(bad, np.nan, out["apd"]), "cv": np.where(bad, np.nan, out["cv"]),
                "activation": np.where(bad[:, None], np.nan, out["activation"])}

    tag = ",".join(f"{key}={value:g}" for key, value in options.items())
    model = as_model(cable, inputs=_INPUTS,
                     outputs={"apd": 1, "cv": 1, "activation": n_times}, vectorized=True,
                     name=f"uqkit.examples.cardiac_cable({tag})", version="1")
    model.times = duration * np.arange(1, n_times + 1) / n_times
    model.time_unit = "ms"
    params = Parameters(D=Uniform(0.5, 2.0), k=Uniform(6.0, 10.0), a=Uniform(0.13, 0.2),
                        eps0=Uniform(0.002, 0.004), mu1=Uniform(0.2, 0.3))
    return Example(model, params, None,
                   "Aliev-Panfilov cells in a 1-D monodomain cable: APD90 (ms), conduction "
                   "velocity (m/s) and the depolarised fraction of the cable over time")
