"""The NOX sandbox's side of flow 2: POST /v2/supplier/link-sessions, the authenticator at /ui,
NOX's device registry, the events and the control of link-session creation."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from quart.typing import TestClientProtocol as Client
from quart.wrappers import Response

from idp.cli import main
from idp.sandbox.app import SandboxSettings, create_sandbox_app, sandbox_settings_from
from idp.security.clock import FrozenClock

IDP_URL = "http://127.0.0.1:8000"
PUBLIC_URL = "http://127.0.0.1:8100"
API_KEY = "nox-api-key-for-tests-0123456789"
CALLBACK = IDP_URL + "/link/callback"
ALT_CALLBACK = "https://idp.example/link/callback?tenant=green"
HP_BRANDS = {
    "daikin",
    "nibe",
    "vaillant",
    "viessmann",
    "mitsubishi",
    "saunier-duval",
    "alpha-innotec",
}
PV_BRANDS = {"sma", "fronius", "solaredge", "enphase", "huawei"}
ANSWER_FIELDS = {
    "link_url",
    "link_token",
    "supplier",
    "supplier_user_id",
    "redirect_url",
    "language",
    "brand",
    "completed_at",
    "created_at",
    "expires_at",
}


@pytest.fixture
async def nox(clock: FrozenClock) -> AsyncIterator[Client]:
    settings = SandboxSettings(
        IDP_URL,
        PUBLIC_URL,
        "nox",
        "client-secret",
        API_KEY,
        link_redirect_urls=(CALLBACK, ALT_CALLBACK),
    )
    app = create_sandbox_app(settings, clock=clock)
    async with app.test_app() as test_app:
        yield test_app.test_client()


# ---- helpers -----------------------------------------------------------------------------------
def link_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"user_id": "cust-0001", "redirect_url": CALLBACK, "asset_type": "hp"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


async def create(client: Client, api_key: str = API_KEY, **overrides: Any) -> Response:
    return await client.post(
        "/v2/supplier/link-sessions", json=link_body(**overrides), headers={"x-api-key": api_key}
    )


async def created(client: Client, **overrides: Any) -> dict[str, Any]:
    response = await create(client, **overrides)
    assert response.status_code == 200, await response.get_data(as_text=True)
    answer: dict[str, Any] = await response.get_json()
    return answer


def local(url: str) -> str:
    """The path and query of one of the sandbox's own absolute URLs."""
    parts = urlsplit(url)
    assert parts.netloc in ("", urlsplit(PUBLIC_URL).netloc), url
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def text(response: Response) -> str:
    return await response.get_data(as_text=True)


def hidden_fields(page: str) -> dict[str, str]:
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    }


async def all_events(client: Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await (await client.get("/_sandbox/events")).get_json()
    return found


async def events(client: Client, kind: str) -> list[dict[str, Any]]:
    return [e for e in await all_events(client) if e["type"] == kind]


async def registry(client: Client) -> dict[str, Any]:
    found: dict[str, Any] = await (await client.get("/_sandbox/links")).get_json()
    return found


async def choose(client: Client, link_url: str, brand: str) -> dict[str, str]:
    """Open the link, pick a maker; returns the maker sign-in form's hidden fields."""
    page = await client.get(local(link_url))
    assert page.status_code == 200
    picked = await client.post(
        "/ui/brand", form={**hidden_fields(await text(page)), "brand": brand}
    )
    assert picked.status_code == 303
    maker = await client.get(local(picked.headers["Location"]))
    assert maker.status_code == 200
    return hidden_fields(await text(maker))


async def sign_in(
    client: Client, fields: dict[str, str], username: str, accept: bool = True
) -> Response:
    form = {**fields, "username": username, "password": "any-password"}
    if accept:
        form["accept_terms"] = "yes"
    return await client.post("/ui/maker-login", form=form)


async def walk(client: Client, link_url: str, brand: str, username: str) -> Response:
    return await sign_in(client, await choose(client, link_url, brand), username)


def decode(location: str, redirect_url: str = CALLBACK) -> dict[str, Any]:
    base, _, query = location.partition("?")
    assert base == redirect_url.partition("?")[0]
    data = parse_qs(query)["data"]
    assert len(data) == 1
    assert "=" not in data[0]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", data[0])
    raw = base64.urlsafe_b64decode(data[0] + "=" * (-len(data[0]) % 4))
    assert b": " not in raw and b", " not in raw  # compact JSON
    payload: dict[str, Any] = json.loads(raw)
    return payload


async def link(client: Client, user_id: str, brand: str, username: str) -> dict[str, Any]:
    asset_type = "hp" if brand in HP_BRANDS else "pv"
    answer = await created(client, user_id=user_id, asset_type=asset_type)
    done = await walk(client, answer["link_url"], brand, username)
    assert done.status_code == 302
    return decode(done.headers["Location"])


def device(brand: str, username: str) -> str:
    return f"{brand}-{hashlib.sha256(username.encode()).hexdigest()[:10]}"


# ---- POST /v2/supplier/link-sessions -----------------------------------------------------------
@pytest.mark.parametrize("api_key", ["", "wrong-key", API_KEY + "x"])
async def test_link_session_needs_the_api_key(nox: Client, api_key: str) -> None:
    response = await create(nox, api_key=api_key)
    assert response.status_code == 401
    assert await response.get_json() == {"message": "Unauthorized"}
    assert (await registry(nox))["sessions"] == []
    [rejected] = await events(nox, "link_session_rejected")
    assert rejected["status"] == 401


async def test_link_session_without_an_api_key_header(nox: Client) -> None:
    response = await nox.post("/v2/supplier/link-sessions", json=link_body())
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"user_id": ...}, "user_id is required"),
        ({"user_id": ""}, "user_id is required"),
        ({"user_id": "   "}, "user_id is required"),
        ({"user_id": 42}, "user_id is required"),
        ({"redirect_url": ...}, "redirect_url is required"),
        ({"redirect_url": ""}, "redirect_url is required"),
        ({"redirect_url": "https://evil.example/link/callback"}, "allow-list"),
        ({"redirect_url": CALLBACK + "/"}, "allow-list"),
        ({"redirect_url": CALLBACK + "?x=1"}, "allow-list"),
        ({"redirect_url": CALLBACK.upper()}, "allow-list"),
        ({"asset_type": ...}, "asset_type is required"),
        ({"asset_type": "ev"}, "asset_type is required"),
        ({"asset_type": "HP"}, "asset_type is required"),
        ({"asset_type": ["hp"]}, "asset_type is required"),
        ({"language": "de"}, "language must be one of nl, en, fr, es"),
        ({"language": ""}, "language must be one of"),
        ({"language": 1}, "language must be one of"),
        ({"brand": "Daikin"}, "brand must be a lowercase slug"),
        ({"brand": "saunier_duval"}, "brand must be a lowercase slug"),
        ({"brand": ""}, "brand must be a lowercase slug"),
        ({"brand": 7}, "brand must be a lowercase slug"),
        ({"brand": "sma"}, "brand sma is not offered for asset_type hp"),
        ({"brand": "tesla"}, "brand tesla is not offered for asset_type hp"),
        ({"asset_type": "pv", "brand": "daikin"}, "brand daikin is not offered for asset_type pv"),
    ],
)
async def test_link_session_validation(
    nox: Client, overrides: dict[str, Any], message: str
) -> None:
    response = await create(nox, **overrides)
    assert response.status_code == 400
    body = await response.get_json()
    assert set(body) == {"message"}
    assert message in body["message"]
    assert (await registry(nox))["sessions"] == []
    [rejected] = await events(nox, "link_session_rejected")
    assert rejected["status"] == 400 and rejected["reason"] == body["message"]


@pytest.mark.parametrize("body", [b"[]", b"not json", b'"text"', b"null"])
async def test_link_session_body_must_be_a_json_object(nox: Client, body: bytes) -> None:
    response = await nox.post(
        "/v2/supplier/link-sessions",
        data=body,
        headers={"x-api-key": API_KEY, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert await response.get_json() == {"message": "the body must be a JSON object"}


async def test_link_session_needs_a_json_content_type(nox: Client) -> None:
    response = await nox.post(
        "/v2/supplier/link-sessions",
        data=json.dumps(link_body()),
        headers={"x-api-key": API_KEY, "Content-Type": "text/plain"},
    )
    assert response.status_code == 400
    assert await response.get_json() == {"message": "Content-Type must be application/json"}


async def test_link_session_answer_has_nox_v2_shape(nox: Client, clock: FrozenClock) -> None:
    response = await create(nox, user_id="cust-0001")
    assert response.status_code == 200
    answer = await response.get_json()
    assert set(answer) == ANSWER_FIELDS
    token = answer["link_token"]
    assert isinstance(token, str) and len(token) >= 32
    assert answer == {
        "link_url": f"{PUBLIC_URL}/ui?token={token}&language=nl",
        "link_token": token,
        "supplier": "local-supplier",
        "supplier_user_id": "cust-0001",
        "redirect_url": CALLBACK,
        "language": "nl",
        "brand": None,
        "completed_at": None,
        "created_at": clock.now(),
        "expires_at": clock.now() + 600,
    }
    assert type(answer["created_at"]) is int and type(answer["expires_at"]) is int
    [event] = await events(nox, "link_session_created")
    assert event["link_token"] == token and event["asset_type"] == "hp"


async def test_link_session_with_language_and_brand(nox: Client) -> None:
    answer = await created(nox, asset_type="pv", language="fr", brand="solaredge")
    assert answer["language"] == "fr" and answer["brand"] == "solaredge"
    assert answer["link_url"].endswith(f"?token={answer['link_token']}&language=fr")
    assert answer["expires_at"] - answer["created_at"] == 600
    other = await created(nox, language=None, brand=None)
    assert other["language"] == "nl" and other["brand"] is None
    assert other["link_token"] != answer["link_token"]


# ---- the authenticator -------------------------------------------------------------------------
async def test_full_walk_redirects_with_the_payload(nox: Client, clock: FrozenClock) -> None:
    answer = await created(nox, user_id="cust-0001", language="en")
    page = await nox.get(local(answer["link_url"]))
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    body = await text(page)
    assert "<script" not in body
    assert '<form method="post" action="/ui/brand">' in body
    assert hidden_fields(body) == {"token": answer["link_token"], "language": "en"}

    picked = await nox.post(
        "/ui/brand", form={"token": answer["link_token"], "language": "en", "brand": "nibe"}
    )
    assert picked.status_code == 303
    maker_url = picked.headers["Location"]
    assert maker_url == f"/ui/maker-login?token={answer['link_token']}&language=en"
    maker = await nox.get(maker_url)
    assert maker.status_code == 200
    maker_page = await text(maker)
    assert "Sign in to NIBE" in maker_page
    for name in ('name="username"', 'type="password"', 'type="checkbox" name="accept_terms"'):
        assert name in maker_page

    clock.advance(30)
    done = await sign_in(nox, hidden_fields(maker_page), "ada@maker.example")
    assert done.status_code == 302
    location = done.headers["Location"]
    assert location.startswith(CALLBACK + "?data=")
    payload = decode(location)
    assert list(payload) == [
        "nox_user_id",
        "supplier_user_id",
        "brand",
        "device_ids",
        "connected_at",
    ]
    assert isinstance(payload["nox_user_id"], str) and payload["nox_user_id"]
    assert payload["supplier_user_id"] == "cust-0001"
    assert payload["brand"] == "nibe"
    assert payload["device_ids"] == [device("nibe", "ada@maker.example")]
    assert type(payload["connected_at"]) is int and payload["connected_at"] == clock.now()

    [completed] = await events(nox, "link_completed")
    assert completed["payload"] == payload
    assert completed["device_ids"] == payload["device_ids"]
    assert completed["data"] == parse_qs(urlsplit(location).query)["data"][0]
    [session] = (await registry(nox))["sessions"]
    assert session["completed_at"] == clock.now()
    assert [e["type"] for e in await all_events(nox)] == [
        "link_session_created",
        "link_ui_opened",
        "link_brand_selected",
        "link_completed",
    ]


async def test_redirect_url_with_a_query_keeps_it(nox: Client) -> None:
    answer = await created(nox, redirect_url=ALT_CALLBACK)
    done = await walk(nox, answer["link_url"], "daikin", "bob")
    assert done.status_code == 302
    location = done.headers["Location"]
    assert location.startswith(ALT_CALLBACK + "&data=")
    assert parse_qs(urlsplit(location).query)["tenant"] == ["green"]
    assert decode(location, ALT_CALLBACK)["brand"] == "daikin"


async def test_brand_page_offers_the_asset_types_makers(nox: Client) -> None:
    pv = await created(nox, asset_type="pv")
    page = await text(await nox.get(local(pv["link_url"])))
    offered = set(re.findall(r'name="brand" value="([^"]+)"', page))
    assert offered == PV_BRANDS
    assert "checked" not in page

    hp = await created(nox, asset_type="hp", brand="vaillant")
    page = await text(await nox.get(local(hp["link_url"])))
    assert set(re.findall(r'name="brand" value="([^"]+)"', page)) == HP_BRANDS
    assert re.findall(r'value="([^"]+)" checked', page) == ["vaillant"]


async def test_a_brand_of_another_asset_type_is_refused(nox: Client) -> None:
    pv = await created(nox, asset_type="pv")
    for brand in ("daikin", "", "SMA"):
        refused = await nox.post(
            "/ui/brand", form={"token": pv["link_token"], "language": "nl", "brand": brand}
        )
        assert refused.status_code == 400
        assert "Choose one of the makers listed." in await text(refused)
    maker = await nox.get(f"/ui/maker-login?token={pv['link_token']}&language=nl")
    assert maker.status_code == 303  # no maker chosen yet: back to the brand page
    assert maker.headers["Location"].startswith("/ui?token=")
    rejected = await events(nox, "link_ui_rejected")
    assert [e["status"] for e in rejected] == [400, 400, 400]


async def test_maker_sign_in_needs_credentials_and_the_terms(nox: Client) -> None:
    answer = await created(nox)
    fields = await choose(nox, answer["link_url"], "daikin")
    no_name = await sign_in(nox, fields, "  ")
    assert no_name.status_code == 400
    no_password = await nox.post(
        "/ui/maker-login", form={**fields, "username": "ada", "accept_terms": "yes"}
    )
    assert no_password.status_code == 400
    no_terms = await sign_in(nox, fields, "<b>ada</b>", accept=False)
    assert no_terms.status_code == 400
    page = await text(no_terms)
    assert "Accept the terms of Daikin" in page
    assert "<b>ada</b>" not in page and "&lt;b&gt;ada&lt;/b&gt;" in page
    assert await events(nox, "link_completed") == []
    # still usable after the refusals
    done = await sign_in(nox, fields, "ada")
    assert done.status_code == 302


async def test_unknown_token_is_404(nox: Client) -> None:
    for response in (
        await nox.get("/ui?token=nope&language=nl"),
        await nox.get("/ui"),
        await nox.post("/ui/brand", form={"token": "nope", "brand": "daikin"}),
        await nox.get("/ui/maker-login?token=nope"),
        await nox.post(
            "/ui/maker-login",
            form={"token": "nope", "username": "a", "password": "b", "accept_terms": "yes"},
        ),
    ):
        assert response.status_code == 404
        assert "Link not found" in await text(response)
    assert [e["reason"] for e in await events(nox, "link_ui_rejected")] == ["unknown token"] * 5


async def test_expired_token_is_410_and_completes_nothing(nox: Client, clock: FrozenClock) -> None:
    answer = await created(nox)
    clock.advance(599)
    fields = await choose(nox, answer["link_url"], "daikin")  # still inside the 10 minutes
    clock.advance(1)  # now == expires_at
    for response in (
        await nox.get(local(answer["link_url"])),
        await nox.post("/ui/brand", form={**fields, "brand": "nibe"}),
        await nox.get(f"/ui/maker-login?token={answer['link_token']}"),
        await sign_in(nox, fields, "ada"),
    ):
        assert response.status_code == 410
        assert "Link expired" in await text(response)
    assert await events(nox, "link_completed") == []
    state = await registry(nox)
    assert state["users"] == [] and state["devices"] == {}
    assert state["sessions"][0]["completed_at"] is None
    reasons = [e["reason"] for e in await events(nox, "link_ui_rejected")]
    assert reasons == ["token expired"] * 4


async def test_a_used_token_is_410(nox: Client) -> None:
    answer = await created(nox)
    fields = await choose(nox, answer["link_url"], "daikin")
    first = await sign_in(nox, fields, "ada")
    assert first.status_code == 302
    again = await sign_in(nox, fields, "mallory")
    assert again.status_code == 410
    assert "Link already used" in await text(again)
    reopened = await nox.get(local(answer["link_url"]))
    assert reopened.status_code == 410
    assert len(await events(nox, "link_completed")) == 1
    assert list((await registry(nox))["devices"]) == [device("daikin", "ada")]


# ---- NOX's registry ----------------------------------------------------------------------------
async def test_relink_keeps_nox_user_id_and_replaces_the_device(nox: Client) -> None:
    first = await link(nox, "cust-0001", "daikin", "ada-old")
    second = await link(nox, "cust-0001", "vaillant", "ada-new")
    assert second["nox_user_id"] == first["nox_user_id"]
    assert second["device_ids"] == [device("vaillant", "ada-new")]
    state = await registry(nox)
    [user] = state["users"]
    assert user["devices"] == {"hp": [device("vaillant", "ada-new")]}
    assert list(state["devices"]) == [device("vaillant", "ada-new")]
    completed = await events(nox, "link_completed")
    assert completed[1]["replaced"] == [device("daikin", "ada-old")]

    # a link of the other asset type does not touch the heat pump
    pv = await link(nox, "cust-0001", "sma", "ada-solar")
    assert pv["nox_user_id"] == first["nox_user_id"]
    [user] = (await registry(nox))["users"]
    assert user["devices"] == {
        "hp": [device("vaillant", "ada-new")],
        "pv": [device("sma", "ada-solar")],
    }


async def test_relink_of_the_same_device_keeps_it(nox: Client) -> None:
    first = await link(nox, "cust-0001", "daikin", "ada")
    again = await link(nox, "cust-0001", "daikin", " ADA ")  # trimmed, case ignored
    assert again == {**first, "connected_at": again["connected_at"]}
    assert (await events(nox, "link_completed"))[1]["replaced"] == []


async def test_one_owner_per_device_the_newest_wins(nox: Client) -> None:
    a = await link(nox, "cust-A", "nibe", "shared-household")
    b = await link(nox, "cust-B", "nibe", "shared-household")
    assert a["device_ids"] == b["device_ids"] == [device("nibe", "shared-household")]
    assert a["nox_user_id"] != b["nox_user_id"]
    state = await registry(nox)
    owners = {u["supplier_user_id"]: u for u in state["users"]}
    assert owners["cust-A"]["devices"] == {}
    assert owners["cust-B"]["devices"] == {"hp": b["device_ids"]}
    assert owners["cust-A"]["nox_user_id"] == a["nox_user_id"]
    assert state["devices"] == {
        b["device_ids"][0]: {"supplier": "local-supplier", "supplier_user_id": "cust-B"}
    }
    moved = (await events(nox, "link_completed"))[1]["moved_from"]
    assert moved == {b["device_ids"][0]: "cust-A"}
    # cust-A links again later and keeps its NOX id
    again = await link(nox, "cust-A", "nibe", "shared-household")
    assert again["nox_user_id"] == a["nox_user_id"]


# ---- control -----------------------------------------------------------------------------------
async def control(client: Client, **behaviour: Any) -> Response:
    return await client.post("/_sandbox/control/link-sessions", json=behaviour)


async def test_control_503(nox: Client, clock: FrozenClock) -> None:
    assert (await control(nox, mode="503", for_seconds=60)).status_code == 200
    response = await create(nox)
    assert response.status_code == 503
    assert await response.get_json() == {"message": "Service Unavailable"}
    assert (await registry(nox))["sessions"] == []
    assert [e["mode"] for e in await events(nox, "link_session_misbehaved")] == ["503"]
    clock.advance(60)
    assert (await create(nox)).status_code == 200
    current = await (await nox.get("/_sandbox/control/link-sessions")).get_json()
    assert current == {"mode": "ok", "delay": 0.0, "until": None}


async def test_control_malformed(nox: Client) -> None:
    assert (await control(nox, mode="malformed")).status_code == 200
    response = await create(nox)
    assert response.status_code == 200
    body = await response.get_json()
    assert set(body) == {"success", "timestamp", "data"}  # the old v1 wrapping
    assert not ANSWER_FIELDS & set(body)
    page = await nox.get(local(body["data"]["link_url"]))
    assert page.status_code == 404  # NOX stored no session
    assert (await registry(nox))["sessions"] == []
    # the sandbox still checks the request first
    assert (await create(nox, asset_type="ev")).status_code == 400
    assert (await create(nox, api_key="wrong")).status_code == 401


async def test_control_slow(nox: Client) -> None:
    answer = await control(nox, mode="slow", delay=0.3)
    assert await answer.get_json() == {"mode": "slow", "delay": 0.3, "until": None}
    started = time.monotonic()
    response = await create(nox)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200
    assert set(await response.get_json()) == ANSWER_FIELDS
    [event] = await events(nox, "link_session_created")
    assert event["answered"] == "slow"
    assert (await control(nox, mode="ok")).status_code == 200
    started = time.monotonic()
    assert (await create(nox)).status_code == 200
    assert time.monotonic() - started < 0.3


async def test_control_slow_defaults_to_ten_seconds(nox: Client) -> None:
    answer = await control(nox, mode="slow", for_seconds=5)
    assert await answer.get_json() == {"mode": "slow", "delay": 10.0, "until": 1_800_000_005}
    [event] = await events(nox, "link_sessions_control")
    assert event["mode"] == "slow"


@pytest.mark.parametrize(
    "behaviour",
    [
        {"mode": "400"},
        {"mode": "broken"},
        {"mode": "slow", "delay": -1},
        {"mode": "slow", "delay": "3"},
        {"mode": "slow", "delay": True},
        {"mode": "slow", "delay": 301},
        {"mode": "503", "for_seconds": -5},
    ],
)
async def test_control_refuses_nonsense(nox: Client, behaviour: dict[str, Any]) -> None:
    response = await control(nox, **behaviour)
    assert response.status_code == 400
    assert "error" in await response.get_json()
    assert (await create(nox)).status_code == 200


async def test_control_of_flow_1_is_untouched(nox: Client) -> None:
    response = await nox.post("/_sandbox/control", json={"post_login_redirect": "503"})
    assert response.status_code == 200
    assert (await create(nox)).status_code == 200


# ---- settings and the command ------------------------------------------------------------------
def test_allow_list_defaults_to_the_identity_providers_callback(tmp_path: Path) -> None:
    settings = SandboxSettings(IDP_URL + "/", PUBLIC_URL, "nox", "secret", API_KEY)
    assert settings.link_redirect_urls == (CALLBACK,)
    derived = sandbox_settings_from(IDP_URL, PUBLIC_URL, str(tmp_path), "nox", "s", "k")
    assert derived.link_redirect_urls == (CALLBACK,)
    given = sandbox_settings_from(
        IDP_URL, PUBLIC_URL, str(tmp_path), "nox", "s", "k", ["https://a/cb", "https://b/cb"]
    )
    assert given.link_redirect_urls == ("https://a/cb", "https://b/cb")


def test_sandbox_command_has_the_link_redirect_url_option() -> None:
    result = CliRunner().invoke(main, ["sandbox", "--help"])
    assert result.exit_code == 0
    assert "--link-redirect-url" in result.output


# ---- devices with several device_ids, and NOX's data API (GET /v1/devices) ---------------------
async def test_a_maker_account_with_two_heat_pumps_gives_two_device_ids(nox: Client) -> None:
    answer = await created(nox)
    fields = await choose(nox, answer["link_url"], "daikin")
    done = await nox.post(
        "/ui/maker-login",
        form={**fields, "username": "ada", "password": "pw", "accept_terms": "yes", "devices": "2"},
    )
    assert done.status_code == 302
    payload = decode(done.headers["Location"])
    assert payload["device_ids"] == [device("daikin", "ada"), device("daikin", "ada") + "-2"]
    assert set((await registry(nox))["devices"]) == set(payload["device_ids"])


@pytest.mark.parametrize("count", ["0", "6", "two", ""])
async def test_the_number_of_devices_is_checked(nox: Client, count: str) -> None:
    answer = await created(nox)
    fields = await choose(nox, answer["link_url"], "daikin")
    done = await nox.post(
        "/ui/maker-login",
        form={
            **fields,
            "username": "ada",
            "password": "pw",
            "accept_terms": "yes",
            "devices": count,
        },
    )
    assert done.status_code == 400
    assert (await registry(nox))["devices"] == {}


async def devices_of(client: Client, user_id: str, api_key: str = API_KEY) -> Response:
    return await client.get(
        "/v1/devices", query_string={"user_id": user_id}, headers={"x-api-key": api_key}
    )


@pytest.mark.parametrize("api_key", ["", "wrong-key"])
async def test_data_api_needs_the_api_key(nox: Client, api_key: str) -> None:
    await link(nox, "cust-0001", "daikin", "ada")
    response = await devices_of(nox, "cust-0001", api_key)
    assert response.status_code == 401
    assert await response.get_json() == {"message": "Unauthorized"}


async def test_data_api_needs_a_user_id(nox: Client) -> None:
    response = await nox.get("/v1/devices", headers={"x-api-key": API_KEY})
    assert response.status_code == 400


async def test_data_api_lists_the_users_devices(nox: Client, clock: FrozenClock) -> None:
    first = await link(nox, "cust-0001", "daikin", "ada")
    await link(nox, "cust-0002", "sma", "bob")
    response = await devices_of(nox, "cust-0001")
    assert response.status_code == 200
    assert await response.get_json() == {
        "data": [
            {
                "device_id": device("daikin", "ada"),
                "brand": "daikin",
                "asset_type": "hp",
                "nox_user_id": first["nox_user_id"],
                "steerable_status": "collecting_data",
                "needs_reauthentication": False,
            }
        ]
    }
    assert await (await devices_of(nox, "cust-9999")).get_json() == {"data": []}
    clock.advance(30 * 24 * 3600)
    [listed] = (await (await devices_of(nox, "cust-0001")).get_json())["data"]
    assert listed["steerable_status"] == "steerable"
    seen = (await events(nox, "devices_listed"))[0]
    assert seen["user_id"] == "cust-0001" and seen["device_ids"] == [device("daikin", "ada")]


async def test_data_api_follows_a_device_to_its_newest_owner(nox: Client) -> None:
    await link(nox, "cust-0001", "daikin", "shared")
    await link(nox, "cust-0002", "daikin", "shared")
    assert await (await devices_of(nox, "cust-0001")).get_json() == {"data": []}
    [listed] = (await (await devices_of(nox, "cust-0002")).get_json())["data"]
    assert listed["device_id"] == device("daikin", "shared")


async def test_activity_page_shows_the_data_api_confirmation(nox: Client) -> None:
    """A person rehearsing flow 2 sees on NOX's side that the supplier asked NOX to confirm."""
    await link(nox, "cust-0001", "daikin", "ada")
    await devices_of(nox, "cust-0001")
    page = await text(await nox.get("/_sandbox/activity"))
    newest = page.split("<tr>")[2]  # newest first, after the header row
    assert "<strong>Data API asked to confirm devices: GET /v1/devices</strong>" in newest
    assert "cust-0001" in newest and device("daikin", "ada") in newest
    assert "<strong>Link session created: POST /v2/supplier/link-sessions</strong>" in page
