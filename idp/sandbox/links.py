"""NOX's side of flow 2 in the sandbox: link sessions the supplier starts.

POST /v2/supplier/link-sessions answers the way NOX's v2 API does (not wrapped); GET /ui is
NOX's authenticator without JavaScript (pick the maker → a stand-in for the maker's own sign-in
→ back to `redirect_url?data=<payload>`, base64url without padding). The sandbox keeps NOX's
registry: one nox_user_id per supplier_user_id, kept on re-link; a re-link replaces that user's
devices of the asset type; one owner per device, the newest link wins. A maker account may hold
several devices (the payload then lists several device_ids). GET /v1/devices?user_id= is NOX's
data API over that registry (x-api-key checked). Everything lands in
GET /_sandbox/events; POST /_sandbox/control/link-sessions makes session creation misbehave.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from quart import Quart, Response, jsonify, render_template, request

from idp.security.clock import Clock
from idp.vocab import DEFAULT_LANGUAGE, LANGUAGES

if TYPE_CHECKING:
    from idp.sandbox.app import SandboxSettings, SandboxState

LINK_SESSION_SECONDS = 600
# The makers NOX offers per asset type (slug → name shown); the contract's examples.
BRANDS: dict[str, dict[str, str]] = {
    "hp": {
        "daikin": "Daikin",
        "nibe": "NIBE",
        "vaillant": "Vaillant",
        "viessmann": "Viessmann",
        "mitsubishi": "Mitsubishi Electric",
        "saunier-duval": "Saunier Duval",
        "alpha-innotec": "alpha innotec",
    },
    "pv": {
        "sma": "SMA",
        "fronius": "Fronius",
        "solaredge": "SolarEdge",
        "enphase": "Enphase",
        "huawei": "Huawei",
    },
}
ASSET_LABELS = {"hp": "heat pump", "pv": "solar installation"}
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
LINK_MODES = ("ok", "503", "malformed", "slow")
MAX_MAKER_DEVICES = 5
STEERING_AFTER_SECONDS = 30 * 24 * 3600  # NOX needs about 30 days of data after first connect
MAX_DELAY_SECONDS = 300.0
UI_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


# ---- state -------------------------------------------------------------------------------------
@dataclass
class LinkSession:
    link_token: str
    link_url: str
    supplier: str
    supplier_user_id: str
    redirect_url: str
    asset_type: str
    language: str
    brand: str | None
    created_at: int
    expires_at: int
    completed_at: int | None = None
    chosen_brand: str | None = None  # what the customer picked on the brand page

    def answer(self) -> dict[str, Any]:
        """NOX's v2 answer to POST /v2/supplier/link-sessions."""
        return {
            "link_url": self.link_url,
            "link_token": self.link_token,
            "supplier": self.supplier,
            "supplier_user_id": self.supplier_user_id,
            "redirect_url": self.redirect_url,
            "language": self.language,
            "brand": self.brand,
            "completed_at": self.completed_at,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


@dataclass
class LinkedUser:
    """NOX's subscriber for one supplier_user_id, with its devices per asset type."""

    nox_user_id: str
    supplier: str
    supplier_user_id: str
    devices: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class LinkOutcome:
    user: LinkedUser
    replaced: list[str]  # this user's earlier devices of the asset type, now unlinked
    moved_from: dict[str, str]  # device id → the supplier_user_id that held it before


@dataclass
class LinkMisbehaviour:
    """How POST /v2/supplier/link-sessions answers: ok, 503, malformed or slow (for a while)."""

    mode: str = "ok"
    delay: float = 0.0
    until: float | None = None  # on the sandbox's clock

    def current(self, now: float) -> LinkMisbehaviour:
        if self.until is not None and now >= self.until:
            self.mode, self.delay, self.until = "ok", 0.0, None
        return self

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "delay": self.delay, "until": self.until}


@dataclass
class LinkState:
    sessions: dict[str, LinkSession] = field(default_factory=dict)
    users: dict[tuple[str, str], LinkedUser] = field(default_factory=dict)
    owners: dict[str, tuple[str, str]] = field(default_factory=dict)  # device → (supplier, user)
    misbehaviour: LinkMisbehaviour = field(default_factory=LinkMisbehaviour)
    brands: dict[str, str] = field(default_factory=dict)  # device → maker
    first_connected: dict[str, int] = field(default_factory=dict)  # device → first connection

    def link(
        self,
        supplier: str,
        supplier_user_id: str,
        asset_type: str,
        device_ids: list[str],
        brand: str = "",
        now: int = 0,
    ) -> LinkOutcome:
        """NOX's rules: keep nox_user_id, replace the user's devices of this asset type, and
        move a device another supplier_user_id held to this one (one owner per device)."""
        key = (supplier, supplier_user_id)
        user = self.users.get(key)
        if user is None:
            user = self.users[key] = LinkedUser(str(uuid.uuid4()), supplier, supplier_user_id)
        replaced = [d for d in user.devices.get(asset_type, []) if d not in device_ids]
        for device in replaced:
            self.owners.pop(device, None)
        moved_from: dict[str, str] = {}
        for device in device_ids:
            owner = self.owners.get(device)
            if owner is not None and owner != key:
                self._drop(self.users[owner], device)
                moved_from[device] = owner[1]
            self.owners[device] = key
            self.brands[device] = brand
            self.first_connected.setdefault(device, now)
        user.devices[asset_type] = list(device_ids)
        return LinkOutcome(user, replaced, moved_from)

    def devices_of(self, supplier: str, supplier_user_id: str, now: int) -> list[dict[str, Any]]:
        """The data API's view of one user: every device NOX holds for them."""
        user = self.users.get((supplier, supplier_user_id))
        if user is None:
            return []
        return [
            {
                "device_id": device,
                "brand": self.brands.get(device),
                "asset_type": asset_type,
                "nox_user_id": user.nox_user_id,
                "steerable_status": "steerable"
                if now - self.first_connected.get(device, now) >= STEERING_AFTER_SECONDS
                else "collecting_data",
                "needs_reauthentication": False,
            }
            for asset_type, ids in sorted(user.devices.items())
            for device in ids
        ]

    @staticmethod
    def _drop(user: LinkedUser, device: str) -> None:
        for asset_type, ids in list(user.devices.items()):
            if device in ids:
                ids.remove(device)
            if not ids:
                del user.devices[asset_type]

    def describe(self) -> dict[str, Any]:
        return {
            "users": [
                {
                    "supplier": u.supplier,
                    "supplier_user_id": u.supplier_user_id,
                    "nox_user_id": u.nox_user_id,
                    "devices": u.devices,
                }
                for u in self.users.values()
            ],
            "devices": {
                device: {"supplier": owner[0], "supplier_user_id": owner[1]}
                for device, owner in self.owners.items()
            },
            "sessions": [
                {**s.answer(), "asset_type": s.asset_type, "chosen_brand": s.chosen_brand}
                for s in self.sessions.values()
            ],
        }


# ---- pure helpers ------------------------------------------------------------------------------
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


def device_id(brand: str, maker_username: str) -> str:
    """The same maker account always has the same device (username trimmed, case ignored)."""
    digest = hashlib.sha256(maker_username.strip().lower().encode()).hexdigest()
    return f"{brand}-{digest[:10]}"


def maker_devices(brand: str, maker_username: str, count: int) -> list[str]:
    """The devices of one maker account: the first as device_id(), the others numbered."""
    first = device_id(brand, maker_username)
    return [first] + [f"{first}-{n}" for n in range(2, count + 1)]


def encode_payload(payload: dict[str, Any]) -> str:
    """Compact JSON, base64url without padding, as NOX puts it in ?data=."""
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def add_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


class LinkUiError(Exception):
    """A page of the authenticator that cannot go on: unknown (404), expired or used (410)."""

    def __init__(self, status: int, reason: str, title: str, message: str, token: str) -> None:
        super().__init__(reason)
        self.status, self.reason, self.title, self.message = status, reason, title, message
        self.token = token


# ---- routes ------------------------------------------------------------------------------------
def register_links(
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

    # -- the authenticator the customer's browser walks through --
    def open_session(token: str) -> LinkSession:
        session = links.sessions.get(token) if token else None
        if session is None:
            raise LinkUiError(
                404,
                "unknown token",
                "Link not found",
                "This link is not valid. Start again from your energy supplier's website.",
                token,
            )
        if session.completed_at is not None:
            raise LinkUiError(
                410,
                "token already used",
                "Link already used",
                "This link has already been used. Start again from your energy supplier's "
                "website if you want to link another device.",
                token,
            )
        if clock.now() >= session.expires_at:
            raise LinkUiError(
                410,
                "token expired",
                "Link expired",
                "This link has expired: a link is valid for 10 minutes. Start again from your "
                "energy supplier's website.",
                token,
            )
        return session

    def ui_language(value: str | None, session: LinkSession) -> str:
        return value if value is not None and value in LANGUAGES else session.language

    def ui_url(path: str, session: LinkSession, language: str) -> str:
        return f"{path}?{urlencode({'token': session.link_token, 'language': language})}"

    def see_other(location: str) -> Response:
        return Response("", status=303, headers={"Location": location, **UI_HEADERS})

    async def page(template: str, status: int, **context: Any) -> Response:
        body = await render_template(template, **context)
        return Response(body, status=status, headers=UI_HEADERS, mimetype="text/html")

    def ui_rejected(session: LinkSession, reason: str) -> None:
        state.record("link_ui_rejected", status=400, reason=reason, link_token=session.link_token)

    @app.errorhandler(LinkUiError)
    async def ui_error(error: LinkUiError) -> Response:
        state.record(
            "link_ui_rejected", status=error.status, reason=error.reason, link_token=error.token
        )
        return await page(
            "ui_error.html",
            error.status,
            title=error.title,
            message=error.message,
            http_status=error.status,
        )

    async def brand_page(
        session: LinkSession, language: str, status: int = 200, error: str | None = None
    ) -> Response:
        return await page(
            "ui_brand.html",
            status,
            link=session,
            language=language,
            brands=BRANDS[session.asset_type],
            selected=session.chosen_brand or session.brand,
            asset_label=ASSET_LABELS[session.asset_type],
            supplier_name=settings.supplier_name,
            error=error,
        )

    async def maker_page(
        session: LinkSession,
        brand: str,
        language: str,
        status: int = 200,
        error: str | None = None,
        username: str = "",
    ) -> Response:
        return await page(
            "ui_maker.html",
            status,
            link=session,
            language=language,
            brand_name=BRANDS[session.asset_type][brand],
            asset_label=ASSET_LABELS[session.asset_type],
            back_url=ui_url("/ui", session, language),
            error=error,
            username=username,
        )

    @app.get("/ui")
    async def authenticator() -> Response:
        session = open_session(request.args.get("token", ""))
        language = ui_language(request.args.get("language"), session)
        state.record("link_ui_opened", link_token=session.link_token, language=language)
        return await brand_page(session, language)

    @app.post("/ui/brand")
    async def choose_brand() -> Response:
        form = await request.form
        session = open_session(form.get("token", ""))
        language = ui_language(form.get("language"), session)
        brand = form.get("brand", "")
        if brand not in BRANDS[session.asset_type]:
            ui_rejected(session, "brand not offered for this asset type")
            return await brand_page(session, language, 400, "Choose one of the makers listed.")
        session.chosen_brand = brand
        state.record("link_brand_selected", link_token=session.link_token, brand=brand)
        return see_other(ui_url("/ui/maker-login", session, language))

    @app.get("/ui/maker-login")
    async def maker_login_page() -> Response:
        session = open_session(request.args.get("token", ""))
        language = ui_language(request.args.get("language"), session)
        if session.chosen_brand is None:
            return see_other(ui_url("/ui", session, language))
        return await maker_page(session, session.chosen_brand, language)

    @app.post("/ui/maker-login")
    async def maker_login() -> Response:
        form = await request.form
        session = open_session(form.get("token", ""))
        language = ui_language(form.get("language"), session)
        brand = session.chosen_brand
        if brand is None:
            return see_other(ui_url("/ui", session, language))
        username = form.get("username", "").strip()
        brand_name = BRANDS[session.asset_type][brand]
        if not username or not form.get("password", ""):
            ui_rejected(session, "maker sign-in without username or password")
            return await maker_page(
                session,
                brand,
                language,
                400,
                f"Enter your {brand_name} username and password.",
                username,
            )
        if not form.get("accept_terms"):
            ui_rejected(session, "maker terms not accepted")
            asset_label = ASSET_LABELS[session.asset_type]
            return await maker_page(
                session,
                brand,
                language,
                400,
                f"Accept the terms of {brand_name} to connect your {asset_label}.",
                username,
            )
        count = form.get("devices", "1").strip()
        if not count.isdigit() or not 1 <= int(count) <= MAX_MAKER_DEVICES:
            ui_rejected(session, "number of devices out of range")
            return await maker_page(
                session,
                brand,
                language,
                400,
                f"A {brand_name} account here holds 1 to {MAX_MAKER_DEVICES} devices.",
                username,
            )
        now = clock.now()
        session.completed_at = now
        devices = maker_devices(brand, username, int(count))
        outcome = links.link(
            session.supplier, session.supplier_user_id, session.asset_type, devices, brand, now
        )
        payload = {
            "nox_user_id": outcome.user.nox_user_id,
            "supplier_user_id": session.supplier_user_id,
            "brand": brand,
            "device_ids": devices,
            "connected_at": now,
        }
        data = encode_payload(payload)
        state.record(
            "link_completed",
            link_token=session.link_token,
            payload=payload,
            data=data,
            device_ids=devices,
            replaced=outcome.replaced,
            moved_from=outcome.moved_from,
        )
        return Response(
            "", status=302, headers={"Location": add_query(session.redirect_url, data=data)}
        )

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
