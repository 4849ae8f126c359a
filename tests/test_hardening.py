"""The security baseline: headers, cookies, body limits, clean errors, quiet logs."""

from __future__ import annotations

import logging

import pytest

from idp.app import create_app
from idp.security.logs import FIELDS
from tests.conftest import PASSWORD, Flow, location


async def test_pages_carry_the_security_headers(flow: Flow) -> None:
    response, _ = await flow.page(location(await flow.authorize()))
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert "script-src 'self';" in csp and "unsafe" not in csp  # our static file, never inline
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-Id"]


async def test_browser_cookie_flags(flow: Flow) -> None:
    response = await flow.authorize()
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("idp_browser=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the test issuer is http on loopback


async def test_https_issuer_makes_cookies_secure(settings, clock) -> None:
    app = create_app(settings.with_overrides(issuer="https://login.supplier.example"), clock)
    async with app.test_app() as test_app:
        from tests.conftest import add_client

        await add_client(app.extensions["idp"].store)
        flow = Flow(test_app.test_client())
        response = await flow.authorize()
        assert "Secure" in response.headers["Set-Cookie"]
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_oversized_body_is_refused(client) -> None:
    response = await client.post(
        "/token",
        data="grant_type=authorization_code&code=" + "x" * 70_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert (await response.get_json())["error"] == "invalid_request"


@pytest.mark.parametrize("path", ["/nope", "/interaction/unknown/login"])
async def test_unknown_pages_are_plain_404_pages(client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    body = await response.get_data(as_text=True)
    assert "Traceback" not in body and "<html" in body


async def test_wrong_method_is_a_clean_405(client) -> None:
    response = await client.get("/token")
    assert response.status_code == 405
    assert (await response.get_json())["error"] == "invalid_request"


async def test_malformed_basic_auth_is_invalid_client(client, seeded) -> None:
    response = await client.post(
        "/token",
        form={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic %%%not-base64"},
    )
    assert response.status_code in (400, 401)
    assert (await response.get_json())["error"] == "invalid_client"


async def test_logs_never_contain_secrets(flow: Flow, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    code = await flow.code()
    tokens = await (await flow.token(code)).get_json()
    await flow.client.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    text = caplog.text
    assert "POST /token 200" in text
    for secret in (PASSWORD, code, tokens["access_token"], tokens["refresh_token"], flow.verifier):
        assert secret not in text


async def test_the_request_line_carries_its_fields(settings, clock, caplog) -> None:
    """The message is the text line; the fields become the JSON line's (test_log_format.py)."""
    caplog.set_level(logging.INFO, logger="idp.request")
    app = create_app(settings, clock)
    async with app.test_app() as test_app:
        await test_app.test_client().get("/healthz", headers={"X-Request-Id": "abc-123"})
    [record] = [r for r in caplog.records if r.name == "idp.request"]
    assert record.getMessage().startswith("abc-123 GET /healthz 200 ")
    fields = getattr(record, FIELDS)
    assert fields["request_id"] == "abc-123" and fields["status"] == 200
    assert fields["method"] == "GET" and fields["path"] == "/healthz"
