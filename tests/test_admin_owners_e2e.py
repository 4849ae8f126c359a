"""The last owner stays, against a real `idp serve` on 2 workers: two owners who remove (or
demote) each other at the same moment, through the console, leave exactly one owner. Each
change takes the rows of every active owner first (store/admins.py), so the second is decided
after the first and sees it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pyotp
import pytest

from idp.security import passwords
from idp.store import Store
from tests.e2e import Stack

pytestmark = pytest.mark.e2e

PASSWORD = "a long admin password 0123"
ROUNDS = 4  # each round: two fresh owners, each changing the other at once


@dataclass
class Owner:
    id: int
    email: str
    secret: str


@pytest.fixture
async def idp_two_workers(tmp_path: Path) -> AsyncIterator[Stack]:
    stack = Stack(tmp_path)
    await stack.seed()
    stack.idp = replace(stack.idp, argv=[*stack.idp.argv, "--workers", "2"])
    with stack.running(sandbox=False):
        yield stack


async def add_owners(stack: Stack, round_: int) -> list[Owner]:
    store = Store.connect(stack.database_url)
    owners = []
    try:
        for name in ("a", "b"):
            email, secret = f"{name}{round_}@supplier.example", pyotp.random_base32()
            admin_id = await store.admins.add(
                email=email,
                password_hash=passwords.hash_password(PASSWORD),
                role="owner",
                totp_secret=secret,
                now=int(time.time()),
            )
            owners.append(Owner(admin_id, email, secret))
    finally:
        await store.close()
    return owners


async def remaining_owners(stack: Stack) -> list[str]:
    store = Store.connect(stack.database_url)
    try:
        return [a.email for a in await store.admins.all() if a.role == "owner"]
    finally:
        await store.close()


async def remove_every_other_owner(stack: Stack, keep: set[str]) -> None:
    """Between rounds: only the owners of this round are there (the store, not the console)."""
    store = Store.connect(stack.database_url)
    try:
        for admin in await store.admins.all():
            if admin.email not in keep:
                await store.admins.remove(admin.id)
    finally:
        await store.close()


async def signed_in(base: str, owner: Owner) -> tuple[httpx.AsyncClient, str]:
    """A console session of `owner` and its CSRF token."""
    # The console in English, which these assertions read (it follows Accept-Language).
    http = httpx.AsyncClient(base_url=base, timeout=60, headers={"Accept-Language": "en"})
    page = await http.get("/admin/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf, page.text
    answer = await http.post(
        "/admin/login",
        data={
            "csrf_token": csrf.group(1),
            "email": owner.email,
            "password": PASSWORD,
            "code": pyotp.TOTP(owner.secret).now(),
        },
    )
    assert answer.status_code == 302 and answer.headers["location"] == "/admin", answer.text
    page = await http.get("/admin/admins")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf, page.text
    return http, csrf.group(1)


@pytest.mark.parametrize("change", ["remove", "demote"])
async def test_two_owners_changing_each_other_at_once_leave_one_owner(
    idp_two_workers: Stack, change: str
) -> None:
    base = idp_two_workers.idp.url
    for round_ in range(ROUNDS):
        a, b = await add_owners(idp_two_workers, round_)
        await remove_every_other_owner(idp_two_workers, {a.email, b.email})
        (http_a, csrf_a), (http_b, csrf_b) = await asyncio.gather(
            signed_in(base, a), signed_in(base, b)
        )
        try:
            if change == "remove":
                form = {"confirm": "yes"}
                answers = await asyncio.gather(
                    http_a.post(
                        f"/admin/admins/{b.id}/remove", data={**form, "csrf_token": csrf_a}
                    ),
                    http_b.post(
                        f"/admin/admins/{a.id}/remove", data={**form, "csrf_token": csrf_b}
                    ),
                )
            else:
                form = {"role": "viewer"}
                answers = await asyncio.gather(
                    http_a.post(f"/admin/admins/{b.id}/role", data={**form, "csrf_token": csrf_a}),
                    http_b.post(f"/admin/admins/{a.id}/role", data={**form, "csrf_token": csrf_b}),
                )
        finally:
            await http_a.aclose()
            await http_b.aclose()
        # One change went through (back to the list); the other was refused as the last owner's
        # (400), or came after the first and found its session ended with its admin (to the
        # login page) or its admin a viewer (403).
        named = {400: "refused", 403: "forbidden"}
        outcomes = sorted(
            named.get(answer.status_code) or answer.headers.get("location", "?")
            for answer in answers
        )
        other = {"remove": ("/admin/login", "refused"), "demote": ("forbidden", "refused")}[change]
        assert outcomes[0] == "/admin/admins" and outcomes[1] in other, outcomes
        owners = await remaining_owners(idp_two_workers)
        assert len(owners) == 1 and owners[0] in (a.email, b.email), (round_, owners, outcomes)
