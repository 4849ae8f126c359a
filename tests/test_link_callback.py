"""Flow 2's callback bound to the link session this browser went to NOX for, devices confirmed
with NOX's data API (or held for an operator), the local 10-minute life, NOX's echo, the first
link per device, and a callback that arrives before sign-in (NOX-CONTRACT, flow 2)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from idp.admin.actions import ActionError, Actor
from idp.config import Settings
from idp.nox.client import NoxDataClient, NoxLinkClient
from idp.store.tables import held_links
from tests.conftest import (
    EMAIL,
    PASSWORD,
    SUPPLIER_USER_ID,
    add_user,
    csrf_of,
    location,
    translated,
)
from tests.test_links import NOX, b64, callback, counts, open_session, payload, sign_in

API = "https://api.nox.example"
Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


@pytest.fixture
async def customer(client, store, seeded):  # type: ignore[no-untyped-def]
    await sign_in(client)
    return client


@pytest.fixture
def use_nox(app):  # type: ignore[no-untyped-def]
    """NOX's link-session API as an in-process stand-in; each answer gets its own link_token."""
    services = app.extensions["idp"]
    settings = services.settings.with_overrides(nox_auth_base=NOX, nox_api_key="k")
    seen: list[httpx.Request] = []

    def install(change: Callable[[dict[str, Any]], None] = lambda a: None) -> list[httpx.Request]:
        async def answer(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            sent = json.loads(request.content)
            body = {
                "link_url": f"{NOX}/ui?token=t{len(seen)}",
                "link_token": f"t{len(seen)}",
                "supplier": "groene-stroom",
                "supplier_user_id": sent["user_id"],
                "redirect_url": sent["redirect_url"],
                "language": sent["language"],
                "brand": sent.get("brand"),
                "completed_at": None,
                "created_at": 1_800_000_000,
                "expires_at": 1_800_000_600,
            }
            change(body)
            return httpx.Response(200, json=body)

        services.link_sessions.nox = NoxLinkClient(settings, transport=httpx.MockTransport(answer))
        return seen

    return install


@pytest.fixture
def nox_api(app):  # type: ignore[no-untyped-def]
    """NOX's data API as an in-process stand-in (without it, the data API is not configured)."""
    services = app.extensions["idp"]
    settings = services.settings.with_overrides(nox_api_base=API, nox_api_key="k")

    def install(handler: Handler) -> list[httpx.Request]:
        seen: list[httpx.Request] = []

        async def record(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return await handler(request)

        services.link_callbacks.data_api = NoxDataClient(
            settings, transport=httpx.MockTransport(record)
        )
        return seen

    return install


def listing(body: Any) -> Handler:
    async def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    return answer


async def start_link(client, **form: str):  # type: ignore[no-untyped-def]
    body = await (await client.get("/account")).get_data(as_text=True)
    data = {"csrf_token": csrf_of(body), "asset_type": "hp", "language": "en", **form}
    return await client.post("/account/link", form=data)


async def failure_page(client, response) -> str:  # type: ignore[no-untyped-def]
    """A link that could not start: post/redirect/get, the account page says why."""
    assert response.status_code == 303
    return str(await (await client.get(response.headers["Location"])).get_data(as_text=True))


async def reason(store) -> str:  # type: ignore[no-untyped-def]
    return str((await store.events.recent("link_callback_rejected"))[0]["detail"]["reason"])


# ---- binding the callback to the session this browser went to NOX for ---------------------------
async def test_two_open_sessions_the_heat_pump_payload_completes_only_the_heat_pump_session(
    customer, store, clock, use_nox
) -> None:
    use_nox()
    assert location(await start_link(customer, asset_type="hp")) == f"{NOX}/ui?token=t1"
    clock.advance(10)
    assert location(await start_link(customer, asset_type="pv")) == f"{NOX}/ui?token=t2"
    [pv, hp] = await store.links.sessions_for(1)
    assert (hp.asset_type, pv.asset_type) == ("hp", "pv")

    response = await callback(customer, b64(payload(brand="daikin", device_ids=["pump"])))
    assert location(response) == "/account?language=en"
    assert (await store.links.get_session(hp.id)).completed_at == clock.now()
    assert (await store.links.get_session(pv.id)).completed_at is None
    [device] = await store.links.devices_of(1)
    assert (device.device_id, device.asset_type, device.link_session_id) == ("pump", "hp", hp.id)

    response = await callback(customer, b64(payload(brand="sma", device_ids=["inverter"])))
    assert location(response) == "/account?language=en"
    assert (await store.links.get_session(pv.id)).completed_at == clock.now()
    found = {(d.device_id, d.asset_type) for d in await store.links.devices_of(1)}
    assert found == {("pump", "hp"), ("inverter", "pv")}


async def test_a_heat_pump_payload_never_replaces_the_solar_installation(
    customer, store, clock, use_nox
) -> None:
    """The issue's attack: the pv session is the newest open one, the payload is a pump's."""
    await open_session(store, clock, asset_type="pv", browser=customer)
    await callback(customer, b64(payload(brand="sma", device_ids=["inverter"])))
    use_nox()
    await start_link(customer, asset_type="hp")
    clock.advance(10)
    await start_link(customer, asset_type="pv")
    await callback(customer, b64(payload(brand="daikin", device_ids=["pump"])))
    found = {(d.device_id, d.asset_type) for d in await store.links.devices_of(1)}
    assert found == {("pump", "hp"), ("inverter", "pv")}


async def test_the_payload_brand_must_be_the_chosen_brand(customer, store, use_nox) -> None:
    use_nox()
    await start_link(customer, brand="nibe")
    before = await counts(store)
    response = await callback(customer, b64(payload(brand="daikin")))
    assert response.status_code == 400
    assert await counts(store) == before
    assert await reason(store) == "brand_mismatch"
    [session] = await store.links.sessions_for(1)
    assert session.completed_at is None


async def test_a_session_this_browser_was_not_sent_for_is_untouched(
    customer, store, clock, use_nox
) -> None:
    use_nox()
    await start_link(customer, asset_type="pv")
    clock.advance(5)
    other = await open_session(store, clock, asset_type="hp")  # e.g. opened through the API
    response = await callback(customer, b64(payload(brand="daikin")))
    assert response.status_code == 400
    assert await reason(store) == "brand_mismatch"
    assert (await store.links.get_session(other.id)).completed_at is None
    assert await counts(store) == (0, 0, 0)


async def test_an_unknown_maker_with_two_bound_sessions_is_ambiguous(
    customer, store, clock, use_nox
) -> None:
    use_nox()
    await start_link(customer, asset_type="hp")
    await start_link(customer, asset_type="pv")
    response = await callback(customer, b64(payload(brand="acme")))
    assert response.status_code == 400
    assert await reason(store) == "ambiguous_session"
    assert await counts(store) == (0, 0, 0)


class TestNamedSession:
    """IDP_LINK_CALLBACK_SESSION_PARAM set: the app is built with it."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.with_overrides(link_callback_session_param="ls")

    async def test_a_callback_parameter_names_the_session_when_configured(
        self, customer, store, use_nox, settings
    ) -> None:
        seen = use_nox()
        await start_link(customer)
        [session] = await store.links.sessions_for(1)
        sent = json.loads(seen[0].content)["redirect_url"]
        assert sent == f"{settings.issuer}/link/callback?ls={session.id}"
        wrong = await customer.get(
            "/link/callback", query_string={"data": b64(payload()), "ls": "x"}
        )
        assert wrong.status_code == 400
        assert await reason(store) == "not_bound"
        right = await customer.get(
            "/link/callback", query_string={"data": b64(payload()), "ls": session.id}
        )
        assert location(right) == "/account?language=en"


# ---- the 10-minute life and NOX's echo -----------------------------------------------------------
async def test_the_session_lives_ten_minutes_from_our_creation(
    customer, store, clock, use_nox
) -> None:
    def long_life(answer: dict[str, Any]) -> None:
        answer["expires_at"] = answer["created_at"] + 3600

    use_nox(long_life)
    await start_link(customer)
    [session] = await store.links.sessions_for(1)
    assert session.expires_at == clock.now() + 600
    clock.advance(600)
    response = await callback(customer, b64(payload()))
    assert response.status_code == 400
    assert await reason(store) == "expired"
    assert await counts(store) == (0, 0, 0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("supplier_user_id", "cust-9999"),
        ("redirect_url", "https://evil.example/link/callback"),
        ("language", "nl"),
        ("brand", "daikin"),
    ],
)
async def test_an_answer_that_does_not_echo_what_we_sent_is_a_nox_fault(
    customer, store, use_nox, caplog, name: str, value: str
) -> None:
    def tamper(answer: dict[str, Any]) -> None:
        answer[name] = value

    use_nox(tamper)
    with caplog.at_level(logging.ERROR, logger="idp.nox"):
        response = await start_link(customer, brand="nibe")
    body = await failure_page(customer, response)
    message = "NOX Energy could not be reached. Nothing was linked; please try again later."
    assert translated(message, "en") in body
    assert await store.links.sessions_for(1) == []
    assert any(
        r.levelname == "ERROR" and f"{name} does not match" in r.getMessage()
        for r in caplog.records
    )


async def test_the_nox_fault_page_is_in_the_customers_language(customer, store, use_nox) -> None:
    def tamper(answer: dict[str, Any]) -> None:
        answer["language"] = "en"

    use_nox(tamper)
    response = await start_link(customer, language="fr")
    message = "NOX Energy could not be reached. Nothing was linked; please try again later."
    assert translated(message, "fr") in await failure_page(customer, response)


# ---- devices: confirmed with NOX's data API, or held for an operator ----------------------------
@pytest.fixture
async def ada_has_the_pump(app, client, store, seeded, clock):  # type: ignore[no-untyped-def]
    """Ada linked shared-pump; Bob is signed in with an open heat-pump session of his own."""
    await sign_in(client)
    await open_session(store, clock, browser=client)
    await callback(client, b64(payload(device_ids=["shared-pump"])))
    bob_user = await add_user(store, email="bob@example.com", supplier_user_id="cust-0002")
    bob = app.test_client()
    await sign_in(bob, "bob@example.com")
    clock.advance(50)
    session = await open_session(
        store, clock, user_id=bob_user.id, supplier_user_id="cust-0002", browser=bob
    )
    return bob, session


def bobs_claim() -> str:
    return b64(
        payload(supplier_user_id="cust-0002", nox_user_id="nox-bob", device_ids=["shared-pump"])
    )


async def owners(store) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {d.device_id: d.supplier_user_id for d in await store.links.all_devices()}


async def held_rows(store) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    async with store.engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(select(held_links))).all()]


async def test_a_crafted_payload_naming_anothers_device_is_held_without_the_data_api(
    ada_has_the_pump, store, clock
) -> None:
    bob, session = ada_has_the_pump
    history = await store.links.history()
    response = await callback(bob, bobs_claim())
    assert location(response) == "/account?language=en"
    assert await owners(store) == {"shared-pump": SUPPLIER_USER_ID}
    assert await store.links.history() == history
    [held] = await held_rows(store)
    assert held == {
        "id": held["id"],
        "link_session_id": session.id,
        "user_id": session.user_id,
        "supplier_user_id": "cust-0002",
        "nox_user_id": "nox-bob",
        "brand": "daikin",
        "asset_type": "hp",
        "device_ids": ["shared-pump"],
        "connected_at": 1_800_000_000,
        "moved_from": {"shared-pump": SUPPLIER_USER_ID},
        "reason": "data_api_not_configured",
        "status": "held",
        "created_at": clock.now(),
        "decided_at": None,
        "decided_by": None,
    }
    assert (await store.links.get_session(session.id)).completed_at == clock.now()
    [event] = await store.events.recent("link_move_held")
    assert event["actor"] == "cust-0002"
    assert event["detail"]["held_id"] == held["id"]
    body = await (await bob.get("/account?language=en")).get_data(as_text=True)
    assert "shared-pump" in body and "checks this link before it takes effect" in body
    assert (await callback(bob, bobs_claim())).status_code == 400  # single use, still


async def test_a_device_nox_does_not_list_for_the_customer_is_refused(
    ada_has_the_pump, store, nox_api
) -> None:
    bob, session = ada_has_the_pump
    seen = nox_api(listing({"data": []}))
    before = await counts(store)
    response = await callback(bob, bobs_claim())
    assert response.status_code == 400
    assert await reason(store) == "device_not_confirmed"
    assert await counts(store) == before
    assert await held_rows(store) == []
    assert (await store.links.get_session(session.id)).completed_at is None
    [request] = seen
    assert str(request.url) == f"{API}/v1/devices?user_id=cust-0002"
    assert request.headers["x-api-key"] == "k"


async def test_a_new_device_nox_does_not_list_is_refused(customer, store, clock, nox_api) -> None:
    await open_session(store, clock, browser=customer)
    nox_api(listing({"data": [{"device_id": "other", "nox_user_id": "nox-user-1"}]}))
    response = await callback(customer, b64(payload(device_ids=["made-up"])))
    assert response.status_code == 400
    assert await counts(store) == (0, 0, 0)


@pytest.mark.parametrize(
    "body",
    [
        {"data": [{"device_id": "shared-pump", "nox_user_id": "nox-bob", "brand": "daikin"}]},
        [{"id": "shared-pump"}],
        {"data": [{"id": "shared-pump", "steerable_status": "x", "needs_reauthentication": True}]},
    ],
)
async def test_a_move_nox_confirms_is_made(ada_has_the_pump, store, nox_api, body: Any) -> None:
    bob, _ = ada_has_the_pump
    nox_api(listing(body))
    response = await callback(bob, bobs_claim())
    assert location(response) == "/account?language=en"
    assert await owners(store) == {"shared-pump": "cust-0002"}
    history = [
        (h["action"], h["supplier_user_id"]) for h in await store.links.history("shared-pump")
    ]
    assert history == [
        ("linked", SUPPLIER_USER_ID),
        ("moved_away", SUPPLIER_USER_ID),
        ("linked", "cust-0002"),
    ]
    assert await held_rows(store) == []


async def test_a_device_listed_under_another_nox_user_is_not_confirmed(
    ada_has_the_pump, store, nox_api
) -> None:
    bob, _ = ada_has_the_pump
    nox_api(listing({"data": [{"device_id": "shared-pump", "nox_user_id": "nox-someone"}]}))
    assert (await callback(bob, bobs_claim())).status_code == 400
    assert await owners(store) == {"shared-pump": SUPPLIER_USER_ID}


async def _down(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


async def _garbage(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"data": "nope"})


@pytest.mark.parametrize("fault", [_down, _garbage])
async def test_a_failing_data_api_holds_the_move(ada_has_the_pump, store, nox_api, fault) -> None:
    bob, _ = ada_has_the_pump
    nox_api(fault)
    assert location(await callback(bob, bobs_claim())) == "/account?language=en"
    assert await owners(store) == {"shared-pump": SUPPLIER_USER_ID}
    [held] = await held_rows(store)
    assert held["reason"] == "data_api_failed"


async def test_an_operator_approves_a_held_move(app, ada_has_the_pump, store, clock) -> None:
    bob, _ = ada_has_the_pump
    await callback(bob, bobs_claim())
    [held] = await store.links.held()
    actions = app.extensions["idp"].actions
    clock.advance(30)
    await actions.decide_held_link(Actor("admin:op@example.com", "10.0.0.1"), held.id, True)
    assert await owners(store) == {"shared-pump": "cust-0002"}
    [row] = await held_rows(store)
    assert (row["status"], row["decided_at"], row["decided_by"]) == (
        "approved",
        clock.now(),
        "admin:op@example.com",
    )
    [audit] = await store.events.recent("admin.link.approved")
    assert audit["actor"] == "admin:op@example.com"
    assert audit["detail"]["moved_from"] == {"shared-pump": SUPPLIER_USER_ID}
    with pytest.raises(ActionError):
        await actions.decide_held_link(Actor("admin:op@example.com"), held.id, False)
    assert await store.links.held() == []


async def test_an_operator_rejects_a_held_move(app, ada_has_the_pump, store) -> None:
    bob, _ = ada_has_the_pump
    await callback(bob, bobs_claim())
    [held] = await store.links.held()
    history = await store.links.history()
    await app.extensions["idp"].actions.decide_held_link(Actor("cli:op"), held.id, False)
    assert await owners(store) == {"shared-pump": SUPPLIER_USER_ID}
    assert await store.links.history() == history
    assert (await held_rows(store))[0]["status"] == "rejected"
    assert len(await store.events.recent("admin.link.rejected")) == 1


async def test_the_console_lists_held_moves_and_an_operator_decides(
    app, ada_has_the_pump, store, clock
) -> None:
    from tests.test_admin import admin_form, make_admin
    from tests.test_admin import sign_in as admin_sign_in

    bob, _ = ada_has_the_pump
    await callback(bob, bobs_claim())
    [held] = await store.links.held()
    viewer, operator = app.test_client(), app.test_client()
    assert location(await admin_sign_in(viewer, await make_admin(app, "viewer"), clock)) == "/admin"
    page = await viewer.get("/admin/links/held")
    assert page.status_code == 200
    assert held.id in await page.get_data(as_text=True)
    csrf = await admin_form(viewer, "/admin/links/held")
    refused = await viewer.post(f"/admin/links/held/{held.id}/approve", form={"csrf_token": csrf})
    assert refused.status_code == 403
    assert await owners(store) == {"shared-pump": SUPPLIER_USER_ID}
    clock.advance(31)  # a fresh TOTP step for the second admin
    assert (
        location(await admin_sign_in(operator, await make_admin(app, "operator"), clock))
        == "/admin"
    )
    csrf = await admin_form(operator, "/admin/links/held")
    done = await operator.post(f"/admin/links/held/{held.id}/approve", form={"csrf_token": csrf})
    assert location(done) == "/admin/links/held"
    assert await owners(store) == {"shared-pump": "cust-0002"}
    again = await operator.post(f"/admin/links/held/{held.id}/reject", form={"csrf_token": csrf})
    assert again.status_code == 400


# ---- NOX's 30 days count from a device's first link ---------------------------------------------
async def test_relinking_does_not_restart_the_thirty_days(customer, store, clock) -> None:
    first = clock.now()
    await open_session(store, clock, browser=customer)
    await callback(customer, b64(payload(device_ids=["pump"])))
    clock.advance(20 * 24 * 3600)
    await sign_in(customer)  # the sign-in of 20 days ago has ended
    await open_session(store, clock, browser=customer)
    response = await callback(customer, b64(payload(device_ids=["pump"])))
    assert location(response) == "/account?language=en"
    [device] = await store.links.devices_of(1)
    assert (device.first_linked_at, device.linked_at) == (first, clock.now())
    clock.advance(11 * 24 * 3600)  # 31 days after the first link, 11 after the re-link
    await sign_in(customer)
    body = await (await customer.get("/account?language=en")).get_data(as_text=True)
    assert "pump" in body
    assert "NOX can steer from about" not in body


async def test_an_owner_move_keeps_the_first_link(ada_has_the_pump, store, clock, nox_api) -> None:
    bob, _ = ada_has_the_pump
    [ada_device] = await store.links.devices_of(1)
    nox_api(listing([{"id": "shared-pump"}]))
    await callback(bob, bobs_claim())
    [device] = await store.links.all_devices()
    assert device.supplier_user_id == "cust-0002"
    assert device.first_linked_at == ada_device.first_linked_at != device.linked_at


# ---- a callback that arrives before sign-in ------------------------------------------------------
async def test_a_callback_before_sign_in_completes_after_sign_in(
    client, store, seeded, clock, nox_api
) -> None:
    """The customer finished at NOX in a browser we never sent there: NOX's data API confirms
    the device, so the claim completes once the customer signs in."""
    nox_api(listing({"data": [{"device_id": "daikin-abc", "nox_user_id": "nox-user-1"}]}))
    session = await open_session(store, clock)
    response = await callback(client, b64(payload()))
    assert location(response) == "/account/login?language=nl&next=/link/resume"
    assert await counts(store) == (0, 0, 0)
    page = await client.get("/account/login?language=en&next=/link/resume")
    body = await page.get_data(as_text=True)
    assert "Sign in to finish linking it." in body
    signed_in = await client.post(
        "/account/login?language=en&next=/link/resume",
        form={"csrf_token": csrf_of(body), "email": EMAIL, "password": PASSWORD},
    )
    assert location(signed_in) == "/link/resume"
    done = await client.get("/link/resume")
    assert location(done) == "/account?language=en"
    assert [d.device_id for d in await store.links.devices_of(1)] == ["daikin-abc"]
    assert (await store.links.get_session(session.id)).completed_at == clock.now()
    assert (await client.get("/link/resume")).status_code == 400  # the claim is used up


async def test_a_pending_callback_still_needs_an_open_session(client, store, seeded, clock) -> None:
    await open_session(store, clock)
    await callback(client, b64(payload()))
    clock.advance(600)
    await sign_in(client)
    response = await client.get("/link/resume")
    assert response.status_code == 400
    assert await reason(store) == "expired"
    assert await counts(store) == (0, 0, 0)


async def test_a_pending_callback_for_another_customer_is_refused(
    client, store, seeded, clock
) -> None:
    await open_session(store, clock)
    await add_user(store, email="bob@example.com", supplier_user_id="cust-0002")
    await callback(client, b64(payload()))
    await sign_in(client, "bob@example.com")
    response = await client.get("/link/resume")
    assert response.status_code == 400
    assert await reason(store) == "other_customer"
    assert await counts(store) == (0, 0, 0)


async def test_an_unbound_browser_without_nox_confirmation_is_held(customer, store, clock) -> None:
    """Found in review: a signed-in customer lured to /link/callback with a crafted payload
    while a link session of theirs is open (started on another device, or through the API).
    Without NOX's confirmation nothing reaches the registry; an operator decides."""
    lured = await open_session(store, clock)  # this browser was never sent to NOX for it
    response = await callback(customer, b64(payload(device_ids=["attackers-dev"])))
    assert location(response) == "/account?language=en"
    assert await store.links.devices_of(1) == []
    [held] = await store.links.held()
    assert (held.link_session_id, held.reason, held.device_ids) == (
        lured.id,
        "browser_not_bound",
        ["attackers-dev"],
    )


async def test_a_move_racing_the_check_is_not_made(store, seeded, clock) -> None:
    """Found in review: the owner check runs again inside the completing transaction, so a
    device another customer linked a moment ago is not moved without NOX's confirmation."""
    from idp.store.links import MoveNotConfirmed

    bob_user = await add_user(store, email="bob@example.com", supplier_user_id="cust-0002")
    ada = await open_session(store, clock)
    bob = await open_session(store, clock, user_id=bob_user.id, supplier_user_id="cust-0002")
    linked = dict(nox_user_id="n", brand="daikin", device_ids=["pump"], connected_at=1, now=5)
    assert await store.links.complete(ada, **linked, may_move=False)
    with pytest.raises(MoveNotConfirmed) as raised:
        await store.links.complete(bob, **linked, may_move=False)
    assert raised.value.moved_from == {"pump": SUPPLIER_USER_ID}
    assert (await store.links.get_session(bob.id)).completed_at is None  # rolled back
    assert await owners(store) == {"pump": SUPPLIER_USER_ID}


async def test_a_bad_payload_before_sign_in_is_refused_at_once(client, store, seeded) -> None:
    response = await client.get(
        "/link/callback", query_string={"data": "!!"}, headers={"Accept-Language": "fr"}
    )
    assert response.status_code == 400
    message = "This link could not be completed. Nothing was changed; please start again."
    assert translated(message, "fr") in await response.get_data(as_text=True)


# ---- anonymous noise (issue 9): counted per IP and minute, customers' rejections one by one ----
async def test_anonymous_rejected_callbacks_are_counted_per_ip_and_minute(
    client, store, seeded, clock
) -> None:
    for data in ("", "!!!", "e30", "bm90LWpzb24", "a"):
        response = await client.get("/link/callback", query_string={"data": data})
        assert response.status_code == 400
        clock.advance(5)
    [event] = await store.events.recent("link_callback_rejected")
    assert event["actor"] is None
    assert event["ip"] == "<local>"  # Quart's test client
    assert event["detail"] == {
        "anonymous": True,
        "count": 5,
        "reasons": {"missing": 1, "bad_json": 2, "missing_fields": 1, "bad_base64": 1},
        "last_at": clock.now() - 5,
    }
    clock.advance(60)  # a new minute starts a new row
    await client.get("/link/callback", query_string={"data": "!!!"})
    newest, oldest = await store.events.recent("link_callback_rejected")
    assert oldest["id"] == event["id"] and oldest["detail"]["count"] == 5
    assert newest["detail"]["count"] == 1


async def test_signed_in_rejections_are_recorded_one_by_one(client, store, seeded) -> None:
    await sign_in(client)
    for _ in range(3):
        response = await client.get("/link/callback", query_string={"data": "!!!"})
        assert response.status_code == 400
    events = await store.events.recent("link_callback_rejected")
    assert [(e["actor"], e["detail"]["reason"]) for e in events] == [
        (SUPPLIER_USER_ID, "bad_json")
    ] * 3
