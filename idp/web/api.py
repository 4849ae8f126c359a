"""The API for the supplier's own apps: start a link session for a customer, read devices.

Bearer tokens from `client_credentials` only (RFC 6750); scopes `links:write` and `links:read`.
A customer's token, whatever its scopes, is refused with 403 `insufficient_scope`.
Errors are JSON with a machine-readable `error` code.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify, request

from idp.config import Settings
from idp.nox.link_sessions import LinkSessions, StartRefused, supplier_link_request
from idp.nox.linked_devices import LinkedDevice, LinkedDevices
from idp.oauth.facade import BearerRefusal, OAuth
from idp.oauth.models import IssuedToken
from idp.web.common import http_call, json_error
from idp.web.openapi import OPENAPI


def _bearer_error(status: int, error: str, description: str, scope: str) -> Response:
    response = json_error(status, error, description)
    challenge = f'Bearer error="{error}"' + (f', scope="{scope}"' if status == 403 else "")
    response.headers["WWW-Authenticate"] = challenge
    return response


async def authorize_token(oauth: OAuth, scope: str) -> IssuedToken | Response:
    """The bearer token of this request if it is a client token carrying `scope`, else the
    RFC 6750 error."""
    token = await oauth.bearer(await http_call(), scope)
    if isinstance(token, BearerRefusal):
        return _bearer_error(token.status, token.error, token.description, scope)
    # RFC 6750 §3.1: a customer's token is valid, it just does not carry the privilege this API
    # needs (acting for the supplier, not for one customer): insufficient_scope, 403. The same
    # for a scope the client no longer has registered.
    if token.record.user_id is not None:
        return _bearer_error(
            403,
            "insufficient_scope",
            "This API takes only client tokens (client_credentials), not a customer's token",
            scope,
        )
    if not token.get_client().allows_scope(scope):
        return _bearer_error(
            403, "insufficient_scope", f"The client is not registered for {scope}", scope
        )
    return token


def device_json(linked: LinkedDevice) -> dict[str, Any]:
    device = linked.device
    return {
        "device_id": device.device_id,
        "brand": device.brand,
        "asset_type": device.asset_type,
        "nox_user_id": device.nox_user_id,
        "connected_at": device.connected_at,
        "linked_at": device.linked_at,
        "steerable_from": linked.steerable_from.isoformat(),
    }


def blueprint(
    settings: Settings, oauth: OAuth, link_sessions: LinkSessions, linked_devices: LinkedDevices
) -> Blueprint:
    bp = Blueprint("api", __name__)

    @bp.post("/api/v1/link-sessions")
    async def create_link_session() -> Response:
        token = await authorize_token(oauth, "links:write")
        if isinstance(token, Response):
            return token
        try:
            body = await request.get_json(force=True, silent=True)
        except RecursionError:  # nested deeper than the parser goes: not a body we could read
            body = None
        try:
            session = await link_sessions.start_for_supplier(
                token.client_id, supplier_link_request(body)
            )
        except StartRefused as refused:
            return json_error(refused.status, refused.error, refused.description)
        # The customer's browser starts here, signs in with us, and only then goes to NOX: the
        # callback only ever accepts a payload for the signed-in customer.
        response = jsonify(
            {
                "link_url": settings.url(f"/link/start/{session.id}"),
                "expires_at": session.expires_at,
            }
        )
        response.status_code = 201
        return response

    @bp.get("/api/v1/users/<supplier_user_id>/devices")
    async def devices(supplier_user_id: str) -> Response:
        token = await authorize_token(oauth, "links:read")
        if isinstance(token, Response):
            return token
        found = await linked_devices.of_supplier_user(supplier_user_id)
        if found is None:
            return json_error(404, "unknown_customer", "No customer has this supplier_user_id")
        return jsonify(
            {"supplier_user_id": supplier_user_id, "devices": [device_json(d) for d in found]}
        )

    @bp.get("/api/openapi.json")
    async def openapi() -> Response:
        document = dict(OPENAPI)
        document["servers"] = [{"url": settings.issuer}]
        return jsonify(document)

    return bp
