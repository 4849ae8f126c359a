"""/metrics scraped from a real `idp serve --workers 2` next to the NOX sandbox: each metric moves
when its event happens (a sign-in, a code, a hand-off, a token, a link session and its
callback, NOX calls), and a scrape sums the two workers' counts, whichever answers it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e import Customer, Stack, eventually
from tests.test_link_callback_e2e import nox_callback, signed_in

pytestmark = pytest.mark.e2e

TOKEN = "metrics-token-0123456789"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    stack = Stack(tmp_path)
    await stack.seed()
    env = {**stack.idp.env, "IDP_METRICS_TOKEN": TOKEN}
    stack.idp = replace(stack.idp, env=env, argv=[*stack.idp.argv, "--workers", "2"])
    with stack.running():
        yield stack


async def scrape(base: str) -> Samples:
    async with httpx.AsyncClient(timeout=20) as http:
        answer = await http.get(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_each_metric_moves_and_the_workers_are_summed(stack: Stack) -> None:
    base = stack.idp.url
    async with httpx.AsyncClient(timeout=20) as http:
        refused = await http.get(base + "/metrics", headers={"Authorization": "Bearer wrong"})
        assert refused.status_code == 401 and "Bearer" in refused.headers["www-authenticate"]
        assert (await http.get(base + "/metrics")).status_code == 401
        before = await scrape(base)
        # 40 requests spread over both workers: a scrape from either counts all of them.
        answers = await asyncio.gather(*(http.get(base + "/healthz") for _ in range(40)))
        assert {a.status_code for a in answers} == {200}
    after = await scrape(base)
    healthz = {"route": "/healthz", "method": "GET", "status": "200"}
    assert (
        value(after, "idp_http_requests_total", **healthz)
        - value(before, "idp_http_requests_total", **healthz)
        == 40
    )
    for _ in range(4):  # every scrape, whichever worker answers it, says the same
        again = await scrape(base)
        assert value(again, "idp_http_requests_total", **healthz) == value(
            after, "idp_http_requests_total", **healthz
        )

    # Flow 1: a sign-in, a code, the hand-off to NOX, the code exchanged at /token.
    customer, other_browser = Customer(), Customer()
    try:
        login = await customer.start_at_nox(stack.sandbox.url)
        result = await customer.follow(await customer.sign_in_and_accept(login))
        assert "Supplier authentication succeeded" in result.text
        # Flow 2: a link session at NOX, its callback, NOX's data API asked about the devices.
        account = await signed_in(other_browser, stack)
        callback = await nox_callback(other_browser, account, "jan")
        linked = await other_browser.follow(await other_browser.go(callback))
        assert linked.status_code == 200
    finally:
        await customer.close()
        await other_browser.close()

    async def moved() -> Samples:
        now = await scrape(base)
        assert value(now, "idp_tokens_issued_total", grant_type="authorization_code") >= 1
        return now

    final = await eventually(moved)
    expected = {
        ("idp_signins_total", (("outcome", "succeeded"),)): 2,  # flow 1, then /account
        ("idp_codes_issued_total", ()): 1,
        ("idp_handoffs_total", (("outcome", "delivered"),)): 1,
        ("idp_handoff_age_seconds_count", ()): 1,
        ("idp_tokens_issued_total", (("grant_type", "authorization_code"),)): 1,
        ("idp_link_sessions_total", (("outcome", "created"),)): 1,
        ("idp_link_sessions_total", (("outcome", "linked"),)): 1,
        ("idp_nox_call_seconds_count", (("operation", "handoff"),)): 1,
        ("idp_nox_call_seconds_count", (("operation", "link_session"),)): 1,
        ("idp_nox_call_seconds_count", (("operation", "devices"),)): 1,
    }
    moved_by = {key: final.get(key, 0.0) - before.get(key, 0.0) for key in expected}
    assert moved_by == expected
    token_route = {"route": "/token", "method": "POST", "status": "200"}
    assert value(final, "idp_http_requests_total", **token_route) >= 1  # the fast path's
    login_route = {"route": "/interaction/<session_id>/login", "method": "POST", "status": "302"}
    assert value(final, "idp_http_requests_total", **login_route) >= 1  # a rule, never an id
    assert value(final, "idp_password_checks_in_pool") == 0  # every check has ended
    assert ("idp_db_connections_in_use", ()) in final
