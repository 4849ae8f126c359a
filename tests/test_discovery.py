"""Discovery documents (OIDC Discovery 1.0 §3, RFC 8414 §2) and the JWKS."""

from __future__ import annotations

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

from tests.conftest import ISSUER


async def test_openid_configuration_is_valid_and_complete(client, app) -> None:
    response = await client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    metadata = await response.get_json()
    OpenIDProviderMetadata(metadata).validate()
    assert metadata["issuer"] == ISSUER
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    for key in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        "introspection_endpoint",
    ):
        assert metadata[key].startswith(ISSUER)
        assert metadata[key][len(ISSUER) :] in routes, key


async def test_oauth_authorization_server_metadata(client) -> None:
    metadata = await (await client.get("/.well-known/oauth-authorization-server")).get_json()
    AuthorizationServerMetadata(metadata).validate()
    assert metadata == await (await client.get("/.well-known/openid-configuration")).get_json()


async def test_jwks_publishes_public_keys_only(client) -> None:
    jwks = await (await client.get("/jwks.json")).get_json()
    [key] = jwks["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert key["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
