"""Log injection: an untrusted value with a newline (or any control character) cannot start a
log line of its own, in the text and the JSON format, wherever the service sets up logging."""

from __future__ import annotations

import io
import json
import logging

import pytest
from quart import Quart

import idp.app
from idp.app import create_app
from idp.security.logs import EscapeControlCharacters, configure_logging, escape_control
from tests.conftest import csrf_of

FORGED = "2026-01-01 00:00:00,000 WARNING idp security event admin.signed_in actor=admin"


@pytest.fixture
def root_logging(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """The service's logging set up afresh, writing to a buffer (restored afterwards)."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    return buffer


def test_control_characters_are_escaped() -> None:
    assert escape_control("a\nb\r\x1b[31m\u2028\x85\x00") == "a\\nb\\r\\x1b[31m\\u2028\\x85\\x00"
    assert escape_control("ada@example.com é ✓") == "ada@example.com é ✓"


def test_message_and_arguments_are_escaped(root_logging: io.StringIO) -> None:
    logging.getLogger("idp").warning("security event %s actor=%s", "x\ny", "a@b.c\n" + FORGED)
    lines = root_logging.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("security event x\\ny actor=a@b.c\\n" + FORGED)


def test_asgi_app_installs_the_escaping(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    made = Quart(__name__)  # asgi_app adds its start-up step (gc tuning) to the app it made
    monkeypatch.setattr(idp.app, "create_app", lambda: made)
    assert idp.app.asgi_app() is made
    assert root.handlers
    assert all(
        any(isinstance(f, EscapeControlCharacters) for f in h.filters) for h in root.handlers
    )


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_an_email_with_a_newline_forges_no_line(
    settings, clock, seeded, root_logging: io.StringIO, log_format: str
) -> None:
    app = create_app(settings.with_overrides(log_format=log_format), clock)
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
    lines = root_logging.getvalue().splitlines()
    assert not [line for line in lines if line.lower().startswith(FORGED.lower())]
    assert any("actor=a@b.c\\n" + FORGED.lower() in line for line in lines)
    if log_format == "json":
        requests = [json.loads(line[line.index("{") :]) for line in lines if '"path"' in line]
        assert "/account/login\nx" in [r["path"] for r in requests]
