"""uqkit.Chain: multiscale composition, links, replacement by a surrogate."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

import uqkit
from uqkit import parsers

FAKESIM = Path(__file__).parent / "fakesim"


def _cell(g_na, g_k):
    return 200.0 + 10 * g_k - 5 * g_na, g_na / (1 + g_k)  # apd, peak current


def _tissue(apd, D):
    return D / apd * 1e3  # conduction-velocity-like output


@pytest.fixture
def steps():
    cell = uqkit.as_model(_cell, outputs=["apd", "i_peak"], name="cell")
    tissue = uqkit.as_model(_tissue, outputs=["cv"], name="tissue")
    return cell, tissue


def test_outputs_feed_inputs_of_the_same_name(steps):
    chain = uqkit.Chain(*steps)
    assert chain.inputs == ("g_na", "g_k", "D") and chain.outputs == ("apd", "i_peak", "cv")
    assert list(chain.steps) == ["cell", "tissue"]
    X = np.array([[1.0, 2.0, 0.5], [3.0, 0.5, 2.0]])
    apd = 200 + 10 * X[:, 1] - 5 * X[:, 0]
    expected = np.column_stack([apd, X[:, 0] / (1 + X[:, 1]), X[:, 2] / apd * 1e3])
    np.testing.assert_allclose(chain(X), expected, rtol=1e-15)
    assert isinstance(chain, uqkit.Model) and not chain.vectorized


def test_links_map_names(steps):
    cell, _ = steps
    tissue = uqkit.as_model(lambda duration, D: D / duration * 1e3, outputs=["cv"],
                            name="tissue")
    chain = uqkit.Chain(cell, tissue, links={"duration": "apd"})
    assert chain.inputs == ("g_na", "g_k", "D")
    np.testing.assert_allclose(chain([[1.0, 2.0, 0.5]])[0, 2], 0.5 / 215 * 1e3, rtol=1e-15)
    with pytest.raises(uqkit.InvalidParameterError, match="links"):
        uqkit.Chain(cell, tissue, links={"duration": "nope"})
    with pytest.raises(uqkit.InvalidParameterError, match="links"):
        uqkit.Chain(cell, tissue, links={"not_an_input": "apd"})


def test_invalid_chains(steps):
    cell, tissue = steps
    with pytest.raises(uqkit.InvalidParameterError, match="distinct output"):
        uqkit.Chain(cell, cell)
    with pytest.raises(uqkit.InvalidParameterError):
        uqkit.Chain()
    with pytest.raises(uqkit.InvalidParameterError):
        uqkit.Chain(cell, "not a model")


def test_replace_step_by_surrogate(steps):
    chain = uqkit.Chain(*steps)
    surrogate = uqkit.as_model(lambda g_na, g_k: (210.0, 0.0), outputs=["apd", "i_peak"],
                               name="cell_surrogate")
    fast = chain.replace("cell", surrogate)
    assert fast.inputs == ("g_na", "g_k", "D") and fast.outputs == chain.outputs
    np.testing.assert_allclose(fast([[1.0, 2.0, 0.42]]), [[210.0, 0.0, 0.42 / 210 * 1e3]])
    assert fast.identity != chain.identity
    assert chain.steps["cell"] is steps[0]  # the original chain is unchanged
    with pytest.raises(uqkit.InvalidParameterError, match="outputs"):
        chain.replace("cell", uqkit.as_model(lambda g_na: g_na, outputs=["apd"]))
    with pytest.raises(uqkit.InvalidParameterError, match="one of"):
        chain.replace("heart", surrogate)


def test_chain_of_command_model_and_function_through_runner(tmp_path):
    cell = uqkit.CommandModel(
        [sys.executable, str(FAKESIM / "sim.py")], inputs=["a", "b", "fault"],
        outputs=["y1", "y2"], files={"in.json": '{"a": {{a}}, "b": {{b}}, "fault": {{fault}}}'},
        parse=parsers.json("out.json"), workdir=tmp_path, name="cell")
    organ = uqkit.as_model(lambda y1, y2, c: c * (y1 - y2), outputs=["z"], name="organ")
    chain = uqkit.Chain(cell, organ)
    assert chain.inputs == ("a", "b", "fault", "c")
    X = np.array([[1.0, 2.0, 0, 3.0], [0.5, 0.5, 0, -1.0], [1.0, 2.0, 1, 1.0]])
    with uqkit.Runner(executor=2, on_failure="nan") as runner:
        ev = runner.evaluate(chain, X)
    np.testing.assert_allclose(ev.Y[:2], [[3.0, 2.0, 3.0], [1.0, 0.25, -0.75]])
    assert list(ev.status) == ["ok", "ok", "failed"]
    assert "step 'cell'" in ev.errors[2] and "nonzero_exit" in ev.errors[2]
    clone = pickle.loads(cloudpickle.dumps(chain))  # noqa: TID251 (our own objects, not stored data)
    assert clone.identity == chain.identity


def test_nonfinite_intermediate_stops_the_row(steps):
    cell = uqkit.as_model(lambda g: float("nan"), outputs=["apd"], name="cell")
    tissue = uqkit.as_model(lambda apd, D: apd * D, outputs=["cv"], name="tissue")
    with pytest.raises(uqkit.EvaluationFailure, match="step 'tissue'.*non-finite"):
        uqkit.Chain(cell, tissue)([[1.0, 2.0]])


def test_vectorized_when_every_step_is():
    a = uqkit.as_model(lambda X: X[:, 0] * 2, inputs=["x"], outputs=["u"], vectorized=True)
    b = uqkit.as_model(lambda X: X[:, 0] + X[:, 1], inputs=["u", "w"], outputs=["v"],
                       vectorized=True)
    chain = uqkit.Chain(a, b)
    assert chain.vectorized
    np.testing.assert_array_equal(chain(np.array([[1.0, 1.0], [2.0, 0.0]])),
                                  [[2.0, 3.0], [4.0, 4.0]])
    assert "<table>" in chain._repr_html_()
