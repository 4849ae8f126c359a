"""NOX's webhooks end to end: the sandbox signs and sends them over HTTP to `idp serve`, four
copies of one at once (a retry racing the first delivery), and the customer's account page
shows what NOX said. And the sandbox retries as NOX does: a 5xx or no answer again, a 4xx not
(the faults come from a mock transport: the identity provider does not answer 503 on demand)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from idp.sandbox.webhooks import deliver
from idp.security.clock import FrozenClock
from idp.store import Store
from idp.store.tables import nox_webhook_receipts
from tests.e2e import EMAIL, PASSWORD, Customer, Stack, form_fields
from tests.test_links import open_session


async def link_device(stack: Stack, device_id: str) -> None:
    store = Store.connect(stack.database_url)
    try:
        session = await open_session(store, FrozenClock(int(time.time())))
        linked = dict(nox_user_id="n1", brand="daikin", connected_at=1, now=int(time.time()))
        assert await store.links.complete(session, device_ids=[device_id], **linked)
    finally:
        await store.close()


async def receipts(stack: Stack) -> int:
    store = Store.connect(stack.database_url)
    try:
        async with store.engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(nox_webhook_receipts))
            return int(count or 0)
    finally:
        await store.close()


@pytest.mark.e2e
async def test_the_sandbox_sends_signed_webhooks_and_the_account_shows_them(
    stack: Stack, tmp_path: Path
) -> None:
    await link_device(stack, "pump-7")
    async with httpx.AsyncClient(timeout=30) as http:
        sent = await http.post(
            stack.sandbox.url + "/_sandbox/webhooks",
            json={"device_id": "pump-7", "event": "being_steered", "value": True, "copies": 4},
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["attempts"] == [[204]] * 4
        reauth = await http.post(
            stack.sandbox.url + "/_sandbox/webhooks",
            json={"device_id": "pump-7", "event": "needs_reauthentication", "value": True},
        )
        assert reauth.json()["attempts"] == [[204]]
    assert await receipts(stack) == 2  # four copies of the first, applied once

    customer = Customer()
    login = await customer.go(stack.idp.url + "/account/login?language=en")
    await customer.http.post(
        stack.idp.url + "/account/login?language=en",
        data={**form_fields(login.text), "email": EMAIL, "password": PASSWORD},
    )
    page = await customer.go(stack.idp.url + "/account?language=en")
    assert "NOX Energy is steering this device." in page.text
    assert "sign in again at daikin" in page.text
    await customer.close()


async def test_the_sandbox_retries_a_5xx_and_no_answer_but_not_a_4xx() -> None:
    answers = iter([httpx.ConnectError("down"), httpx.Response(503), httpx.Response(204)])
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        found = next(answers)
        if isinstance(found, Exception):
            raise found
        return found

    event = {"type": "device.needs_reauthentication.updated", "data": {"value": True}}
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        attempts = await deliver(
            http, "http://idp/nox/webhooks", "k", "{timestamp}.{body}", "w1", event, (0, 0, 0)
        )
    assert attempts == ["ConnectError", 503, 204]
    assert {r.headers["X-Webhook-Id"] for r in seen} == {"w1"}

    refused = iter([httpx.Response(401), httpx.Response(204)])
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda _: next(refused))) as http:
        attempts = await deliver(
            http, "http://idp/nox/webhooks", "k", "{timestamp}.{body}", "w2", event, (0, 0, 0)
        )
    assert attempts == [401]  # a 4xx is final: NOX does not retry it
