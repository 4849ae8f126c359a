"""The authorization code flow end to end through the app (RFC 6749 §4.1, OIDC Core §3.1)."""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import (
    CLIENT_ID,
    ISSUER,
    REDIRECT_URI,
    SUPPLIER_USER_ID,
    Flow,
    location,
    query_of,
)


async def test_code_flow_issues_tokens_and_id_token(flow: Flow, client, clock) -> None:
    code = await flow.code()
    response = await flow.token(code)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid profile email"
    assert "refresh_token" in body

    jwks = await (await client.get("/jwks.json")).get_json()
    token = jwt.decode(body["id_token"], KeySet.import_key_set(jwks))
    claims = token.claims
    assert claims["iss"] == ISSUER
    assert claims["aud"] == [CLIENT_ID]
    assert claims["sub"] == SUPPLIER_USER_ID
    assert claims["nonce"] == flow.nonce
    assert claims["auth_time"] == clock.now()
    assert claims["iat"] == clock.now()
    assert claims["exp"] == clock.now() + 3600
    assert "at_hash" in claims
    assert token.header["kid"] == jwks["keys"][0]["kid"]


async def test_redirect_carries_state_and_iss(flow: Flow) -> None:
    response = await flow.authorize()
    response = await flow.sign_in(location(response))
    response = await flow.accept_terms(location(response))
    url = location(response)
    assert url.startswith(REDIRECT_URI + "?")
    params = query_of(url)
    assert params["state"] == "state-123"
    assert params["iss"] == ISSUER
