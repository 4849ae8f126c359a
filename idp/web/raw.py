"""What the raw ASGI fast paths (discovery.py, token.py) share: reading a request from the ASGI
scope as Quart would, and answering with what `hardening.install` adds to every answer (the
security headers, the request id, Server-Timing when on, the log line)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from idp.metrics import metrics
from idp.web.hardening import choose_request_id, log_request, security_headers

HeaderList = list[tuple[str, str]]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]


def encode(headers: HeaderList) -> list[tuple[bytes, bytes]]:
    """Headers as ASGI sends them: lower-case names, Latin-1 bytes (as Quart encodes them)."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def request_headers(scope: Any) -> dict[str, str]:
    """`dict(request.headers.items())` as Quart makes it: Title-Cased names, the last of each."""
    return {
        name.decode("latin-1").title(): value.decode("latin-1") for name, value in scope["headers"]
    }


async def read_body(receive: Receive, limit: int) -> tuple[bytes | None, list[Message]]:
    """The whole body, or None when it is longer than `limit` or the client left; with the
    messages read, for `replay` when the request goes on to Quart after all."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        size += len(message.get("body", b""))
        if size > limit:
            return None, messages
        if not message.get("more_body", False):
            return b"".join(m.get("body", b"") for m in messages), messages


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives `messages` again, then what is still to come."""
    pending = list(messages)

    async def again() -> Message:
        return pending.pop(0) if pending else await receive()

    return again


class Answering:
    """Sends an answer as the Quart app would finish it, and logs the request's line."""

    def __init__(self, https: bool, server_timing: bool) -> None:
        self.server_timing = server_timing
        self.trailer = encode(security_headers(https))

    def request_id(self, scope: Any) -> str:
        """The caller's X-Request-Id when it is a plain token (the first one, as Quart's
        `headers.get`), else a new one."""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                return choose_request_id(value.decode("latin-1"))
        return choose_request_id("")

    async def send(
        self,
        send: Callable[[Message], Awaitable[None]],
        scope: Any,
        request_id: str,
        started: float,
        status: int,
        headers: HeaderList,
        body: bytes,
    ) -> None:
        """`headers` are the answer's own; the security headers go after them, unless the
        answer set one itself (as `hardening.install` sets them by `setdefault`)."""
        raw = encode(headers)
        own = {name for name, _ in raw}
        raw += [(name, value) for name, value in self.trailer if name not in own]
        raw.append((b"x-request-id", request_id.encode()))
        elapsed_ms = (time.perf_counter() - started) * 1000
        if self.server_timing:
            raw.append((b"server-timing", f"app;dur={elapsed_ms:.1f}".encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
        client = (scope.get("client") or ["<local>"])[0]
        log_request(request_id, scope["method"], scope["path"], status, elapsed_ms, client)
        # A fast path's paths are its routes (no parameters in them).
        metrics().request(scope["path"], scope["method"], status, elapsed_ms / 1000)
