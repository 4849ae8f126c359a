"""The authorization server's metadata: OIDC Discovery 1.0 §3 and RFC 8414 §2 (one document
serves both well-known paths), and the public documents served as prepared bytes."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
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
        # OpenID Connect RP-Initiated Logout 1.0 §2.1.
        "end_session_endpoint": url("/logout"),
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
        # Back-Channel Logout 1.0 §2.1: logout tokens carry `sub`, not `sid`.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": False,
    }


@dataclass(frozen=True)
class PublicDocument:
    """A public JSON document as sent: its bytes, and their entity tag (RFC 9110 §8.8.3), the
    same in every worker because it is derived from the bytes."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, document: dict[str, Any]) -> PublicDocument:
        # The bytes Quart's jsonify wrote before: sorted keys, compact, ASCII, one newline.
        text = json.dumps(document, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
        body = f"{text}\n".encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()[:18]).decode()
        return cls(body, f'"{digest}"')

    def matches(self, if_none_match: str) -> bool:
        """RFC 9110 §13.1.2: If-None-Match compares weakly, and `*` matches any."""
        for tag in if_none_match.split(","):
            tag = tag.strip()
            if tag == "*" or tag.removeprefix("W/") == self.etag:
                return True
        return False


@dataclass(frozen=True)
class PublicDocuments:
    """The metadata and the JWKS of one key set."""

    metadata: PublicDocument
    jwks: PublicDocument
