"""An invitation link works once, against a real `idp serve` on 2 workers: two browsers that
opened the same link confirm the enrolment with the same code at the same moment; one is signed
in, the other is told the link was used, and one enrolment is recorded (the conditional UPDATE in
idp/store/admin_enrolments.py)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pyotp
import pytest

from idp.admin.actions import Actor, AdminActions
from idp.config import Settings
from idp.security.clock import SystemClock
from idp.store import Store
from tests.e2e import Stack

pytestmark = pytest.mark.e2e

ROUNDS = 4
PASSWORD = "the invited admin's password"


@pytest.fixture
async def idp_two_workers(tmp_path: Path) -> AsyncIterator[Stack]:
    stack = Stack(tmp_path)
    await stack.seed()
    stack.idp = replace(stack.idp, argv=[*stack.idp.argv, "--workers", "2"])
    with stack.running(sandbox=False):
        yield stack


async def invite(stack: Stack, email: str) -> str:
    """An invitation made as the console makes it; the path of its link."""
    store = Store.connect(stack.database_url)
    try:
        settings = Settings(database_url=stack.database_url, var_dir=str(stack.tmp))
        link = await AdminActions(store, SystemClock(), settings).invite_admin(
            Actor("test"), email, "viewer"
        )
    finally:
        await store.close()
    return link.link.split("/", 3)[3]


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def opened(base: str, link: str) -> tuple[httpx.AsyncClient, str]:
    """A browser that opened the link; the CSRF token of the page it landed on."""
    # The console in English, which these assertions read (it follows Accept-Language).
    http = httpx.AsyncClient(base_url=base, timeout=60, headers={"Accept-Language": "en"})
    answer = await http.get("/" + link)
    assert answer.status_code == 302 and answer.headers["location"] == "/admin/enrol", answer.text
    return http, csrf_of(await http.get("/admin/enrol"))


async def events(stack: Stack, kind: str) -> list[dict[str, object]]:
    store = Store.connect(stack.database_url)
    try:
        return await store.events.recent(kind)
    finally:
        await store.close()


async def test_two_confirmations_at_once_enrol_once(idp_two_workers: Stack) -> None:
    base = idp_two_workers.idp.url
    for round_ in range(ROUNDS):
        email = f"new{round_}@supplier.example"
        link = await invite(idp_two_workers, email)
        (a, csrf_a), (b, csrf_b) = await asyncio.gather(opened(base, link), opened(base, link))
        try:
            chosen = await a.post(
                "/admin/enrol/password",
                data={"csrf_token": csrf_a, "password": PASSWORD, "confirm": PASSWORD},
            )
            assert chosen.headers.get("location") == "/admin/enrol", chosen.text
            page = await b.get("/admin/enrol")  # the other browser sees the same secret
            secret = re.search(r"secret=([A-Z2-7]+)", page.text).group(1)  # type: ignore[union-attr]
            code = pyotp.TOTP(secret).now()
            answers = await asyncio.gather(
                a.post("/admin/enrol/confirm", data={"csrf_token": csrf_a, "code": code}),
                b.post("/admin/enrol/confirm", data={"csrf_token": csrf_b, "code": code}),
            )
            outcomes = sorted(
                answer.headers.get("location") or str(answer.status_code) for answer in answers
            )
            assert outcomes == ["/admin", "400"], (round_, outcomes)
            loser = answers[0] if answers[0].status_code == 400 else answers[1]
            assert "expired or was already used" in loser.text
            winner = a if answers[0].status_code == 302 else b
            assert (await winner.get("/admin")).status_code == 200
        finally:
            await a.aclose()
            await b.aclose()
        enrolled = [e for e in await events(idp_two_workers, "admin.admin.enrolled")]
        assert [e["actor"] for e in enrolled if e["actor"] == f"admin:{email}"] == [
            f"admin:{email}"
        ]
        signed_in = await events(idp_two_workers, "admin.signed_in")
        assert [e["actor"] for e in signed_in].count(f"admin:{email}") == 1
