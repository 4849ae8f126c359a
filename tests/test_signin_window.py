"""The 15-minute window as a use case, without a web framework: a real store, a frozen clock.

The HTTP side of the same rules is in test_auth_session.py; these tests show the rule holds in
signin/window.py itself, whatever page calls it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest

from idp.config import Settings
from idp.oauth.clients import ClientCache
from idp.records import AuthSession
from idp.security.clock import FrozenClock
from idp.signin.decisions import Ended, Refused
from idp.signin.responses import ClientResponses
from idp.signin.window import EXPIRED_DESCRIPTION, Window
from idp.store import Store
from idp.vocab import AUTH_DENIED, AUTH_PENDING
from tests.conftest import CLIENT_ID, ISSUER, REDIRECT_URI, add_client

BROWSER = "browser-one"


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    store = Store.connect(settings.database_url)
    await add_client(store)
    yield store
    await store.close()


@pytest.fixture
def window(store: Store, clock: FrozenClock) -> Window:
    return Window(
        store.auth_sessions, clock, 900, ClientResponses(ClientCache(store.clients), ISSUER)
    )


async def opened(store: Store, window: Window, clock: FrozenClock) -> AuthSession:
    now = clock.now()
    auth = AuthSession(
        id="auth-1",
        browser_id=BROWSER,
        client_id=CLIENT_ID,
        query="",
        redirect_uri=REDIRECT_URI,
        state="nox-state",
        language="en",
        force_login=False,
        user_id=None,
        auth_time=None,
        status=AUTH_PENDING,
        created_at=now,
        expires_at=window.deadline(now),
    )
    await store.auth_sessions.add(auth)
    return auth


async def test_the_deadline_is_fifteen_minutes_after_opening(
    store: Store, window: Window, clock: FrozenClock
) -> None:
    auth = await opened(store, window, clock)
    assert auth.expires_at - auth.created_at == 900
    clock.advance(899)
    assert await window.load(auth.id, BROWSER) == await store.auth_sessions.get(auth.id)


async def test_another_browser_or_an_unknown_id_finds_nothing(
    store: Store, window: Window, clock: FrozenClock
) -> None:
    auth = await opened(store, window, clock)
    for session_id, browser in ((auth.id, "browser-two"), ("nope", BROWSER), (None, BROWSER)):
        refused = await window.load(session_id, browser)
        assert isinstance(refused, Refused) and refused.status == 404
    assert (await store.auth_sessions.get(auth.id)).status == AUTH_PENDING  # type: ignore[union-attr]


async def test_at_the_deadline_the_session_ends_and_the_client_hears_access_denied(
    store: Store, window: Window, clock: FrozenClock
) -> None:
    auth = await opened(store, window, clock)
    clock.advance(900)
    ended = await window.load(auth.id, BROWSER)
    assert isinstance(ended, Ended) and ended.reason == "expired"
    assert ended.client_name == "NOX Energy"
    assert ended.way_back is not None and ended.way_back.form_post_to is None
    url = urlsplit(ended.way_back.url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == REDIRECT_URI
    assert parse_qs(url.query) == {
        "error": ["access_denied"],
        "error_description": [EXPIRED_DESCRIPTION],
        "state": ["nox-state"],
        "iss": [ISSUER],
    }
    assert (await store.auth_sessions.get(auth.id)).status == AUTH_DENIED  # type: ignore[union-attr]
    again = await window.load(auth.id, BROWSER)
    assert isinstance(again, Refused) and again.status == 400


async def test_no_way_back_to_a_redirect_uri_removed_meanwhile(
    store: Store, window: Window, clock: FrozenClock
) -> None:
    auth = await opened(store, window, clock)
    await store.clients.remove_redirect_uri(CLIENT_ID, REDIRECT_URI)
    clock.advance(900)
    ended = await window.load(auth.id, BROWSER)
    assert isinstance(ended, Ended) and ended.way_back is None
