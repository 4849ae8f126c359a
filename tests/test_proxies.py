"""IDP_TRUSTED_PROXIES: X-Forwarded-For believed only from a listed proxy (issue 9)."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import pytest
from quart import Quart

from idp.app import create_app
from idp.config import ConfigError, Settings
from idp.security.clock import FrozenClock
from idp.store import Store
from idp.web.edge import forwarded_client
from tests.conftest import add_user, csrf_of

TRUSTED = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32"))


@pytest.mark.parametrize(
    ("peer", "xff", "client"),
    [
        ("10.0.0.1", ["203.0.113.9"], "203.0.113.9"),
        ("10.0.0.1", ["198.51.100.66, 203.0.113.9"], "203.0.113.9"),  # left part: the sender's
        ("10.0.0.1", ["203.0.113.9, 10.0.0.7"], "203.0.113.9"),  # a chain of our proxies
        ("10.0.0.1", ["203.0.113.9", "10.0.0.7"], "203.0.113.9"),  # repeated headers
        ("10.0.0.1", ["10.0.0.8, 10.0.0.7"], "10.0.0.8"),  # only proxies: the left-most
        ("10.0.0.1", ["nonsense, 203.0.113.9"], "203.0.113.9"),
        ("10.0.0.1", ["203.0.113.9, nonsense"], "10.0.0.1"),  # not what our proxy writes
        ("10.0.0.1", [], "10.0.0.1"),
        ("::ffff:10.0.0.1", ["203.0.113.9"], "203.0.113.9"),  # IPv4-mapped peer
        ("2001:db8::1", ["[2001:db8:1::5]"], "2001:db8:1::5"),  # inside the trusted /32
        ("2001:db8::1", ["2a00::5"], "2a00::5"),
        ("198.51.100.1", ["203.0.113.9"], "198.51.100.1"),  # not a proxy: header ignored
        ("<local>", ["203.0.113.9"], "<local>"),
    ],
)
def test_the_right_most_untrusted_address_is_the_client(
    peer: str, xff: list[str], client: str
) -> None:
    assert forwarded_client(peer, xff, TRUSTED) == client


def test_no_trusted_proxies_means_the_peer() -> None:
    assert forwarded_client("10.0.0.1", ["203.0.113.9"], ()) == "10.0.0.1"


def test_a_bad_proxy_list_fails_at_start_up() -> None:
    with pytest.raises(ConfigError, match="IDP_TRUSTED_PROXIES"):
        Settings(trusted_proxies="10.0.0.0/8 not-an-ip")


@pytest.fixture
async def proxied_app(settings: Settings, clock: FrozenClock) -> AsyncIterator[Quart]:
    app = create_app(settings.with_overrides(trusted_proxies="10.0.0.0/8, 127.0.0.1"), clock)
    async with app.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


async def failed_sign_in(app: Quart, peer: str, xff: str | None) -> int:
    client = app.test_client()
    scope = {"client": (peer, 40000)}
    headers = {"X-Forwarded-For": xff} if xff else {}
    page = await client.get("/account/login", scope_base=scope, headers=headers)
    response = await client.post(
        "/account/login",
        scope_base=scope,
        headers=headers,
        form={
            "csrf_token": csrf_of(await page.get_data(as_text=True)),
            "email": "ada@example.com",
            "password": "wrong",
        },
    )
    return response.status_code


async def test_throttle_and_audit_see_the_customer_behind_the_proxy(proxied_app: Quart) -> None:
    store: Store = proxied_app.extensions["idp"].store
    await add_user(store)
    assert await failed_sign_in(proxied_app, "10.0.0.1", "198.51.100.66, 203.0.113.9") == 401
    assert await failed_sign_in(proxied_app, "192.0.2.50", "203.0.113.77") == 401  # spoofed
    throttled = await store.throttles.get(
        ["ip:203.0.113.9", "ip:192.0.2.50", "ip:10.0.0.1", "ip:198.51.100.66", "ip:203.0.113.77"]
    )
    assert {k: v[0] for k, v in throttled.items()} == {"ip:203.0.113.9": 1, "ip:192.0.2.50": 1}
    events = await store.events.recent("signin_failed")
    assert sorted(e["ip"] for e in events) == ["192.0.2.50", "203.0.113.9"]


async def test_without_the_setting_the_header_is_ignored(app: Quart, store: Store) -> None:
    await add_user(store)
    assert await failed_sign_in(app, "10.0.0.1", "203.0.113.9") == 401
    assert list(await store.throttles.get(["ip:10.0.0.1", "ip:203.0.113.9"])) == ["ip:10.0.0.1"]


@pytest.mark.parametrize("host", [".", "a..b", "\u00e9" * 70, "x" * 70])
async def test_a_host_the_router_cannot_read_is_a_400(client, seeded, host: str) -> None:
    response = await client.get("/account/login", headers={"Host": host})
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "no-store"


async def test_an_ordinary_host_is_served(client, seeded) -> None:
    response = await client.get("/healthz", headers={"Host": "login.example:8443"})
    assert response.status_code == 200
