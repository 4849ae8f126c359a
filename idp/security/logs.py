"""The service's log: one line per record, JSON by default (for a log pipeline), text for a
person (`idp dev`, behind `make run`); neither can be forged by an untrusted value.

An email address, a path or a header may carry a newline (or another control character) that
would start a line of the attacker's choosing. The filter escapes the final message (format and
arguments together) on every handler the service configures; in the JSON format every value is
JSON-encoded (ASCII only) as well.

A JSON line has `time` (ISO 8601, UTC), `level`, `logger` and `message`; during a request also
its `request_id` and, once known, the `client_id` the caller named; a request's own line and a
security event's line add their fields (`status`, `event`...). The request's ids travel in
context variables, so a line logged anywhere during the request (or by a task it started)
carries them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

FORMATS = ("json", "text")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
FIELDS = "idp_fields"  # the record attribute (`extra={FIELDS: {...}}`) a line's own fields are in
CLIENT_ID_MAX = 128  # a claimed client id longer than this is logged cut

request_id_var: ContextVar[str | None] = ContextVar("idp_request_id", default=None)
client_id_var: ContextVar[str | None] = ContextVar("idp_client_id", default=None)


def escape_control(text: str) -> str:
    r"""`text` with each control character written as an escape (\n, \x1b, \u2028)."""

    def escaped(match: re.Match[str]) -> str:
        char = match.group()
        return char.encode("unicode_escape").decode("ascii")

    return CONTROL.sub(escaped, text)


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Lines logged within carry `request_id` (and the client id bound meanwhile)."""
    ids = request_id_var.set(request_id), client_id_var.set(None)
    try:
        yield
    finally:
        client_id_var.reset(ids[1])
        request_id_var.reset(ids[0])


def bind_request(request_id: str) -> None:
    """The rest of this task's (this request's) lines carry `request_id`; for a request handled
    in a task of its own, as Quart handles each."""
    request_id_var.set(request_id)
    client_id_var.set(None)


def bind_client(client_id: str | None) -> None:
    """The client the request names (not yet authenticated: what it claims), once known."""
    if client_id and client_id_var.get() is None:
        client_id_var.set(client_id[:CLIENT_ID_MAX])


def context_fields() -> dict[str, str]:
    """The request's ids, as far as known, for a line's fields."""
    found = {"request_id": request_id_var.get(), "client_id": client_id_var.get()}
    return {name: value for name, value in found.items() if value is not None}


class EscapeControlCharacters(logging.Filter):
    """Rewrites a record's message, arguments merged, with control characters escaped."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a broken format string: the handler reports it as usual
        record.msg, record.args = escape_control(message), None
        return True


class RequestContext(logging.Filter):
    """Adds the request's ids to a record as it is logged (a handler may format it later)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = context_fields()
        fields.update(getattr(record, FIELDS, None) or {})
        setattr(record, FIELDS, fields)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in (getattr(record, FIELDS, None) or {}).items():
            line.setdefault(name, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


def install_escaping(handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        if not any(isinstance(f, EscapeControlCharacters) for f in handler.filters):
            handler.addFilter(EscapeControlCharacters())
        if not any(isinstance(f, RequestContext) for f in handler.filters):
            handler.addFilter(RequestContext())


class ServiceHandler(logging.StreamHandler[IO[str]]):
    """The handler `configure_logging` installs (and replaces when called again)."""


def configure_logging(
    log_format: str, level: int = logging.INFO, stream: IO[str] | None = None
) -> None:
    """The service's logging: one line per record on stderr (or `stream`), in `log_format`
    (IDP_LOG_FORMAT: json or text), never forgeable."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, ServiceHandler)]:
        root.removeHandler(old)
    handler = ServiceHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    install_escaping(root.handlers)
