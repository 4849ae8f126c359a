"""The hand-off outbox in-process: written with the code, claimed once, backoff, give-up age,
and the hand-off modes (backchannel, form_post, redirect)."""

from __future__ import annotations

import html
import re

import pytest

from idp.nox.handoff import backoff_seconds
from tests.conftest import (
    NOX_BASE,
    REDIRECT_URI,
    SUPPLIER_USER_ID,
    Flow,
    add_client,
    location,
    query_of,
)

CLOSED_PORT_URL = NOX_BASE + "/post-login-redirect"  # nothing listens on NOX_BASE's port


async def auth_sessions(store) -> list[dict]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from idp.store.tables import auth_sessions as table

    async with store.engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(select(table))).all()]


@pytest.fixture
async def backchannel(store, seeded) -> None:
    await store.clients.update(
        "nox", 0, handoff_mode="backchannel", post_login_redirect_url=CLOSED_PORT_URL
    )


async def test_code_and_handoff_are_written_together(flow: Flow, store, backchannel, clock) -> None:
    code = await flow.code()
    [handoff] = await store.outbox.list()
    assert handoff.client_id == "nox"
    assert handoff.url == CLOSED_PORT_URL
    assert handoff.body == {
        "supplier_user_id": SUPPLIER_USER_ID,
        "state": "state-123",
        "client_id": "nox",
        "authenticated_at": clock.now(),
    }
    # NOX is unreachable: the customer still got the code; the hand-off waits for a retry.
    assert code
    assert handoff.status == "pending"
    assert handoff.attempts == 1
    assert handoff.next_attempt_at > clock.now()
    assert "ConnectError" in handoff.last_error


async def test_operator_extra_fields_are_added(settings, clock, store) -> None:
    from idp.config import ConfigError
    from idp.nox.handoff import build_handoff

    with pytest.raises(ConfigError):
        settings.with_overrides(handoff_extra="[1, 2]")
    extra = settings.with_overrides(handoff_extra='{"supplier": "groene-stroom"}')
    client = type("C", (), {"handoff_mode": "backchannel", "client_id": "nox"})()
    client.post_login_redirect_url = CLOSED_PORT_URL
    row = build_handoff(extra, client, "cust-1", "st", 5)
    assert row["body"]["supplier"] == "groene-stroom"
    assert row["body"]["supplier_user_id"] == "cust-1"
    client.handoff_mode = "redirect"
    assert build_handoff(extra, client, "cust-1", "st", 5) is None


async def test_a_claimed_handoff_cannot_be_claimed_twice(
    flow: Flow, store, backchannel, clock
) -> None:
    await flow.code()
    [handoff] = await store.outbox.list()
    clock.advance(3600)
    assert await store.outbox.claim(handoff.id, clock.now(), 30) is not None
    assert await store.outbox.claim(handoff.id, clock.now(), 30) is None
    clock.advance(31)  # the lease ran out (a worker died mid-attempt)
    assert await store.outbox.claim(handoff.id, clock.now(), 30) is not None


async def test_expires_with_its_authentication_session(
    flow: Flow, app, store, backchannel, clock
) -> None:
    """NOX's window is the authentication session's: no retry after it, and no manual retry."""
    await flow.code()
    [handoff] = await store.outbox.list()
    [auth] = await auth_sessions(store)
    assert handoff.expires_at == auth["expires_at"] == auth["created_at"] + 900
    assert handoff.next_attempt_at <= handoff.expires_at  # backoff never overshoots the end
    clock.current = handoff.expires_at - 1
    assert await app.extensions["idp"].handoffs.attempt(handoff.id) == "pending"
    clock.current = handoff.expires_at
    assert await app.extensions["idp"].handoffs.attempt(handoff.id) == "expired"
    [handoff] = await store.outbox.list()
    assert handoff.status == "expired"
    assert handoff.finished_at == clock.now()
    assert handoff.last_error == "the authentication session ended before NOX received it"
    assert not await store.outbox.retry_now(handoff.id, clock.now())
    assert await store.outbox.due(clock.now() + 10**6) == []


async def test_gives_up_after_the_maximum_age(app, store, seeded, clock) -> None:
    """A hand-off without an authentication session's end (written before it was kept)."""
    from tests.conftest import failed_handoff

    await failed_handoff(store, "old", now=clock.now())
    assert await store.outbox.retry_now("old", clock.now())
    clock.advance(24 * 3600)
    assert await app.extensions["idp"].handoffs.attempt("old") == "failed"
    [handoff] = await store.outbox.list()
    assert handoff.status == "failed"
    assert handoff.last_error.startswith("gave up after max age")
    assert await store.outbox.retry_now(handoff.id, clock.now())
    [handoff] = await store.outbox.list()
    assert handoff.status == "pending" and handoff.next_attempt_at == clock.now()


async def test_delivered_handoff_is_never_requeued(flow: Flow, store, backchannel, clock) -> None:
    await flow.code()
    [handoff] = await store.outbox.list()
    await store.outbox.delivered(handoff.id, clock.now(), 200)
    assert not await store.outbox.retry_now(handoff.id, clock.now())
    assert await store.outbox.due(clock.now() + 10**6) == []


@pytest.mark.parametrize("attempts", [1, 2, 5, 20])
def test_backoff_grows_with_jitter_and_a_cap(attempts: int) -> None:
    base = 5.0
    expected = min(base * 2 ** (attempts - 1), 3600)
    for _ in range(50):
        assert expected * 0.5 - 1 <= backoff_seconds(attempts, base) <= expected * 1.5 + 1


async def test_redirect_mode_writes_no_handoff(flow: Flow, store) -> None:
    await flow.code()
    assert await store.outbox.list() == []


def hidden_fields(body: str) -> dict[str, str]:
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', body)
    }


async def test_form_post_mode_posts_code_state_and_iss(flow: Flow, store) -> None:
    await store.clients.update("nox", 0, handoff_mode="form_post")
    response = await flow.accept_terms(
        location(await flow.sign_in(location(await flow.authorize())))
    )
    assert response.status_code == 200
    body = await response.get_data(as_text=True)
    assert f'<form method="post" action="{REDIRECT_URI}">' in body
    # No inline script: the only one is our static enhancement file, which this page does not
    # need; the button works without JavaScript.
    assert re.findall(r"<script[^>]*>", body) == ['<script src="/static/idp.js" defer>']
    assert '<button type="submit"' in body
    fields = hidden_fields(body)
    assert set(fields) == {"code", "state", "iss"}
    assert fields["state"] == "state-123"
    assert (await flow.token(fields["code"])).status_code == 200


async def test_response_mode_form_post_is_honoured_for_errors_too(flow: Flow) -> None:
    terms = location(await flow.sign_in(location(await flow.authorize(response_mode="form_post"))))
    response = await flow.accept_terms(terms, action="decline")
    fields = hidden_fields(await response.get_data(as_text=True))
    assert fields["error"] == "access_denied"
    assert fields["state"] == "state-123"


async def test_redirect_uri_with_its_own_query_keeps_it(client, store) -> None:
    from tests.conftest import add_user

    await add_user(store)
    await add_client(store, redirect_uris=[REDIRECT_URI + "?tenant=a"])
    await store.terms.publish(version="1", language="nl", body_md="# Voorwaarden", now=1)
    flow = Flow(client)
    url = location(await flow.authorize(redirect_uri=REDIRECT_URI + "?tenant=a"))
    url = location(await flow.accept_terms(location(await flow.sign_in(url))))
    params = query_of(url)
    assert params["tenant"] == "a" and "code" in params


async def test_console_and_cli_show_expired_handoffs(
    flow: Flow, app, store, backchannel, clock
) -> None:
    from tests.test_admin import make_admin, sign_in

    await flow.code()
    [handoff] = await store.outbox.list()
    clock.current = handoff.expires_at
    assert await app.extensions["idp"].handoffs.attempt(handoff.id) == "expired"
    admin = await make_admin(app, "operator")
    console = app.test_client()
    assert location(await sign_in(console, admin, clock)) == "/admin"
    page = await (await console.get("/admin/outbox")).get_data(as_text=True)
    expired_part = page.split("Expired with the authentication session", 1)[1]
    assert handoff.id in expired_part
    assert f"/admin/outbox/{handoff.id}/retry" not in page
