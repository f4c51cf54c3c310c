"""Client for models served over the UM-Bridge protocol 1.0 (standard library only).

The reference client (``umbridge.HTTPModel``) sends one request at a time,
sets no timeout and turns every error into a bare ``Exception``. This client
keeps a small pool of keep-alive connections, sends a batch's rows
concurrently, has separate connect and read timeouts (security 7), retries
connection errors and non-JSON 5xx answers with backoff (H2, H6) and maps the
protocol's JSON errors to classified :class:`uqkit.EvaluationFailure`.
"""

from __future__ import annotations

import http.client
import json
import queue
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from uqkit._errors import EvaluationFailure, InvalidParameterError
from uqkit._validation import as_2d_float, check_int, check_names, check_real, fail

from ._protocol import expand_outputs

__all__ = ["UMBridgeModel"]

_FUNC = "UMBridgeModel"
_CONNECTION_ERRORS = (ConnectionError, http.client.RemoteDisconnected,
                      http.client.IncompleteRead, http.client.BadStatusLine, BrokenPipeError)


class _HTTPError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class UMBridgeModel:
    """A model served over UM-Bridge (protocol 1.0) as a :class:`uqkit.Model`.

    Parameters
    ----------
    url : str
        Server address, e.g. ``"http://127.0.0.1:4242"``. HTTPS certificates
        are verified.
    name : str
        Model name on the server (default ``"forward"``).
    inputs, outputs : sequence of str, optional
        Names of the flattened input and output vectors; default ``x0, x1, ...``
        and ``y0, y1, ...`` from ``/InputSizes`` and ``/OutputSizes``. ``outputs``
        may be a mapping ``{"V": 200}`` like :func:`uqkit.as_model`.
    config : mapping, optional
        The model's ``config`` object, sent with every request.
    timeout : float or (float, float)
        Connect and read timeouts in seconds (one number sets both).
    retries : int
        Retries of an evaluation after a connection error, a reset, or a 5xx
        answer without a JSON body (default 3), with exponential ``backoff``.
    max_concurrency : int
        Rows of a batch sent at the same time (default 8).
    token : str, optional
        Bearer token sent in the ``Authorization`` header (see :func:`uqkit.serve`).
    ssl_context : ssl.SSLContext, optional
        For ``https://`` URLs (default: ``ssl.create_default_context()``, which
        verifies the certificate and host name). Pass a context that trusts
        your own certificate authority rather than disabling verification.

    Raises
    ------
    InvalidParameterError
        The server is unreachable, speaks another protocol version, does not
        have ``name``, does not support Evaluate, or the names do not match the
        sizes.

    Notes
    -----
    Failures: HTTP 400 ``InvalidInput`` is ``invalid_input`` (not retried);
    other JSON errors are ``http_error``; a read timeout is ``timeout``; outputs
    whose sizes differ from ``/OutputSizes`` are ``shape_mismatch``. Bare
    ``NaN``/``Infinity`` tokens are parsed and left to the runner's non-finite
    policy. ``vectorized`` is True: the runner hands whole batches, sent
    concurrently; the first failing row fails the batch and the runner
    evaluates its rows one by one.

    Examples
    --------
    >>> model = uqkit.UMBridgeModel("http://127.0.0.1:4242")  # doctest: +SKIP
    >>> model([[0.1, 0.2]])                                   # doctest: +SKIP
    """

    vectorized = True

    def __init__(self, url: str, name: str = "forward", *, inputs: Sequence[str] | None = None,
                 outputs: Sequence[str] | Mapping[str, int] | None = None,
                 config: Mapping[str, Any] | None = None,
                 timeout: float | tuple[float, float] = (10.0, 3600.0), retries: int = 3,
                 backoff: float = 0.2, max_concurrency: int = 8,
                 token: str | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        if not isinstance(url, str):
            fail(_FUNC, "url", "an http:// or https:// URL", url)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            fail(_FUNC, "url", "an http:// or https:// URL", url)
        if not isinstance(name, str) or not name:
            fail(_FUNC, "name", "a non-empty model name", name)
        if isinstance(timeout, (tuple, list)):
            if len(timeout) != 2:
                fail(_FUNC, "timeout", "a number or a (connect, read) pair", timeout)
            connect, read = timeout
        else:
            connect = read = timeout
        self.connect_timeout = check_real(_FUNC, "timeout", connect, positive=True)
        self.read_timeout = check_real(_FUNC, "timeout", read, positive=True)
        self.retries = check_int(_FUNC, "retries", retries, minimum=0)
        self.backoff = check_real(_FUNC, "backoff", backoff, nonnegative=True)
        self.max_concurrency = check_int(_FUNC, "max_concurrency", max_concurrency, minimum=1)
        if config is not None and not isinstance(config, Mapping):
            fail(_FUNC, "config", "a mapping (the UM-Bridge config object)", config)
        self.config = dict(config or {})
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            fail(_FUNC, "ssl_context", "an ssl.SSLContext", type(ssl_context).__name__)
        self._ssl_context = ssl_context
        self.url = url.rstrip("/")
        self.model_name = name
        self._token = token
        self._scheme, self._host = parts.scheme, parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        self._init_pool()
        try:
            self._handshake_all(name, inputs, outputs)
        except BaseException:
            self.close()
            raise

    def _handshake_all(self, name: str, inputs: Any, outputs: Any) -> None:
        # --- handshake (H: protocol version, model name, capabilities, sizes)
        info = self._handshake("GET", "/Info", None)
        if info.get("protocolVersion") != 1.0:
            fail(_FUNC, "url", "a server speaking UM-Bridge protocol 1.0",
                 f"protocolVersion {info.get('protocolVersion')!r} at {self.url}")
        models = info.get("models", [])
        if name not in models:
            fail(_FUNC, "name", f"one of the server's models {models}", name)
        support = self._handshake("POST", "/ModelInfo", {"name": name}).get("support", {})
        if not support.get("Evaluate", False):
            fail(_FUNC, "name", "a model that supports Evaluate", name)
        body = {"name": name, "config": self.config}
        self.input_sizes = [int(s) for s in
                            self._handshake("POST", "/InputSizes", body)["inputSizes"]]
        self.output_sizes_remote = [int(s) for s in
                                    self._handshake("POST", "/OutputSizes", body)["outputSizes"]]
        d, m = sum(self.input_sizes), sum(self.output_sizes_remote)
        if inputs is None:
            inputs = [f"x{i}" for i in range(d)]
        self.inputs = check_names(_FUNC, "inputs", inputs)
        if len(self.inputs) != d:
            fail(_FUNC, "inputs", f"{d} names (the server's input sizes {self.input_sizes})",
                 list(self.inputs))
        if outputs is None:
            outputs = [f"y{j}" for j in range(m)]
        self.outputs, self.output_sizes = expand_outputs(outputs, _FUNC)
        if len(self.outputs) != m:
            fail(_FUNC, "outputs", f"{m} columns (the server's output sizes "
                 f"{self.output_sizes_remote})", list(self.outputs))
        self.name = f"umbridge:{name}"
        self.version = None
        self.identity = (f"umbridge:{self.url}/{name}?config="
                         f"{json.dumps(self.config, sort_keys=True)}")

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        if self._ssl_context is not None:
            raise TypeError("an UMBridgeModel with a custom ssl_context cannot be pickled; "
                            "evaluate it with a thread executor or in process")
        return {k: v for k, v in self.__dict__.items() if k not in ("_pool", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_pool()

    def _init_pool(self) -> None:
        self._pool: queue.LifoQueue = queue.LifoQueue()
        self._lock = threading.Lock()
        # close pooled sockets when the model is garbage-collected (no ResourceWarning)
        weakref.finalize(self, _close_pool, self._pool)

    def close(self) -> None:
        """Close the pooled keep-alive connections."""
        _close_pool(self._pool)

    def __enter__(self) -> UMBridgeModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ HTTP
    def _connect(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.connect_timeout,
                context=self._ssl_context or ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(self._host, self._port,
                                              timeout=self.connect_timeout)
        conn.connect()
        conn.sock.settimeout(self.read_timeout)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _request(self, method: str, path: str, payload: Any) -> bytes:
        """One HTTP exchange on a pooled connection; raises _HTTPError for status >= 400."""
        try:
            conn = self._pool.get_nowait()
            fresh = False
        except queue.Empty:
            conn = self._connect()
            fresh = True
        headers = {"Connection": "keep-alive"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        data = None
        if payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        try:
            try:
                conn.request(method, self._prefix + path, body=data, headers=headers)
                resp = conn.getresponse()
            except _CONNECTION_ERRORS:
                conn.close()
                if fresh:
                    raise
                # a stale keep-alive connection (server restarted or closed it): reconnect once
                conn = self._connect()
                conn.request(method, self._prefix + path, body=data, headers=headers)
                resp = conn.getresponse()
            body = resp.read()
        except BaseException:
            conn.close()
            raise
        if resp.will_close:
            conn.close()
        else:
            self._pool.put(conn)
        if resp.status >= 400:
            raise _HTTPError(resp.status, body)
        return body

    def _handshake(self, method: str, path: str, payload: Any) -> dict[str, Any]:
        try:
            body = self._with_retries(method, path, payload)
        except EvaluationFailure as exc:
            raise InvalidParameterError(
                f"The 'url' parameter of {_FUNC} must point to a UM-Bridge server. "
                f"{path} at {self.url} failed: {exc.message}") from None
        try:
            out = json.loads(body)
        except ValueError:
            out = None
        if not isinstance(out, dict):
            raise InvalidParameterError(
                f"The 'url' parameter of {_FUNC} must point to a UM-Bridge server. "
                f"{path} at {self.url} returned no JSON object: {body[:200]!r}")
        return out

    def _with_retries(self, method: str, path: str, payload: Any) -> bytes:
        attempt = 0
        while True:
            try:
                return self._request(method, path, payload)
            except TimeoutError as exc:
                raise EvaluationFailure(
                    "timeout", f"{self.url}{path}: no answer within {self.read_timeout:g} s "
                    f"({exc or 'read timeout'})", retryable=True, url=self.url) from None
            except ssl.SSLError as exc:  # certificate problems do not heal with retries
                raise EvaluationFailure(
                    "connection_error", f"{self.url}{path}: TLS error: {exc}", retryable=False,
                    url=self.url) from None
            except _HTTPError as exc:
                err = _json_error(exc.body)
                if err is not None or exc.status < 500 or attempt >= self.retries:
                    raise self._http_failure(exc, err, attempt) from None
            except (OSError, *_CONNECTION_ERRORS) as exc:
                if attempt >= self.retries:
                    raise EvaluationFailure(
                        "connection_error", f"{self.url}{path}: {type(exc).__name__}: {exc} "
                        f"(after {attempt + 1} attempts)", retryable=True, url=self.url,
                        attempts=attempt + 1) from None
            attempt += 1
            time.sleep(self.backoff * 2 ** (attempt - 1))

    def _http_failure(self, exc: _HTTPError, err: dict | None, attempt: int):
        tail = exc.body[-2048:].decode("utf-8", errors="replace")
        if err is not None:
            etype, msg = str(err.get("type", "")), str(err.get("message", ""))
            kind, retryable = ("invalid_input" if etype == "InvalidInput" else "http_error"), False
            if etype == "ModelError" and isinstance(err.get("kind"), str) and err["kind"]:
                # a uqkit server: keep the remote classification (timeout, nonzero_exit...)
                kind, retryable = err["kind"], bool(err.get("retryable", False))
            return EvaluationFailure(
                kind, f"{self.url}: HTTP {exc.status} {etype}: {msg}", retryable=retryable,
                status=exc.status, error_type=etype, body_tail=tail)
        return EvaluationFailure(
            "http_error", f"{self.url}: HTTP {exc.status} without a JSON error body "
            f"(after {attempt + 1} attempts): {tail[-200:]!r}",
            retryable=exc.status >= 500, status=exc.status, body_tail=tail,
            attempts=attempt + 1)

    # ------------------------------------------------------------------ evaluation
    def evaluate_row(self, row: Sequence[float]) -> np.ndarray:
        """Evaluate one row (flat inputs) and return the flat outputs."""
        vectors, pos = [], 0
        for size in self.input_sizes:
            vectors.append([float(v) for v in row[pos:pos + size]])
            pos += size
        body = self._with_retries("POST", "/Evaluate", {
            "name": self.model_name, "input": vectors, "config": self.config})
        try:
            answer = json.loads(body)  # accepts bare NaN / Infinity tokens (H4)
        except ValueError:
            raise EvaluationFailure("parse_error", f"{self.url}/Evaluate returned invalid JSON: "
                                    f"{body[:200]!r}", retryable=False) from None
        if not isinstance(answer, dict) or "output" not in answer:
            raise EvaluationFailure("parse_error", f"{self.url}/Evaluate answer has no 'output':"
                                    f" {body[:200]!r}", retryable=False)
        output = answer["output"]
        if not isinstance(output, list) or not all(isinstance(v, list) for v in output):
            raise EvaluationFailure("wrong_type", f"{self.url}/Evaluate output is not a list of "
                                    f"lists: {output!r:.100}", retryable=False)
        sizes = [len(v) for v in output]
        if sizes != self.output_sizes_remote:
            raise EvaluationFailure(
                "shape_mismatch", f"{self.url}/Evaluate returned output sizes {sizes} vs "
                f"declared {self.output_sizes_remote} (/OutputSizes)", retryable=False)
        flat = [v for vec in output for v in vec]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
            raise EvaluationFailure("wrong_type", f"{self.url}/Evaluate returned non-numbers: "
                                    f"{output!r:.100}", retryable=False)
        return np.asarray(flat, dtype=float)

    def __call__(self, X: Any) -> np.ndarray:
        X = as_2d_float(self.name, "X", X, len(self.inputs))
        n = X.shape[0]
        out = np.empty((n, len(self.outputs)))
        rows = X.tolist()
        if n == 1 or self.max_concurrency == 1:
            for i, row in enumerate(rows):
                out[i] = self.evaluate_row(row)
            return out
        # a pool per batch: threads return to baseline when the batch ends (C5)
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, n),
                                thread_name_prefix="uqkit-umbridge") as pool:
            futures = [pool.submit(self.evaluate_row, row) for row in rows]
            try:
                for i, fut in enumerate(futures):
                    out[i] = fut.result()
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
        return out

    def __repr__(self) -> str:
        return (f"UMBridgeModel({self.url!r}, {self.model_name!r}, inputs={len(self.inputs)}, "
                f"outputs={len(self.outputs)})")


def _close_pool(pool: queue.LifoQueue) -> None:
    while True:
        try:
            pool.get_nowait().close()
        except queue.Empty:
            return


def _json_error(body: bytes) -> dict | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return data["error"]
    return None
