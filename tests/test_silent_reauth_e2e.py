"""Over real processes (idp serve + the NOX sandbox): an attacker who copies the /authorize URL
of their own NOX session, with their own `state`, into the browser of a customer who is still
signed in must not get NOX to map their account to that customer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e import SUPPLIER_USER_ID, Customer, Stack, form_fields

pytestmark = pytest.mark.e2e


@pytest.fixture
async def victim(stack: Stack) -> AsyncIterator[Customer]:
    """A customer who linked once, in a browser that stays signed in."""
    customer = Customer()
    back = await customer.sign_in_and_accept(await customer.start_at_nox(stack.sandbox.url))
    assert back.headers["location"].startswith(stack.sandbox.url + "/callback?code=")
    await customer.follow(back)
    yield customer
    await customer.close()


@pytest.fixture
async def attacker() -> AsyncIterator[Customer]:
    customer = Customer()
    yield customer
    await customer.close()


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


async def handoff_states(stack: Stack) -> list[str]:
    return [h.body["state"] for h in await stack.outbox()]


async def test_foreign_state_gets_the_confirmation_page_not_a_hand_off(
    stack: Stack, victim: Customer, attacker: Customer
) -> None:
    lure = await attacker.authorize_url_from_nox(stack.sandbox.url)
    before = await handoff_states(stack)
    page = await victim.follow(await victim.go(lure))
    assert page.status_code == 200
    assert urlsplit(str(page.url)).path.endswith("/confirm")
    assert "Ada Lovelace" in page.text
    assert await handoff_states(stack) == before  # NOX heard nothing about the lure's state
    assert state_of(lure) not in before
    posted = [e["body"]["state"] for e in await stack.events("post_login_redirect")]
    assert state_of(lure) not in posted


async def test_foreign_state_with_prompt_none_is_refused(
    stack: Stack, victim: Customer, attacker: Customer
) -> None:
    lure = await attacker.authorize_url_from_nox(stack.sandbox.url) + "&prompt=none"
    before = await handoff_states(stack)
    answer = await victim.go(lure)
    assert answer.status_code == 302
    params = parse_qs(urlsplit(answer.headers["location"]).query)
    assert params["error"] == ["interaction_required"]
    assert params["state"] == [state_of(lure)]
    assert "code" not in params
    assert await handoff_states(stack) == before


async def test_parallel_continues_hand_off_once(stack: Stack, victim: Customer) -> None:
    """The customer's own second link: "Continue" posted four times at once (double clicks,
    two tabs) issues one code and one hand-off."""
    url = await victim.authorize_url_from_nox(stack.sandbox.url)
    confirm = await victim.follow(await victim.go(url))
    assert urlsplit(str(confirm.url)).path.endswith("/confirm")
    fields = {**form_fields(confirm.text), "action": "continue"}
    answers = await asyncio.gather(
        *(victim.http.post(str(confirm.url), data=fields) for _ in range(4))
    )
    to_nox = [a for a in answers if a.status_code == 302 and "code=" in a.headers["location"]]
    assert len(to_nox) == 1, [a.status_code for a in answers]
    assert sorted(a.status_code for a in answers) == [302, 400, 400, 400]
    handoffs = [h for h in await stack.outbox() if h.body["state"] == state_of(url)]
    assert len(handoffs) == 1
    assert handoffs[0].body["supplier_user_id"] == SUPPLIER_USER_ID
