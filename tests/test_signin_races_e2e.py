"""Sign-in throttling under a burst, against a real `idp serve`: the attempt is counted before
the password is checked, so of 40 parallel wrong passwords for one account only the free
failures are ever verified; the rest are refused up front with 429."""

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
from tests.e2e import EMAIL, Stack

pytestmark = pytest.mark.e2e

BURST = 40
FREE_FAILURES = 5  # IDP_SIGNIN_FREE_FAILURES (default)
ADMIN_EMAIL = "owner@example.com"
ADMIN_PASSWORD = "a long admin password 0123"


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


async def burst(url: str, form: dict[str, str]) -> Counter[int]:
    """GET the form once (cookie + CSRF token), then POST it BURST times at once."""
    async with httpx.AsyncClient(timeout=120) as http:
        page = await http.get(url)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, page.text
        data = {**form, "csrf_token": token.group(1)}
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
