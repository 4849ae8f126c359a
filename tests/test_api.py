"""The supplier API: bearer tokens and scopes (RFC 6750), return_url rules, the OpenAPI document."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from openapi_spec_validator import validate

from idp.nox.client import NoxLinkClient
from tests.conftest import REDIRECT_URI, SUPPLIER_USER_ID, add_client, basic_auth
from tests.test_links import NOX, good_answer


@pytest.fixture
async def api(app, client, store, seeded):  # type: ignore[no-untyped-def]
    await add_client(
        store,
        client_id="backend",
        grant_types=["client_credentials"],
        scopes=["links:read", "links:write"],
        redirect_uris=[REDIRECT_URI],
    )
    services = app.extensions["idp"]
    settings = services.settings.with_overrides(nox_auth_base=NOX, nox_api_key="k")

    async def nox(request: httpx.Request) -> httpx.Response:
        return good_answer(request)

    services.link_sessions.nox = NoxLinkClient(settings, transport=httpx.MockTransport(nox))
    return client


async def bearer(client, scope: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    response = await client.post(
        "/token",
        form={"grant_type": "client_credentials", "scope": scope},
        headers=basic_auth("backend"),
    )
    return {"Authorization": f"Bearer {(await response.get_json())['access_token']}"}


async def test_create_link_session(api, store) -> None:
    response = await api.post(
        "/api/v1/link-sessions",
        json={"supplier_user_id": SUPPLIER_USER_ID, "asset_type": "pv", "return_url": REDIRECT_URI},
        headers=await bearer(api, "links:write"),
    )
    assert response.status_code == 201
    body = await response.get_json()
    assert body["expires_at"] == 1_800_000_600
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/link/start/[\w-]+", body["link_url"])
    [session] = await store.links.sessions_for(1)
    assert session.client_id == "backend" and session.return_url == REDIRECT_URI


async def test_link_start_makes_the_customer_sign_in_first(api) -> None:
    response = await api.post(
        "/api/v1/link-sessions",
        json={"supplier_user_id": SUPPLIER_USER_ID, "asset_type": "hp"},
        headers=await bearer(api, "links:write"),
    )
    path = (await response.get_json())["link_url"].removeprefix("http://127.0.0.1:8000")
    start = await api.get(path)
    assert start.headers["Location"] == f"/account/login?next={path}"


async def test_token_without_links_write_gets_403(api, store) -> None:
    response = await api.post(
        "/api/v1/link-sessions",
        json={"supplier_user_id": SUPPLIER_USER_ID, "asset_type": "hp"},
        headers=await bearer(api, "links:read"),
    )
    assert response.status_code == 403
    assert (await response.get_json())["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert await store.links.sessions_for(1) == []


@pytest.mark.parametrize("scope", ["links:read", "openid links:read"])
async def test_customer_token_gets_403_whatever_its_scopes(api, store, scope: str) -> None:
    """Only client tokens (client_credentials, no customer) may use the supplier API."""
    from tests.conftest import Flow

    await add_client(
        store,
        client_id="app",
        scopes=["openid", "links:read", "links:write"],
        redirect_uris=[REDIRECT_URI],
    )
    flow = Flow(api)
    response = await flow.token(await flow.code(client_id="app", scope=scope), client_id="app")
    assert response.status_code == 200
    token = (await response.get_json())["access_token"]
    for method, path, body in [
        ("GET", f"/api/v1/users/{SUPPLIER_USER_ID}/devices", None),
        (
            "POST",
            "/api/v1/link-sessions",
            {"supplier_user_id": SUPPLIER_USER_ID, "asset_type": "hp"},
        ),
    ]:
        answer = await api.open(
            path, method=method, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 403
        assert (await answer.get_json())["error"] == "insufficient_scope"
        assert answer.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
    assert await store.links.sessions_for(1) == []


async def test_client_token_beyond_its_registration_gets_403(api, store, clock) -> None:
    """A token minted with a scope the client does not (or no longer) have is refused."""
    from idp.security.secrets import digest

    await add_client(
        store, client_id="reader", grant_types=["client_credentials"], scopes=["links:read"]
    )
    await store.grants.add_token(
        client_id="reader",
        user_id=None,
        scope="links:read links:write",
        access_token_hash=digest("minted-before-the-fix"),
        refresh_token_hash=None,
        issued_at=clock.now(),
        expires_at=clock.now() + 3600,
        refresh_seconds=0,
        refresh_absolute_seconds=0,
        family_id="f-reader",
        new_family=True,
        code_id=None,
        auth_time=None,
    )
    response = await api.post(
        "/api/v1/link-sessions",
        json={"supplier_user_id": SUPPLIER_USER_ID, "asset_type": "hp"},
        headers={"Authorization": "Bearer minted-before-the-fix"},
    )
    assert response.status_code == 403
    assert (await response.get_json())["error"] == "insufficient_scope"
    assert await store.links.sessions_for(1) == []


async def test_openapi_says_customer_tokens_are_refused(client) -> None:
    document = await (await client.get("/api/openapi.json")).get_json()
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "customer" in operation["responses"]["403"]["description"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}])
async def test_missing_or_bad_token_gets_401(api, headers) -> None:
    response = await api.get(f"/api/v1/users/{SUPPLIER_USER_ID}/devices", headers=headers)
    assert response.status_code == 401
    assert "error" in await response.get_json()


@pytest.mark.parametrize(
    "return_url",
    ["https://evil.example/cb", REDIRECT_URI + "/", REDIRECT_URI.upper(), 42],
)
async def test_return_url_must_be_registered(api, store, return_url) -> None:
    response = await api.post(
        "/api/v1/link-sessions",
        json={"supplier_user_id": SUPPLIER_USER_ID, "asset_type": "hp", "return_url": return_url},
        headers=await bearer(api, "links:write"),
    )
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_return_url"
    assert await store.links.sessions_for(1) == []


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"asset_type": "hp"}, 400, "invalid_request"),
        ({"supplier_user_id": SUPPLIER_USER_ID, "asset_type": "boiler"}, 400, "invalid_request"),
        (
            {"supplier_user_id": SUPPLIER_USER_ID, "asset_type": "hp", "language": "de"},
            400,
            "invalid_request",
        ),
        ({"supplier_user_id": "nobody", "asset_type": "hp"}, 404, "unknown_customer"),
        ([1, 2], 400, "invalid_request"),
    ],
)
async def test_bad_link_requests(api, body, status: int, error: str) -> None:
    response = await api.post(
        "/api/v1/link-sessions", json=body, headers=await bearer(api, "links:write")
    )
    assert response.status_code == status
    assert (await response.get_json())["error"] == error


async def test_nox_down_is_502(api, app) -> None:
    services = app.extensions["idp"]

    async def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    services.link_sessions.nox = NoxLinkClient(
        services.link_sessions.nox.settings, transport=httpx.MockTransport(down)
    )
    response = await api.post(
        "/api/v1/link-sessions",
        json={"supplier_user_id": SUPPLIER_USER_ID, "asset_type": "hp"},
        headers=await bearer(api, "links:write"),
    )
    assert response.status_code == 502
    assert (await response.get_json())["error"] == "nox_unavailable"


async def test_devices(api, store, clock) -> None:
    from tests.test_links import b64, open_session, payload, sign_in

    await sign_in(api)
    await open_session(store, clock, browser=api)
    await api.get("/link/callback", query_string={"data": b64(payload())})
    response = await api.get(
        f"/api/v1/users/{SUPPLIER_USER_ID}/devices", headers=await bearer(api, "links:read")
    )
    assert response.status_code == 200
    body = await response.get_json()
    [device] = body["devices"]
    assert device["device_id"] == "daikin-abc"
    assert device["asset_type"] == "hp"
    assert device["nox_user_id"] == "nox-user-1"
    assert device["steerable_from"] == "2027-02-14"  # the frozen clock says 2027-01-15, + 30 days
    missing = await api.get("/api/v1/users/nobody/devices", headers=await bearer(api, "links:read"))
    assert missing.status_code == 404


async def test_openapi_document_is_valid_and_complete(app, client) -> None:
    document = await (await client.get("/api/openapi.json")).get_json()
    validate(json.loads(json.dumps(document)))
    documented = {
        (path.replace("{", "<").replace("}", ">"), method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    served = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods
        if method not in ("HEAD", "OPTIONS")
    }
    assert documented == served


async def test_api_answers_are_not_stored_and_deep_json_is_a_400(api, store, clock) -> None:
    """Found in review: device data was cacheable; a deeply nested body was a 500."""
    headers = await bearer(api, "links:write")
    deep = await api.post(
        "/api/v1/link-sessions",
        data="[" * 30000,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert deep.status_code == 400
    assert (await deep.get_json())["error"] == "invalid_request"
    listed = await api.get(
        f"/api/v1/users/{SUPPLIER_USER_ID}/devices", headers=await bearer(api, "links:read")
    )
    assert listed.headers["Cache-Control"] == "no-store"
