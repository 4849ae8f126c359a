"""The sign-in page: CSRF, no user enumeration, throttling, legacy hashes, session cookies."""

from __future__ import annotations

import re

import pytest
from passlib.hash import bcrypt

from tests.conftest import (
    EMAIL,
    PASSWORD,
    REDIRECT_URI,
    Flow,
    add_user,
    csrf_of,
    location,
    query_of,
    translated,
)


async def login_url(flow: Flow) -> str:
    return location(await flow.authorize())


async def test_sign_in_page_has_the_form(flow: Flow) -> None:
    response, body = await flow.page(await login_url(flow))
    assert response.status_code == 200
    assert 'name="csrf_token"' in body
    assert 'type="password"' in body
    assert "NOX Energy" in body  # the client's name
    assert "Groene Stroom" in body  # the supplier's name


async def test_missing_or_wrong_csrf_token_is_refused(flow: Flow, client, store) -> None:
    url = await login_url(flow)
    await flow.page(url)
    for form in (
        {"email": EMAIL, "password": PASSWORD},
        {"email": EMAIL, "password": PASSWORD, "csrf_token": "forged"},
    ):
        response = await client.post(url, form=form)
        assert response.status_code == 403
    session = await store.auth_sessions.get(url.split("/")[2])
    assert session.user_id is None


async def test_wrong_email_and_wrong_password_look_the_same(flow: Flow) -> None:
    url = await login_url(flow)
    wrong_password = await flow.sign_in(url, password="not the password")
    wrong_email = await flow.sign_in(url, email="nobody@example.com")
    assert wrong_password.status_code == wrong_email.status_code == 401
    text_a = await wrong_password.get_data(as_text=True)
    text_b = await wrong_email.get_data(as_text=True)
    message = translated("The email address or password is not correct.")
    assert message in text_a and message in text_b


async def test_failures_are_recorded_as_security_events(flow: Flow, store) -> None:
    await flow.sign_in(await login_url(flow), password="nope")
    events = await store.events.recent("signin_failed")
    assert [e["actor"] for e in events] == [EMAIL]
    assert PASSWORD not in str(events) and "nope" not in str(events)


async def test_repeated_failures_slow_down_then_recover(flow: Flow, clock) -> None:
    url = await login_url(flow)
    for _ in range(5):
        assert (await flow.sign_in(url, password="wrong")).status_code == 401
    throttled = await flow.sign_in(url)  # even the right password waits
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "30"
    # As a time: the frozen clock is 2027-01-15 08:00 UTC, 09:00 in Amsterdam; 30 s later.
    message = translated("Too many failed attempts. Please try again in %(wait)s, at %(time)s.")
    expected = message % {"wait": "30 seconden", "time": "09:00"}
    assert expected in await throttled.get_data(as_text=True)
    clock.advance(31)
    assert (await flow.sign_in(url, password="wrong")).status_code == 401
    assert (await flow.sign_in(url)).status_code == 429  # the delay grew to 60 s
    clock.advance(61)
    response = await flow.sign_in(url)
    assert location(response).endswith("/terms")


async def test_a_refused_burst_is_one_audit_row_a_minute(flow: Flow, store, clock) -> None:
    """Found in review: every throttled attempt wrote an event, kept 400 days."""
    url = await login_url(flow)
    for _ in range(5):
        await flow.sign_in(url, password="wrong")
    for _ in range(12):
        assert (await flow.sign_in(url, password="wrong")).status_code == 429
    assert len(await store.events.recent("signin_throttled")) == 1
    clock.advance(61)
    await flow.sign_in(url, password="wrong")  # a failure (the 30 s wait is over)
    assert (await flow.sign_in(url, password="wrong")).status_code == 429
    assert len(await store.events.recent("signin_throttled")) == 2
    assert len(await store.events.recent("signin_failed")) == 6


async def test_throttle_is_per_account_too_across_ips(flow: Flow, store, clock) -> None:
    url = await login_url(flow)
    for _ in range(5):
        await flow.sign_in(url, password="wrong")
    other_account = await flow.sign_in(url, email="other@example.com", password="wrong")
    assert other_account.status_code == 401  # the other account is not throttled
    assert (await store.throttles.get([f"account:{EMAIL}"]))[f"account:{EMAIL}"][0] == 5


async def test_success_sets_a_new_signin_cookie_each_time(flow: Flow, client) -> None:
    response = await flow.sign_in(await login_url(flow))
    first = response.headers.get("Set-Cookie", "")
    assert "idp_sid=" in first and "HttpOnly" in first and "SameSite=Lax" in first
    response = await flow.sign_in(location(await flow.authorize(prompt="login")))
    second = response.headers.get("Set-Cookie", "")
    assert "idp_sid=" in second
    assert first.split(";")[0] != second.split(";")[0]


async def test_legacy_bcrypt_hash_is_upgraded_at_sign_in(client, store, seeded) -> None:
    await add_user(
        store,
        email="legacy@example.com",
        supplier_user_id="cust-legacy",
        password_hash=bcrypt.hash("old but gold pw"),
    )
    flow = Flow(client)
    url = location(await flow.authorize())
    response = await flow.sign_in(url, email="legacy@example.com", password="old but gold pw")
    assert location(response).endswith("/terms")
    user = await store.users.by_email("legacy@example.com")
    assert user.password_hash.startswith("$argon2id$")


async def test_disabled_customer_cannot_sign_in(flow: Flow, store) -> None:
    from sqlalchemy import update

    from idp.store.tables import users

    async with store.engine.begin() as conn:
        await conn.execute(update(users).values(disabled=True))
    response = await flow.sign_in(await login_url(flow))
    assert response.status_code == 401


async def test_empty_fields_get_a_clear_message(flow: Flow, client) -> None:
    url = await login_url(flow)
    _, body = await flow.page(url)
    response = await client.post(
        url, form={"csrf_token": csrf_of(body), "email": "", "password": ""}
    )
    assert response.status_code == 400
    message = translated("Enter your email address and password.")
    assert message in await response.get_data(as_text=True)


async def test_password_reset_link_only_when_configured(flow: Flow, app) -> None:
    _, body = await flow.page(await login_url(flow))
    assert translated("Forgot your password?") not in body


async def test_session_of_another_browser_is_not_found(flow: Flow, app) -> None:
    url = await login_url(flow)
    stranger = app.test_client()
    response = await stranger.get(url)
    assert response.status_code == 404
    assert REDIRECT_URI not in await response.get_data(as_text=True)


async def test_password_reset_link_and_logo_from_configuration(settings, clock, tmp_path) -> None:
    from idp.app import create_app
    from tests.conftest import add_client

    logo = tmp_path / "logo.svg"
    logo.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    configured = settings.with_overrides(
        password_reset_url="https://supplier.example/reset?from=idp&x=<b>",
        logo_path=str(logo),
    )
    app = create_app(configured, clock)
    async with app.test_app() as test_app:
        await add_client(app.extensions["idp"].store)
        flow = Flow(test_app.test_client())
        _, body = await flow.page(location(await flow.authorize()))
        assert 'href="https://supplier.example/reset?from=idp&amp;x=&lt;b&gt;"' in body
        assert translated("Forgot your password?") in body
        assert '<img src="/logo"' in body
        served = await test_app.test_client().get("/logo")
        assert served.status_code == 200
        assert b"<svg" in await served.get_data()


@pytest.mark.parametrize(
    ("ip", "block"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("unknown", "unknown"),
    ],
)
def test_the_ip_throttle_counts_an_ipv6_prefix_as_one_client(ip: str, block: str) -> None:
    """Found in review: one /64 holds 2^64 addresses, so per-address counting never bites."""
    from idp.security.throttle import ip_block

    assert ip_block(ip) == block


async def test_the_language_switcher_keeps_the_session(flow: Flow) -> None:
    login = location(await flow.authorize())
    page = await (await flow.client.get(login)).get_data(as_text=True)
    assert f'href="{login}?language=fr"' in page
    french = await (await flow.client.get(login + "?language=fr")).get_data(as_text=True)
    assert '<html lang="fr"' in french and translated("Sign in", "fr") in french
    ignored = await (await flow.client.get(login + "?language=de")).get_data(as_text=True)
    assert '<html lang="fr"' in ignored  # not a NOX language: nothing changes
    terms = location(await flow.sign_in(login))
    body = await (await flow.client.get(terms)).get_data(as_text=True)
    assert '<html lang="fr"' in body  # the session goes on in French


async def test_back_to_the_client_sends_access_denied(flow: Flow) -> None:
    login = location(await flow.authorize())
    page = await (await flow.client.get(login)).get_data(as_text=True)
    assert translated("Back to %(client)s") % {"client": "NOX Energy"} in page
    cancel = login.replace("/login", "/cancel")
    forged = await flow.client.post(cancel, form={"csrf_token": "x"})
    assert forged.status_code == 403
    back = location(await flow.client.post(cancel, form={"csrf_token": csrf_of(page)}))
    assert back.startswith(REDIRECT_URI)
    query = query_of(back)
    assert (query["error"], query["state"]) == ("access_denied", "state-123")
    assert (await flow.client.get(login)).status_code == 400  # the session has ended


async def test_after_a_wrong_password_the_cursor_is_in_the_password_field(flow: Flow) -> None:
    login = location(await flow.authorize())
    wrong = await flow.sign_in(login, password="not it")
    body = await wrong.get_data(as_text=True)
    password = re.search(r'<input id="password"[^>]*>', body)
    email = re.search(r'<input id="email"[^>]*>', body)
    assert password and email
    assert "autofocus" in password.group(0) and "autofocus" not in email.group(0)
