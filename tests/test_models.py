"""The Model protocol and as_model (RELIABILITY D3, D4 for callables)."""

import numpy as np
import pytest

import uqkit


def test_scalar_function_inputs_from_signature():
    @uqkit.as_model
    def f(k, D, scale=2.0):
        return k * D * scale

    assert f.inputs == ("k", "D") and f.outputs == ("y",) and not f.vectorized
    np.testing.assert_array_equal(f([[1.0, 2.0], [3.0, 4.0]]), [[4.0], [24.0]])
    assert isinstance(f, uqkit.Model)


def test_decorator_with_arguments_tuple_and_dict_outputs():
    @uqkit.as_model(outputs=("s", "p"), version="2")
    def g(a, b):
        return a + b, a * b

    @uqkit.as_model(outputs=("s", "p"))
    def h(a, b):
        return {"p": a * b, "s": a + b}

    X = np.array([[2.0, 3.0]])
    np.testing.assert_array_equal(g(X), [[5.0, 6.0]])
    np.testing.assert_array_equal(h(X), [[5.0, 6.0]])
    assert g.version == "2"


def test_explicit_inputs_call_positionally():
    m = uqkit.as_model(lambda *xs: sum(xs), inputs=("u", "v", "w"))
    np.testing.assert_array_equal(m([[1, 2, 3]]), [[6.0]])


def test_vectorized_and_vector_outputs():
    t = np.linspace(0, 1, 5)

    def series(X):
        return {"V": X[:, :1] * t, "peak": X[:, 0] * 2}

    m = uqkit.as_model(series, inputs=("a",), outputs={"V": 5, "peak": 1}, vectorized=True)
    assert m.outputs == ("V[0]", "V[1]", "V[2]", "V[3]", "V[4]", "peak")
    Y = m(np.array([[1.0], [2.0]]))
    np.testing.assert_allclose(Y[1], [*(2 * t), 4.0])
    assert uqkit.models.output_groups(m.outputs) == {"V": [0, 1, 2, 3, 4], "peak": [5]}

    @uqkit.as_model(outputs={"V": 3})
    def scalar_series(a):
        return np.arange(3) * a

    np.testing.assert_array_equal(scalar_series([[2.0]]), [[0.0, 2.0, 4.0]])


def test_as_model_argument_errors():
    with pytest.raises(ValueError, match="'inputs'"):
        uqkit.as_model(lambda X: X, vectorized=True)
    with pytest.raises(ValueError, match=r"\*args"):
        uqkit.as_model(lambda *a: 1)
    with pytest.raises(ValueError, match="identifier"):
        uqkit.as_model(lambda x: x, outputs=("bad name",))
    with pytest.raises(ValueError, match="callable"):
        uqkit.as_model(3)
    with pytest.raises(ValueError, match="positive integer"):
        uqkit.as_model(lambda x: x, outputs={"V": 0})


def test_lambdas_have_distinct_identities():
    from uqkit.models import model_identity

    a = uqkit.as_model(lambda x: x + 1)
    b = uqkit.as_model(lambda x: x + 2)
    assert model_identity(a)["id"] != model_identity(b)["id"]


# --- D3/D4: strict outputs, through the runner --------------------------------------------
BAD_OUTPUTS = [
    (lambda a: (1.0, 2.0), ("p", "q", "r"), "shape_mismatch", r"\(2,\) vs declared \(3,\)"),
    (lambda a: (1.0, 2.0, 3.0, 4.0), ("p", "q", "r"), "shape_mismatch", r"\(4,\) vs declared"),
    (lambda a: 1.0, ("p", "q", "r"), "shape_mismatch", r"shape \(\) vs declared \(3,\)"),
    (lambda a: None, ("y",), "wrong_type", "NoneType"),
    (lambda a: "1.0", ("y",), "wrong_type", "str"),
    (lambda a: 1 + 2j, ("y",), "wrong_type", "complex"),
    (lambda a: True, ("y",), "wrong_type", "bool"),
    (lambda a: np.array(["x"], dtype=object), ("y",), "wrong_type", "object"),
]


@pytest.mark.parametrize("func, outputs, kind, message", BAD_OUTPUTS)
def test_bad_outputs_are_failures_not_coercions(func, outputs, kind, message, tmp_path):
    model = uqkit.as_model(func, inputs=("a",), outputs=outputs)
    runner = uqkit.Runner(store=tmp_path / "s.db", on_failure="skip")
    ev = runner.evaluate(model, [[1.0]])
    assert not ev.ok[0] and ev.status[0] == "failed"
    assert ev.errors[0].startswith(kind)
    assert np.isnan(ev.Y).all()
    fails = runner.store.to_dataframe(failures=True)
    assert list(fails["kind"]) == [kind]
    assert fails["message"].str.contains(message).all()


def test_vectorized_wrong_shape_is_failure():
    model = uqkit.as_model(lambda X: X[:, :1].repeat(2, axis=1), inputs=("a", "b"),
                           outputs=("p", "q", "r"), vectorized=True)
    with pytest.raises(uqkit.ModelEvaluationError, match=r"\(2, 2\) vs expected \(2, 3\)"):
        uqkit.evaluate(model, [[1.0, 2.0], [3.0, 4.0]])


class _Minimal:
    """A hand-written model: only the protocol, no uqkit base class."""

    inputs = ("a", "b")
    outputs = ("y",)

    def __call__(self, X):
        return np.asarray(X).sum(axis=1, keepdims=True)


def test_any_protocol_object_is_a_model():
    ev = uqkit.evaluate(_Minimal(), [[1.0, 2.0]])
    assert ev.Y[0, 0] == 3.0
    with pytest.raises(ValueError, match="Model protocol"):
        uqkit.evaluate(object(), [[1.0]])
