"""UMBridgeModel against the official server (umbridge.serve_models) and a fault server
(RELIABILITY H1-H6, C5, security 7)."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import uqkit

pytest.importorskip("umbridge")
FAKESIM = Path(__file__).parent / "fakesim"
sys.path.insert(0, str(FAKESIM))
import umbridge_fault_server  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, within: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read()!r}")
        try:
            urllib.request.urlopen(url + "/Info", timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


@pytest.fixture(scope="module")
def reference_server():
    """The official umbridge Python server, 4 workers, on 127.0.0.1."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(FAKESIM / "umbridge_ref_server.py"), str(port),
                             "4"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()


@pytest.fixture
def faults():
    server = umbridge_fault_server.start()
    yield server
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------- the official server
def test_names_default_from_sizes_and_values_match(reference_server):
    model = uqkit.UMBridgeModel(reference_server)
    assert model.inputs == ("x0", "x1", "x2") and model.outputs == ("y0", "y1")
    assert model.input_sizes == [2, 1] and model.vectorized
    X = np.array([[1.0, 2.0, 3.0], [0.1, 0.2, -1.5], [5e-324, 1e308, 0.0]])
    expected = np.column_stack([X[:, 0] + X[:, 1] * X[:, 2], X[:, 0] * X[:, 1]])
    np.testing.assert_array_equal(model(X), expected)  # bit-exact through JSON
    model.close()


def test_custom_names_config_and_errors_at_construction(reference_server):
    model = uqkit.UMBridgeModel(reference_server, inputs=["k", "g", "t"],
                                outputs=["v", "w"], config={"scale": 2.0})
    np.testing.assert_array_equal(model([[1.0, 2.0, 3.0]]), [[14.0, 4.0]])
    assert model.identity != uqkit.UMBridgeModel(reference_server).identity
    with pytest.raises(uqkit.InvalidParameterError, match="3 names"):
        uqkit.UMBridgeModel(reference_server, inputs=["a", "b"])
    with pytest.raises(uqkit.InvalidParameterError, match="one of the server's models"):
        uqkit.UMBridgeModel(reference_server, "backward")
    with pytest.raises(uqkit.InvalidParameterError, match="URL"):
        uqkit.UMBridgeModel("ftp://example.org")


def test_unreachable_server_is_a_clear_error():
    port = _free_port()
    t0 = time.monotonic()
    with pytest.raises(uqkit.InvalidParameterError, match="ConnectionRefused"):
        uqkit.UMBridgeModel(f"http://127.0.0.1:{port}", retries=1, backoff=0.01)
    assert time.monotonic() - t0 < 5


def test_through_runner_with_store_and_pickling(reference_server, tmp_path):
    model = uqkit.UMBridgeModel(reference_server)
    X = np.random.default_rng(1).uniform(size=(20, 3))
    with uqkit.Runner(store=tmp_path / "s.sqlite") as runner:
        ev = runner.evaluate(model, X)
        assert ev.n_new == 20 and ev.ok.all()
        assert runner.evaluate(model, X).n_new == 0
    clone = pickle.loads(pickle.dumps(model))  # noqa: TID251 (our own objects, not stored data)
    np.testing.assert_array_equal(clone(X[:3]), ev.Y[:3])
    with uqkit.Runner(executor=2) as runner:
        np.testing.assert_array_equal(runner.evaluate(model, X).Y, ev.Y)


def test_batch_threads_return_to_baseline(reference_server):
    model = uqkit.UMBridgeModel(reference_server, max_concurrency=4)
    before = threading.active_count()
    model(np.ones((16, 3)))
    assert threading.active_count() <= before


# ---------------------------------------------------------------- faults (H1-H5, C5)
def _fail(model, row):
    with pytest.raises(uqkit.EvaluationFailure) as info:
        model([row])
    return info.value


def test_h1_invalid_input_not_retried(faults):
    model = uqkit.UMBridgeModel(faults.url, retries=3, backoff=0.01)
    exc = _fail(model, [1.0, 0.0])
    assert exc.kind == "invalid_input" and not exc.retryable and "x0 < 2" in str(exc)
    assert faults.calls[(1.0, 0.0)] == 1


def test_h2_non_json_500_retried_then_recorded(faults):
    model = uqkit.UMBridgeModel(faults.url, retries=2, backoff=0.01)
    assert model([[2.0, 2.0]])[0, 0] == 4.0  # two 500s, then success on the 3rd attempt
    assert faults.calls[(2.0, 2.0)] == 3
    exc = _fail(model, [2.0, 10.0])  # always 500 within 3 attempts
    assert exc.kind == "http_error" and exc.details["status"] == 500
    assert "Bad Gateway" in exc.details["body_tail"] and exc.details["attempts"] == 3
    assert faults.calls[(2.0, 10.0)] == 3


def test_json_500_is_a_model_failure_not_retried(faults):
    exc = _fail(uqkit.UMBridgeModel(faults.url, backoff=0.01), [7.0, 0.0])
    assert exc.kind == "http_error" and "solver blew up" in str(exc)
    assert faults.calls[(7.0, 0.0)] == 1


def test_h3_read_timeout_fires_without_leaks(faults):
    model = uqkit.UMBridgeModel(faults.url, timeout=(2.0, 0.5))
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    t0 = time.monotonic()
    exc = _fail(model, [3.0, 0.0])
    assert exc.kind == "timeout" and time.monotonic() - t0 < 3
    assert model([[0.0, 1.5]])[0, 0] == 1.5  # the client still works
    model.close()
    assert threading.active_count() <= threads  # none leaked (others may have ended)
    assert len(os.listdir("/proc/self/fd")) <= fds


def test_h4_bare_nan_and_infinity_tokens(faults, tmp_path):
    model = uqkit.UMBridgeModel(faults.url)
    Y = model([[4.0, -1.0], [4.0, 1.0]])
    assert np.isnan(Y[0, 0]) and Y[1, 0] == -np.inf
    ev = uqkit.Runner(on_failure="nan").evaluate(model, [[4.0, -1.0], [0.5, 0.5]])
    assert list(ev.status) == ["nonfinite", "ok"]


def test_h5_output_size_mismatch(faults):
    exc = _fail(uqkit.UMBridgeModel(faults.url), [5.0, 0.0])
    assert exc.kind == "shape_mismatch" and "[2] vs declared [1]" in str(exc)


def test_dropped_connection_is_retried(faults):
    model = uqkit.UMBridgeModel(faults.url, retries=2, backoff=0.01)
    assert model([[6.0, 1.0]])[0, 0] == 7.0
    assert faults.calls[(6.0, 1.0)] == 2


def test_failing_row_in_a_batch_is_isolated_by_the_runner(faults):
    model = uqkit.UMBridgeModel(faults.url, backoff=0.01)
    X = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [5.0, 0.0]]
    ev = uqkit.Runner(on_failure="nan").evaluate(model, X)
    assert list(ev.status) == ["ok", "failed", "ok", "failed"]
    assert "invalid_input" in ev.errors[1] and "shape_mismatch" in ev.errors[3]


def test_h6_server_restart_mid_study():
    f = uqkit.as_model(lambda a, b: a + b, name="add")
    port = _free_port()
    server = uqkit.serve(f, port=port, block=False)
    model = uqkit.UMBridgeModel(server.url, retries=5, backoff=0.1)
    X = np.arange(20.0).reshape(10, 2)
    np.testing.assert_array_equal(model(X[:5])[:, 0], X[:5].sum(axis=1))
    server.close()  # the server goes away; keep-alive connections are now stale
    restarted = []
    timer = threading.Timer(0.3, lambda: restarted.append(
        uqkit.serve(f, port=port, block=False)))
    timer.start()
    try:
        np.testing.assert_array_equal(model(X[5:])[:, 0], X[5:].sum(axis=1))
    finally:
        timer.join()
        for s in restarted:
            s.close()


# ---------------------------------------------------------------- security 7: TLS, timeouts
def test_https_verifies_certificates_by_default(tmp_path):
    import shutil
    import ssl

    if shutil.which("openssl") is None:
        pytest.skip("openssl not available to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = umbridge_fault_server.start()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    url = server.url.replace("http://", "https://")
    try:
        t0 = time.monotonic()
        with pytest.raises(uqkit.InvalidParameterError, match="CERTIFICATE_VERIFY_FAILED"):
            uqkit.UMBridgeModel(url, retries=3, backoff=0.5)
        assert time.monotonic() - t0 < 1.5  # not retried: a bad certificate does not heal
        trusted = ssl.create_default_context(cafile=str(cert))
        model = uqkit.UMBridgeModel(url, ssl_context=trusted)
        assert model([[0.25, 0.5]])[0, 0] == 0.75
    finally:
        server.shutdown()
        server.server_close()


def test_every_request_has_a_timeout():
    import inspect

    default = inspect.signature(uqkit.UMBridgeModel).parameters["timeout"].default
    assert all(0 < t < float("inf") for t in default)
    with pytest.raises(uqkit.InvalidParameterError):
        uqkit.UMBridgeModel("http://127.0.0.1:1", timeout=None)
