"""Serve uqkit models over the UM-Bridge protocol 1.0 (standard library HTTP server).

Unlike the reference Python server (``umbridge.serve_models``, which binds all
interfaces with no body limit and answers a model exception with a bare 500),
this server binds 127.0.0.1 by default and warns for any other host, caps
request bodies (413), supports a bearer token, answers every error with a
UM-Bridge JSON error body, and refuses non-finite outputs explicitly
(tests/test_umbridge_server.py::test_h7_conformity_errors and
::test_loopback_default_and_body_cap).

Under load and abuse (tests/test_server_abuse.py):

- connections wait in a listen backlog of 256 and are served by a pool of
  ``workers`` threads; beyond ``workers + 256`` connections in progress a new
  one gets 503 at once. Each connection serves one request (``Connection:
  close``), so idle keep-alive clients hold no thread;
- a request must arrive within ``read_timeout`` seconds (408 otherwise), so
  slow clients hold a thread for a bounded time, and bodies are read only by
  pool threads: memory for bodies stays below ``workers * max_body``;
- malformed JSON, 100,000 levels of nesting and numbers too large for a double
  get 400 with a JSON error body;
- a client that disconnects while its evaluation runs has its simulator stopped
  (command models; a Python function runs to its end);
- errors are logged one line each, at most 10 a second.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any

import numpy as np

from uqkit._errors import EvaluationFailure, InvalidParameterError, UQKitWarning
from uqkit._validation import check_int, check_real, fail

from ._httpserver import _Server
from ._process import cancel_on
from ._protocol import check_model

__all__ = ["serve", "UMBridgeServer"]

_log = logging.getLogger("uqkit.serve")
_FUNC = "serve"
_UNSUPPORTED = ("/Gradient", "/ApplyJacobian", "/ApplyHessian", "/EvaluateShMem",
                "/GradientShMem", "/ApplyJacobianShMem", "/ApplyHessianShMem", "/TestShMem")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "uqkit-umbridge"
    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.read_timeout  # socket timeout for every read
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        _log.debug("%s - " + format, self.address_string(), *args)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        self.server.log_error("%s - " + format, self.address_string(), *args)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except TimeoutError:  # headers or body too slow
            self.close_connection = True
            self.server.log_error("%s - request not received within %g s",
                                  self.address_string(), self.server.read_timeout)
            try:
                self._error(408, "InvalidInput", "request not received within "
                            f"{self.server.read_timeout:g} s")
            except OSError:
                pass
        except OSError as exc:  # reset or broken pipe: the client went away
            self.close_connection = True
            self.server.log_error("%s - connection lost: %s", self.address_string(),
                                  type(exc).__name__)
        # one request per connection: an idle keep-alive client holds no pool thread
        self.close_connection = True

    # ------------------------------------------------------------- responses
    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, allow_nan=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, etype: str, message: str) -> None:
        self._send(status, {"error": {"type": etype, "message": message}})

    def _authorized(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        given = self.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(),
                                                               token.encode()):
            return True
        self.close_connection = True
        self._error(401, "Unauthorized", "missing or wrong bearer token")
        return False

    # ------------------------------------------------------------- routes
    def do_GET(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        if self.path.rstrip("/") == "/Info":
            self._send(200, {"protocolVersion": 1.0, "models": list(self.server.models)})
        else:
            self._error(404, "NotFound", f"no GET route {self.path}")

    def do_HEAD(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._error(411, "InvalidInput", "a Content-Length header is required")
            return
        if int(length) > self.server.max_body:
            self.close_connection = True  # the body is not read: drop the connection
            self._error(413, "InvalidInput", f"request body of {length} bytes exceeds the "
                        f"limit of {self.server.max_body} bytes")
            return
        raw = self.rfile.read(int(length))
        path = self.path.rstrip("/")
        try:
            req = json.loads(raw) if raw.strip() else {}
        except RecursionError:
            self._error(400, "InvalidInput", "request body is nested too deeply")
            return
        except ValueError as exc:
            self._error(400, "InvalidInput", f"request body is not JSON: {str(exc)[:200]}")
            return
        if not isinstance(req, dict):
            self._error(400, "InvalidInput", "request body must be a JSON object")
            return
        model = self.server.models.get(req.get("name"))
        if path in ("/ModelInfo", "/InputSizes", "/OutputSizes", "/Evaluate", *_UNSUPPORTED):
            if model is None:
                self._error(400, "ModelNotFound", f"model {req.get('name')!r} not found; "
                            f"available: {list(self.server.models)}")
                return
        if path == "/ModelInfo":
            self._send(200, {"support": {"Evaluate": True, "Gradient": False,
                                         "ApplyJacobian": False, "ApplyHessian": False}})
        elif path == "/InputSizes":
            self._send(200, {"inputSizes": [len(model.inputs)]})
        elif path == "/OutputSizes":
            self._send(200, {"outputSizes": [len(model.outputs)]})
        elif path == "/Evaluate":
            self._evaluate(model, req)
        elif path in _UNSUPPORTED:
            self._error(400, "UnsupportedFeature", f"{path[1:]} is not supported by this model")
        else:
            self._error(404, "NotFound", f"no POST route {self.path}")

    def _evaluate(self, model: Any, req: dict[str, Any]) -> None:
        vectors = req.get("input")
        d = len(model.inputs)
        if (not isinstance(vectors, list) or len(vectors) != 1
                or not isinstance(vectors[0], list)):
            self._error(400, "InvalidInput", f"'input' must be a list of one vector of {d} "
                        f"numbers (input sizes [{d}])")
            return
        row = vectors[0]
        if len(row) != d:
            self._error(400, "InvalidInput", f"input parameter 0 has length {len(row)}; "
                        f"expected {d} ({', '.join(model.inputs)})")
            return
        try:
            values = [float(v) for v in row
                      if isinstance(v, (int, float)) and not isinstance(v, bool)]
        except OverflowError:
            values = []
        if len(values) != d or not all(math.isfinite(v) for v in values):
            self._error(400, "InvalidInput", "inputs must be finite numbers that fit a double")
            return
        try:
            with self.server.slots, cancel_on(self._watch_disconnect()):
                Y = np.asarray(model(np.asarray([values], dtype=float)), dtype=float)
        except EvaluationFailure as exc:
            if exc.kind == "invalid_input":
                self._error(400, "InvalidInput", f"{exc.kind}: {exc.message}")
            else:  # the classification travels to uqkit clients (extra fields, ignored by others)
                self._send(500, {"error": {"type": "ModelError",
                                           "message": f"{exc.kind}: {exc.message}",
                                           "kind": exc.kind, "retryable": bool(exc.retryable)}})
            return
        except InvalidParameterError as exc:
            self._error(400, "InvalidInput", str(exc))
            return
        except Exception as exc:  # a model bug must not kill the server
            self.server.log_error("model %r raised %s: %s", req.get("name"),
                                  type(exc).__name__, str(exc)[:200])
            self._error(500, "ModelError", f"{type(exc).__name__}: {str(exc)[:2000]}")
            return
        finally:
            self.server.unwatch(self.connection)
        m = len(model.outputs)
        if Y.shape != (1, m):
            self._error(500, "InvalidOutput", f"model returned shape {Y.shape}, expected (1, {m})")
            return
        bad = [name for name, v in zip(model.outputs, Y[0], strict=False) if not math.isfinite(v)]
        if bad:
            self._error(500, "InvalidOutput", f"non-finite outputs refused: "
                        f"{', '.join(f'{n}={Y[0][model.outputs.index(n)]}' for n in bad[:5])}")
            return
        self._send(200, {"output": [Y[0].tolist()]})

    def _watch_disconnect(self) -> threading.Event:
        return self.server.watch(self.connection)


class UMBridgeServer:
    """A running UM-Bridge server (returned by ``serve(..., block=False)``).

    Attributes
    ----------
    url : str
        ``http://host:port`` (the actual port when ``port=0`` was asked).
    """

    def __init__(self, models: dict[str, Any], host: str, port: int, token: str | None,
                 max_body: int, workers: int, read_timeout: float = 30.0) -> None:
        self._httpd = _Server((host, port), _Handler, workers, read_timeout)
        self._httpd.models = models
        self._httpd.token = token
        self._httpd.max_body = max_body
        self._httpd.slots = threading.BoundedSemaphore(workers)
        self.host = host
        self.port = self._httpd.server_address[1]
        self.url = f"http://{host if ':' not in host else f'[{host}]'}:{self.port}"
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        """Serve until :meth:`close` (from another thread) or KeyboardInterrupt."""
        self._httpd.serve_forever(poll_interval=0.2)

    def start(self) -> UMBridgeServer:
        self._thread = threading.Thread(target=self.serve_forever, name="uqkit-serve",
                                        daemon=True)
        self._thread.start()
        return self

    def wait(self) -> None:
        """Block until the server is closed (KeyboardInterrupt propagates)."""
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        """Stop serving and close the listening socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> UMBridgeServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"UMBridgeServer({self.url!r}, models={list(self._httpd.models)})"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(models: Any, *, host: str = "127.0.0.1", port: int = 4242, token: str | None = None,
          max_body: int = 16 * 2**20, workers: int | None = None, block: bool = True,
          read_timeout: float = 30.0, insecure: bool = False):
    """Serve uqkit models as a conformant UM-Bridge (protocol 1.0) server.

    Parameters
    ----------
    models : Model, sequence of Model or mapping of str to Model
        One model (served as ``"forward"``), several (served under their
        ``name``), or ``{name: model}``. A model with ``d`` inputs and ``m``
        outputs has UM-Bridge input sizes ``[d]`` and output sizes ``[m]``.
    host : str
        Interface to bind; default loopback. Any other host warns: the
        protocol has no encryption, so put TLS and the ``token`` in front.
    port : int
        TCP port (``0``: pick a free one; read it from the returned server).
    token : str, optional
        Require ``Authorization: Bearer <token>`` on every request (401 otherwise).
    max_body : int
        Largest accepted request body in bytes (413 beyond).
    workers : int, optional
        Requests served (and evaluations run) at the same time, default the
        number of CPUs. Memory for request bodies stays below
        ``workers * max_body``; further connections wait in the backlog.
    read_timeout : float
        Seconds a client has to send each part of its request (408 beyond).
    insecure : bool
        Allow a non-loopback ``host`` without a ``token``.
    block : bool
        Serve until interrupted (default), or start a background thread and
        return the :class:`UMBridgeServer`.

    Returns
    -------
    UMBridgeServer or None

    Warns
    -----
    UQKitWarning
        A non-loopback ``host``.

    Raises
    ------
    InvalidParameterError
        A non-loopback ``host`` without a ``token`` (unless ``insecure=True``).

    Notes
    -----
    Model failures come back as HTTP 500 JSON errors of type ``ModelError``
    (``InvalidInput`` 400 for bad inputs); NaN or infinite outputs are refused
    with ``InvalidOutput`` rather than sent as invalid JSON.

    Examples
    --------
    >>> import uqkit
    >>> f = uqkit.as_model(lambda a, b: a * b)
    >>> with uqkit.serve(f, port=0, block=False) as server:
    ...     remote = uqkit.UMBridgeModel(server.url)
    ...     remote([[2.0, 3.0]])
    array([[6.]])
    """
    if isinstance(models, Mapping):
        table = dict(models)
    elif isinstance(models, Sequence) and not isinstance(models, str):
        table = {}
        for mdl in models:
            mname = getattr(mdl, "name", None) or type(mdl).__name__
            if mname in table:
                fail(_FUNC, "models", "models with distinct names (or a mapping name -> model)",
                     mname)
            table[mname] = mdl
        if len(table) == 1:
            table = {"forward": next(iter(table.values()))}
    else:
        table = {"forward": models}
    if not table:
        fail(_FUNC, "models", "at least one model", models)
    for mname, mdl in table.items():
        if not isinstance(mname, str) or not mname:
            fail(_FUNC, "models", "non-empty string names", mname)
        check_model(mdl, _FUNC)
    if not isinstance(host, str) or not host:
        fail(_FUNC, "host", "an interface address such as '127.0.0.1'", host)
    port = check_int(_FUNC, "port", port, minimum=0)
    max_body = check_int(_FUNC, "max_body", max_body, minimum=1024)
    workers = check_int(_FUNC, "workers", workers if workers is not None else
                        (os.cpu_count() or 1), minimum=1)
    if token is not None and (not isinstance(token, str) or len(token) < 8):
        fail(_FUNC, "token", "a string of at least 8 characters", "<hidden>")
    read_timeout = check_real(_FUNC, "read_timeout", read_timeout, positive=True)
    if not _is_loopback(host) and token is None and not insecure:
        fail(_FUNC, "token", f"a bearer token when binding the non-loopback host {host!r}",
             None, "Set a token (uqkit serve: UQKIT_SERVE_TOKEN), bind 127.0.0.1, or pass "
             "insecure=True (--insecure) to serve anyone who can reach the port.")
    if not _is_loopback(host):
        warnings.warn(
            f"uqkit.serve binds {host!r}, reachable from other machines: UM-Bridge has no "
            "encryption; use a token and a TLS proxy, or keep the default 127.0.0.1.",
            UQKitWarning, stacklevel=2)
    server = UMBridgeServer(table, host, port, token, max_body, workers, read_timeout)
    if not block:
        return server.start()
    _log.info("serving %s at %s", list(table), server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return None
