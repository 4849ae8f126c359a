"""Sign-in throttling under a burst, against a real `idp serve`: the attempt is counted before
the password is checked, so of 40 parallel wrong passwords for one account only the free
failures are ever verified; the rest are refused up front with 429. And a flood from an address
that must wait never makes the account it names wait: its owner signs in meanwhile."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pyotp
import pytest

from idp.security import passwords
from idp.store import Store
from tests.e2e import EMAIL, PASSWORD, Stack

pytestmark = pytest.mark.e2e

BURST = 40
FREE_FAILURES = 5  # IDP_SIGNIN_FREE_FAILURES (default)
ADMIN_EMAIL = "owner@example.com"
ADMIN_PASSWORD = "a long admin password 0123"
# Addresses of their own on the loopback network (Linux answers all of 127.0.0.0/8 locally).
ATTACKER, OWNER = "127.0.0.3", "127.0.0.4"
FLOOD, IN_FLIGHT = 400, 40


@pytest.fixture
async def idp_only(tmp_path: Path) -> AsyncIterator[Stack]:
    """The identity provider alone (no sandbox: nothing here talks to NOX)."""
    stack = Stack(tmp_path)
    await stack.seed()
    store = Store.connect(stack.database_url)
    try:
        await store.admins.add(
            email=ADMIN_EMAIL,
            password_hash=passwords.hash_password(ADMIN_PASSWORD),
            role="owner",
            totp_secret=pyotp.random_base32(),
            now=0,
        )
    finally:
        await store.close()
    with stack.running(sandbox=False):
        yield stack


async def stored_state(stack: Stack, key: str, event: str) -> tuple[int, int]:
    """(failures counted for `key`, security events of kind `event`)."""
    store = Store.connect(stack.database_url)
    try:
        found = await store.throttles.get([key])
        events = await store.events.recent(event, limit=1000)
    finally:
        await store.close()
    return found[key][0], len([e for e in events if e["kind"] == event])


async def csrf(http: httpx.AsyncClient, url: str) -> str:
    """GET the form (its cookie comes with it): the CSRF token in it."""
    page = await http.get(url)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    return token.group(1)


async def burst(url: str, form: dict[str, str]) -> Counter[int]:
    """GET the form once (cookie + CSRF token), then POST it BURST times at once."""
    async with httpx.AsyncClient(timeout=120) as http:
        data = {**form, "csrf_token": await csrf(http, url)}
        answers = await asyncio.gather(*(http.post(url, data=data) for _ in range(BURST)))
    return Counter(a.status_code for a in answers)


async def test_parallel_wrong_passwords_are_counted_before_checking(idp_only: Stack) -> None:
    statuses = await burst(
        idp_only.idp.url + "/account/login", {"email": EMAIL, "password": "wrong password"}
    )
    failures, verified = await stored_state(idp_only, f"account:{EMAIL}", "signin_failed")
    assert statuses == {401: FREE_FAILURES, 429: BURST - FREE_FAILURES}, statuses
    assert failures == FREE_FAILURES
    assert verified == FREE_FAILURES  # one signin_failed event per password actually checked


async def test_parallel_wrong_admin_passwords_are_counted_before_checking(
    idp_only: Stack,
) -> None:
    statuses = await burst(
        idp_only.idp.url + "/admin/login",
        {"email": ADMIN_EMAIL, "password": "wrong password", "code": "123456"},
    )
    failures, verified = await stored_state(
        idp_only, f"admin-account:{ADMIN_EMAIL}", "admin_signin_failed"
    )
    assert statuses == {401: FREE_FAILURES, 429: BURST - FREE_FAILURES}, statuses
    assert failures == FREE_FAILURES
    assert verified == FREE_FAILURES


@pytest.fixture
async def strict_idp(tmp_path: Path) -> AsyncIterator[Stack]:
    """The identity provider alone, throttling after one failure per account and three per
    address."""
    stack = Stack(tmp_path)
    await stack.seed()
    stack.idp.env.update(IDP_SIGNIN_FREE_FAILURES="1", IDP_SIGNIN_IP_FREE_FAILURES="3")
    with stack.running(sandbox=False):
        yield stack


def client_from(address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=120, transport=httpx.AsyncHTTPTransport(local_address=address))


async def sign_in(http: httpx.AsyncClient, url: str, email: str, password: str) -> int:
    """A fresh browser's sign-in: the status of its POST."""
    http.cookies.clear()
    data = {"csrf_token": await csrf(http, url), "email": email, "password": password}
    return (await http.post(url, data=data)).status_code


async def test_a_flood_from_a_throttled_address_never_throttles_the_account_it_names(
    strict_idp: Stack,
) -> None:
    url = strict_idp.idp.url + "/account/login"
    async with client_from(ATTACKER) as attacker, client_from(OWNER) as owner:
        for n in range(3):  # the attacker's address uses up its free failures on other names
            assert await sign_in(attacker, url, f"nobody{n}@example.com", "wrong") == 401
        assert await sign_in(attacker, url, "nobody@example.com", "wrong") == 429
        flooding = True

        async def owner_signs_in() -> Counter[int]:
            statuses: Counter[int] = Counter()
            while flooding:
                statuses[await sign_in(owner, url, EMAIL, PASSWORD)] += 1
            return statuses

        signing_in = asyncio.create_task(owner_signs_in())
        attacker.cookies.clear()
        data = {"csrf_token": await csrf(attacker, url), "email": EMAIL, "password": "guess"}
        in_flight = asyncio.Semaphore(IN_FLIGHT)

        async def guess() -> int:
            async with in_flight:
                return (await attacker.post(url, data=data)).status_code

        flood = Counter(await asyncio.gather(*(guess() for _ in range(FLOOD))))
        flooding = False
        owners = await signing_in
    assert flood == {429: FLOOD}, flood
    assert set(owners) == {302}, owners  # every sign-in of the owner went through
