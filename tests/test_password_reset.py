"""The built-in "Forgot your password?": the same answer for every address, a single-use,
short-lived link by mail (through a real SMTP server: the sandbox's mail catcher), the password
rules, and everything the customer held ended once the password changed."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient

from idp.config import Settings
from idp.sandbox.mail import MailCatcher
from idp.security.clock import FrozenClock
from idp.store import Store
from tests.conftest import (
    EMAIL,
    PASSWORD,
    Flow,
    basic_auth,
    csrf_of,
    location,
    translated,
)

NEW_PASSWORD = "a new and rather long passphrase"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    catcher = MailCatcher(free_port())
    catcher.start()
    yield catcher
    catcher.stop()


@pytest.fixture
def settings(settings: Settings, catcher: MailCatcher) -> Settings:
    return settings.with_overrides(
        smtp_host="127.0.0.1", smtp_port=catcher.port, smtp_security="none"
    )


async def settled(app: Quart) -> None:
    """Wait until the links being sent have gone out (they leave after the answer)."""
    await app.extensions["idp"].signin.password_reset.close()


async def ask_for_link(client: QuartClient, email: str, language: str = "nl") -> Any:
    page = await client.get(f"/password/forgot?language={language}")
    assert page.status_code == 200
    return await client.post(
        f"/password/forgot?language={language}",
        form={"csrf_token": csrf_of(await page.get_data(as_text=True)), "email": email},
    )


def link_in(mail: dict[str, Any]) -> str:
    match = re.search(
        r"http://127\.0\.0\.1:8000(/password/reset\?token=[\w-]+&language=\w+)", mail["text"]
    )
    assert match, mail["text"]
    return match.group(1)


async def open_link(client: QuartClient, link: str) -> str:
    """Open the mailed link: the token moves into the cookie; returns the form's page."""
    response = await client.get(link)
    assert location(response).startswith("/password/reset?language=")
    assert "token" not in location(response)
    form = await client.get(location(response))
    assert form.status_code == 200
    return str(await form.get_data(as_text=True))


async def set_password(
    client: QuartClient, page: str, password: str, confirm: str | None = None
) -> Any:
    return await client.post(
        "/password/reset?language=nl",
        form={
            "csrf_token": csrf_of(page),
            "password": password,
            "confirm": password if confirm is None else confirm,
        },
    )


async def sign_in(client: QuartClient, password: str) -> int:
    page = await client.get("/account/login")
    response = await client.post(
        "/account/login",
        form={
            "csrf_token": csrf_of(await page.get_data(as_text=True)),
            "email": EMAIL,
            "password": password,
        },
    )
    return int(response.status_code)


async def test_login_pages_offer_the_built_in_page(client: QuartClient, seeded: Store) -> None:
    body = await (await client.get("/account/login?language=fr")).get_data(as_text=True)
    assert 'href="/password/forgot?language=fr"' in body


async def test_same_answer_for_every_address_and_one_mail_for_a_customer(
    app: Quart, client: QuartClient, seeded: Store, catcher: MailCatcher
) -> None:
    known = await ask_for_link(client, EMAIL.upper())
    unknown = await ask_for_link(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert await known.get_data() == await unknown.get_data()
    await settled(app)
    [mail] = catcher.messages
    assert mail["to"] == [EMAIL]
    assert mail["subject"] == translated("Choose a new password for %(supplier)s") % {
        "supplier": "Groene Stroom"
    }
    assert "Beste Ada Lovelace," in mail["text"]
    assert link_in(mail).endswith("&language=nl")
    assert link_in(mail).replace("&", "&amp;") in mail["html"]


async def test_the_link_sets_a_new_password_and_ends_everything_held(
    app: Quart, flow: Flow, client: QuartClient, store: Store, catcher: MailCatcher
) -> None:
    issued = await (await flow.token(await flow.code(scope="openid offline_access"))).get_json()
    other_browser = app.test_client()
    assert await sign_in(other_browser, PASSWORD) == 302

    await ask_for_link(client, EMAIL)
    await settled(app)
    page = await open_link(client, link_in(catcher.messages[0]))
    done = await set_password(client, page, NEW_PASSWORD)
    assert done.status_code == 200
    assert translated("Your password has been changed") in await done.get_data(as_text=True)

    assert (await other_browser.get("/account")).status_code == 302  # signed out everywhere
    refused = await client.post(
        "/token",
        form={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
        headers=basic_auth(),
    )
    assert (await refused.get_json())["error"] == "invalid_grant"
    assert await sign_in(app.test_client(), PASSWORD) == 401
    assert await sign_in(app.test_client(), NEW_PASSWORD) == 302
    [event] = await store.events.recent("password_reset")
    assert event["actor"] == EMAIL
    # Used once: the same link again is the dead-link page.
    again = await client.get(link_in(catcher.messages[0]))
    assert again.status_code == 400
    assert 'href="/password/forgot?language=nl"' in await again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("short one", None, "Choose a password of at least %(count)s characters."),
        (NEW_PASSWORD, NEW_PASSWORD + "!", "The two passwords are not the same."),
        (
            "ada-is-my-password-123",
            None,
            "Choose a password that does not contain your email address.",
        ),
    ],
)
async def test_the_password_rules_keep_the_link_alive(
    app: Quart,
    client: QuartClient,
    seeded: Store,
    catcher: MailCatcher,
    password: str,
    confirm: str | None,
    message: str,
) -> None:
    await ask_for_link(client, EMAIL)
    await settled(app)
    page = await open_link(client, link_in(catcher.messages[0]))
    refused = await set_password(client, page, password, confirm)
    assert refused.status_code == 400
    body = await refused.get_data(as_text=True)
    assert translated(message).split("%")[0] in body
    assert await sign_in(app.test_client(), PASSWORD) == 302  # unchanged
    assert (await set_password(client, body, NEW_PASSWORD)).status_code == 200


async def test_opening_the_link_changes_nothing_and_the_newest_link_wins(
    app: Quart, client: QuartClient, seeded: Store, catcher: MailCatcher, clock: FrozenClock
) -> None:
    await ask_for_link(client, EMAIL)
    await ask_for_link(client, EMAIL)  # within the minute: no second mail
    await settled(app)
    assert len(catcher.messages) == 1
    first = link_in(catcher.messages[0])
    await open_link(app.test_client(), first)  # a mail scanner, say
    clock.advance(61)
    await ask_for_link(client, EMAIL)
    await settled(app)
    second = link_in(catcher.messages[1])
    assert (await client.get(first)).status_code == 400  # superseded
    page = await open_link(client, second)
    assert (await set_password(client, page, NEW_PASSWORD)).status_code == 200


async def test_an_expired_link_is_refused(
    app: Quart, client: QuartClient, seeded: Store, catcher: MailCatcher, clock: FrozenClock
) -> None:
    await ask_for_link(client, EMAIL)
    await settled(app)
    page = await open_link(client, link_in(catcher.messages[0]))
    clock.advance(30 * 60)
    refused = await set_password(client, page, NEW_PASSWORD)
    assert refused.status_code == 400
    assert translated("This link has expired or was already used. You can ask for a new one.") in (
        await refused.get_data(as_text=True)
    )
    assert await sign_in(app.test_client(), PASSWORD) == 302


async def test_a_disabled_customer_gets_no_mail(
    app: Quart, client: QuartClient, seeded: Store, catcher: MailCatcher
) -> None:
    user = await seeded.users.by_email(EMAIL)
    await seeded.users.set_disabled(user.id, True, 0)
    assert (await ask_for_link(client, EMAIL)).status_code == 200
    await settled(app)
    assert catcher.messages == []


async def test_forms_need_their_csrf_token(
    app: Quart, client: QuartClient, seeded: Store, catcher: MailCatcher
) -> None:
    forged = await client.post("/password/forgot", form={"csrf_token": "x", "email": EMAIL})
    assert forged.status_code == 403
    await ask_for_link(client, EMAIL)
    await settled(app)
    await open_link(client, link_in(catcher.messages[0]))
    response = await client.post(
        "/password/reset",
        form={"csrf_token": "x", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 403
    assert await sign_in(app.test_client(), PASSWORD) == 302


async def test_requests_are_limited_per_network(
    app: Quart, client: QuartClient, seeded: Store
) -> None:
    for _ in range(10):
        assert (await ask_for_link(client, "nobody@example.com")).status_code == 200
    limited = await ask_for_link(client, "nobody@example.com")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0


async def test_without_mail_there_is_no_built_in_page(
    settings: Settings, clock: FrozenClock, seeded: Store
) -> None:
    from idp.app import create_app

    plain = create_app(settings.with_overrides(smtp_host=""), clock)
    async with plain.test_app() as test_app:
        client = test_app.test_client()
        assert (await client.get("/password/forgot")).status_code == 404
        body = await (await client.get("/account/login")).get_data(as_text=True)
        assert "/password/forgot" not in body


async def test_parallel_uses_of_one_link_set_one_password(
    app: Quart, client: QuartClient, seeded: Store, catcher: MailCatcher, store: Store
) -> None:
    """Four tabs with the same link submit at once: exactly one new password is set."""
    await ask_for_link(client, EMAIL)
    await settled(app)
    link = link_in(catcher.messages[0])
    tabs = [app.test_client() for _ in range(4)]
    pages = [await open_link(tab, link) for tab in tabs]
    answers = await asyncio.gather(
        *(
            set_password(tab, page, f"{NEW_PASSWORD} {i}")
            for i, (tab, page) in enumerate(zip(tabs, pages, strict=True))
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400]
    winner = next(i for i, a in enumerate(answers) if a.status_code == 200)
    assert await sign_in(app.test_client(), f"{NEW_PASSWORD} {winner}") == 302
    assert len(await store.events.recent("password_reset")) == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"smtp_security": "ssl"}, "IDP_SMTP_SECURITY must be starttls, tls or none"),
        (
            {"smtp_host": "mail.example.com", "smtp_security": "none"},
            "IDP_SMTP_SECURITY=none is allowed only for a loopback IDP_SMTP_HOST",
        ),
    ],
)
def test_mail_settings_are_checked(overrides: dict[str, str], message: str) -> None:
    from idp.config import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings(**overrides)  # type: ignore[arg-type]
