"""NOX's webhooks at POST /nox/webhooks: signed with the NOX API key, fresh, applied once, an
older fact never over a newer one; and what the customer then reads on /account."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from quart.testing import QuartClient
from sqlalchemy import func, select

from idp.nox.webhook_signature import signature
from idp.security.clock import FrozenClock
from idp.store import Store
from idp.store.tables import nox_webhook_receipts
from tests.conftest import NOX_API_KEY, Flow, translated
from tests.test_links import open_session

STEERED = "device.steerable_status.being_steered.updated"
REAUTH = "device.needs_reauthentication.updated"
STEERING = "NOX Energy is steering this device."
NOT_STEERING = "NOX Energy is not steering this device at the moment."
SIGN_IN_AGAIN = "NOX Energy lost access to this device: sign in again at %(brand)s, in the NOX app."


def event(kind: str, value: Any, device_id: str = "pump-1") -> bytes:
    return json.dumps(
        {
            "type": kind,
            "timestamp": 0,
            "id": "evt",
            "data": {"value": value, "previous_value": None},
            "metadata": {"device_id": device_id, "brand": "daikin", "energy_supplier": "x"},
        }
    ).encode()


async def send(
    client: QuartClient,
    body: bytes,
    webhook_id: str,
    at: int,
    key: str = NOX_API_KEY,
    signed: str | None = None,
) -> Any:
    timestamp = str(at)
    return await client.post(
        "/nox/webhooks",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Webhook-Id": webhook_id,
            "X-Webhook-Timestamp": timestamp,
            "X-Webhook-Signature": signed
            or signature(key, "{timestamp}.{body}", timestamp, webhook_id, body),
        },
    )


@pytest.fixture
async def linked(store: Store, seeded: Store, clock: FrozenClock) -> None:
    session = await open_session(store, clock)
    linked = dict(nox_user_id="n1", brand="daikin", connected_at=1, now=clock.now())
    assert await store.links.complete(session, device_ids=["pump-1"], **linked)


async def account(flow: Flow) -> str:
    await flow.code()
    return str(await (await flow.client.get("/account")).get_data(as_text=True))


async def test_steering_and_reauthentication_reach_the_account_page(
    client: QuartClient, flow: Flow, linked: None, clock: FrozenClock
) -> None:
    now = clock.now()
    assert (await send(client, event(STEERED, True), "e1:being_steered", now)).status_code == 204
    assert (await send(client, event(REAUTH, True), "e2:reauth", now)).status_code == 204
    page = await account(flow)
    assert translated(STEERING) in page
    assert translated(SIGN_IN_AGAIN) % {"brand": "daikin"} in page


async def test_a_bad_signature_is_refused_and_recorded(
    client: QuartClient, flow: Flow, linked: None, clock: FrozenClock, store: Store
) -> None:
    body = event(STEERED, True)
    forged = await send(client, body, "e1:x", clock.now(), key="not-the-key-0123456789")
    assert forged.status_code == 401
    assert (await forged.get_json())["error_description"] == "bad_signature"
    [recorded] = await store.events.recent("nox_webhook_bad_signature")
    assert recorded["detail"] == {"webhook_id": "e1:x"}
    # The body changed after signing: refused too.
    timestamp = str(clock.now())
    good = signature(NOX_API_KEY, "{timestamp}.{body}", timestamp, "e2:x", body)
    tampered = await send(client, event(STEERED, False), "e2:x", clock.now(), signed=good)
    assert tampered.status_code == 401
    assert translated(STEERING) not in await account(flow)


@pytest.mark.parametrize("offset", [-301, 301])
async def test_a_stale_or_future_timestamp_is_refused(
    client: QuartClient, flow: Flow, linked: None, clock: FrozenClock, offset: int
) -> None:
    response = await send(client, event(STEERED, True), "e1:x", clock.now() + offset)
    assert response.status_code == 400
    assert (await response.get_json())["error_description"] == "stale_timestamp"
    assert translated(STEERING) not in await account(flow)


async def test_a_repeated_id_changes_nothing(
    client: QuartClient, flow: Flow, linked: None, clock: FrozenClock
) -> None:
    now = clock.now()
    await send(client, event(STEERED, True), "e1:being_steered", now)
    again = await send(client, event(STEERED, False), "e1:being_steered", now + 1)
    assert again.status_code == 204  # acknowledged: NOX must not retry it
    assert translated(STEERING) in await account(flow)


async def test_an_older_fact_does_not_overwrite_a_newer_one(
    client: QuartClient, flow: Flow, linked: None, clock: FrozenClock
) -> None:
    now = clock.now()
    await send(client, event(STEERED, False), "e2:being_steered", now)
    await send(client, event(STEERED, True), "e1:being_steered", now - 60)  # delivered late
    page = await account(flow)
    assert translated(NOT_STEERING) in page and translated(STEERING) not in page


async def test_other_events_and_other_devices_are_acknowledged_and_ignored(
    client: QuartClient, store: Store, linked: None, clock: FrozenClock
) -> None:
    now = clock.now()
    other = await send(client, event("device.battery.updated", 5), "e1:battery", now)
    unknown = await send(client, event(STEERED, True, "not-ours"), "e2:x", now)
    assert (other.status_code, unknown.status_code) == (204, 204)
    assert await store.device_status.of_devices(["not-ours", "pump-1"]) == {}


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Webhook-Id": "e1"}, {"X-Webhook-Id": "e1", "X-Webhook-Timestamp": "soon"}],
)
async def test_missing_headers_are_a_400(client: QuartClient, headers: dict[str, str]) -> None:
    response = await client.post("/nox/webhooks", data=b"{}", headers=headers)
    assert response.status_code == 400


async def test_parallel_deliveries_of_one_webhook_apply_it_once(
    client: QuartClient, linked: None, clock: FrozenClock, store: Store
) -> None:
    """NOX retried while the first delivery was still being handled: four at once, with
    different bodies (as a forger would need a valid signature for each, these are NOX's)."""
    now = clock.now()
    answers = await asyncio.gather(
        *(send(client, event(STEERED, i % 2 == 0), "e1:being_steered", now) for i in range(4))
    )
    assert [a.status_code for a in answers] == [204] * 4
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(nox_webhook_receipts)) == 1
