"""Scopes (RFC 6749 §3.3, §5.2): every grant grants a subset of the client's registered scopes."""

from __future__ import annotations

import pytest

from tests.conftest import REDIRECT_URI, Flow, add_client, basic_auth, location, query_of


async def error_of(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.status_code
    return (await response.get_json())["error"]


async def client_credentials(client, scope: str, client_id: str = "backend"):  # type: ignore[no-untyped-def]
    return await client.post(
        "/token",
        form={"grant_type": "client_credentials", "scope": scope},
        headers=basic_auth(client_id),
    )


async def test_client_credentials_with_default_scopes_cannot_take_links_scopes(
    client, store
) -> None:
    # Registered with the default scopes (openid profile email offline_access).
    await add_client(store, client_id="backend", grant_types=["client_credentials"])
    response = await client_credentials(client, "links:read links:write")
    assert await error_of(response) == "invalid_scope"


@pytest.mark.parametrize("scope", ["links:read links:write", "links:write", "links:read email"])
async def test_client_credentials_refuses_any_scope_beyond_registration(
    client, store, scope: str
) -> None:
    await add_client(
        store, client_id="backend", grant_types=["client_credentials"], scopes=["links:read"]
    )
    assert await error_of(await client_credentials(client, scope)) == "invalid_scope"
    granted = await client_credentials(client, "links:read")
    assert granted.status_code == 200
    assert (await granted.get_json())["scope"] == "links:read"


async def test_authorize_refuses_a_scope_the_client_did_not_register(flow: Flow) -> None:
    response = await flow.authorize(scope="openid links:read")
    url = location(response)
    assert url.startswith(REDIRECT_URI)
    params = query_of(url)
    assert params["error"] == "invalid_scope"
    assert "code" not in params


async def test_authorize_without_scope_gets_the_registered_ones(flow: Flow) -> None:
    body = await (await flow.token(await flow.code(scope=None))).get_json()
    assert body["scope"] == "openid profile email"


async def test_refresh_asking_a_wider_scope_does_not_burn_the_token(flow: Flow) -> None:
    tokens = await (await flow.token(await flow.code(scope="openid email"))).get_json()
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    wider = await flow.client.post(
        "/token", form={**form, "scope": "openid email profile"}, headers=basic_auth()
    )
    assert await error_of(wider) == "invalid_scope"
    again = await flow.client.post("/token", form=form, headers=basic_auth())
    assert again.status_code == 200
    assert (await again.get_json())["scope"] == "openid email"


async def test_refresh_refuses_a_scope_the_client_no_longer_has(flow: Flow, store) -> None:
    tokens = await (await flow.token(await flow.code(scope="openid email"))).get_json()
    # Registration changed under the token: `nox` may no longer have `email`.
    from sqlalchemy import update

    from idp.store.tables import clients

    async with store.grants.engine.begin() as conn:
        await conn.execute(
            update(clients)
            .where(clients.c.client_id == "nox")
            # A change bumps the client's version (as store/clients.py does), or cached copies
            # of the client would not see it.
            .values(scopes=["openid", "offline_access"], version=clients.c.version + 1)
        )
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    response = await flow.client.post("/token", form=form, headers=basic_auth())
    assert await error_of(response) == "invalid_scope"
    narrower = await flow.client.post(
        "/token", form={**form, "scope": "openid"}, headers=basic_auth()
    )
    assert narrower.status_code == 200
    assert (await narrower.get_json())["scope"] == "openid"
