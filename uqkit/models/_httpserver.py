"""The HTTP server under :func:`uqkit.serve`: a bounded pool, a disconnect watcher and
rate-limited error logs (tests/test_server_abuse.py)."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import select
import socket
import socketserver
import threading
import time
from typing import Any

__all__ = ["_Server"]

_log = logging.getLogger("uqkit.serve")


class _RateLimitedLog:
    """At most ``per_second`` error lines a second; the rest are counted and reported."""

    def __init__(self, per_second: int = 10) -> None:
        self.per_second = per_second
        self.window = 0.0
        self.count = 0
        self.suppressed = 0
        self.lock = threading.Lock()

    def __call__(self, message: str, *args: Any) -> None:
        with self.lock:
            now = time.monotonic()
            if now - self.window >= 1.0:
                if self.suppressed:
                    _log.warning("%d similar request errors not logged", self.suppressed)
                self.window, self.count, self.suppressed = now, 0, 0
            if self.count >= self.per_second:
                self.suppressed += 1
                return
            self.count += 1
        _log.warning(message, *args)



class _Server(socketserver.TCPServer):
    """Accepts on one thread, serves on a bounded pool, watches in-flight clients."""

    allow_reuse_address = True
    request_queue_size = 256  # listen backlog
    models: dict[str, Any]
    token: str | None
    max_body: int
    slots: threading.Semaphore

    def __init__(self, address, handler, workers: int, read_timeout: float) -> None:
        super().__init__(address, handler)
        self.read_timeout = read_timeout
        self.pool = cf.ThreadPoolExecutor(max_workers=workers,
                                          thread_name_prefix="uqkit-serve")
        self.pending = threading.BoundedSemaphore(workers + self.request_queue_size)
        self.log_error = _RateLimitedLog()
        self._watched: dict[socket.socket, threading.Event] = {}
        self._watch_lock = threading.Lock()
        self._closing = threading.Event()
        self._watcher = threading.Thread(target=self._watch_loop, name="uqkit-serve-watch",
                                         daemon=True)
        self._watcher.start()

    # -- bounded concurrency
    def process_request(self, request, client_address) -> None:
        if not self.pending.acquire(blocking=False):
            self.log_error("%s - too many connections: 503", client_address[0])
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\nRetry-After: 1\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            self.pool.submit(self._serve_one, request, client_address)
        except RuntimeError:  # pool shut down
            self.pending.release()
            self.shutdown_request(request)

    def _serve_one(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception as exc:  # never a traceback per request
            self.log_error("%s - %s: %s", client_address[0], type(exc).__name__,
                           str(exc)[:200])
        finally:
            self.shutdown_request(request)
            self.pending.release()

    def handle_error(self, request, client_address) -> None:
        self.log_error("%s - request failed", client_address[0])

    # -- disconnected clients
    def watch(self, conn: socket.socket) -> threading.Event:
        event = threading.Event()
        with self._watch_lock:
            self._watched[conn] = event
        return event

    def unwatch(self, conn: socket.socket) -> None:
        with self._watch_lock:
            self._watched.pop(conn, None)

    def _watch_loop(self) -> None:
        while not self._closing.is_set():
            with self._watch_lock:
                conns = list(self._watched)
            if not conns:
                self._closing.wait(0.1)
                continue
            try:
                readable, _, _ = select.select(conns, [], [], 0.1)
            except (OSError, ValueError):  # a socket closed meanwhile
                time.sleep(0.05)
                continue
            for conn in readable:
                try:
                    gone = conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
                except BlockingIOError:
                    gone = False
                except OSError:
                    gone = True
                with self._watch_lock:
                    event = self._watched.pop(conn, None)  # readable: look only once
                if gone and event is not None:
                    event.set()

    def server_close(self) -> None:
        self._closing.set()
        super().server_close()
        with self._watch_lock:
            for event in self._watched.values():
                event.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
