"""What the log says, in each format: JSON (production's default) has one object a line with
the time in ISO 8601 UTC, level, logger, message, and during a request its request id and the
client it named, on every line (security events too, even from inside Authlib's grants); text
(`idp dev`, behind `make run`) is the plain line a person reads."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest

import idp.devserver
from idp.app import create_app
from idp.config import Settings, load_settings
from idp.security.logs import configure_logging
from tests.conftest import CLIENT_ID, REDIRECT_URI, Flow, basic_auth, csrf_of

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def log_to(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], io.StringIO]:
    """The service's logging set up afresh in a format, into a buffer (restored afterwards)."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)

    def configure(log_format: str) -> io.StringIO:
        buffer = io.StringIO()
        configure_logging(log_format, stream=buffer)
        return buffer

    return configure


def json_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_is_the_default() -> None:
    assert load_settings({}).log_format == "json"
    assert load_settings({"IDP_LOG_FORMAT": "text"}).log_format == "text"


class Stopped(Exception):
    pass


@pytest.mark.parametrize(("environment", "chosen"), [(None, "text"), ("json", "json")])
async def test_idp_dev_logs_text_unless_told(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, environment: str | None, chosen: str
) -> None:
    """`make run` is read by a person: text, unless IDP_LOG_FORMAT says otherwise."""
    if environment is None:
        monkeypatch.delenv("IDP_LOG_FORMAT", raising=False)
    else:
        monkeypatch.setenv("IDP_LOG_FORMAT", environment)
    formats: list[str] = []
    monkeypatch.setattr(idp.devserver, "configure_logging", formats.append)

    def stop(url: str) -> None:
        raise Stopped

    monkeypatch.setattr(idp.devserver, "upgrade", stop)
    with pytest.raises(Stopped):
        await idp.devserver.run_dev(settings, "127.0.0.1", 8000, 8100)
    assert formats == [chosen]


def test_a_json_line(log_to: Callable[[str], io.StringIO]) -> None:
    buffer = log_to("json")
    logging.getLogger("idp.retention").info("purged %d rows", 3)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("idp").exception("failed")
    first, second = json_lines(buffer)
    assert set(first) == {"time", "level", "logger", "message"}  # no request, no request id
    assert ISO_UTC.match(first["time"])
    assert first["level"] == "INFO" and first["logger"] == "idp.retention"
    assert first["message"] == "purged 3 rows"
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]


def test_a_text_line(log_to: Callable[[str], io.StringIO]) -> None:
    buffer = log_to("text")
    logging.getLogger("idp.retention").info("purged %d rows", 3)
    [line] = buffer.getvalue().splitlines()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO idp.retention purged 3 rows", line
    )


async def test_every_line_of_a_request_carries_its_request_id(
    log_to: Callable[[str], io.StringIO], settings: Settings, clock: Any, seeded: Any
) -> None:
    buffer = log_to("json")
    app = create_app(settings, clock)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        csrf = csrf_of(await (await client.get("/account/login")).get_data(as_text=True))
        response = await client.post(
            "/account/login",
            form={"csrf_token": csrf, "email": "nobody@example.com", "password": "wrong"},
            headers={"X-Request-Id": "signin-1"},
        )
        assert response.status_code == 401
    during = [line for line in json_lines(buffer) if line.get("request_id") == "signin-1"]
    [event] = [line for line in during if line.get("event") == "signin_failed"]
    assert event["level"] == "WARNING" and event["logger"] == "idp"
    assert event["message"] == "security event signin_failed actor=nobody@example.com"
    [request] = [line for line in during if line["logger"] == "idp.request"]
    assert request["status"] == 401 and request["path"] == "/account/login"
    assert request["method"] == "POST" and request["ip"] and request["ms"] >= 0
    assert ISO_UTC.match(request["time"])
    # Outside the request (start-up, shut-down) a line has no request id.
    assert all(
        "request_id" in line for line in json_lines(buffer) if line["logger"] == "idp.request"
    )


async def test_a_grants_security_event_names_the_request_and_the_client(
    log_to: Callable[[str], io.StringIO], flow: Flow
) -> None:
    """Authlib's grants run in a greenlet: the request's ids reach it."""
    buffer = log_to("json")
    code = await flow.code()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": flow.verifier,
    }
    statuses = []
    for request_id in ("exchange-1", "replay-1"):
        headers = {**basic_auth(), "X-Request-Id": request_id}
        statuses.append((await flow.client.post("/token", form=form, headers=headers)).status_code)
    assert statuses == [200, 400]
    [event] = [line for line in json_lines(buffer) if line.get("event") == "code_replay"]
    assert event["request_id"] == "replay-1" and event["client_id"] == CLIENT_ID
    requests = [line for line in json_lines(buffer) if line["logger"] == "idp.request"]
    authorize = next(line for line in requests if line["path"] == "/authorize")
    assert authorize["client_id"] == CLIENT_ID  # named in the query
    [replay] = [line for line in requests if line["request_id"] == "replay-1"]
    assert replay["status"] == 400 and replay["client_id"] == CLIENT_ID  # in Basic credentials


@pytest.mark.parametrize("path", ["/token", "/revoke"])  # the fast path, and a Quart route
async def test_a_client_named_in_the_body_is_logged(
    log_to: Callable[[str], io.StringIO], flow: Flow, path: str
) -> None:
    buffer = log_to("json")
    form = {"grant_type": "client_credentials", "token": "x", "client_id": "who-am-i"}
    form["client_secret"] = "not-it"
    response = await flow.client.post(path, form=form, headers={"X-Request-Id": "body-1"})
    assert response.status_code == 400  # invalid_client: no such client
    [line] = [line for line in json_lines(buffer) if line["logger"] == "idp.request"]
    assert line["request_id"] == "body-1" and line["client_id"] == "who-am-i"
