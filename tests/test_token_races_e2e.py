"""Races at POST /token, with real parallel requests against a real `idp serve` process:
refresh rotation (RFC 9700 §4.14.2), code replay during the exchange (RFC 6749 §4.1.2), and
another client presenting a refresh token (RFC 6749 §6).

Whatever the interleaving, these hold: at most one request wins; every other one is
`invalid_grant`; once a code or refresh token was presented twice, nothing issued from it is
left alive (and a token handed out meanwhile is dead on arrival)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from idp.security.secrets import digest, new_secret
from idp.store import Store
from idp.store.tables import tokens
from tests.conftest import pkce_pair
from tests.e2e import CLIENT_SECRET, Stack

pytestmark = pytest.mark.e2e

PARALLEL = 8
ROUNDS = 3
OTHER_SECRET = "other-client-secret-0123456789-abcdef"


@pytest.fixture
async def idp(tmp_path: Path) -> AsyncIterator[Stack]:
    """`idp serve` on a real SQLite database, with the NOX client and a second client."""
    stack = Stack(tmp_path)
    await stack.seed(handoff_mode="redirect")
    store = Store.connect(stack.database_url)
    try:
        await store.clients.add(
            client_id="other",
            name="Other",
            secret_hash=digest(OTHER_SECRET),
            token_endpoint_auth_method="client_secret_basic",
            grant_types=["authorization_code", "refresh_token"],
            scopes=["openid", "profile", "email"],
            redirect_uris=[stack.sandbox.url + "/callback"],
            now=0,
        )
    finally:
        await store.close()
    try:
        stack.idp.start()
        yield stack
    finally:
        stack.stop()
        print(stack.logs())  # pytest shows it only when the test failed


async def seed_code(stack: Stack, client_id: str = "nox") -> tuple[str, str]:
    """A fresh code for customer 1 of `client_id`, straight into the database."""
    code, (verifier, challenge) = new_secret(32), pkce_pair()
    now = int(time.time())
    store = Store.connect(stack.database_url)
    try:
        await store.grants.add_code(
            code_hash=digest(code),
            client_id=client_id,
            user_id=1,
            redirect_uri=stack.sandbox.url + "/callback",
            scope="openid",
            nonce=None,
            code_challenge=challenge,
            code_challenge_method="S256",
            auth_time=now,
            auth_session_id=None,
            now=now,
            expires_at=now + 60,
        )
    finally:
        await store.close()
    return code, verifier


async def live_tokens(stack: Stack) -> int:
    store = Store.connect(stack.database_url)
    try:
        async with store.grants.engine.connect() as conn:
            return int(
                await conn.scalar(
                    select(func.count()).select_from(tokens).where(tokens.c.revoked_at.is_(None))
                )
                or 0
            )
    finally:
        await store.close()


async def events(stack: Stack, kind: str) -> list[dict[str, Any]]:
    store = Store.connect(stack.database_url)
    try:
        return await store.events.recent(kind)
    finally:
        await store.close()


def exchange_form(stack: Stack, code: str, verifier: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": stack.sandbox.url + "/callback",
        "code_verifier": verifier,
    }


def refresh_form(refresh_token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh_token}


async def post_all(
    http: httpx.AsyncClient, url: str, requests: list[tuple[dict[str, str], tuple[str, str]]]
) -> list[httpx.Response]:
    return list(await asyncio.gather(*(http.post(url, data=d, auth=a) for d, a in requests)))


def assert_one_winner_at_most(responses: list[httpx.Response]) -> list[httpx.Response]:
    won = [r for r in responses if r.status_code == 200]
    lost = [r for r in responses if r.status_code != 200]
    assert len(won) <= 1, [r.status_code for r in responses]
    assert [(r.status_code, r.json()["error"]) for r in lost] == [(400, "invalid_grant")] * len(
        lost
    )
    return won


async def assert_dead(http: httpx.AsyncClient, stack: Stack, body: dict[str, Any]) -> None:
    """A token handed out by a request that won a race that was then lost to a replay."""
    userinfo = await http.get(
        stack.idp.url + "/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert userinfo.status_code == 401
    again = await http.post(
        stack.idp.url + "/token",
        data=refresh_form(body["refresh_token"]),
        auth=("nox", CLIENT_SECRET),
    )
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize("parallel", [2, PARALLEL])
async def test_parallel_exchanges_of_one_code_leave_no_live_token(
    idp: Stack, parallel: int
) -> None:
    """With two requests the replay often lands while the first is still issuing its tokens."""
    async with httpx.AsyncClient(timeout=60) as http:
        for round_ in range(1, 2 * ROUNDS + 1):
            code, verifier = await seed_code(idp)
            form = exchange_form(idp, code, verifier)
            responses = await post_all(
                http, idp.idp.url + "/token", [(form, ("nox", CLIENT_SECRET))] * parallel
            )
            for body in [r.json() for r in assert_one_winner_at_most(responses)]:
                await assert_dead(http, idp, body)
            assert await live_tokens(idp) == 0
            assert len(await events(idp, "code_replay")) == round_ * (parallel - 1)


async def test_parallel_refreshes_revoke_the_family(idp: Stack) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        for round_ in range(1, ROUNDS + 1):
            code, verifier = await seed_code(idp)
            first = await http.post(
                idp.idp.url + "/token",
                data=exchange_form(idp, code, verifier),
                auth=("nox", CLIENT_SECRET),
            )
            assert first.status_code == 200
            form = refresh_form(first.json()["refresh_token"])
            responses = await post_all(
                http, idp.idp.url + "/token", [(form, ("nox", CLIENT_SECRET))] * PARALLEL
            )
            for body in [r.json() for r in assert_one_winner_at_most(responses)]:
                await assert_dead(http, idp, body)
            # The access token of the first exchange belongs to the family too.
            await assert_dead(http, idp, first.json())
            assert await live_tokens(idp) == 0
            reuse = await events(idp, "refresh_token_reuse")
            assert len(reuse) >= round_  # the first loser, at least, saw it rotated


async def test_other_clients_in_parallel_cannot_burn_a_refresh_token(idp: Stack) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        for _ in range(ROUNDS):
            code, verifier = await seed_code(idp)
            first = await http.post(
                idp.idp.url + "/token",
                data=exchange_form(idp, code, verifier),
                auth=("nox", CLIENT_SECRET),
            )
            form = refresh_form(first.json()["refresh_token"])
            requests = [(form, ("other", OTHER_SECRET))] * (PARALLEL - 1)
            requests.insert(PARALLEL // 2, (form, ("nox", CLIENT_SECRET)))
            responses = await post_all(http, idp.idp.url + "/token", requests)
            rightful = responses.pop(PARALLEL // 2)
            assert rightful.status_code == 200, rightful.text
            assert [(r.status_code, r.json()["error"]) for r in responses] == [
                (400, "invalid_grant")
            ] * (PARALLEL - 1)
            assert await live_tokens(idp) >= 1
        assert await events(idp, "refresh_token_reuse") == []
