"""The back-channel endpoints: token, revocation, introspection, userinfo."""

from __future__ import annotations

from quart import Blueprint, Response

from idp.oauth.facade import OAuth
from idp.web.common import http_call, to_response


def blueprint(oauth: OAuth) -> Blueprint:
    """RFC 6749 §3.2, RFC 7009, RFC 7662 and OIDC Core §5.3, each answered by the facade."""
    bp = Blueprint("token", __name__)

    @bp.post("/token")
    async def token() -> Response:
        return to_response(await oauth.token(await http_call("/token")))

    @bp.post("/revoke")
    async def revoke() -> Response:
        return to_response(await oauth.revoke(await http_call("/revoke")))

    @bp.post("/introspect")
    async def introspect() -> Response:
        response = to_response(await oauth.introspect(await http_call("/introspect")))
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.route("/userinfo", methods=["GET", "POST"])
    async def userinfo() -> Response:
        response = to_response(await oauth.userinfo(await http_call("/userinfo")))
        response.headers["Cache-Control"] = "no-store"
        if response.status_code == 403 and "WWW-Authenticate" not in response.headers:
            # RFC 6750 §3.1: say which scope was missing.
            response.headers["WWW-Authenticate"] = (
                'Bearer error="insufficient_scope", scope="openid"'
            )
        return response

    return bp
