"""The back-channel endpoints: token, revocation, introspection, userinfo."""

from __future__ import annotations

from quart import Blueprint, Response

from idp.protocol.bridge import in_thread
from idp.web.common import json_error, protocol_request, services, to_response

bp = Blueprint("token", __name__)


async def _form_request(path: str):
    req = await protocol_request(path)
    repeated = req._form.repeated()
    if repeated:
        # RFC 6749 §3.2: parameters MUST NOT be included more than once.
        return None, json_error(400, "invalid_request", f"Repeated parameter: {repeated[0]}")
    return req, None


@bp.post("/token")
async def token() -> Response:
    req, error = await _form_request("/token")
    if error:
        return error
    await services().refresh_keys()
    return to_response(await in_thread(services().server.create_token_response, req))


@bp.post("/revoke")
async def revoke() -> Response:
    req, error = await _form_request("/revoke")
    if error:
        return error
    return to_response(
        await in_thread(services().server.create_endpoint_response, "revocation", req)
    )


@bp.post("/introspect")
async def introspect() -> Response:
    req, error = await _form_request("/introspect")
    if error:
        return error
    response = to_response(
        await in_thread(services().server.create_endpoint_response, "introspection", req)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
async def userinfo() -> Response:
    req = await protocol_request("/userinfo")
    response = to_response(
        await in_thread(services().server.create_endpoint_response, "userinfo", req)
    )
    response.headers["Cache-Control"] = "no-store"
    if response.status_code == 403 and "WWW-Authenticate" not in response.headers:
        # RFC 6750 §3.1: say which scope was missing.
        response.headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope", scope="openid"'
    return response
