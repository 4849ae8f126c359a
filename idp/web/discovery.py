"""Discovery (OIDC Discovery 1.0, RFC 8414) and the JWKS: public, cacheable, any origin."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify

from idp.oauth.facade import OAuth


def public_json(document: dict[str, Any]) -> Response:
    """A public document any origin may read and caches may keep for five minutes."""
    response = jsonify(document)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def blueprint(oauth: OAuth) -> Blueprint:
    """The metadata under both well-known paths, and the keys that verify ID tokens."""
    bp = Blueprint("discovery", __name__)

    @bp.get("/.well-known/openid-configuration")
    async def openid_configuration() -> Response:
        return public_json(await oauth.metadata())

    @bp.get("/.well-known/oauth-authorization-server")
    async def oauth_authorization_server() -> Response:
        return public_json(await oauth.metadata())

    @bp.get("/jwks.json")
    async def jwks() -> Response:
        return public_json(await oauth.jwks())

    return bp
