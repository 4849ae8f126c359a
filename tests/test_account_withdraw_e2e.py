"""Withdrawing an app's access on /account while that app refreshes its tokens, with real
parallel requests against a real `idp serve` process: whatever the interleaving, no token of
that app for that customer is left alive, a refresh that won meanwhile hands out a dead token,
and the customer's tokens at another app are untouched."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from idp.store import Store
from idp.store.tables import tokens
from tests.e2e import CLIENT_SECRET, EMAIL, PASSWORD, Customer, Stack, form_fields
from tests.test_token_races_e2e import (  # noqa: F401 - idp: the same served stack
    OTHER_SECRET,
    assert_dead,
    exchange_form,
    idp,
    refresh_form,
    seed_code,
)

pytestmark = pytest.mark.e2e

REFRESHES = 4
ROUNDS = 4


async def live_tokens(stack: Stack, client_id: str) -> int:
    store = Store.connect(stack.database_url)
    try:
        async with store.grants.engine.connect() as conn:
            found = await conn.scalar(
                select(func.count())
                .select_from(tokens)
                .where(tokens.c.client_id == client_id, tokens.c.revoked_at.is_(None))
            )
            return int(found or 0)
    finally:
        await store.close()


async def exchange(http: httpx.AsyncClient, stack: Stack, client: str, secret: str) -> Any:
    """Tokens of customer 1 for `client`, from a code seeded in the database."""
    code, verifier = await seed_code(stack, client)
    response = await http.post(
        stack.idp.url + "/token", data=exchange_form(stack, code, verifier), auth=(client, secret)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def signed_in_account(stack: Stack) -> Customer:
    customer = Customer()
    login = await customer.go(stack.idp.url + "/account/login")
    answer = await customer.submit(login, {"email": EMAIL, "password": PASSWORD})
    assert answer.headers["location"] == "/account", answer.text
    return customer


async def test_withdrawal_racing_refreshes_leaves_no_live_token(idp: Stack) -> None:  # noqa: F811
    customer = await signed_in_account(idp)
    async with httpx.AsyncClient(timeout=60) as http:
        others = await exchange(http, idp, "other", OTHER_SECRET)
        for _ in range(ROUNDS):
            issued = await exchange(http, idp, "nox", CLIENT_SECRET)
            page = await customer.go(idp.idp.url + "/account")
            csrf = form_fields(page.text)["csrf_token"]
            refreshes = [
                http.post(
                    idp.idp.url + "/token",
                    data=refresh_form(issued["refresh_token"]),
                    auth=("nox", CLIENT_SECRET),
                )
                for _ in range(REFRESHES)
            ]
            withdrawal = customer.http.post(
                idp.idp.url + "/account/access/withdraw",
                data={"csrf_token": csrf, "client_id": "nox"},
            )
            *answers, withdrawn = await asyncio.gather(*refreshes, withdrawal)
            assert withdrawn.status_code == 302
            for won in [r.json() for r in answers if r.status_code == 200]:
                await assert_dead(http, idp, won)
            await assert_dead(http, idp, issued)
            assert await live_tokens(idp, "nox") == 0
        userinfo = await http.get(
            idp.idp.url + "/userinfo",
            headers={"Authorization": f"Bearer {others['access_token']}"},
        )
        assert userinfo.status_code == 200
        assert await live_tokens(idp, "other") == 1
    await customer.close()
