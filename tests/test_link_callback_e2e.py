"""Flow 2's callback across real processes: the identity provider and the NOX sandbox (whose data
API confirms devices), including parallel callbacks for one link session."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e import EMAIL, PASSWORD, SUPPLIER_USER_ID, Customer, Stack

pytestmark = pytest.mark.e2e


@pytest.fixture
async def customer() -> AsyncIterator[Customer]:
    customer = Customer()
    yield customer
    await customer.close()


async def signed_in(customer: Customer, stack: Stack, email: str = EMAIL) -> httpx.Response:
    login = await customer.follow(await customer.go(stack.idp.url + "/account?language=en"))
    account = await customer.follow(
        await customer.submit(login, {"email": email, "password": PASSWORD})
    )
    assert account.status_code == 200 and "/account/link" in account.text
    return account


async def nox_callback(
    customer: Customer, account: httpx.Response, username: str, devices: str = "1"
) -> str:
    """Connect a heat pump at the sandbox; returns the callback URL NOX sends the browser to."""
    data = {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', account.text).group(1),  # type: ignore[union-attr]
        "asset_type": "hp",
        "language": "en",
    }
    started = await customer.http.post(str(account.url).split("?")[0] + "/link", data=data)
    brand_page = await customer.follow(started)
    assert brand_page.status_code == 200, brand_page.text
    maker = await customer.follow(await customer.submit(brand_page, {"brand": "daikin"}))
    done = await customer.submit(
        maker,
        {"username": username, "password": "pw", "accept_terms": "yes", "devices": devices},
    )
    assert done.status_code == 302
    return str(done.headers["location"])


async def history(stack: Stack) -> list[tuple[str, str]]:
    from idp.store import Store

    store = Store.connect(stack.database_url)
    try:
        return [(h["action"], h["device_id"]) for h in await store.links.history()]
    finally:
        await store.close()


async def test_parallel_callbacks_complete_the_session_once(
    stack: Stack, customer: Customer
) -> None:
    account = await signed_in(customer, stack)
    url = await nox_callback(customer, account, "ada-at-daikin", devices="2")
    answers = await asyncio.gather(*(customer.http.get(url) for _ in range(8)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [302] + [400] * 7, statuses
    [linked] = [a for a in answers if a.status_code == 302]
    assert linked.headers["location"] == "/account?language=en"
    devices = await stack.devices()
    assert len(devices) == 2 and set(devices.values()) == {SUPPLIER_USER_ID}
    assert sorted(await history(stack)) == sorted(("linked", d) for d in devices)
    listed = await stack.events("devices_listed")
    assert listed and all(e["user_id"] == SUPPLIER_USER_ID for e in listed)


async def test_a_crafted_payload_for_anothers_device_is_refused_by_nox_data_api(
    stack: Stack, customer: Customer
) -> None:
    """Ada links her pump through NOX; Bob crafts a payload naming it: NOX does not list it for
    him, so nothing moves."""
    account = await signed_in(customer, stack)
    url = await nox_callback(customer, account, "ada-at-daikin")
    assert (await customer.go(url)).status_code == 302
    [pump] = await stack.devices()

    bob = Customer()
    try:
        bob_account = await signed_in(bob, stack, "bob@example.com")
        real = await nox_callback(bob, bob_account, "bob-at-daikin")
        from tests.test_links import b64

        crafted = (
            real.split("?")[0]
            + "?data="
            + b64(
                {
                    "nox_user_id": "nox-bob",
                    "supplier_user_id": "cust-0002",
                    "brand": "daikin",
                    "device_ids": [pump],
                    "connected_at": 1_800_000_000,
                }
            )
        )
        refused = await bob.go(crafted)
        assert refused.status_code == 400
        assert "device_not_confirmed" in refused.text
    finally:
        await bob.close()
    assert await stack.devices() == {pump: SUPPLIER_USER_ID}
