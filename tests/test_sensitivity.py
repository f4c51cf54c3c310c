"""uqkit.sensitivity and uqkit.sensitivity_from_data (FAST, RBD-FAST, delta, PAWN, DGSM, HDMR).

Tolerances: ``conf`` is each method's 95% interval half-width, so SE = conf / 1.96,
and estimates must lie within Z = 4.5 SE of the analytic value.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from scipy import stats

import uqkit
from uqkit.examples import ishigami

matplotlib.use("Agg")
Z = 4.5
C = np.array([1.0, -2.0, 0.5, 0.0])
S = np.array([1.0, 0.5, 2.0, 1.0])
EXACT = C**2 * S**2 / np.sum(C**2 * S**2)  # linear model, normal inputs; d is a dummy


def _linear_normal():
    model = uqkit.as_model(lambda X: X @ C, inputs=("a", "b", "c", "d"), vectorized=True)
    params = uqkit.Parameters({n: uqkit.Normal(1.0, sd) for n, sd in zip("abcd", S)})
    return model, params


@pytest.mark.parametrize("method, n, measures", [
    ("fast", 1024, ("S1", "ST")), ("rbd_fast", 2048, ("S1",)), ("hdmr", 1024, ("S", "ST"))])
def test_variance_based_methods_on_linear_normal_model(method, n, measures):
    # S_i = ST_i = c_i^2 s_i^2 / sum_j c_j^2 s_j^2 (inputs mapped through normal inverse CDFs).
    # The extra 1e-3 covers the deterministic truncation bias of (RBD-)FAST, which keeps
    # M harmonics of the search curve (about 0.25% of the variance for M = 4).
    model, params = _linear_normal()
    res = uqkit.sensitivity(model, params, n, method=method, rng=0)
    assert res.measures == list(measures)
    for m in measures:
        se = res.conf[(m, "y")].to_numpy() / 1.96
        assert np.all(np.abs(res.indices[(m, "y")].to_numpy() - EXACT) <= Z * se + 1e-3), m
    expected_runs = n * 4 if method == "fast" else n
    assert res.n_evaluations == expected_runs


def test_dgsm_exact_for_linear_model_and_bounds_total_index():
    # unit-space derivative of c (b - a) u is exact under finite differences:
    # nu_i = (c_i (b - a))^2 (Sobol' & Kucherenko 2009); rtol from rounding only.
    model = uqkit.as_model(lambda X: X @ C, inputs=("a", "b", "c", "d"), vectorized=True)
    params = uqkit.Parameters({n: uqkit.Uniform(0, 2) for n in "abcd"})
    res = uqkit.sensitivity(model, params, 256, method="dgsm", rng=1)
    np.testing.assert_allclose(res.indices[("vi", "y")], (2 * C) ** 2, rtol=1e-6, atol=1e-9)
    assert res.n_evaluations == 256 * 5
    # the DGSM bound nu_i / (pi^2 V) >= ST_i (Ishigami closed-form ST)
    model, params, ref = ishigami()
    res = uqkit.sensitivity(model, params, 1024, method="dgsm", rng=2)
    lower = res.indices[("dgsm", "y")] - Z * res.conf[("dgsm", "y")] / 1.96
    assert np.all(lower.to_numpy() >= ref.total.to_numpy())


def test_delta_converges_to_closed_form():
    # Y = X1 + X2, X ~ N(0, 1): delta_1 = 1/2 E|f_Y - f_{Y|X1}|_1 by quadrature (0.30599).
    # The given-data estimator (Plischke et al. 2013) has a partition bias of order
    # 1/M (M = 11 classes at this n), measured at -0.01; we allow 0.02 plus the SE.
    y = np.linspace(-12, 12, 4001)
    xs = np.linspace(-8, 8, 1601)
    f_y = stats.norm.pdf(y, 0, math.sqrt(2))
    inner = [np.trapezoid(np.abs(f_y - stats.norm.pdf(y, x, 1)), y) for x in xs]
    exact = 0.5 * np.trapezoid(np.asarray(inner) * stats.norm.pdf(xs), xs)
    assert abs(exact - 0.30599) < 1e-4
    model = uqkit.as_model(lambda X: X[:, 0] + X[:, 1], inputs=("x1", "x2", "dummy"),
                           vectorized=True)
    params = uqkit.Parameters(x1=uqkit.Normal(0, 1), x2=uqkit.Normal(0, 1),
                              dummy=uqkit.Uniform(0, 1))
    res = uqkit.sensitivity(model, params, 8192, method="delta", n_resamples=20, rng=3)
    d = res.indices[("delta", "y")]
    se = res.conf[("delta", "y")] / 1.96
    assert np.all(np.abs(d[["x1", "x2"]] - exact) <= 0.02 + Z * se[["x1", "x2"]])
    assert d["dummy"] < 0.05 and d["dummy"] < d["x1"] / 5


def test_pawn_ranks_and_dummy():
    model, params = _linear_normal()
    res = uqkit.sensitivity(model, params, 2048, method="pawn", rng=4)
    med = res.indices[("median", "y")]
    assert med.idxmin() == "d" and med["d"] < med[["a", "b", "c"]].min() / 3


@pytest.mark.parametrize("method", ["rbd_fast", "pawn"])
def test_from_data_matches_salib_on_unit_inputs(method):
    # For U(0, 1) inputs our unit-space mapping is the identity, so the point estimates
    # must equal SALib's on the same data exactly (they do not depend on the seed).
    from SALib.analyze import pawn, rbd_fast

    rng = np.random.default_rng(5)
    X = rng.random((1500, 3))
    Y = np.sin(6 * X[:, 0]) + X[:, 1] ** 2 + X[:, 0] * X[:, 2]
    params = uqkit.Parameters({n: uqkit.Uniform(0, 1) for n in ("p", "q", "r")})
    ours = uqkit.sensitivity_from_data(params, X, Y, method=method, rng=1)
    problem = {"num_vars": 3, "names": ["p", "q", "r"], "bounds": [[0, 1]] * 3}
    if method == "rbd_fast":
        ref = rbd_fast.analyze(problem, X, Y, seed=1)["S1"]
        got = ours.indices[("S1", "y")]
    else:
        ref = pawn.analyze(problem, X, Y, S=10, seed=1)["median"]
        got = ours.indices[("median", "y")]
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert ours.n_evaluations == 0


def test_from_data_maps_physical_inputs_and_drops_nonfinite():
    model, params, ref = ishigami()
    X = params.sample(4096, rng=6)
    Y = model(X)[:, 0]
    Y[:10] = np.nan
    res = uqkit.sensitivity_from_data(params, X, Y, method="rbd_fast", rng=6)
    assert res.n_failed == 10 and res.info["n_used"] == 4086
    se = res.conf[("S1", "y")].to_numpy() / 1.96
    # RBD-FAST with M=10 harmonics and the bias correction, Ishigami closed form
    assert np.all(np.abs(res.indices[("S1", "y")].to_numpy() - ref.first.to_numpy())
                  <= Z * se + 1e-3)


@pytest.mark.parametrize("method", ["fast", "dgsm"])
def test_from_data_refuses_design_methods(method):
    params = uqkit.Parameters(a=uqkit.Uniform(0, 1))
    with pytest.raises(uqkit.InvalidParameterError, match="needs its own design"):
        uqkit.sensitivity_from_data(params, np.zeros((10, 1)), np.zeros(10), method=method)


def test_from_data_validates_shapes_and_support():
    params = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Uniform(0, 1))
    with pytest.raises(uqkit.InvalidParameterError, match="'Y' parameter"):
        uqkit.sensitivity_from_data(params, np.full((10, 2), 0.5), np.zeros(9), method="pawn")
    with pytest.raises(uqkit.InvalidParameterError, match="support"):
        uqkit.sensitivity_from_data(params, np.full((10, 2), 1.5), np.zeros(10), method="pawn")


class _Counting:
    def __init__(self):
        self.base, _, _ = ishigami()
        self.inputs, self.outputs, self.vectorized, self.calls = self.base.inputs, ("y",), True, 0

    def __call__(self, X):
        self.calls += len(X)
        return self.base(X)


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "sobol"}, "'method' parameter of sensitivity"),
    ({"method": "fast", "n": 64}, "'n' parameter of sensitivity"),  # needs n > 4 M^2
    ({"method": "hdmr", "n": 200}, "'n' parameter of sensitivity"),
    ({"method": "pawn", "bogus": 1}, "'options' parameter of sensitivity"),
    ({"method": "dgsm", "step": 0.7}, "'step' parameter of sensitivity"),
])
def test_invalid_arguments_fail_before_any_run(kwargs, match):
    _, params, _ = ishigami()
    model = _Counting()
    args = {"n": 512, **kwargs}
    with pytest.raises(uqkit.InvalidParameterError, match=match):
        uqkit.sensitivity(model, params, args.pop("n"), **args)
    assert model.calls == 0


def test_failures_given_data_dropped_fast_refused():
    _, params, _ = ishigami()
    model = uqkit.as_model(lambda X: np.where(X[:, 0] > 2.5, np.nan, np.sin(X[:, 0]) + X[:, 1]),
                           inputs=("x1", "x2", "x3"), vectorized=True)
    runner = uqkit.Runner(on_failure="nan", max_consecutive_failures=10**6)
    res = uqkit.sensitivity(model, params, 1024, method="rbd_fast", rng=7, runner=runner)
    assert res.n_failed > 0 and res.info["n_used"] == 1024 - res.n_failed
    with pytest.raises(uqkit.ModelEvaluationError, match="search curve"):
        uqkit.sensitivity(model, params, 256, method="fast", rng=7, runner=runner)


def test_same_rng_same_result_and_api():
    model, params, _ = ishigami()
    a = uqkit.sensitivity(model, params, 512, method="fast", rng=8)
    b = uqkit.sensitivity(model, params, 512, method="fast", rng=8)
    assert a.indices.equals(b.indices) and a.conf.equals(b.conf)
    df = a.to_dataframe()
    assert list(df.columns) == ["measure", "input", "output", "value", "conf"]
    assert len(df) == 6
    assert a["ST"].shape == (3, 1)
    assert "SensitivityResult(method='fast'" in repr(a)
    assert "<table" in a._repr_html_()
    assert a.plot().get_ylabel() == "ST"
    with pytest.raises(uqkit.InvalidParameterError, match="'measure' parameter"):
        a.plot(measure="delta")


@pytest.mark.parametrize("first", ["import uqkit; uqkit.sobol", "import uqkit.sensitivity"])
def test_uqkit_sensitivity_is_callable_in_any_import_order(first):
    # the function shares its name with the subpackage; a fresh interpreter per order
    code = (f"{first}\nimport uqkit\nm, p, _ = uqkit.examples.ishigami()\n"
            "r = uqkit.sensitivity(m, p, 256, method='pawn', rng=0)\n"
            "assert r.method == 'pawn'\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def test_from_data_accepts_runner_evaluations():
    model, params, ref = ishigami()
    flaky = uqkit.as_model(lambda X: np.where(X[:, 2] > 3.0, np.nan, model(X)[:, 0]),
                           inputs=model.inputs, vectorized=True)
    ev = uqkit.Runner(on_failure="nan", max_consecutive_failures=10**6).evaluate(
        flaky, params.sample(2048, rng=9))
    res = uqkit.sensitivity_from_data(params, ev, method="rbd_fast", rng=9)
    assert res.n_failed == ev.n_failed > 0
    assert list(res.indices[("S1", "y")].index) == ["x1", "x2", "x3"]
    with pytest.raises(uqkit.InvalidParameterError, match="'Y' parameter"):
        uqkit.sensitivity_from_data(params, ev.X, method="rbd_fast")
