"""/metrics in one process: who may read it, route labels without ids, and the outcomes a real
flow cannot produce here (a wrong password, a throttle, NOX down). The rest, with two workers
and the NOX sandbox: tests/test_metrics_e2e.py."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from quart import Quart

from idp.app import create_app
from idp.config import Settings
from idp.security.clock import FrozenClock
from tests.conftest import Flow, add_client, basic_auth
from tests.test_links import _down, customer, start_link, use_nox  # noqa: F401 (fixtures, used by name)

TOKEN = "metrics-token-0123456789"


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> Any:
    app = create_app(settings.with_overrides(metrics_token=TOKEN), clock)
    async with app.test_app() as test_app:
        yield test_app.app


async def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    text = await answer.get_data(as_text=True)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def moved(before: dict, after: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_without_the_setting_there_are_no_metrics(settings: Settings, clock) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings, clock)
    async with app.test_app() as test_app:
        client = test_app.app.test_client()
        assert (await client.get("/metrics")).status_code == 404
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.get("/metrics", headers=headers)).status_code == 404


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"]
)
async def test_only_the_token_reads_them(app: Quart, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = await app.test_client().get("/metrics", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"idp_" not in await answer.get_data()


async def test_requests_are_counted_by_route_never_by_id(app: Quart, seeded: Any) -> None:
    client = app.test_client()
    before = await scrape(client)
    flow = Flow(client)
    code = await flow.code()
    assert (await flow.token(code)).status_code == 200
    await add_client(
        app.extensions["idp"].store, "backend", grant_types=["client_credentials"],
        scopes=["links:read"],
    )  # fmt: skip
    form = {"grant_type": "client_credentials", "scope": "links:read"}
    assert (
        await client.post("/token", form=form, headers=basic_auth("backend"))
    ).status_code == 200
    await client.get("/interaction/not-a-session/login")
    after = await scrape(client)
    login = {"route": "/interaction/<session_id>/login", "method": "POST", "status": "302"}
    assert moved(before, after, "idp_http_requests_total", **login) == 1
    assert moved(before, after, "idp_http_request_seconds_count", route=login["route"]) >= 2
    token = {"route": "/token", "method": "POST", "status": "200"}
    assert moved(before, after, "idp_http_requests_total", **token) == 2
    assert moved(before, after, "idp_tokens_issued_total", grant_type="authorization_code") == 1
    assert moved(before, after, "idp_tokens_issued_total", grant_type="client_credentials") == 1
    assert moved(before, after, "idp_codes_issued_total") == 1
    assert moved(before, after, "idp_signins_total", outcome="succeeded") == 1
    assert not any("not-a-session" in str(labels) for _, labels in after)


async def test_failed_and_throttled_sign_ins(app: Quart, seeded: Any) -> None:
    client = app.test_client()
    before = await scrape(client)
    for _ in range(7):  # five free failures, then the throttle
        flow = Flow(client)
        login = (await flow.authorize()).headers["Location"]
        await flow.sign_in(login, password="wrong password 0123")
    after = await scrape(client)
    assert moved(before, after, "idp_signins_total", outcome="failed") == 5
    assert moved(before, after, "idp_signins_total", outcome="throttled") == 2
    assert after[("idp_password_checks_in_pool", ())] == 0


async def test_nox_down_counts_a_failed_link_session_and_a_nox_error(
    app: Quart,
    customer: Any,  # noqa: F811 (the fixture imported above)
    use_nox: Any,  # noqa: F811
) -> None:
    client = customer
    use_nox(_down)
    before = await scrape(client)
    assert (await start_link(client)).headers["Location"] == "/account?language=en"
    after = await scrape(client)
    assert moved(before, after, "idp_link_sessions_total", outcome="failed") == 1
    assert moved(before, after, "idp_nox_call_errors_total", operation="link_session") == 1
    assert moved(before, after, "idp_nox_call_seconds_count", operation="link_session") == 1
