"""Userinfo (OIDC Core §5.3), revocation (RFC 7009), introspection (RFC 7662)."""

from __future__ import annotations

from tests.conftest import SUPPLIER_USER_ID, Flow, add_client, basic_auth


async def tokens(flow: Flow, scope: str = "openid profile email") -> dict:
    return await (await flow.token(await flow.code(scope=scope))).get_json()  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_userinfo_claims_follow_scope(flow: Flow) -> None:
    full = await tokens(flow)
    response = await flow.client.get("/userinfo", headers=bearer(full["access_token"]))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert await response.get_json() == {
        "sub": SUPPLIER_USER_ID,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
    }
    narrow = await tokens(flow, "openid")
    response = await flow.client.post("/userinfo", headers=bearer(narrow["access_token"]))
    assert await response.get_json() == {"sub": SUPPLIER_USER_ID}


async def test_userinfo_refuses_missing_expired_and_non_openid_tokens(
    flow: Flow, clock, store
) -> None:
    assert (await flow.client.get("/userinfo")).status_code == 401
    assert (await flow.client.get("/userinfo", headers=bearer("nonsense"))).status_code == 401
    await add_client(
        store,
        client_id="backend",
        grant_types=["client_credentials"],
        scopes=["links:read"],
        redirect_uris=[],
    )
    cc = await (
        await flow.client.post(
            "/token", form={"grant_type": "client_credentials"}, headers=basic_auth("backend")
        )
    ).get_json()
    response = await flow.client.get("/userinfo", headers=bearer(cc["access_token"]))
    assert response.status_code == 403
    assert "insufficient_scope" in response.headers["WWW-Authenticate"]
    token = (await tokens(flow))["access_token"]
    clock.advance(3600)
    response = await flow.client.get("/userinfo", headers=bearer(token))
    assert response.status_code == 401
    assert "invalid_token" in response.headers["WWW-Authenticate"]


async def test_revoking_an_access_token(flow: Flow) -> None:
    issued = await tokens(flow)
    response = await flow.client.post(
        "/revoke", form={"token": issued["access_token"]}, headers=basic_auth()
    )
    assert response.status_code == 200
    assert (
        await flow.client.get("/userinfo", headers=bearer(issued["access_token"]))
    ).status_code == 401


async def test_revoking_a_refresh_token_ends_the_grant(flow: Flow) -> None:
    issued = await tokens(flow)
    response = await flow.client.post(
        "/revoke",
        form={"token": issued["refresh_token"], "token_type_hint": "refresh_token"},
        headers=basic_auth(),
    )
    assert response.status_code == 200
    assert (
        await flow.client.get("/userinfo", headers=bearer(issued["access_token"]))
    ).status_code == 401
    refresh = await flow.client.post(
        "/token",
        form={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
        headers=basic_auth(),
    )
    assert (await refresh.get_json())["error"] == "invalid_grant"


async def test_revoke_unknown_token_is_200_and_needs_client_auth(flow: Flow) -> None:
    await tokens(flow)
    assert (
        await flow.client.post("/revoke", form={"token": "x"}, headers=basic_auth())
    ).status_code == 200
    response = await flow.client.post("/revoke", form={"token": "x"})
    assert response.status_code in (400, 401)
    assert (await response.get_json())["error"] == "invalid_client"


async def test_another_client_cannot_revoke_my_token(flow: Flow, store) -> None:
    await add_client(store, client_id="other")
    issued = await tokens(flow)
    response = await flow.client.post(
        "/revoke", form={"token": issued["access_token"]}, headers=basic_auth("other")
    )
    assert response.status_code == 400
    assert (
        await flow.client.get("/userinfo", headers=bearer(issued["access_token"]))
    ).status_code == 200


async def test_introspection(flow: Flow, clock) -> None:
    issued = await tokens(flow)
    response = await flow.client.post(
        "/introspect", form={"token": issued["access_token"]}, headers=basic_auth()
    )
    assert response.status_code == 200
    body = await response.get_json()
    assert body["active"] is True
    assert body["sub"] == SUPPLIER_USER_ID
    assert body["client_id"] == "nox"
    assert body["scope"] == "openid profile email"
    assert body["exp"] == clock.now() + 3600
    refresh = await flow.client.post(
        "/introspect", form={"token": issued["refresh_token"]}, headers=basic_auth()
    )
    assert (await refresh.get_json())["active"] is True
    unknown = await flow.client.post("/introspect", form={"token": "nope"}, headers=basic_auth())
    assert await unknown.get_json() == {"active": False}
    clock.advance(3600)
    expired = await flow.client.post(
        "/introspect", form={"token": issued["access_token"]}, headers=basic_auth()
    )
    assert await expired.get_json() == {"active": False}


async def test_introspection_needs_an_authenticated_client(flow: Flow, store) -> None:
    issued = await tokens(flow)
    response = await flow.client.post("/introspect", form={"token": issued["access_token"]})
    assert (await response.get_json())["error"] == "invalid_client"
    await add_client(store, client_id="other")
    foreign = await flow.client.post(
        "/introspect", form={"token": issued["access_token"]}, headers=basic_auth("other")
    )
    assert await foreign.get_json() == {"active": False}
