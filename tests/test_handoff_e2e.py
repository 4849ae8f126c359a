"""Flow 1 across real processes: the identity provider, the NOX sandbox, the outbox to NOX's
POST /post-login-redirect, and what happens when NOX is down, refuses, or is slow."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from tests.e2e import API_KEY, SUPPLIER_USER_ID, Customer, Stack, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
async def customer() -> AsyncIterator[Customer]:
    customer = Customer()
    yield customer
    await customer.close()


async def delivered_posts(stack: Stack) -> list[dict]:
    return [e for e in await stack.events("post_login_redirect") if e["answered"] == "ok"]


async def test_normal_case_hands_off_before_the_browser_returns(
    stack: Stack, customer: Customer
) -> None:
    login = await customer.start_at_nox(stack.sandbox.url)
    started = time.monotonic()
    back = await customer.sign_in_and_accept(login)
    waited = time.monotonic() - started
    assert back.status_code == 302
    assert back.headers["location"].startswith(stack.sandbox.url + "/callback?code=")
    result = await customer.follow(back)
    assert result.status_code == 200
    assert str(result.url).startswith(stack.sandbox.url + "/result/")
    assert "Supplier authentication succeeded" in result.text
    assert f'<strong id="supplier-user-id">{SUPPLIER_USER_ID}</strong>' in result.text
    assert "received: supplier_user_id" in result.text
    assert "matches the ID token's sub" in result.text

    [handoff] = await stack.outbox()
    assert handoff.status == "delivered" and handoff.attempts == 1
    [post] = await delivered_posts(stack)
    assert post["idempotency_key"] == handoff.id
    assert post["body"]["supplier_user_id"] == SUPPLIER_USER_ID
    assert post["body"]["client_id"] == "nox"
    assert isinstance(post["body"]["authenticated_at"], int)
    [linked] = await stack.events("supplier_linked")
    assert linked["handoff_received"] is True
    assert post["body"]["state"] == linked["state"]
    print(f"customer waited {waited * 1000:.0f} ms for sign-in + terms + hand-off")


async def test_nox_down_during_sign_in_then_back(stack: Stack, customer: Customer) -> None:
    login = await customer.start_at_nox(stack.sandbox.url)
    stack.sandbox.stop()
    started = time.monotonic()
    back = await customer.sign_in_and_accept(login)
    waited = time.monotonic() - started
    # The customer is not held hostage: the browser still goes to the client, with its code.
    assert back.status_code == 302
    assert "code=" in back.headers["location"]
    [handoff] = await stack.outbox()
    assert handoff.status == "pending"
    assert handoff.last_error and "Connect" in handoff.last_error
    stack.sandbox.start()

    async def delivered() -> bool:
        [h] = await stack.outbox()
        return h.status == "delivered"

    assert await eventually(delivered)
    assert len(await delivered_posts(stack)) == 1
    print(f"customer waited {waited * 1000:.0f} ms with NOX down")


async def test_idp_restart_between_failure_and_recovery(stack: Stack, customer: Customer) -> None:
    await stack.control(post_login_redirect="503")
    back = await customer.sign_in_and_accept(await customer.start_at_nox(stack.sandbox.url))
    assert back.status_code == 302
    [handoff] = await stack.outbox()
    assert handoff.status == "pending" and handoff.last_status == 503
    stack.idp.stop()
    await stack.control(post_login_redirect="ok")
    stack.idp.start()

    async def delivered() -> bool:
        [h] = await stack.outbox()
        return h.status == "delivered"

    assert await eventually(delivered)
    time.sleep(1.5)  # several worker rounds: nothing is sent again
    assert len(await delivered_posts(stack)) == 1
    attempts = [e for e in await stack.events("post_login_redirect")]
    assert {e["idempotency_key"] for e in attempts} == {handoff.id}


async def test_nox_refusing_with_4xx_is_not_retried(stack: Stack, customer: Customer) -> None:
    await stack.control(post_login_redirect="400")
    back = await customer.sign_in_and_accept(await customer.start_at_nox(stack.sandbox.url))
    assert back.status_code == 302
    [handoff] = await stack.outbox()
    assert handoff.status == "failed"
    assert handoff.last_status == 400
    assert "sandbox told to answer 400" in handoff.last_error
    time.sleep(1.5)
    assert len(await stack.events("post_login_redirect")) == 1


async def test_slow_nox_costs_the_customer_no_more_than_the_timeout(
    stack: Stack, customer: Customer
) -> None:
    await stack.control(post_login_redirect="slow", delay=8, for_seconds=4)
    login = await customer.start_at_nox(stack.sandbox.url)
    started = time.monotonic()
    back = await customer.sign_in_and_accept(login)
    waited = time.monotonic() - started
    assert back.status_code == 302
    assert waited < 4, f"the customer waited {waited:.1f} s; the hand-off timeout is 1 s"
    [handoff] = await stack.outbox()
    assert handoff.status == "pending"

    async def delivered() -> bool:
        [h] = await stack.outbox()
        return h.status == "delivered"

    assert await eventually(delivered, timeout=30)
    print(f"customer waited {waited * 1000:.0f} ms with NOX slow")


async def test_wrong_api_key_is_refused_by_the_sandbox(stack: Stack) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        response = await http.post(
            stack.sandbox.url + "/post-login-redirect",
            json={"supplier_user_id": "x", "state": "s", "client_id": "nox", "authenticated_at": 1},
            headers={"x-api-key": API_KEY + "-wrong"},
        )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_api_key"
    [rejected] = await stack.events("post_login_redirect_rejected")
    assert rejected["error"] == "invalid_api_key"
