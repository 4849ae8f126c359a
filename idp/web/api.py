"""The API for the supplier's own apps: start a link session for a customer, read devices.

Bearer tokens from `client_credentials` only (RFC 6750); scopes `links:write` and `links:read`.
A customer's token, whatever its scopes, is refused with 403 `insufficient_scope`.
Errors are JSON with a machine-readable `error` code.
"""

from __future__ import annotations

from typing import Any

from authlib.common.urls import add_params_to_uri
from quart import Blueprint, Response, jsonify, request

from idp.nox.links import NoxUnavailable, session_expiry, steerable_from, valid_link_request
from idp.oauth.facade import BearerRefusal
from idp.oauth.models import IssuedToken
from idp.records import Device, LinkSession
from idp.security.secrets import new_secret
from idp.vocab import DEFAULT_LANGUAGE
from idp.web.common import http_call, json_error, services
from idp.web.openapi import OPENAPI

bp = Blueprint("api", __name__)


def _bearer_error(status: int, error: str, description: str, scope: str) -> Response:
    response = json_error(status, error, description)
    challenge = f'Bearer error="{error}"' + (f', scope="{scope}"' if status == 403 else "")
    response.headers["WWW-Authenticate"] = challenge
    return response


async def authorize_token(scope: str) -> IssuedToken | Response:
    """The bearer token of this request if it is a client token carrying `scope`, else the
    RFC 6750 error."""
    token = await services().oauth.bearer(await http_call(), scope)
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


def device_json(device: Device) -> dict[str, Any]:
    return {
        "device_id": device.device_id,
        "brand": device.brand,
        "asset_type": device.asset_type,
        "nox_user_id": device.nox_user_id,
        "connected_at": device.connected_at,
        "linked_at": device.linked_at,
        "steerable_from": steerable_from(device.first_linked_at or device.linked_at).isoformat(),
    }


@bp.post("/api/v1/link-sessions")
async def create_link_session() -> Response:
    token = await authorize_token("links:write")
    if isinstance(token, Response):
        return token
    try:
        body = await request.get_json(force=True, silent=True)
    except RecursionError:  # nested deeper than the parser goes: not a body we could read
        body = None
    if not isinstance(body, dict):
        return json_error(400, "invalid_request", "The body must be a JSON object")
    supplier_user_id = body.get("supplier_user_id")
    asset_type: Any = body.get("asset_type")
    language: Any = body.get("language", DEFAULT_LANGUAGE)
    brand = body.get("brand")
    return_url = body.get("return_url")
    if not isinstance(supplier_user_id, str) or not supplier_user_id:
        return json_error(400, "invalid_request", "supplier_user_id is required")
    if not all(isinstance(v, str) for v in (asset_type, language)) or not (
        brand is None or isinstance(brand, str)
    ):
        return json_error(400, "invalid_request", "asset_type, language and brand must be strings")
    problem = valid_link_request(asset_type, language, brand)
    if problem:
        return json_error(400, "invalid_request", problem)
    svc = services()
    client = await svc.store.clients.get(token.client_id)
    if return_url is not None and (
        not isinstance(return_url, str) or client is None or return_url not in client.redirect_uris
    ):
        return json_error(
            400,
            "invalid_return_url",
            "return_url must be one of the client's registered redirect URIs",
        )
    user = await svc.store.users.by_supplier_user_id(supplier_user_id)
    if user is None or user.disabled:
        return json_error(404, "unknown_customer", "No customer has this supplier_user_id")
    session_id = new_secret(24)
    redirect_url = None
    if svc.settings.link_callback_session_param:
        redirect_url = add_params_to_uri(
            svc.settings.link_callback_url,
            [(svc.settings.link_callback_session_param, session_id)],
        )
    try:
        created = await svc.nox.create(
            user_id=supplier_user_id,
            asset_type=asset_type,
            language=language,
            brand=brand,
            redirect_url=redirect_url,
        )
    except NoxUnavailable:
        return json_error(502, "nox_unavailable", "NOX did not create the link session")
    now = svc.clock.now()
    session = LinkSession(
        id=session_id,
        link_token=created.link_token,
        user_id=user.id,
        supplier_user_id=supplier_user_id,
        asset_type=asset_type,
        language=language,
        brand=brand,
        link_url=created.link_url,
        client_id=token.client_id,
        return_url=return_url,
        created_at=now,
        expires_at=session_expiry(created.expires_at, now),
        completed_at=None,
    )
    await svc.store.links.add_session(session)
    # The customer's browser starts here, signs in with us, and only then goes to NOX: the
    # callback only ever accepts a payload for the signed-in customer.
    response = jsonify(
        {
            "link_url": svc.settings.url(f"/link/start/{session.id}"),
            "expires_at": session.expires_at,
        }
    )
    response.status_code = 201
    return response


@bp.get("/api/v1/users/<supplier_user_id>/devices")
async def devices(supplier_user_id: str) -> Response:
    token = await authorize_token("links:read")
    if isinstance(token, Response):
        return token
    store = services().store
    user = await store.users.by_supplier_user_id(supplier_user_id)
    if user is None:
        return json_error(404, "unknown_customer", "No customer has this supplier_user_id")
    found = await store.links.devices_of(user.id)
    return jsonify(
        {"supplier_user_id": supplier_user_id, "devices": [device_json(d) for d in found]}
    )


@bp.get("/api/openapi.json")
async def openapi() -> Response:
    document = dict(OPENAPI)
    document["servers"] = [{"url": services().settings.issuer}]
    return jsonify(document)
