"""A tiny OTLP/HTTP collector for the tracing tests: records every POST on a loopback port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Catcher:
    url: str
    posts: list[tuple[str, str, bytes]] = field(default_factory=list)  # path, type, body


@contextmanager
def otlp_catcher() -> Iterator[Catcher]:
    caught: list[tuple[str, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            caught.append((self.path, self.headers.get("Content-Type", ""), body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Catcher(f"http://127.0.0.1:{server.server_address[1]}", caught)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
