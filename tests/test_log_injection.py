"""Log injection: an untrusted value with a newline (or any control character) cannot start a
log line of its own, in the text and the JSON format, wherever the service sets up logging.
(What each format writes: test_log_format.py.)"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

import pytest
from quart import Quart

import idp.app
from idp.app import create_app
from idp.security.logs import (
    EscapeControlCharacters,
    JsonFormatter,
    RequestContext,
    ServiceHandler,
    configure_logging,
    escape_control,
)
from tests.conftest import csrf_of

FORGED = "2026-01-01 00:00:00,000 WARNING idp security event admin.signed_in actor=admin"


@pytest.fixture
def root_logging(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], io.StringIO]:
    """The service's logging set up afresh in a format, writing to a buffer (restored
    afterwards)."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)

    def configure(log_format: str) -> io.StringIO:
        buffer = io.StringIO()
        configure_logging(log_format, stream=buffer)
        return buffer

    return configure


def test_control_characters_are_escaped() -> None:
    assert escape_control("a\nb\r\x1b[31m\u2028\x85\x00") == "a\\nb\\r\\x1b[31m\\u2028\\x85\\x00"
    assert escape_control("ada@example.com é ✓") == "ada@example.com é ✓"


def test_message_and_arguments_are_escaped(root_logging: Callable[[str], io.StringIO]) -> None:
    buffer = root_logging("text")
    logging.getLogger("idp").warning("security event %s actor=%s", "x\ny", "a@b.c\n" + FORGED)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("security event x\\ny actor=a@b.c\\n" + FORGED)


def test_json_values_cannot_break_the_line(root_logging: Callable[[str], io.StringIO]) -> None:
    buffer = root_logging("json")
    hostile = "a@b.c\n" + FORGED + "\u2028\x1b[31m"
    logging.getLogger("idp").warning("actor=%s", hostile, extra={"idp_fields": {"path": hostile}})
    [line] = buffer.getvalue().splitlines()
    assert line.isascii()
    record = json.loads(line)
    assert record["message"] == "actor=" + escape_control(hostile)
    assert record["path"] == hostile  # JSON-encoded, not escaped twice


def test_asgi_app_installs_the_escaping(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.delenv("IDP_LOG_FORMAT", raising=False)
    made = Quart(__name__)  # asgi_app adds its start-up step (gc tuning) to the app it made
    monkeypatch.setattr(idp.app, "create_app", lambda settings: made)
    assert idp.app.asgi_app() is made
    [handler] = [h for h in root.handlers if isinstance(h, ServiceHandler)]
    assert any(isinstance(f, EscapeControlCharacters) for f in handler.filters)
    assert any(isinstance(f, RequestContext) for f in handler.filters)
    assert isinstance(handler.formatter, JsonFormatter)  # production's default


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_an_email_with_a_newline_forges_no_line(
    settings, clock, seeded, root_logging: Callable[[str], io.StringIO], log_format: str
) -> None:
    buffer = root_logging(log_format)
    app = create_app(settings, clock)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        csrf = csrf_of(await (await client.get("/account/login")).get_data(as_text=True))
        response = await client.post(
            "/account/login%0A" + "x",  # a path with a newline, logged per request
            form={"csrf_token": csrf, "email": "a@b.c\n" + FORGED, "password": "wrong"},
        )
        assert response.status_code == 404
        response = await client.post(
            "/account/login",
            form={"csrf_token": csrf, "email": "a@b.c\n" + FORGED, "password": "wrong"},
        )
        assert response.status_code == 401
    lines = buffer.getvalue().splitlines()
    assert not [line for line in lines if line.lower().startswith(FORGED.lower())]
    messages = [json.loads(line)["message"] for line in lines] if log_format == "json" else lines
    assert any("actor=a@b.c\\n" + FORGED.lower() in message for message in messages)
    if log_format == "json":
        requests = [json.loads(line) for line in lines if '"path"' in line]
        assert "/account/login\nx" in [r["path"] for r in requests]
