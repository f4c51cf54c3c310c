"""Cache keys (RELIABILITY I1-I5)."""

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import subprocess_env

import uqkit
from uqkit.models import model_identity
from uqkit.runner import make_keys

GOLDEN = Path(__file__).parent / "reference" / "golden_keys.json"


def _golden():
    data = json.loads(GOLDEN.read_text())
    X = np.array([[float.fromhex(v) for v in p["x"]] for p in data["pairs"]])
    return data, X


def test_golden_keys_match_documented_recipe():
    """I1: 20 input -> key pairs, recomputed from the documented recipe with hashlib."""
    data, X = _golden()
    keys = make_keys(data["model_id"], X)
    assert [k.hex() for k in keys] == [p["key"] for p in data["pairs"]]
    for row, pair in zip(X, data["pairs"]):
        raw = b"uqkit-key-1\0" + data["model_id"].encode() + b"\0" + row.astype("<f8").tobytes()
        assert hashlib.sha256(raw).hexdigest() == pair["key"]


def test_golden_keys_same_in_another_process():
    """I1: the keys do not depend on the process (no hash randomisation)."""
    code = ("import json,sys;import numpy as np;from uqkit.runner import make_keys;"
            "d=json.load(open(sys.argv[1]));"
            "X=np.array([[float.fromhex(v) for v in p['x']] for p in d['pairs']]);"
            "print(','.join(k.hex() for k in make_keys(d['model_id'], X)))")
    out = subprocess.run([sys.executable, "-c", code, str(GOLDEN)], env=subprocess_env(
        PYTHONHASHSEED="123"), capture_output=True, text=True, check=True).stdout.strip()
    assert out.split(",") == [p["key"] for p in json.loads(GOLDEN.read_text())["pairs"]]


def test_negative_zero_folds_and_nan_rejected():
    """I2."""
    a, b = make_keys("m", np.array([[0.0, 1.0], [-0.0, 1.0]]))
    assert a == b
    model = uqkit.as_model(lambda x, y: x + y)
    with pytest.raises(ValueError, match="finite"):
        uqkit.evaluate(model, [[math.nan, 1.0]])
    with pytest.raises(ValueError, match="finite"):
        uqkit.evaluate(model, [[math.inf, 1.0]])


def test_one_ulp_apart_differs():
    """I3: nothing is rounded."""
    x = 0.1
    a, b = make_keys("m", np.array([[x], [math.nextafter(x, 1.0)]]))
    assert a != b


def _model(inputs=("a", "b"), name="m", version="1"):
    return uqkit.as_model(lambda X: X.sum(axis=1), inputs=inputs, vectorized=True, name=name,
                          version=version)


def test_identity_changes_with_names_model_and_version(tmp_path):
    """I4: renaming a parameter, changing the model id or the version changes the key;
    the order of a mapping of inputs does not."""
    base = model_identity(_model())["id"]
    assert model_identity(_model(inputs=("a", "c")))["id"] != base
    assert model_identity(_model(name="other"))["id"] != base
    assert model_identity(_model(version="2"))["id"] != base
    assert model_identity(_model())["id"] == base
    runner = uqkit.Runner(store=tmp_path / "s.db")
    e1 = runner.evaluate(_model(), {"a": [1.0, 2.0], "b": [3.0, 4.0]})
    e2 = runner.evaluate(_model(), {"b": [3.0, 4.0], "a": [1.0, 2.0]})
    assert e1.keys == e2.keys and e2.n_new == 0


def test_float32_widened_exactly():
    """I5: np.float32(0.1) is widened exactly, so it is a different input than 0.1."""
    a, b = make_keys("m", np.array([[np.float32(0.1)], [0.1]], dtype=float))
    assert a != b
    (c,) = make_keys("m", np.array([[np.float32(0.1)]], dtype=np.float32))
    assert c == a


def test_index_prefix_is_the_first_8_key_bytes():
    """The store's index key: the first 8 bytes of the SHA-256 key, big-endian signed."""
    from uqkit.runner._keys import key_array, key_prefixes

    data, X = _golden()
    keys = make_keys(data["model_id"], X)
    want = [int.from_bytes(k[:8], "big", signed=True) for k in keys]
    assert key_prefixes(key_array(keys)).tolist() == want
    assert any(w < 0 for w in want) and any(w > 0 for w in want)
    assert key_array(np.frombuffer(b"".join(keys), np.uint8)).shape == (len(keys), 32)
    with pytest.raises(ValueError, match="32-byte"):
        key_array([b"short"])


def test_model_without_inputs_has_one_key():
    (a, b) = make_keys("m", np.zeros((2, 0)))
    assert a == b == hashlib.sha256(b"uqkit-key-1\0m\0").digest()
