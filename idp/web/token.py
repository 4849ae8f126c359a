"""The back-channel endpoints: token, revocation, introspection, userinfo."""

from __future__ import annotations

from quart import Blueprint, Response

from idp.web.common import http_call, services, to_response

bp = Blueprint("token", __name__)


@bp.post("/token")
async def token() -> Response:
    return to_response(await services().oauth.token(await http_call("/token")))


@bp.post("/revoke")
async def revoke() -> Response:
    return to_response(await services().oauth.revoke(await http_call("/revoke")))


@bp.post("/introspect")
async def introspect() -> Response:
    response = to_response(await services().oauth.introspect(await http_call("/introspect")))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
async def userinfo() -> Response:
    response = to_response(await services().oauth.userinfo(await http_call("/userinfo")))
    response.headers["Cache-Control"] = "no-store"
    if response.status_code == 403 and "WWW-Authenticate" not in response.headers:
        # RFC 6750 §3.1: say which scope was missing.
        response.headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope", scope="openid"'
    return response
