"""The authorization server's metadata: OIDC Discovery 1.0 §3 and RFC 8414 §2 (one document
serves both well-known paths)."""

from __future__ import annotations

from typing import Any

from idp.config import Settings
from idp.oauth.models import SCOPES
from idp.vocab import CLIENT_AUTH_METHODS, CONFIDENTIAL_AUTH_METHODS, LANGUAGES


def server_metadata(settings: Settings, signing_algs: list[str]) -> dict[str, Any]:
    """What a client needs to know to use this server, endpoints built from the issuer."""
    url = settings.url
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": url("/authorize"),
        "token_endpoint": url("/token"),
        "userinfo_endpoint": url("/userinfo"),
        "jwks_uri": url("/jwks.json"),
        "revocation_endpoint": url("/revoke"),
        "introspection_endpoint": url("/introspect"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": signing_algs,
        "token_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        # Only confidential clients may introspect (endpoints.IntrospectionEndpoint).
        "introspection_endpoint_auth_methods_supported": list(CONFIDENTIAL_AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "name",
            "email",
        ],
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": list(LANGUAGES),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        # RFC 9207 §3.
        "authorization_response_iss_parameter_supported": True,
    }
