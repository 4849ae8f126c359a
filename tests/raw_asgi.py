"""One request straight into an ASGI callable, for the tests of the raw ASGI fast paths."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from idp.security.logs import FIELDS

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


async def call(
    asgi: Any,
    path: str,
    *headers: tuple[str, str],
    method: str = "GET",
    body: bytes | list[bytes] = b"",
    query: bytes = b"",
) -> Answer:
    """(status, headers, body) of one request; `body` as a list is sent in those chunks."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")]
        + [(n.lower().encode(), v.encode()) for n, v in headers],
        "client": ("192.0.2.7", 50123),
        "server": ("127.0.0.1", 8000),
        "extensions": {},
    }
    chunks = list(body) if isinstance(body, list) else [body]
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        await asyncio.Event().wait()  # no disconnect: the app ends the exchange
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await asyncio.wait_for(asgi(scope, receive, send), 10)
    start = next(m for m in messages if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], [(bytes(n), bytes(v)) for n, v in start["headers"]], content


class Counting:
    """The ASGI app behind a fast path, counting what reaches it."""

    def __init__(self, app: Any) -> None:
        self.app, self.calls = app, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


def without_timing(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(n, re.sub(rb"dur=[0-9.]+", b"dur=", v)) for n, v in headers]


def request_lines(records: list[logging.LogRecord]) -> list[tuple[str, dict[str, Any]]]:
    """Each record's message and fields (what the text and the JSON line are made of), the
    request's timing taken out."""
    lines = []
    for record in records:
        fields = dict(getattr(record, FIELDS, None) or {})
        fields.pop("ms", None)
        lines.append((re.sub(r"\b[0-9.]+ms\b", "", record.getMessage()), fields))
    return lines
