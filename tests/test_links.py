"""Flow 2 in-process: the account page, starting a link session (NOX faults), and the `?data=`
callback with every way it must be refused (NOX-CONTRACT, flow 2)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from idp.nox.client import NoxLinkClient
from idp.records import LinkSession
from idp.store.tables import device_history, devices, link_sessions
from tests.conftest import (
    EMAIL,
    PASSWORD,
    SUPPLIER_USER_ID,
    add_user,
    csrf_of,
    location,
    translated,
)

NOX = "https://auth.nox.example"


def b64(value: object, padding: bool = False) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    text = base64.urlsafe_b64encode(raw).decode()
    return text if padding else text.rstrip("=")


def payload(**overrides: object) -> dict:
    value = {
        "nox_user_id": "nox-user-1",
        "supplier_user_id": SUPPLIER_USER_ID,
        "brand": "daikin",
        "device_ids": ["daikin-abc"],
        "connected_at": 1_800_000_000,
    }
    value.update(overrides)
    return value


async def sign_in(client, email: str = EMAIL, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    page = await client.get("/account/login")
    body = await page.get_data(as_text=True)
    response = await client.post(
        "/account/login", form={"csrf_token": csrf_of(body), "email": email, "password": password}
    )
    assert location(response) == "/account"


async def open_session(
    store, clock, user_id: int = 1, supplier_user_id: str = SUPPLIER_USER_ID, browser=None, **kw
) -> LinkSession:  # type: ignore[no-untyped-def]
    session = LinkSession(
        id=kw.get("id", f"ls-{supplier_user_id}-{clock.now()}"),
        link_token=kw.get("link_token", f"tok-{supplier_user_id}-{clock.now()}"),
        user_id=user_id,
        supplier_user_id=supplier_user_id,
        asset_type=kw.get("asset_type", "hp"),
        language="en",
        brand=None,
        link_url=f"{NOX}/ui?token=x",
        client_id=None,
        return_url=kw.get("return_url"),
        created_at=clock.now(),
        expires_at=clock.now() + 600,
        completed_at=None,
    )
    await store.links.add_session(session)
    if browser is not None:  # the customer's browser goes to NOX for it (binds the callback)
        started = await browser.get(f"/link/start/{session.id}")
        assert started.headers["Location"] == session.link_url, started.status_code
    return session


async def counts(store) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    async with store.engine.connect() as conn:
        return (
            await conn.scalar(select(func.count()).select_from(devices)),
            await conn.scalar(select(func.count()).select_from(device_history)),
            await conn.scalar(
                select(func.count())
                .select_from(link_sessions)
                .where(link_sessions.c.completed_at.is_not(None))
            ),
        )


@pytest.fixture
async def customer(client, store, seeded):  # type: ignore[no-untyped-def]
    await sign_in(client)
    return client


async def callback(client, data: str):  # type: ignore[no-untyped-def]
    return await client.get("/link/callback", query_string={"data": data})


# ---- the happy path of the callback and NOX's registry rules -------------------------------------
async def test_callback_links_devices_and_is_single_use(customer, store, clock) -> None:
    await open_session(store, clock, browser=customer)
    response = await callback(customer, b64(payload(device_ids=["daikin-abc", "daikin-def"])))
    assert location(response) == "/account?language=en"
    body = await (await customer.get(location(response))).get_data(as_text=True)
    assert "daikin-abc" in body and "daikin-def" in body
    [d1, d2] = await store.links.devices_of(1)
    assert {d1.device_id, d2.device_id} == {"daikin-abc", "daikin-def"}
    assert d1.nox_user_id == "nox-user-1" and d1.linked_at == clock.now()
    before = await counts(store)
    replay = await callback(customer, b64(payload(device_ids=["daikin-abc", "daikin-def"])))
    assert replay.status_code == 400
    assert await counts(store) == before


async def test_padding_is_tolerated(customer, store, clock) -> None:
    await open_session(store, clock, browser=customer)
    response = await callback(customer, b64(payload(device_ids=["x"]), padding=True))
    assert location(response) == "/account?language=en"


async def test_relinking_replaces_the_customers_device(customer, store, clock) -> None:
    await open_session(store, clock, browser=customer)
    await callback(customer, b64(payload(device_ids=["old-pump"])))
    clock.advance(100)
    await open_session(store, clock, browser=customer)
    await callback(customer, b64(payload(device_ids=["new-pump"])))
    assert [d.device_id for d in await store.links.devices_of(1)] == ["new-pump"]
    actions = [(h["device_id"], h["action"]) for h in await store.links.history()]
    assert actions == [("old-pump", "linked"), ("old-pump", "replaced"), ("new-pump", "linked")]


async def test_relinking_a_heat_pump_keeps_the_solar_installation(customer, store, clock) -> None:
    await open_session(store, clock, browser=customer, asset_type="pv")
    await callback(customer, b64(payload(brand="sma", device_ids=["inverter"])))
    clock.advance(1)
    await open_session(store, clock, browser=customer, asset_type="hp")
    await callback(customer, b64(payload(device_ids=["pump"])))
    assert {d.device_id for d in await store.links.devices_of(1)} == {"inverter", "pump"}


async def test_account_page_shows_when_nox_can_steer(customer, store, clock) -> None:
    await open_session(store, clock, browser=customer)
    await callback(customer, b64(payload()))
    body = await (await customer.get("/account?language=en")).get_data(as_text=True)
    assert "daikin-abc" in body
    assert "NOX can steer from about" in body
    clock.advance(31 * 24 * 3600)
    body = await (await customer.get("/account?language=en")).get_data(as_text=True)
    assert "NOX can steer from about" not in body


async def test_api_started_session_returns_to_return_url(customer, store, clock) -> None:
    await open_session(
        store, clock, browser=customer, return_url="https://nox.example/oauth/callback"
    )
    response = await callback(customer, b64(payload()))
    url = location(response)
    assert url.startswith("https://nox.example/oauth/callback?")
    assert "status=linked" in url


# ---- every rejected callback: a 400 page, nothing written, a security event -------------------
REJECTED = {
    "other_customer": lambda: b64(payload(supplier_user_id="cust-9999")),
    "bad_base64": lambda: "!!!not*base64!!!",
    "bad_json": lambda: b64(b"{not json"),
    "not_an_object": lambda: b64([1, 2, 3]),
    "missing_fields": lambda: b64({k: v for k, v in payload().items() if k != "device_ids"}),
    "device_ids_not_a_list": lambda: b64(payload(device_ids="daikin-abc")),
    "device_ids_empty": lambda: b64(payload(device_ids=[])),
    "device_id_not_a_string": lambda: b64(payload(device_ids=[42])),
    "connected_at_not_int": lambda: b64(payload(connected_at="yesterday")),
    "connected_at_bool": lambda: b64(payload(connected_at=True)),
    "brand_not_lowercase": lambda: b64(payload(brand="Daikin")),
    "nox_user_id_too_long": lambda: b64(payload(nox_user_id="n" * 500)),
    "oversized": lambda: b64(payload(device_ids=[f"d{i}" for i in range(2000)])),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
async def test_rejected_callback(customer, store, clock, case: str) -> None:
    session = await open_session(store, clock, browser=customer)
    before = await counts(store)
    response = await callback(customer, REJECTED[case]())
    assert response.status_code == 400
    body = await response.get_data(as_text=True)
    assert (
        translated(
            "This link could not be completed. Nothing was changed; please start again.", "en"
        )
        in body
    )
    assert await counts(store) == before
    assert (await store.links.get_session(session.id)).completed_at is None
    [event] = await store.events.recent("link_callback_rejected")
    assert event["actor"] == SUPPLIER_USER_ID


async def test_expired_session_is_refused(customer, store, clock) -> None:
    session = await open_session(store, clock, browser=customer)
    clock.advance(600)
    response = await callback(customer, b64(payload()))
    assert response.status_code == 400
    assert await counts(store) == (0, 0, 0)
    assert (await store.links.get_session(session.id)).completed_at is None
    assert (await store.events.recent("link_callback_rejected"))[0]["detail"]["reason"] == "expired"


async def test_unknown_session_is_refused(customer, store) -> None:
    response = await callback(customer, b64(payload()))
    assert response.status_code == 400
    assert await counts(store) == (0, 0, 0)
    assert (await store.events.recent("link_callback_rejected"))[0]["detail"][
        "reason"
    ] == "unknown_session"


async def test_another_customers_session_cannot_be_completed(
    app, client, store, seeded, clock
) -> None:
    """Bob signed in, replaying Ada's payload while Ada has an open session: refused."""
    await add_user(store, email="bob@example.com", supplier_user_id="cust-0002")
    await open_session(store, clock)
    await sign_in(client, "bob@example.com")
    response = await callback(client, b64(payload()))
    assert response.status_code == 400
    assert await counts(store) == (0, 0, 0)


# ---- starting a link session, and NOX failing ---------------------------------------------------
@pytest.fixture
def use_nox(app):  # type: ignore[no-untyped-def]
    """Point the app's NOX client at an in-process stand-in, for faults the sandbox can't make."""
    services = app.extensions["idp"]
    settings = services.settings.with_overrides(nox_auth_base=NOX, nox_api_key="k")

    def install(handler) -> list[httpx.Request]:  # type: ignore[no-untyped-def]
        seen: list[httpx.Request] = []

        async def record(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return await handler(request)

        services.link_sessions.nox = NoxLinkClient(settings, transport=httpx.MockTransport(record))
        return seen

    return install


async def start_link(client, **form: str):  # type: ignore[no-untyped-def]
    body = await (await client.get("/account")).get_data(as_text=True)
    data = {"csrf_token": csrf_of(body), "asset_type": "hp", "language": "en", **form}
    return await client.post("/account/link", form=data)


def good_answer(request: httpx.Request) -> httpx.Response:
    sent = json.loads(request.content)
    return httpx.Response(
        200,
        json={
            "link_url": f"{NOX}/ui?token=t1&language=en",
            "link_token": "t1",
            "supplier": "groene-stroom",
            "supplier_user_id": sent["user_id"],
            "redirect_url": sent["redirect_url"],
            "language": sent["language"],
            "brand": sent.get("brand"),
            "completed_at": None,
            "created_at": 1_800_000_000,
            "expires_at": 1_800_000_600,
        },
    )


async def test_starting_a_link_sends_the_browser_to_nox(customer, store, use_nox, settings) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return good_answer(request)

    seen = use_nox(handler)
    response = await start_link(customer, brand="nibe")
    assert location(response) == f"{NOX}/ui?token=t1&language=en"
    [request] = seen
    assert request.url == f"{NOX}/v2/supplier/link-sessions"
    assert request.headers["x-api-key"] == "k"
    assert json.loads(request.content) == {
        "user_id": SUPPLIER_USER_ID,
        "redirect_url": settings.issuer + "/link/callback",
        "asset_type": "hp",
        "language": "en",
        "brand": "nibe",
    }
    [session] = await store.links.sessions_for(1)
    assert session.link_token == "t1" and session.expires_at == 1_800_000_600


async def _down(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, text="maintenance")


async def _timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("slow", request=request)


async def _malformed(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="<html>not json</html>")


async def _wrong_shape(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "data": {"link_url": f"{NOX}/ui"}})


async def _foreign_link(request: httpx.Request) -> httpx.Response:
    answer = good_answer(request).json()
    answer["link_url"] = "https://evil.example/phish"
    return httpx.Response(200, json=answer)


@pytest.mark.parametrize("fault", [_down, _timeout, _malformed, _wrong_shape, _foreign_link])
async def test_nox_failures_link_nothing(customer, store, use_nox, fault, caplog) -> None:
    use_nox(fault)
    response = await start_link(customer)
    # Post/redirect/get: the page that says so is a GET, which a reload does not resubmit.
    assert (response.status_code, response.headers["Location"]) == (303, "/account?language=en")
    body = await (await customer.get(response.headers["Location"])).get_data(as_text=True)
    assert (
        translated(
            "NOX Energy could not be reached. Nothing was linked; please try again later.", "en"
        )
        in body
    )
    assert await store.links.sessions_for(1) == []
    assert any(r.name == "idp.nox" and r.levelname == "ERROR" for r in caplog.records)


async def test_link_start_needs_csrf_and_a_valid_choice(customer, store, use_nox) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return good_answer(request)

    seen = use_nox(handler)
    response = await customer.post("/account/link", form={"asset_type": "hp", "language": "en"})
    assert response.status_code == 403
    refused = await start_link(customer, asset_type="boiler")
    body = await (await customer.get(refused.headers["Location"])).get_data(as_text=True)
    assert translated("Choose what to connect, and try again.", "en") in body
    assert seen == []


async def test_account_needs_sign_in(client, seeded) -> None:
    assert location(await client.get("/account")) == "/account/login?language=nl"


async def test_account_login_next_is_never_an_open_redirect(client, seeded) -> None:
    page = await client.get("/account/login?next=https://evil.example/")
    body = await page.get_data(as_text=True)
    assert "evil.example" not in body
    response = await client.post(
        "/account/login?next=//evil.example",
        form={"csrf_token": csrf_of(body), "email": EMAIL, "password": PASSWORD},
    )
    assert location(response) == "/account"


@pytest.mark.parametrize(
    "link_url",
    [
        f"https://evil.example\\@{NOX[len('https://') :]}/ui",  # WHATWG: \ ends the host
        f"https://evil.example\\.{NOX[len('https://') :]}/ui",
        f"https://user@{NOX[len('https://') :]}/ui",  # userinfo
        f"https://:@{NOX[len('https://') :]}/ui",
        f"{NOX}/ui\\..\\x",  # a backslash anywhere
        f"{NOX}/ui?x=\n1",  # control characters and whitespace: browsers strip or reject them
        f"{NOX}/u i",
        f"{NOX}\t/ui",
        f"{NOX}:8443/ui",  # another port
        f"{NOX.replace('https', 'http')}/ui",  # another scheme
        f"{NOX}:99999/ui",  # no port at all
    ],
)
async def test_link_url_must_be_on_noxs_origin_as_a_browser_reads_it(
    customer, store, use_nox, link_url: str
) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        answer = good_answer(request).json()
        answer["link_url"] = link_url
        return httpx.Response(200, json=answer)

    use_nox(handler)
    response = await start_link(customer)
    assert response.headers["Location"] == "/account?language=en"  # not to the link_url
    message = "NOX Energy could not be reached. Nothing was linked; please try again later."
    body = await (await customer.get(response.headers["Location"])).get_data(as_text=True)
    assert translated(message, "en") in body
    assert await store.links.sessions_for(1) == []


@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("https://auth.nox.energy/ui?token=t", True),
        ("https://AUTH.nox.energy:443/ui", True),  # the default port, spelled out
        ("https://auth.nox.energy./ui", False),
        ("https://evil.example\\@auth.nox.energy/ui", False),
        ("https://auth.nox.energy@evil.example/ui", False),
        ("https://auth.nox.energy%2eevil.example/ui", False),
        ("https:auth.nox.energy/ui", False),
        ("//auth.nox.energy/ui", False),
        ("https://auth.nox.energy:0443x/ui", False),
        ("https://auth.nox.energy/\x00", False),
    ],
)
def test_same_origin_parses_as_browsers_do(url: str, same: bool) -> None:
    from idp.nox.client import same_origin

    assert same_origin(url, "https://auth.nox.energy") is same


# ---- the rules without Quart --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("asset_type", "language", "brand", "problem"),
    [
        ("hp", "nl", None, None),
        ("pv", "es", "sma", None),
        ("ev", "nl", None, "asset_type must be hp or pv"),
        ("hp", "de", None, "language must be one of nl, en, fr, es"),
        ("hp", "nl", "Daikin", "brand must be a lowercase slug"),
    ],
)
def test_link_request_problem_names_the_problem(
    asset_type: str, language: str, brand: str | None, problem: str | None
) -> None:
    from idp.nox.link_sessions import link_request_problem

    assert link_request_problem(asset_type, language, brand) == problem


def test_a_link_session_ends_at_the_earlier_of_nox_and_ten_minutes() -> None:
    from idp.nox.link_sessions import session_expiry

    assert session_expiry(nox_expires_at=2_000, now=1_000) == 1_600
    assert session_expiry(nox_expires_at=1_300, now=1_000) == 1_300


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        ({"data": "abc", "named": "s1", "at": 5}, ("abc", "s1", 5)),
        ({"data": "abc", "named": 7, "at": 5}, ("abc", None, 5)),
        ({"data": "abc", "at": "5"}, None),
        ("not a dict", None),
        (None, None),
    ],
)
def test_a_pending_callback_is_read_back_from_the_cookie_strictly(
    cookie: Any, expected: tuple[str, str | None, int] | None
) -> None:
    from idp.nox.callback import PendingCallback

    pending = PendingCallback.from_dict(cookie)
    if expected is None:
        assert pending is None
    else:
        assert pending == PendingCallback(*expected)
        assert PendingCallback.from_dict(pending.as_dict()) == pending
