"""Discovery (OIDC Discovery 1.0, RFC 8414) and the JWKS."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify

from idp.config import Settings
from idp.oauth.models import SCOPES
from idp.vocab import LANGUAGES
from idp.web.common import services

bp = Blueprint("discovery", __name__)


def metadata(settings: Settings, signing_algs: list[str]) -> dict[str, Any]:
    url = settings.url
    auth_methods = ["client_secret_basic", "client_secret_post", "none"]
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
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods[:2],
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
        "authorization_response_iss_parameter_supported": True,
    }


async def _metadata_response() -> Response:
    svc = services()
    keyring = await svc.refresh_keys()
    response = jsonify(metadata(svc.settings, keyring.algorithms()))
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/openid-configuration")
async def openid_configuration() -> Response:
    return await _metadata_response()


@bp.get("/.well-known/oauth-authorization-server")
async def oauth_authorization_server() -> Response:
    return await _metadata_response()


@bp.get("/jwks.json")
async def jwks() -> Response:
    keyring = await services().refresh_keys()
    response = jsonify(keyring.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
