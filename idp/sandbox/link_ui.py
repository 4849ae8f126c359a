"""NOX's authenticator in the sandbox, without JavaScript: GET /ui (pick the maker) → a stand-in
for the maker's own sign-in → back to `redirect_url?data=<payload>` (base64url JSON without
padding), after the link is made in the registry (links.py)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from quart import Quart, Response, render_template, request

from idp.sandbox.links import ASSET_LABELS, BRANDS, LinkSession, LinkState
from idp.security.clock import Clock
from idp.vocab import LANGUAGES

if TYPE_CHECKING:
    from idp.sandbox.app import SandboxSettings, SandboxState

MAX_MAKER_DEVICES = 5
UI_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


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


def open_session(links: LinkState, clock: Clock, token: str) -> LinkSession:
    """The session a link token names, while it can still be walked through; else LinkUiError."""
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


async def brand_page(
    session: LinkSession,
    language: str,
    supplier_name: str,
    status: int = 200,
    error: str | None = None,
) -> Response:
    return await page(
        "ui_brand.html",
        status,
        link=session,
        language=language,
        brands=BRANDS[session.asset_type],
        selected=session.chosen_brand or session.brand,
        asset_label=ASSET_LABELS[session.asset_type],
        supplier_name=supplier_name,
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


def maker_form_problem(
    session: LinkSession, brand: str, username: str, form: Any
) -> tuple[str, str] | None:
    """(event reason, message shown) when the maker's sign-in form cannot link anything."""
    brand_name = BRANDS[session.asset_type][brand]
    if not username or not form.get("password", ""):
        return (
            "maker sign-in without username or password",
            f"Enter your {brand_name} username and password.",
        )
    if not form.get("accept_terms"):
        asset_label = ASSET_LABELS[session.asset_type]
        return (
            "maker terms not accepted",
            f"Accept the terms of {brand_name} to connect your {asset_label}.",
        )
    count = form.get("devices", "1").strip()
    if not count.isdigit() or not 1 <= int(count) <= MAX_MAKER_DEVICES:
        return (
            "number of devices out of range",
            f"A {brand_name} account here holds 1 to {MAX_MAKER_DEVICES} devices.",
        )
    return None


def register_link_ui(
    app: Quart, settings: SandboxSettings, state: SandboxState, clock: Clock
) -> None:
    links = state.links

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

    @app.get("/ui")
    async def authenticator() -> Response:
        session = open_session(links, clock, request.args.get("token", ""))
        language = ui_language(request.args.get("language"), session)
        state.record("link_ui_opened", link_token=session.link_token, language=language)
        return await brand_page(session, language, settings.supplier_name)

    @app.post("/ui/brand")
    async def choose_brand() -> Response:
        form = await request.form
        session = open_session(links, clock, form.get("token", ""))
        language = ui_language(form.get("language"), session)
        brand = form.get("brand", "")
        if brand not in BRANDS[session.asset_type]:
            ui_rejected(session, "brand not offered for this asset type")
            return await brand_page(
                session, language, settings.supplier_name, 400, "Choose one of the makers listed."
            )
        session.chosen_brand = brand
        state.record("link_brand_selected", link_token=session.link_token, brand=brand)
        return see_other(ui_url("/ui/maker-login", session, language))

    @app.get("/ui/maker-login")
    async def maker_login_page() -> Response:
        session = open_session(links, clock, request.args.get("token", ""))
        language = ui_language(request.args.get("language"), session)
        if session.chosen_brand is None:
            return see_other(ui_url("/ui", session, language))
        return await maker_page(session, session.chosen_brand, language)

    @app.post("/ui/maker-login")
    async def maker_login() -> Response:
        form = await request.form
        session = open_session(links, clock, form.get("token", ""))
        language = ui_language(form.get("language"), session)
        brand = session.chosen_brand
        if brand is None:
            return see_other(ui_url("/ui", session, language))
        username = form.get("username", "").strip()
        problem = maker_form_problem(session, brand, username, form)
        if problem:
            reason, message = problem
            ui_rejected(session, reason)
            return await maker_page(session, brand, language, 400, message, username)
        now = clock.now()
        session.completed_at = now
        devices = maker_devices(brand, username, int(form.get("devices", "1").strip()))
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
