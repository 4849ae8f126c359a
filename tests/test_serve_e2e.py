"""`idp serve --server NAME --workers 2` on each ASGI server it offers: HTTP/1.1 keep-alive,
worker processes, the app's own request log line, and a graceful stop on SIGTERM that lets a
request in flight finish."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from idp.cli.servers import SERVERS
from tests.e2e import IDP, Process, free_port, fresh_database

pytestmark = pytest.mark.e2e

SERVER_HEADERS = {"granian": "granian", "hypercorn": "hypercorn-h11"}


def start(tmp_path: Path, server: str, workers: int) -> Process:
    database_url = fresh_database(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "IDP_SERVER"}
    env |= {
        "IDP_ISSUER": f"http://127.0.0.1:{port}",
        "IDP_DATABASE_URL": database_url,
        "IDP_VAR_DIR": str(tmp_path),
    }
    argv = [IDP, "serve", "--host", "127.0.0.1", "--port", str(port), "--server", server]
    process = Process(server, [*argv, "--workers", str(workers)], env, port, tmp_path / "log")
    process.start()
    return process


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Callable[[str, int], Process]]:
    """Starts `idp serve --server NAME --workers N`; stops it at the end of the test."""
    started: list[Process] = []

    def serve(server: str, workers: int) -> Process:
        started.append(start(tmp_path, server, workers))
        return started[-1]

    try:
        yield serve
    finally:
        for process in started:
            process.stop()
            print(process.log())  # shown when the test failed


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length, read off a socket that stays open."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def workers_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"resource_tracker" not in cmdline:
                found.append(int(child))
    return found


@pytest.mark.parametrize("server", list(SERVERS))
def test_keep_alive_workers_and_the_request_log(serving: Any, server: str) -> None:
    served = serving(server, 2)
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        for n in range(3):  # one connection, three requests
            request = (
                f"GET /jwks.json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: kept-{n}\r\n\r\n"
            )
            sock.sendall(request.encode())
            status, headers, body = read_response(sock)
            assert status == 200 and json.loads(body)["keys"]
            assert headers["x-request-id"] == f"kept-{n}"
            assert headers["server"] == SERVER_HEADERS[served.name]
            assert headers["x-frame-options"] == "DENY"
    assert served.proc is not None and len(workers_of(served.proc.pid)) == 2

    def request_lines() -> dict[str, dict[str, Any]]:
        """The request log lines (JSON, the default under `idp serve`), by request id."""
        lines = [json.loads(line) for line in served.log().splitlines() if line.startswith("{")]
        return {line["request_id"]: line for line in lines if line["logger"] == "idp.request"}

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "kept-2" not in request_lines():
        time.sleep(0.1)
    logged = request_lines()
    for n in range(3):
        line = logged[f"kept-{n}"]
        assert line["level"] == "INFO" and line["method"] == "GET" and line["status"] == 200
        assert line["path"] == "/jwks.json" and line["ip"] == "127.0.0.1" and line["ms"] >= 0


# Hypercorn's supervisor stops its other workers with SIGTERM, which they do not handle, once
# the first one has exited: with more than one worker, a request in flight may be cut off.
GRACEFUL = [(name, 1 if name == "hypercorn" else 2) for name in SERVERS]


@pytest.mark.parametrize(("server", "workers"), GRACEFUL)
def test_sigterm_lets_a_request_in_flight_finish(serving: Any, server: str, workers: int) -> None:
    served = serving(server, workers)
    assert served.proc is not None
    body = b"grant_type=client_credentials&scope=links%3Aread"
    head = (
        "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: in-flight\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(head.encode() + body[:10])
        time.sleep(0.5)  # the request is in the app, waiting for the rest of its body
        served.proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        sock.sendall(body[10:])
        status, _, answer = read_response(sock)
    assert status == 401 and json.loads(answer)["error"] == "invalid_client"
    assert served.proc.wait(15) == 0
    assert "in-flight POST /token 401" in served.log()
