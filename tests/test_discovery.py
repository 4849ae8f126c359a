"""Discovery documents (OIDC Discovery 1.0 §3, RFC 8414 §2) and the JWKS."""

from __future__ import annotations

from typing import Any

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

from idp.oauth.keys import KEY_ACTIVATION_SECONDS, KeyCache, generate_key
from idp.records import SigningKey
from idp.security.clock import FrozenClock
from tests.conftest import ISSUER

DOCUMENTS = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]


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


@pytest.mark.parametrize("path", [*DOCUMENTS, "/jwks.json"])
async def test_discovery_documents_are_public_and_cacheable(client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_metadata_names_the_client_authentication_methods(client) -> None:
    metadata = await (await client.get(DOCUMENTS[0])).get_json()
    every = ["client_secret_basic", "client_secret_post", "none"]
    assert metadata["token_endpoint_auth_methods_supported"] == every
    assert metadata["revocation_endpoint_auth_methods_supported"] == every
    # Public clients may not introspect.
    assert metadata["introspection_endpoint_auth_methods_supported"] == every[:2]


class MemoryKeys:
    """The signing keys port in memory, counting reads."""

    def __init__(self) -> None:
        self.rows: list[SigningKey] = []
        self.reads = 0

    async def published(self, retired_after: int) -> list[SigningKey]:
        self.reads += 1
        live = [k for k in self.rows if k.retired_at is None or k.retired_at > retired_after]
        return sorted(live, key=lambda k: (k.retired_at is not None, -k.created_at))

    async def add_current(
        self, *, kid: str, alg: str, private_jwk: dict[str, Any], now: int
    ) -> None:
        self.rows = [
            k
            if k.retired_at is not None
            else SigningKey(k.kid, k.alg, k.private_jwk, k.created_at, now)
            for k in self.rows
        ]
        self.rows.append(SigningKey(kid, alg, private_jwk, now, None))


async def test_key_cache_makes_the_first_key_and_rereads_after_a_minute() -> None:
    keys, clock = MemoryKeys(), FrozenClock()
    cache = KeyCache(keys, clock, id_token_seconds=3600)
    ring = await cache.refresh(force=True)
    [first] = keys.rows
    assert [k.kid for k in ring.keys] == [first.kid] and ring.algorithms() == ["RS256"]
    assert cache.ring is ring
    reads = keys.reads
    kid, jwk = generate_key("ES256")
    await keys.add_current(kid=kid, alg="ES256", private_jwk=jwk, now=clock.now())
    clock.advance(59)
    assert await cache.refresh() is ring and keys.reads == reads
    clock.advance(1)
    ring = await cache.refresh()
    assert keys.reads == reads + 1
    # Published at once, but the first key signs on until the new one is old enough.
    assert [k.kid for k in ring.keys] == [kid, first.kid] and cache.ring.current.kid == first.kid
    assert (await cache.refresh(force=True)) is not ring and keys.reads == reads + 2
    clock.advance(KEY_ACTIVATION_SECONDS - 61)
    assert (await cache.refresh(force=True)).current.kid == first.kid
    clock.advance(1)
    assert (await cache.refresh(force=True)).current.kid == kid
