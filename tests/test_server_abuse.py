"""``uqkit.serve`` under load and abuse, bounded in count and time, on 127.0.0.1 only
(RELIABILITY H8)."""

from __future__ import annotations

import json
import logging
import select
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

import uqkit
from uqkit import parsers

FAKESIM = Path(__file__).parent / "fakesim"


def _request(body: bytes, path: str = "/Evaluate", method: str = "POST",
             headers: str = "") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\n{headers}\r\n").encode() + body


def _exchange(url: str, raw: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    host, port = url.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _evaluate(values) -> bytes:
    return _request(json.dumps({"name": "forward", "input": [values]}).encode())


@pytest.fixture
def server():
    f = uqkit.as_model(lambda a, b: a + b, name="sum")
    with uqkit.serve(f, port=0, block=False, workers=2, read_timeout=0.5) as srv:
        yield srv


def test_a_400_digit_integer_gets_400(server):
    raw = _request(b'{"name": "forward", "input": [[' + b"9" * 400 + b', 1.0]]}')
    status, body = _exchange(server.url, raw)
    assert status == 400 and b"InvalidInput" in body


def test_100000_levels_of_nesting_get_400(server):
    raw = _request(b'{"name": "forward", "input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    status, body = _exchange(server.url, raw)
    assert status == 400 and b"nested too deeply" in body
    assert _exchange(server.url, _evaluate([1.0, 2.0]))[0] == 200


def test_200_concurrent_requests_get_answers_not_resets(server):
    host, port = server.url.rsplit("/", 1)[1].split(":")
    socks = []
    for i in range(200):  # all connected before any answer is read: tests the backlog
        s = socket.create_connection((host, int(port)), timeout=30)
        s.sendall(_evaluate([float(i), 1.0]))
        socks.append(s)
    answers: dict[socket.socket, bytes] = {s: b"" for s in socks}
    open_socks = set(socks)
    deadline = time.monotonic() + 60
    while open_socks and time.monotonic() < deadline:
        readable, _, _ = select.select(list(open_socks), [], [], 1.0)
        for s in readable:
            chunk = s.recv(65536)  # a reset raises ConnectionResetError: the test fails
            if chunk:
                answers[s] += chunk
            else:
                open_socks.discard(s)
                s.close()
    assert not open_socks, f"{len(open_socks)} requests unanswered after 60 s"
    for i, s in enumerate(socks):
        head, _, body = answers[s].partition(b"\r\n\r\n")
        assert head.split()[1] == b"200", answers[s][:200]
        assert json.loads(body) == {"output": [[i + 1.0]]}


def test_slow_clients_hold_no_unbounded_threads(server):
    host, port = server.url.rsplit("/", 1)[1].split(":")
    before = threading.active_count()
    slow = []
    for _ in range(16):  # headers promising a body that never comes
        s = socket.create_connection((host, int(port)), timeout=30)
        s.sendall(b"POST /Evaluate HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        slow.append(s)
    time.sleep(0.3)
    assert threading.active_count() <= before + 2  # the pool's 2 threads at most
    t0 = time.monotonic()
    assert _exchange(server.url, _evaluate([1.0, 2.0]))[0] == 200
    # 16 slow clients over 2 threads with a 0.5 s read timeout: about 4 s at most
    assert time.monotonic() - t0 < 30
    for s in slow:
        s.close()


def test_head_checks_the_token():
    f = uqkit.as_model(lambda a, b: a + b)
    with uqkit.serve(f, port=0, block=False, token="s3cret-token") as srv:
        status, _ = _exchange(srv.url, _request(b"", "/Info", "HEAD"))
        assert status == 401
        status, _ = _exchange(srv.url, _request(b"", "/Info", "HEAD",
                                                "Authorization: Bearer s3cret-token\r\n"))
        assert status == 200


def test_a_disconnected_clients_simulator_is_stopped(tmp_path):
    pid_file = tmp_path / "pids"
    model = uqkit.CommandModel(
        [str(FAKESIM / "daemons.sh"), "{{ a }}", "{{ b }}"], inputs=["a", "b"],
        outputs=["y"], parse=parsers.numbers("stdout.txt"), workdir=tmp_path / "w",
        env={"UQKIT_TEST_PIDS": str(pid_file)})
    with uqkit.serve(model, port=0, block=False, workers=1) as srv:
        host, port = srv.url.rsplit("/", 1)[1].split(":")
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(_evaluate([1.0, 60.0]))  # the simulator would run for 60 s
            deadline = time.monotonic() + 30
            while not Path(f"{pid_file}.ready").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        t0 = time.monotonic()  # the client is gone: the next one is served at once
        status, body = _exchange(srv.url, _evaluate([2.0, 0.0]))
        assert status == 200 and json.loads(body) == {"output": [[2.0]]}
        assert time.monotonic() - t0 < 20
    first = [int(p) for p in pid_file.read_text().split()][:5]  # the cancelled simulator's
    deadline = time.monotonic() + 10
    while any(_running(p) for p in first) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in first if _running(p)]


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_request_errors_are_logged_one_line_each_rate_limited(caplog):
    def fragile(a, b):
        raise ValueError("broken\nmodel")

    f = uqkit.as_model(fragile, outputs=["y"])
    with uqkit.serve(f, port=0, block=False, workers=2) as srv, \
            caplog.at_level(logging.WARNING, logger="uqkit.serve"):
        for _ in range(30):
            assert _exchange(srv.url, _evaluate([1.0, 2.0]))[0] == 500
    lines = [r.getMessage() for r in caplog.records if r.name == "uqkit.serve"]
    assert 1 <= len(lines) <= 11  # 10 a second, and maybe one "not logged" count
    assert all(r.exc_info is None for r in caplog.records)  # no tracebacks


def test_serve_command_refuses_a_public_host_without_a_token():
    import subprocess

    from conftest import subprocess_env

    done = subprocess.run(
        [sys.executable, "-m", "uqkit", "serve",
         f"{FAKESIM / 'umbridge_served_model.py'}:model", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, env=subprocess_env(), timeout=60)
    assert done.returncode == 2
    assert b"token" in done.stderr and b"Traceback" not in done.stderr


def test_memory_for_bodies_is_bounded_by_workers():
    import concurrent.futures as cf
    import tracemalloc

    f = uqkit.as_model(lambda a, b: a + b)
    size = 3 * 2**20
    body = b'{"name": "forward", "input": [[1.0, 2.0]]}'
    body += b" " * (size - len(body))  # a valid, large body
    raw = _request(body)  # one copy shared by the 10 clients
    tracemalloc.start()
    try:
        with uqkit.serve(f, port=0, block=False, workers=2, max_body=4 * 2**20) as srv, \
                cf.ThreadPoolExecutor(10) as clients:
            futures = [clients.submit(_exchange, srv.url, raw) for _ in range(10)]
            assert [fut.result()[0] for fut in futures] == [200] * 10
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a request being served holds its raw body and its decoded text (2 * size): 2 workers
    # stay below 4 * size plus slack; 10 bodies read at once would need 20 * size
    assert peak < 7 * size, f"peak {peak / 2**20:.0f} MiB"
