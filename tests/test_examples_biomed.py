"""Numerical validation of the biomedical examples (cardiac cable, Hodgkin-Huxley, SIR).

Reference properties (each cited where it is used):
- cardiac: the travelling-front speed of the Nagumo equation (McKean 1970) and the
  cable-theory scaling cv ~ sqrt(D); convergence under grid and step refinement;
- Hodgkin-Huxley: no spike below threshold, repetitive firing above the onset of
  repetitive firing (about 6.3 uA/cm^2, Rinzel & Miller 1980), a resting state;
- SIR: S + I + R = 1, the Kermack-McKendrick final-size relation and the exact peak.
The examples are deterministic, so tolerances are the measured discretisation error
(stated next to each) with a margin, not statistical.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import uqkit

T_AP = 12.9  # ms, time scale of the Aliev-Panfilov model


def _box_corners(params):
    lows, highs = params.bounds.T
    return np.array([[highs[i] if bit else lows[i] for i, bit in enumerate(bits)]
                     for bits in itertools.product([0, 1], repeat=len(params))])


@pytest.fixture(scope="module")
def cable():
    return uqkit.examples.cardiac_cable()


# --------------------------------------------------------------------------- all three

@pytest.mark.parametrize("factory", ["cardiac_cable", "hodgkin_huxley", "sir"])
def test_example_contract(factory):
    example = getattr(uqkit.examples, factory)()
    model, params, reference = example
    assert reference is None
    assert example.description
    assert model.vectorized
    assert tuple(model.inputs) == params.names
    assert len(model.times) == sum(1 for o in model.outputs if "[" in o)
    doc = getattr(uqkit.examples, factory).__doc__
    assert "References" in doc and "Parameters" in doc
    assert factory in uqkit.examples.__all__


@pytest.mark.parametrize("factory, n_rows", [("cardiac_cable", 4), ("hodgkin_huxley", 3),
                                             ("sir", 6)])
def test_vectorized_equals_row_by_row(factory, n_rows):
    model, params, _ = getattr(uqkit.examples, factory)()
    X = params.sample(n_rows, rng=7)
    together = model(X)
    one_by_one = np.vstack([model(X[i:i + 1]) for i in range(n_rows)])
    # the cable's diffusion is a matrix product: rounding differs with the batch size
    np.testing.assert_allclose(together, one_by_one, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("factory, option, value", [
    ("cardiac_cable", "dt", 1.0), ("cardiac_cable", "n_cells", 4),
    ("cardiac_cable", "length", -1.0), ("cardiac_cable", "duration", 1.0),
    ("hodgkin_huxley", "dt", 0.5), ("hodgkin_huxley", "n_times", 0),
    ("sir", "dt", 2.0), ("sir", "horizon", "long"),
])
def test_bad_options_raise(factory, option, value):
    with pytest.raises(uqkit.InvalidParameterError, match=option):
        getattr(uqkit.examples, factory)(**{option: value})


def test_runner_and_store_cache(tmp_path):
    model, params, _ = uqkit.examples.sir()
    X = params.sample(5, rng=1)
    with uqkit.Store(tmp_path / "sir.db") as store:
        runner = uqkit.Runner(store=store)
        first = runner.evaluate(model, X)
        again = runner.evaluate(model, X)
    assert first.n_new == 5 and again.n_cached == 5 and again.n_new == 0
    np.testing.assert_array_equal(first.Y, again.Y)
    # a different configuration is a different model in the cache
    other, _, _ = uqkit.examples.sir(dt=0.25)
    assert other.name != model.name


# --------------------------------------------------------------------------- cardiac

def test_cable_front_speed_is_the_nagumo_speed():
    # Ahead of the front v ~ 0, so the front obeys u_t = D u_xx + k u (u - a)(1 - u) / T,
    # whose travelling front has speed (1 - 2a) sqrt(k D / (2 T)) (McKean 1970). On a
    # long, fine cable the measured speed is within 0.5 % of it (recovery and grid
    # effects); 1.5 % leaves a margin.
    model, _, _ = uqkit.examples.cardiac_cable(length=80.0, n_cells=320, dt=0.1,
                                               duration=260.0, n_times=4)
    X = np.array([[0.5, 6.0, 0.13, 0.002, 0.2], [1.0, 8.0, 0.15, 0.002, 0.2],
                  [2.0, 10.0, 0.2, 0.004, 0.3], [2.0, 6.0, 0.2, 0.002, 0.3]])
    cv = model(X)[:, 1]
    D, k, a = X[:, 0], X[:, 1], X[:, 2]
    nagumo = (1 - 2 * a) * np.sqrt(k * D / (2 * T_AP))
    np.testing.assert_allclose(cv, nagumo, rtol=0.015)


def test_cable_velocity_scales_with_sqrt_diffusivity():
    # cable theory: at fixed membrane properties cv is proportional to sqrt(D)
    model, _, _ = uqkit.examples.cardiac_cable(length=80.0, n_cells=320, dt=0.1,
                                               duration=300.0, n_times=4)
    base = np.array([0.3, 8.0, 0.15, 0.003, 0.25])
    factors = np.array([1.0, 2.0, 4.0, 6.0])
    X = np.tile(base, (len(factors), 1))
    X[:, 0] *= factors
    cv = model(X)[:, 1]
    np.testing.assert_allclose(cv / cv[0], np.sqrt(factors), rtol=0.01)
    # and the speed grows with excitability and falls with the threshold
    assert np.all(np.diff(model(np.array([[1.0, kk, 0.15, 0.003, 0.25]
                                          for kk in (6.0, 8.0, 10.0)]))[:, 1]) > 0)
    assert np.all(np.diff(model(np.array([[1.0, 8.0, aa, 0.003, 0.25]
                                          for aa in (0.13, 0.16, 0.2)]))[:, 1]) < 0)


def test_cable_default_resolution_is_converged(cable):
    # measured at the 32 corners of the box: 0.15 % (apd) and 0.47 % (cv) from a run
    # with dx and dt four times smaller; the bounds below leave a factor of 2
    model, params, _ = cable
    corners = _box_corners(params)[::3]   # 11 of the 32 corners keep the test short
    fine, _, _ = uqkit.examples.cardiac_cable(n_cells=320, dt=0.1)
    Y, Y_fine = model(corners), fine(corners)
    np.testing.assert_allclose(Y[:, 0], Y_fine[:, 0], rtol=0.004)
    np.testing.assert_allclose(Y[:, 1], Y_fine[:, 1], rtol=0.01)
    # the depolarised fraction differs by at most a few cells at a sample time
    assert np.abs(Y[:, 2:] - Y_fine[:, 2:]).max() <= 0.05


def test_cable_velocity_is_the_steady_front_speed(cable):
    # the docstring's claim: on the 40 mm cable the stimulus transient and the no-flux end
    # bias cv by < 2 %: compare with the middle half of a 120 mm cable at the 32 corners
    # of the box (measured worst case 1.4 %, at D = 2, k = 6, a = 0.2)
    model, params, _ = cable
    corners = _box_corners(params)
    long, _, _ = uqkit.examples.cardiac_cable(length=120.0, n_cells=240, duration=500.0,
                                              n_times=4)
    np.testing.assert_allclose(model(corners)[:, 1], long(corners)[:, 1], rtol=0.02)


def test_cable_whole_box_propagates_and_repolarises(cable):
    model, params, _ = cable
    X = np.vstack([_box_corners(params), params.sample(96, rng=11)])
    Y = model(X)
    apd, cv, activation = Y[:, 0], Y[:, 1], Y[:, 2:]
    assert np.all(np.isfinite(Y))
    assert np.all((apd > 100) & (apd < 500))
    assert np.all((cv > 0.18) & (cv < 0.7))
    # the series: the excited region (wavelength ~ cv * apd, 30-250 mm) covers most of
    # the cable at its widest; everything has repolarised at the end
    assert np.all(activation.max(axis=1) > 0.6)
    assert np.mean(activation.max(axis=1) == 1.0) > 0.9
    assert np.all(activation[:, -1] == 0.0)
    # the APD grows with a slower recovery (smaller eps0), the cv does not depend on it
    base = np.array([[1.0, 8.0, 0.15, e, 0.25] for e in (0.002, 0.003, 0.004)])
    Yb = model(base)
    assert np.all(np.diff(Yb[:, 0]) < 0)
    np.testing.assert_allclose(Yb[:, 1], Yb[0, 1], rtol=0.01)


def test_cable_activation_series_follows_the_front(cable):
    # while the wave crosses the cable the depolarised fraction grows at cv / length
    model, _, _ = uqkit.examples.cardiac_cable(n_times=60)   # every 10 ms
    x = np.array([[1.0, 8.0, 0.15, 0.003, 0.25]])
    Y = model(x)
    cv, series = Y[0, 1], Y[0, 2:]
    slope = (series[2] - series[1]) / (model.times[2] - model.times[1])
    # one cell (dx / length = 1/80) of quantisation over 10 ms: 0.00125 per ms
    assert slope == pytest.approx(cv / 40.0, abs=0.00125 + 0.0005)


def test_cable_failed_propagation_is_nan():
    # far outside the box (threshold above 1/2) no front propagates: NaN, not garbage
    model, _, _ = uqkit.examples.cardiac_cable(duration=100.0, n_times=4)
    Y = model(np.array([[1.0, 8.0, 0.6, 0.003, 0.25]]))
    assert np.isnan(Y[0, 0]) and np.isnan(Y[0, 1])


# --------------------------------------------------------------------------- neuron

def _hh(currents, g=(120.0, 36.0, 0.3), **options):
    model, _, _ = uqkit.examples.hodgkin_huxley(**options)
    X = np.array([[c, *g] for c in currents])
    return model, model(X)


def test_hh_rests_without_current():
    # E_L = -54.387 mV makes -65 mV the resting potential (Hodgkin & Huxley 1952)
    _, Y = _hh([0.0])
    assert Y[0, 0] == 0 and Y[0, 1] == 0
    np.testing.assert_allclose(Y[0, 3:], -65.0, atol=0.01)


def test_hh_fires_repetitively_above_threshold_only():
    currents = [1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 15.0, 20.0]
    _, Y = _hh(currents)
    spikes, rate, peak = Y[:, 0], Y[:, 1], Y[:, 2]
    # sub-threshold: no action potential at all
    assert np.all(spikes[:2] == 0) and np.all(peak[:2] < -50)
    # between the single-spike threshold and the onset of repetitive firing
    # (about 6.3 uA/cm^2, Rinzel & Miller 1980): exactly one spike at the step
    assert np.all(spikes[2:4] == 1) and np.all(rate[2:4] == 0)
    # above it: tonic firing; class-II excitability, so the rate starts well above 0
    assert np.all(spikes[4:] >= 6)
    assert np.all(rate[4:] > 50) and np.all(rate[4:] < 120)
    assert np.all(np.diff(rate[4:]) > 0)
    # overshoot below the sodium reversal potential
    assert np.all((peak[2:] > 30) & (peak[2:] < 50))


def test_hh_default_step_is_converged():
    # Rush-Larsen at dt = 0.025 ms against dt = 0.0025 ms: the spike counts agree
    # and rates within 0.1 % (measured 0.05 %); peaks within 0.05 mV (measured 0.02)
    currents = [3.0, 7.0, 12.0]
    _, Y = _hh(currents, duration=60.0)
    _, Y_fine = _hh(currents, duration=60.0, dt=0.0025)
    np.testing.assert_array_equal(Y[:, 0], Y_fine[:, 0])
    np.testing.assert_allclose(Y[:, 1], Y_fine[:, 1], rtol=1e-3)
    np.testing.assert_allclose(Y[:, 2], Y_fine[:, 2], atol=0.05)


def test_hh_conductances_matter():
    # more potassium conductance: slower firing at the same current
    _, Y = _hh([12.0, 12.0, 12.0], g=(120.0, 36.0, 0.3))
    rates = [_hh([12.0], g=(120.0, gk, 0.3))[1][0, 1] for gk in (30.0, 36.0, 42.0)]
    assert rates[0] > rates[1] > rates[2]
    assert rates[1] == pytest.approx(Y[0, 1])


# --------------------------------------------------------------------------- SIR

def _sir_state(X, **options):
    # white-box: the end state of the solver, to check its invariants
    from uqkit.examples._epidemic import simulate_sir

    return simulate_sir(np.asarray(X, dtype=float), **options)


def test_sir_conserves_population():
    _, params, _ = uqkit.examples.sir()
    out = _sir_state(params.sample(64, rng=5))
    total = out["s_end"] + out["i_end"] + out["r_end"]
    # RK4 preserves linear invariants up to rounding
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-13)
    assert np.all(out["i_end"] < 1e-9)   # the epidemic is over at the horizon


def test_sir_final_size_relation():
    # Kermack & McKendrick (1927): ln(S_inf / S0) = -R0 (1 - S_inf) for R(0) = 0.
    # RK4 error at the default dt = 0.5 day: measured 6.7e-6 (corners included); the
    # infected fraction left at the horizon is below 1e-9. 2e-5 leaves a margin.
    model, params, _ = uqkit.examples.sir()
    X = np.vstack([_box_corners(params), params.sample(32, rng=2)])
    final = model(X)[:, 2]
    r0, s0 = X[:, 0], 1 - X[:, 2]
    s_inf = 1 - final
    residual = np.log(s_inf / s0) + r0 * (1 - s_inf)
    assert np.abs(residual).max() < 2e-5
    assert np.all((final > 0.55) & (final < 1.0))


def test_sir_solution_keeps_the_kermack_mckendrick_invariant():
    # dS/dR = -R0 S, so ln(S(t) / S0) = -R0 R(t) at every t; RK4 is O(dt^4):
    # measured 6.7e-6 at dt = 0.5 and 1.04e-8 at dt = 0.1 (a factor 646; 5^4 = 625)
    _, params, _ = uqkit.examples.sir()
    X = np.vstack([_box_corners(params), params.sample(32, rng=2)])
    r0, s0 = X[:, 0], 1 - X[:, 2]
    errors = []
    for dt in (0.5, 0.1):
        out = _sir_state(X, dt=dt)
        errors.append(np.abs(np.log(out["s_end"] / s0) + r0 * out["r_end"]).max())
    assert errors[0] < 2e-5 and errors[1] < 3e-8
    assert errors[0] / errors[1] > 100   # fourth order (ratio 625 expected)


def test_sir_peak_matches_exact_value():
    # the invariant S + I - ln(S) / R0 gives I_max = S0 + I0 - (1 + ln(R0 S0)) / R0
    # (Hethcote 2000); measured error 3e-5 at the default step (parabolic refinement)
    model, params, _ = uqkit.examples.sir()
    X = params.sample(64, rng=3)
    Y = model(X)
    r0, i0 = X[:, 0], X[:, 2]
    s0 = 1 - i0
    exact = 1 - (1 + np.log(r0 * s0)) / r0
    np.testing.assert_allclose(Y[:, 0], exact, atol=1e-4)
    # the peak time converges: default vs dt = 0.05 within 0.05 days
    fine, _, _ = uqkit.examples.sir(dt=0.05)
    np.testing.assert_allclose(Y[:, 1], fine(X)[:, 1], atol=0.05)
    # and the series peaks there
    series = Y[:, 3:]
    at = model.times[np.argmax(series, axis=1)]
    assert np.all(np.abs(at - Y[:, 1]) <= model.times[1] - model.times[0])


def test_sir_subcritical_has_no_epidemic():
    model, _, _ = uqkit.examples.sir()
    Y = model(np.array([[0.8, 7.0, 1e-3]]))
    # with R0 < 1 the infected fraction only decays: the peak is the seed at t = 0,
    # and the final size solves the same relation: about i0 / (1 - R0)
    assert Y[0, 0] == pytest.approx(1e-3) and Y[0, 1] == 0.0
    from scipy.optimize import brentq

    s0 = 1 - 1e-3
    s_inf = brentq(lambda s: np.log(s / s0) + 0.8 * (1 - s), 0.5, s0)
    assert Y[0, 2] == pytest.approx(1 - s_inf, abs=1e-6)
    assert 1 - s_inf == pytest.approx(1e-3 / (1 - 0.8), rel=0.02)


@pytest.mark.parametrize("factory, bad_row", [
    ("cardiac_cable", [-1.0, 8.0, 0.15, 0.003, 0.25]),
    ("hodgkin_huxley", [10.0, -5.0, 36.0, 0.3]),
    ("sir", [2.5, 7.0, -1e-4]),
])
def test_rows_outside_the_domain_are_nan_and_do_not_spoil_the_batch(factory, bad_row):
    model, params, _ = getattr(uqkit.examples, factory)()
    good = params.sample(2, rng=4)
    Y = model(np.vstack([good[:1], bad_row, good[1:]]))
    assert np.all(np.isnan(Y[1]))
    np.testing.assert_allclose(Y[[0, 2]], model(good), rtol=1e-10, atol=1e-12)
    # the runner records such rows as non-finite instead of failing the study
    ev = uqkit.Runner(on_failure="nan", progress=False).evaluate(model, np.array([bad_row]))
    assert ev.status[0] == "nonfinite"
