"""uqkit.serve against the official client (umbridge.HTTPModel), the protocol conformity
cases of UM-Bridge's testing/protocol_conformity_1.0 (H7), security 3, and `uqkit serve`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import uqkit
from uqkit import parsers

umbridge = pytest.importorskip("umbridge")
requests = pytest.importorskip("requests")
FAKESIM = Path(__file__).parent / "fakesim"


def _model(a, b):
    if a < -100:
        raise ValueError("a below the stability limit")
    if a == -1:
        return float("nan"), 0.0
    return a + b, a * b


@pytest.fixture(scope="module")
def server():
    f = uqkit.as_model(_model, outputs=["s", "p"], name="toy")
    with uqkit.serve(f, port=0, block=False, workers=4) as srv:
        yield srv


# ---------------------------------------------------------------- the official client
def test_official_client_evaluates(server):
    client = umbridge.HTTPModel(server.url, "forward")
    assert client.get_input_sizes() == [2] and client.get_output_sizes() == [2]
    assert client.supports_evaluate() and not client.supports_gradient()
    assert client([[0.1, 0.2]]) == [[0.1 + 0.2, 0.1 * 0.2]]  # exact doubles over JSON


def test_official_client_sees_json_errors(server):
    client = umbridge.HTTPModel(server.url, "forward")
    with pytest.raises(Exception, match="InvalidOutput"):
        client([[-1.0, 2.0]])  # NaN output refused explicitly
    with pytest.raises(Exception, match="ModelError.*stability limit"):
        client([[-200.0, 2.0]])
    with pytest.raises(Exception, match="InvalidInput"):
        client([[1.0, 2.0, 3.0]])
    assert client([[1.0, 2.0]]) == [[3.0, 2.0]]  # the server survived


def test_command_model_served_and_used_remotely(tmp_path):
    cmd = uqkit.CommandModel(
        [sys.executable, str(FAKESIM / "sim.py")], inputs=["a", "b", "fault"],
        outputs=["y1", "y2"], files={"in.json": '{"a": {{a}}, "b": {{b}}, "fault": {{fault}}}'},
        parse=parsers.json("out.json"), workdir=tmp_path)
    with uqkit.serve(cmd, port=0, block=False) as srv:
        remote = uqkit.UMBridgeModel(srv.url)
        np.testing.assert_array_equal(remote([[1.5, 2.0, 0]]), [[3.5, 3.0]])
        with pytest.raises(uqkit.EvaluationFailure) as info:
            remote([[1.5, 2.0, 1]])
        assert "nonzero_exit" in str(info.value) and "exited with code 3" in str(info.value)
        assert info.value.kind == "nonzero_exit" and info.value.retryable  # kept end to end
        assert umbridge.HTTPModel(srv.url, "forward")([[1.0, 1.0, 0.0]]) == [[2.0, 1.0]]


def test_several_models_by_name():
    add = uqkit.as_model(lambda a, b: a + b, name="add")
    mul = uqkit.as_model(lambda a, b: a * b, name="mul")
    with uqkit.serve([add, mul], port=0, block=False) as srv:
        assert umbridge.supported_models(srv.url) == ["add", "mul"]
        assert uqkit.UMBridgeModel(srv.url, "mul")([[3.0, 4.0]])[0, 0] == 12.0


# ---------------------------------------------------------------- H7: protocol conformity
def _schema_error(resp, etype):
    """The error schema of protocol_conformity_1.0 (additionalProperties: false)."""
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == etype and isinstance(body["error"]["message"], str)


def test_h7_conformity_evaluate(server):
    url = server.url
    info = requests.get(f"{url}/Info")
    assert info.status_code == 200 and info.json()["protocolVersion"] == 1.0
    name = info.json()["models"][0]
    assert requests.post(f"{url}/ModelInfo", json={"name": name}).json()["support"]["Evaluate"]
    sizes = requests.post(f"{url}/InputSizes", json={"name": name}).json()["inputSizes"]
    body = {"input": [[0.5] * s for s in sizes], "name": name, "config": {}}
    resp = requests.post(f"{url}/Evaluate", data=json.dumps(body, indent=4))
    assert resp.status_code == 200
    # the conformity schema: {"output": array (minItems 1) of arrays (minItems 1) of numbers},
    # no other property
    out = resp.json()
    assert set(out) == {"output"} and isinstance(out["output"], list) and out["output"]
    for vec in out["output"]:
        assert isinstance(vec, list) and vec
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vec)
    out_sizes = requests.post(f"{url}/OutputSizes", json={"name": name}).json()["outputSizes"]
    assert [len(v) for v in out["output"]] == out_sizes


def test_h7_conformity_errors(server):
    url = server.url
    resp = requests.post(f"{url}/Evaluate", json={"name": "wrong_model_name"})
    assert resp.status_code == 400
    _schema_error(resp, "ModelNotFound")
    body = {"input": [[0.5] * 3], "name": "forward", "config": {}}
    resp = requests.post(f"{url}/Evaluate", data=json.dumps(body, indent=4))
    assert resp.status_code == 400
    _schema_error(resp, "InvalidInput")
    for route in ("Gradient", "ApplyJacobian", "ApplyHessian"):
        resp = requests.post(f"{url}/{route}", json={"name": "forward"})
        assert resp.status_code == 400
        _schema_error(resp, "UnsupportedFeature")
    resp = requests.post(f"{url}/Evaluate", data=b"{not json", headers={
        "Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"]["type"] == "InvalidInput"
    resp = requests.post(f"{url}/Evaluate", data=b'{"name": "forward", "input": [[NaN, 0]]}')
    assert resp.status_code == 400  # non-finite inputs refused


# ---------------------------------------------------------------- security 3
def test_loopback_default_and_body_cap():
    f = uqkit.as_model(lambda a, b: a + b)
    with uqkit.serve(f, port=0, block=False, max_body=4096) as srv:
        assert srv._httpd.server_address[0] == "127.0.0.1" and srv.host == "127.0.0.1"
        resp = requests.post(f"{srv.url}/Evaluate", data=b"x" * 10_000)
        assert resp.status_code == 413 and "exceeds" in resp.json()["error"]["message"]
        assert requests.post(f"{srv.url}/Evaluate", json={
            "name": "forward", "input": [[1.0, 2.0]]}).json() == {"output": [[3.0]]}


def test_non_loopback_host_warns(monkeypatch):
    import uqkit.models._server as server_module

    bound = []

    class _NoBind:  # never bind a public interface in tests: record the request instead
        def __init__(self, models, host, port, *args):
            bound.append(host)

        def start(self):
            return self

    monkeypatch.setattr(server_module, "UMBridgeServer", _NoBind)
    f = uqkit.as_model(lambda a, b: a + b)
    with pytest.warns(uqkit.UQKitWarning, match="reachable from other machines"):
        uqkit.serve(f, host="0.0.0.0", port=0, block=False, token="s3cret-token")
    assert bound == ["0.0.0.0"]
    with pytest.raises(uqkit.InvalidParameterError, match="token"):  # H8: no open server
        uqkit.serve(f, host="0.0.0.0", port=0, block=False)
    assert bound == ["0.0.0.0"]
    with pytest.warns(uqkit.UQKitWarning, match="reachable from other machines"):
        uqkit.serve(f, host="0.0.0.0", port=0, block=False, insecure=True)
    assert bound == ["0.0.0.0"] * 2


def test_bearer_token():
    f = uqkit.as_model(lambda a, b: a + b)
    with uqkit.serve(f, port=0, block=False, token="s3cret-token") as srv:
        assert requests.get(f"{srv.url}/Info").status_code == 401
        assert requests.get(f"{srv.url}/Info", headers={
            "Authorization": "Bearer wrong-token"}).status_code == 401
        with pytest.raises(uqkit.InvalidParameterError):
            uqkit.UMBridgeModel(srv.url, retries=0)
        remote = uqkit.UMBridgeModel(srv.url, token="s3cret-token")
        assert remote([[1.0, 2.0]])[0, 0] == 3.0


def test_invalid_serve_arguments():
    f = uqkit.as_model(lambda a, b: a + b)
    for kw in (dict(port=-1), dict(token="short"), dict(max_body=10), dict(workers=0)):
        with pytest.raises(uqkit.InvalidParameterError):
            uqkit.serve(f, block=False, **kw)
    with pytest.raises(uqkit.InvalidParameterError):
        uqkit.serve(object(), port=0, block=False)


# ---------------------------------------------------------------- the command line
def test_uqkit_serve_command_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(uqkit.__file__).parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uqkit.cli", "serve",
         f"{FAKESIM / 'umbridge_served_model.py'}:model", "--port", "0", "--name", "diffprod"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = proc.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        remote = uqkit.UMBridgeModel(url, "diffprod")
        assert remote.outputs == ("y0", "y1")
        np.testing.assert_array_equal(remote([[5.0, 3.0]]), [[2.0, 15.0]])
        assert umbridge.HTTPModel(url, "diffprod")([[2.0, 0.5]]) == [[1.5, 1.0]]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        proc.stderr.close()
    bad = subprocess.run([sys.executable, "-m", "uqkit.cli", "serve", "nope_module_x:model"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert bad.returncode == 2 and "cannot load" in bad.stderr
