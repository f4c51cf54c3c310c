"""Polynomial chaos: accuracy against analytic and published references, exact recovery.

Tolerance policy. A PCE ``g`` of a model ``f`` with relative validation error
``eps = ||f - g||^2 / Var f`` has, by the triangle inequality on each projection
``P_u`` (``|sqrt(D_u f) - sqrt(D_u g)| <= ||f - g||``):

- ``|mean f - mean g| <= sqrt(eps Var f)``;
- ``|Var f - Var g| <= Var f (2 sqrt(eps) + eps)``;
- ``|S_u f - S_u g| <= 4 sqrt(eps) + O(eps)`` for first-order and total indices.

``eps`` is measured on 2^14 independent Monte Carlo points; its relative
standard error there is below 50 % for these smooth errors, so the tests use
``2 * eps``. These bounds can fail: they are checked against closed-form values.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy import special

import uqkit

N_VAL = 2**14


def _eps(pce, model, params, seed=12345):
    X = params.sample(N_VAL, method="random", rng=seed)
    rel = pce.validate(X, model(X))["relative_error"].to_numpy()
    return 2 * rel**2  # safety factor 2 for the Monte Carlo error of the estimate


def _check_against_reference(pce, model, params, ref, output="y", extra_tol=0.0):
    eps = float(_eps(pce, model, params)[list(pce.outputs).index(output)])
    var = ref.variance
    assert abs(pce.mean[output] - ref.mean) <= math.sqrt(eps * var) + 1e-12 * abs(ref.mean)
    assert abs(pce.variance[output] - var) <= var * (2 * math.sqrt(eps) + eps) + 1e-12 * var
    s = pce.sobol()
    tol = 4 * math.sqrt(eps) + 2 * eps + extra_tol
    np.testing.assert_allclose(s.first[output].to_numpy(), ref.first.to_numpy(), atol=tol,
                               rtol=0)
    np.testing.assert_allclose(s.total[output].to_numpy(), ref.total.to_numpy(), atol=tol,
                               rtol=0)
    return eps, s


# ---------------------------------------------------------------- references
def test_ishigami_moments_and_indices():
    # Ishigami & Homma (1990): mean a/2 = 3.5, variance 13.8446; closed-form indices
    model, params, ref = uqkit.examples.ishigami()
    assert math.isclose(ref.variance, 13.8446, rel_tol=1e-5)
    pce = uqkit.fit_pce(model, params, n=200, rng=1)
    eps, s = _check_against_reference(pce, model, params, ref)
    assert eps < 1e-6  # degree="auto" reaches beyond the fixed degree-12 basis of OpenTURNS
    assert s.method == "pce" and s.first_ci is None and s.total_ci is None
    assert s.n_evaluations == 200 == pce.n_evaluations
    # OpenTURNS' LARS (candidate degree 12) reaches 4e-6 on the indices from 200 runs
    # (anchor measurement quoted in the issue); uqkit must do at least as well
    assert np.abs(s.first["y"] - ref.first).max() < 4e-6
    assert np.abs(s.total["y"] - ref.total).max() < 4e-6


def test_ishigami_second_order_indices():
    model, params, ref = uqkit.examples.ishigami()
    pce = uqkit.fit_pce(model, params, n=256, rng=2)
    eps = float(_eps(pce, model, params)[0])
    s = pce.sobol(second_order=True)
    # the only interaction is x1-x3: S13 = total(x3) (Sobol' & Levitan 1999)
    s13 = ref.total["x3"]
    tol = 4 * math.sqrt(eps) + 2 * eps
    assert abs(s.second.loc[("x1", "x3"), "y"] - s13) <= tol
    assert abs(s.second.loc[("x1", "x2"), "y"]) <= tol
    assert abs(s.second.loc[("x2", "x3"), "y"]) <= tol
    assert list(s.second.index) == [("x1", "x2"), ("x1", "x3"), ("x2", "x3")]


def test_sobol_g_function_indices():
    # Saltelli & Sobol' (1995) closed form. The |4x - 2| kink makes the expansion converge
    # slowly, so the validation bound is vacuous (eps ~ 0.04); the tolerance instead comes
    # from the spread of the PCE estimates over 8 independent designs at n = 1024 (measured:
    # standard deviation <= 0.006, bias <= 0.006): 3 sd + bias ~ 0.025.
    model, params, ref = uqkit.examples.sobol_g()
    pce = uqkit.fit_pce(model, params, n=1024, rng=0)
    s = pce.sobol()
    np.testing.assert_allclose(s.first["y"], ref.first, atol=0.025)
    np.testing.assert_allclose(s.total["y"], ref.total, atol=0.025)
    assert abs(pce.mean["y"] - 1.0) < 0.01


def test_borehole_validation_error_and_indices():
    # indices: uqkit.examples.borehole().reference (8.4e7 QMC runs, tolerance 1e-4)
    model, params, ref = uqkit.examples.borehole()
    pce = uqkit.fit_pce(model, params, n=200, rng=0)
    X = params.sample(N_VAL, method="random", rng=7)
    err = float(pce.validate(X, model(X))["relative_error"].iloc[0])
    # OpenTURNS' LARS reaches 0.59 % of the output's sd from 200 runs (issue's anchor)
    assert err < 0.0059
    _check_against_reference(pce, model, params, ref, extra_tol=ref.tolerance)
    assert pce.basis_labels()["r"] == "Hermite(log)"


# ---------------------------------------------------------------- exact recovery
POLY_PARAMS = dict(x1=uqkit.Uniform(-1.0, 2.0), x2=uqkit.Normal(1.0, 0.5),
                   x3=uqkit.Gamma(2.0, 1.5), x4=uqkit.Beta(2.0, 3.0, 0.0, 2.0),
                   x5=uqkit.Triangular(0.0, 0.5, 1.0))


def _poly(X):
    x1, x2, x3, x4, x5 = X.T
    return 1 + 2 * x1 + 3 * x1 * x2**2 - x3**3 / 10 + x4 * x5 + x5**2


def _poly_moments():
    """E[f], Var[f] by a tensor Gauss rule built from scipy.special (independent of uqkit)."""
    rules = []
    t, w = special.roots_legendre(6)
    rules.append((0.5 + 1.5 * t, w / w.sum()))
    t, w = special.roots_hermitenorm(6)
    rules.append((1.0 + 0.5 * t, w / w.sum()))
    t, w = special.roots_genlaguerre(6, 1.0)  # Gamma(shape 2) -> alpha = 1
    rules.append((1.5 * t, w / w.sum()))
    t, w = special.roots_jacobi(6, 2.0, 1.0)  # Beta(2, 3) on [0, 2]: (1-z)^2 (1+z)^1
    rules.append((1.0 + t, w / w.sum()))
    t, w = special.roots_legendre(6)  # triangular(0, 0.5, 1): two linear pieces
    xs = np.concatenate([0.25 * (t + 1), 0.5 + 0.25 * (t + 1)])
    pdf = np.where(xs < 0.5, 4 * xs, 4 * (1 - xs))
    ws = np.concatenate([0.25 * w, 0.25 * w]) * pdf
    rules.append((xs, ws / ws.sum()))
    grids = np.meshgrid(*[r[0] for r in rules], indexing="ij")
    weights = np.prod(np.meshgrid(*[r[1] for r in rules], indexing="ij"), axis=0).ravel()
    X = np.stack([g.ravel() for g in grids], axis=1)
    y = _poly(X)
    mean = weights @ y
    return mean, weights @ (y - mean) ** 2


@pytest.mark.parametrize("method,degree", [("lars", "auto"), ("omp", "auto"), ("ols", 3),
                                           ("ols", "auto"), ("quadrature_smolyak", 3),
                                           ("quadrature_tensor", 3)])
def test_exact_recovery_of_a_polynomial_model(method, degree):
    params = uqkit.Parameters(POLY_PARAMS)
    model = uqkit.as_model(_poly, inputs=params.names, vectorized=True, name="poly")
    n = None if method.startswith("quadrature") else 120
    pce = uqkit.fit_pce(model, params, n=n, degree=degree, method=method, rng=3)
    mean, var = _poly_moments()
    # deterministic linear algebra on a degree-3 polynomial: exact to rounding
    assert math.isclose(pce.mean["y"], mean, rel_tol=1e-9)
    assert math.isclose(pce.variance["y"], var, rel_tol=1e-8)
    X = params.sample(500, method="random", rng=4)
    np.testing.assert_allclose(pce(X)[:, 0], _poly(X), rtol=1e-8, atol=1e-8)
    if method in ("lars", "omp"):
        assert pce.loo_error["y"] < 1e-20
        assert int(pce.degree["y"]) == 3
        assert pce.multi_indices.sum(axis=1).max() == 3


def test_quadrature_recovers_ishigami_moments():
    model, params, ref = uqkit.examples.ishigami()
    pce = uqkit.fit_pce(model, params, degree=14, method="quadrature_tensor")
    assert pce.n_evaluations == 15**3
    _check_against_reference(pce, model, params, ref)
    assert np.isnan(pce.loo_error["y"])


def test_quadrature_auto_degree_respects_the_node_budget():
    model, params, _ = uqkit.examples.ishigami()
    pce = uqkit.fit_pce(model, params, n=400, method="quadrature")
    assert pce.n_evaluations <= 400
    assert pce.method == "quadrature_smolyak"


# ---------------------------------------------------------------- surrogate model contract
def test_pce_is_a_model_and_a_fixed_point():
    model, params, _ = uqkit.examples.ishigami()
    pce = uqkit.fit_pce(model, params, n=128, rng=0)
    assert isinstance(pce, uqkit.Model)
    assert pce.inputs == params.names and pce.outputs == ("y",) and pce.vectorized
    assert isinstance(pce.version, str) and pce.name.startswith("pce(")
    X = params.sample(64, rng=1)
    assert pce(X).shape == (64, 1)
    # a PCE fitted to a PCE reproduces it (exactly representable)
    again = uqkit.fit_pce(pce, params, n=1024, degree=int(pce.degree["y"]), method="ols", rng=5)
    np.testing.assert_allclose(again(X), pce(X), rtol=1e-7, atol=1e-7)
    with pytest.raises(AttributeError):
        pce.method = "ols"
    with pytest.raises(ValueError):
        pce.coefficients[0, 0] = 1.0


def test_same_rng_same_expansion_and_pickle_round_trip():
    model, params, _ = uqkit.examples.borehole()
    a = uqkit.fit_pce(model, params, n=100, rng=42)
    b = uqkit.fit_pce(model, params, n=100, rng=np.random.default_rng(42))
    np.testing.assert_array_equal(a.coefficients, b.coefficients)
    np.testing.assert_array_equal(a.multi_indices, b.multi_indices)
    c = pickle.loads(pickle.dumps(a))  # noqa: TID251 - in-memory round trip (dask, processes)
    X = params.sample(10, rng=0)
    np.testing.assert_array_equal(c(X), a(X))
    assert c.version == a.version


def test_multi_output_shares_the_design_and_matches_single_fits():
    ishi, params, ref = uqkit.examples.ishigami()

    def two(X):
        y = ishi(X)[:, 0]
        return np.stack([y, X[:, 0] ** 2 + X[:, 1]], axis=1)

    model = uqkit.as_model(two, inputs=params.names, outputs=("a", "b"), vectorized=True,
                           name="two")
    pce = uqkit.fit_pce(model, params, n=150, rng=9)
    single = uqkit.fit_pce(X=pce.X, Y=pce.Y[:, 0], parameters=params)
    np.testing.assert_allclose(pce.mean["a"], single.mean["y"], rtol=1e-12)
    np.testing.assert_allclose(pce.sobol().total["a"].to_numpy(),
                               single.sobol().total["y"].to_numpy(), rtol=1e-10, atol=1e-14)
    # b = x1^2 + x2 exactly: x3 has no effect, no interaction
    s = pce.sobol()
    assert s.total.loc["x3", "b"] < 1e-12
    assert abs(s.first["b"].sum() - 1) < 1e-10
    assert pce.loo_error.index.tolist() == ["a", "b"]


def test_vector_output_gets_aggregated_indices():
    _, params, _ = uqkit.examples.ishigami()

    def field(X):
        t = np.linspace(0, 1, 4)
        return X[:, [0]] * (1 + t) + X[:, [1]] ** 2 * t

    model = uqkit.as_model(field, inputs=params.names, outputs={"V": 4}, vectorized=True,
                           name="field")
    s = uqkit.fit_pce(model, params, n=60, rng=0).sobol()
    assert s.aggregated_first is not None and list(s.aggregated_first.columns) == ["V"]
    assert abs(s.aggregated_total.loc["x3", "V"]) < 1e-12
    assert math.isclose(s.aggregated_first["V"].sum(), 1.0, rel_tol=1e-9)


def test_failed_rows_are_dropped_and_counted():
    _, params, _ = uqkit.examples.ishigami()
    X = params.sample(128, rng=0)
    Y = np.sin(X[:, 0]) + X[:, 1] ** 2
    Y[[3, 50]] = np.nan
    pce = uqkit.fit_pce(X=X, Y=Y, parameters=params)
    assert pce.n_failed == 2 and pce.n_evaluations == 128
    assert pce.X.shape[0] == 126


# ---------------------------------------------------------------- validation at the boundary
def test_too_few_points_says_how_many_are_needed():
    model, params, _ = uqkit.examples.ishigami()
    calls = []
    counted = uqkit.as_model(lambda X: calls.append(1) or model(X), inputs=params.names,
                             vectorized=True, name="counted")
    with pytest.raises(uqkit.InvalidParameterError, match="at least 57 points"):
        uqkit.fit_pce(counted, params, n=30, degree=5, method="ols")
    assert not calls  # refused before any model run


@pytest.mark.parametrize("kwargs,match", [
    (dict(method="lasso"), "'method' parameter"),
    (dict(q_norm=0.0), "'q_norm' parameter"),
    (dict(degree=0), "'degree' parameter"),
    (dict(degree="high"), "'degree' parameter"),
    (dict(max_interaction=0), "'max_interaction' parameter"),
    (dict(sampling="grid"), "'sampling' parameter"),
])
def test_invalid_arguments(kwargs, match):
    model, params, _ = uqkit.examples.ishigami()
    with pytest.raises(uqkit.InvalidParameterError, match=match):
        uqkit.fit_pce(model, params, n=64, **kwargs)


def test_invalid_data_and_combinations():
    model, params, _ = uqkit.examples.ishigami()
    X = params.sample(32, rng=0)
    with pytest.raises(uqkit.InvalidParameterError, match="'parameters'"):
        uqkit.fit_pce(X=X, Y=model(X))
    with pytest.raises(uqkit.InvalidParameterError, match="'Y'"):
        uqkit.fit_pce(X=X, Y=model(X)[:10], parameters=params)
    with pytest.raises(uqkit.InvalidParameterError, match="inside the support"):
        uqkit.fit_pce(X=X + 10, Y=model(X), parameters=params)
    with pytest.raises(uqkit.InvalidParameterError, match="'n'"):
        uqkit.fit_pce(model, params)
    with pytest.raises(uqkit.InvalidParameterError, match="'model'"):
        uqkit.fit_pce(X=X, Y=model(X), parameters=params, method="quadrature", degree=3)
    other = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Uniform(0, 1),
                             c=uqkit.Uniform(0, 1))
    with pytest.raises(uqkit.InvalidParameterError, match="Missing"):
        uqkit.fit_pce(model, other, n=32)


def test_data_frames_are_accepted():
    model, params, _ = uqkit.examples.ishigami()
    X = params.sample(100, rng=0)
    Xdf = pd.DataFrame(X[:, ::-1], columns=list(params.names)[::-1])
    Ydf = pd.DataFrame({"flow": model(X)[:, 0]})
    pce = uqkit.fit_pce(X=Xdf, Y=Ydf, parameters=params)
    assert pce.outputs == ("flow",)
    ref = uqkit.fit_pce(X=X, Y=model(X), parameters=params)
    np.testing.assert_allclose(pce.coefficients, ref.coefficients)


# ---------------------------------------------------------------- display
def test_repr_html_dataframe_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, params, _ = uqkit.examples.ishigami()
    pce = uqkit.fit_pce(model, params, n=64, rng=0, q_norm=0.75, max_interaction=2)
    text = repr(pce)
    assert text.startswith("PolynomialChaos(3 inputs -> 1 output") and "LOO error" in text
    assert len(text.splitlines()) <= 10
    assert "<table" in pce._repr_html_()
    df = pce.to_dataframe()
    assert list(df.columns) == ["x1", "x2", "x3", "degree", "y"] and len(df) == pce.n_terms
    assert (pce.multi_indices > 0).sum(axis=1).max() <= 2
    axes = pce.plot()
    assert len(axes) == 2
    X = params.sample(50, rng=1)
    axes = pce.plot("y", X=X, Y=model(X))
    plt.close("all")
    with pytest.raises(uqkit.InvalidParameterError):
        pce.plot("nope")


# ---------------------------------------------------------------- runner and store
def _fails(X):
    return (X[:, 0] * 1e4) % 10 < 1


def test_design_goes_through_the_runner_and_its_store(tmp_path):
    _, params, _ = uqkit.examples.ishigami()
    calls = []

    def f(X):
        calls.append(X.shape[0])
        y = np.sin(X[:, 0]) + 7 * np.sin(X[:, 1]) ** 2
        y[_fails(X)] = np.nan  # the simulator "fails" on ~10 % of the inputs
        return y

    model = uqkit.as_model(f, inputs=params.names, vectorized=True, name="flaky", version="1")
    runner = uqkit.Runner(store=tmp_path / "s.db", on_failure="skip", progress=False)
    with runner:
        first = uqkit.fit_pce(model, params, n=128, rng=11, runner=runner)
    n_calls = sum(calls)
    assert first.n_evaluations == 128
    assert first.n_failed == int(np.sum(_fails(params.sample(128, rng=11)))) > 0
    with uqkit.Runner(store=tmp_path / "s.db", on_failure="skip", progress=False) as again:
        second = uqkit.fit_pce(model, params, n=128, rng=11, runner=again)
    assert sum(calls) == n_calls  # same rng, same design: every row from the store
    np.testing.assert_array_equal(second.coefficients, first.coefficients)


def test_model_with_a_given_design_and_quadrature_grid_choice():
    model, params, _ = uqkit.examples.ishigami()
    X = params.sample(150, method="lhs", rng=3)
    pce = uqkit.fit_pce(model, params, X=X, degree=8)
    np.testing.assert_array_equal(pce.X, X)
    assert int(pce.degree["y"]) == 8 and pce.multi_indices.sum(axis=1).max() <= 8
    two = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Normal(0, 1))
    sq = uqkit.as_model(lambda X: X[:, 0] ** 2 * X[:, 1], inputs=("a", "b"), vectorized=True,
                        name="sq")
    q = uqkit.fit_pce(sq, two, degree=3, method="quadrature")
    assert q.method == "quadrature_tensor" and q.n_evaluations == 16
    # E[a^2 b] = 0 and Var = E[a^4] E[b^2] = 1/5 for a ~ U(0, 1), b ~ N(0, 1)
    assert abs(q.mean["y"]) < 1e-14 and math.isclose(q.variance["y"], 0.2, rel_tol=1e-12)
    with pytest.raises(uqkit.InvalidParameterError, match="'runner'"):
        uqkit.fit_pce(model, params, n=32, runner="local")


def test_hand_built_expansion_runs_through_the_runner():
    # f = 2 + 3 He_1(x2) with x2 ~ N(0, 1): mean 2, variance 9, all variance from x2
    params = uqkit.Parameters(x1=uqkit.Uniform(-1, 1), x2=uqkit.Normal(0, 1))
    pce = uqkit.PolynomialChaos(params, ("y",), [[0, 0], [0, 1]], [[2.0], [3.0]])
    assert pce.mean["y"] == 2.0 and pce.variance["y"] == 9.0
    assert np.isnan(pce.loo_error["y"]) and int(pce.degree["y"]) == 1
    X = params.sample(16, rng=0)
    ev = uqkit.evaluate(pce, X, progress=False)
    np.testing.assert_allclose(ev.Y[:, 0], 2 + 3 * X[:, 1], rtol=1e-14)
    s = pce.sobol()
    assert s.first.loc["x2", "y"] == 1.0 and s.total.loc["x1", "y"] == 0.0
    with pytest.raises(uqkit.InvalidParameterError, match="zero index"):
        uqkit.PolynomialChaos(params, ("y",), [[0, 1]], [[3.0]])


def test_parameters_in_another_order_than_the_model_inputs():
    model, params, _ = uqkit.examples.borehole()
    shuffled = params.subset(list(params.names)[::-1])
    pce = uqkit.fit_pce(model, shuffled, n=120, rng=0)
    assert pce.inputs == model.inputs
    ref = uqkit.fit_pce(model, params, n=120, rng=0)
    X = params.sample(50, rng=3)
    np.testing.assert_allclose(pce(X), ref(X), rtol=1e-6)


def test_many_outputs_are_compressed_and_match_single_output_fits():
    ishi, params, ref = uqkit.examples.ishigami()
    t = np.linspace(0, 1, 30)

    def field(X):  # a rank-2 field: every column mixes the Ishigami output and x2
        return ishi(X)[:, [0]] * (1 + t) + X[:, [1]] * np.cos(3 * t)

    model = uqkit.as_model(field, inputs=params.names, outputs={"V": 30}, vectorized=True,
                           name="field30")
    pce = uqkit.fit_pce(model, params, n=200, rng=4)
    assert pce.info["compression"]["components"] == 2
    X = params.sample(N_VAL, method="random", rng=5)
    Y = field(X)
    rel = pce.validate(X, Y)["relative_error"].to_numpy()
    # the first column alone, fitted on the same design
    single = uqkit.fit_pce(X=pce.X, Y=pce.Y[:, 0], parameters=params)
    rel_single = float(single.validate(X, Y[:, 0])["relative_error"].iloc[0])
    assert rel.max() < 1e-3 and rel[0] < 10 * rel_single + 1e-6
    # the combined LOO error of a column estimates the same quantity as the LOO error of a
    # separate fit of that column (both corrected, both from these 200 points)
    ratio = pce.loo_error.iloc[0] / single.loo_error.iloc[0]
    assert 0.1 < ratio < 10
    assert np.all(np.isfinite(pce.loo_error)) and pce.loo_error.max() < 1e-12
    s = pce.sobol()
    assert s.aggregated_total.loc["x3", "V"] > 0 and s.total.shape == (3, 30)


def test_oversized_candidate_basis_is_refused_before_running():
    model, params, _ = uqkit.examples.borehole()
    with pytest.raises(uqkit.InvalidParameterError, match="125970 terms"):
        uqkit.fit_pce(model, params, n=1000, degree=12)


def test_pipeline_pce_as_the_model_of_a_monte_carlo_sobol_study():
    # design -> evaluations -> surrogate -> Monte Carlo indices on the surrogate -> report
    model, params, ref = uqkit.examples.ishigami()
    pce = uqkit.fit_pce(model, params, n=256, rng=0)
    exact = pce.sobol()
    mc = uqkit.sobol(pce, params, 2**12, rng=1, runner=uqkit.Runner(progress=False))
    # the Monte Carlo estimate on the surrogate agrees with the surrogate's exact indices
    # within its own confidence intervals (widened by 2 to allow for the 5 % misses)
    width_first = (mc.first_ci["high"] - mc.first_ci["low"])["y"].to_numpy()
    width_total = (mc.total_ci["high"] - mc.total_ci["low"])["y"].to_numpy()
    assert np.all(np.abs(mc.first["y"] - exact.first["y"]).to_numpy() <= width_first)
    assert np.all(np.abs(mc.total["y"] - exact.total["y"]).to_numpy() <= width_total)
    assert "pce" in repr(exact).lower() or exact.method == "pce"
    exact.to_dataframe()


def test_sobol_result_from_pce_uses_the_shared_layout():
    # same index names as uqkit.sobol, so SobolResult's tables, views and plots work
    import matplotlib.pyplot as plt

    _, params, _ = uqkit.examples.ishigami()
    t = np.linspace(0, 1, 4)
    model = uqkit.as_model(lambda X: X[:, [0]] * (1 + t) + X[:, [0]] * X[:, [2]] * t,
                           inputs=params.names, outputs={"V": 4}, vectorized=True, name="g")
    s = uqkit.fit_pce(model, params, n=64, rng=0).sobol(second_order=True)
    assert s.first.index.name == "input" and s.first.columns.name == "output"
    assert list(s.second.index.names) == ["input_i", "input_j"]
    df = s.to_dataframe()
    assert set(df["order"]) == {"first", "total", "second", "aggregated_first",
                                "aggregated_total"}
    assert df["low"].isna().all()  # exact indices: no confidence intervals
    second = df[(df["order"] == "second") & (df["output"] == "V[3]")]
    assert second.set_index(["input", "input_j"]).loc[("x1", "x3"), "value"] > 0.01
    assert "<" in s._repr_html_() and repr(s).startswith("SobolResult(method='pce'")
    s.plot()
    plt.close("all")


def test_validate_constant_output_gives_nan_not_inf():
    """A validation output with zero variance has no relative error or Q^2 (NaN)."""
    X = np.random.default_rng(0).random((40, 2))
    Y = np.column_stack([X[:, 0] + X[:, 1], np.ones(40)])
    pce = uqkit.fit_pce(parameters=uqkit.Parameters(a=uqkit.Uniform(0, 1),
                                                    b=uqkit.Uniform(0, 1)),
                        X=X, Y=Y, degree=1, method="ols")
    table = pce.validate(X, Y)
    assert np.isnan(table["relative_error"].iloc[1]) and np.isnan(table["q2"].iloc[1])
    assert table["rmse"].iloc[1] < 1e-12 and table["relative_error"].iloc[0] < 1e-10
