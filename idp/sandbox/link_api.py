"""NOX's APIs for flow 2 in the sandbox, over its registry (links.py):

- POST /v2/supplier/link-sessions answers the way NOX's v2 API does (not wrapped);
- GET /v1/devices?user_id= is NOX's data API (x-api-key checked);
- POST /_sandbox/control/link-sessions makes session creation misbehave (503, a malformed
  answer, slow), GET /_sandbox/links shows the registry. Everything lands in /_sandbox/events.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from quart import Quart, Response, jsonify, request

from idp.sandbox.links import BRANDS, LINK_SESSION_SECONDS, LinkMisbehaviour, LinkSession
from idp.security.clock import Clock
from idp.vocab import DEFAULT_LANGUAGE, LANGUAGES

if TYPE_CHECKING:
    from idp.sandbox.app import SandboxSettings, SandboxState

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
LINK_MODES = ("ok", "503", "malformed", "slow")
MAX_DELAY_SECONDS = 300.0


@dataclass(frozen=True)
class LinkRequest:
    user_id: str
    redirect_url: str
    asset_type: str
    language: str
    brand: str | None


def parse_link_request(body: Any, allowed_redirect_urls: tuple[str, ...]) -> LinkRequest:
    """The body of POST /v2/supplier/link-sessions; raises ValueError naming the problem."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    user_id = body.get("user_id")
    if not isinstance(user_id, str) or not user_id.strip():
        raise ValueError("user_id is required and must be a non-empty string")
    redirect_url = body.get("redirect_url")
    if not isinstance(redirect_url, str) or not redirect_url:
        raise ValueError("redirect_url is required and must be a string")
    if redirect_url not in allowed_redirect_urls:
        raise ValueError("redirect_url is not on this supplier's allow-list")
    asset_type = body.get("asset_type")
    if not isinstance(asset_type, str) or asset_type not in BRANDS:
        raise ValueError("asset_type is required and must be hp or pv")
    language = body.get("language")
    if language is None:
        language = DEFAULT_LANGUAGE
    elif not isinstance(language, str) or language not in LANGUAGES:
        raise ValueError("language must be one of " + ", ".join(LANGUAGES))
    brand = body.get("brand")
    if brand is not None:
        if not isinstance(brand, str) or not SLUG.fullmatch(brand):
            raise ValueError("brand must be a lowercase slug")
        if brand not in BRANDS[asset_type]:
            raise ValueError(f"brand {brand} is not offered for asset_type {asset_type}")
    return LinkRequest(user_id, redirect_url, asset_type, language, brand)


def parse_link_misbehaviour(data: Any, now: float) -> LinkMisbehaviour:
    """{"mode": "ok"|"503"|"malformed"|"slow", "delay": s, "for_seconds": s}"""
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    mode = data.get("mode", "ok")
    if mode not in LINK_MODES:
        raise ValueError("mode must be ok, 503, malformed or slow")
    delay = _seconds(data.get("delay"), "delay", default=10.0 if mode == "slow" else 0.0)
    if delay > MAX_DELAY_SECONDS:
        raise ValueError(f"delay must be at most {MAX_DELAY_SECONDS:g} seconds")
    for_seconds = _seconds(data.get("for_seconds"), "for_seconds", default=0.0)
    return LinkMisbehaviour(mode, delay, now + for_seconds if for_seconds else None)


def _seconds(value: Any, name: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a non-negative number of seconds")
    return float(value)


def register_link_api(
    app: Quart, settings: SandboxSettings, state: SandboxState, clock: Clock
) -> None:
    links = state.links
    public_url = settings.public_url.rstrip("/")

    def api_error(status: int, message: str, **event: Any) -> tuple[Response, int]:
        state.record("link_session_rejected", status=status, reason=message, **event)
        return jsonify({"message": message}), status

    @app.post("/v2/supplier/link-sessions")
    async def create_link_session() -> tuple[Response, int]:
        given = request.headers.get("x-api-key", "").encode()
        if not secrets.compare_digest(given, settings.api_key.encode()):
            return api_error(401, "Unauthorized")
        if not request.is_json:
            return api_error(400, "Content-Type must be application/json")
        body = await request.get_json(silent=True)
        try:
            wanted = parse_link_request(body, settings.link_redirect_urls)
        except ValueError as exc:
            return api_error(400, str(exc), body=body)
        behaviour = links.misbehaviour.current(clock.now())
        if behaviour.mode == "slow":
            await asyncio.sleep(behaviour.delay)
        if behaviour.mode == "503":
            state.record("link_session_misbehaved", mode="503", body=body)
            return jsonify({"message": "Service Unavailable"}), 503
        now = clock.now()
        token = secrets.token_urlsafe(32)
        query = urlencode({"token": token, "language": wanted.language})
        session = LinkSession(
            link_token=token,
            link_url=f"{public_url}/ui?{query}",
            supplier=settings.supplier_slug,
            supplier_user_id=wanted.user_id,
            redirect_url=wanted.redirect_url,
            asset_type=wanted.asset_type,
            language=wanted.language,
            brand=wanted.brand,
            created_at=now,
            expires_at=now + LINK_SESSION_SECONDS,
        )
        if behaviour.mode == "malformed":
            # The deprecated v1 wrapping, for a session NOX never stored: not the v2 shape.
            state.record("link_session_misbehaved", mode="malformed", body=body)
            return jsonify({"success": True, "timestamp": now, "data": session.answer()}), 200
        links.sessions[token] = session
        state.record(
            "link_session_created",
            link_token=token,
            supplier=session.supplier,
            supplier_user_id=session.supplier_user_id,
            redirect_url=session.redirect_url,
            asset_type=session.asset_type,
            language=session.language,
            brand=session.brand,
            expires_at=session.expires_at,
            answered=behaviour.mode,
        )
        return jsonify(session.answer()), 200

    # -- NOX's data API --
    @app.get("/v1/devices")
    async def list_devices() -> tuple[Response, int]:
        given = request.headers.get("x-api-key", "").encode()
        if not secrets.compare_digest(given, settings.api_key.encode()):
            state.record("devices_rejected", status=401, reason="Unauthorized")
            return jsonify({"message": "Unauthorized"}), 401
        user_id = request.args.get("user_id", "")
        if not user_id.strip():
            state.record("devices_rejected", status=400, reason="user_id is required")
            return jsonify({"message": "user_id is required"}), 400
        found = links.devices_of(settings.supplier_slug, user_id, clock.now())
        state.record("devices_listed", user_id=user_id, device_ids=[d["device_id"] for d in found])
        return jsonify({"data": found}), 200

    # -- for people and tests --
    @app.route("/_sandbox/control/link-sessions", methods=["GET", "POST"])
    async def control_link_sessions() -> tuple[Response, int]:
        if request.method == "POST":
            try:
                links.misbehaviour = parse_link_misbehaviour(
                    await request.get_json(force=True, silent=True), clock.now()
                )
            except ValueError as exc:
                return jsonify({"error": str(exc)}), 400
            state.record("link_sessions_control", **links.misbehaviour.describe())
        return jsonify(links.misbehaviour.current(clock.now()).describe()), 200

    @app.get("/_sandbox/links")
    async def link_registry() -> Response:
        return jsonify(links.describe())
