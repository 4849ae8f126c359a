"""The customer's account pages and flow 2: start a NOX link session, take NOX's `?data=` back.

NOX's payload is not signed, so the callback accepts it only for the signed-in customer, and only
for the open link session this browser was sent to NOX for (rules in idp/nox/callback.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from babel.dates import format_date
from quart import Blueprint, Response, request
from quart import session as session_cookie
from werkzeug.datastructures import MultiDict

from idp.i18n import LANGUAGE_NAMES, current_language, pick_language, set_language
from idp.i18n import gettext as _
from idp.nox.callback import Held, Rejected, bound_session, complete_callback
from idp.nox.links import (
    BRANDS,
    LINK_SESSION_SECONDS,
    BadPayload,
    LinkPayload,
    NoxUnavailable,
    decode_payload,
    session_expiry,
    steerable_from,
    valid_link_request,
)
from idp.oauth.models import Subject
from idp.records import Device, LinkSession
from idp.security.browser import (
    csrf_ok,
    csrf_token,
    set_signin_cookie,
)
from idp.security.secrets import new_secret
from idp.security.signin import sign_in
from idp.web.common import (
    client_ip,
    forbidden_form,
    go,
    page,
    services,
    user_agent,
    valid_id,
)
from idp.web.flow import sign_out, signed_in_subject

bp = Blueprint("account", __name__)
# Where sign-in may send the browser on; matched against the whole string (fullmatch), so that
# no trailing newline or anything else rides along into a Location header. No open redirects.
NEXT = re.compile(r"/(account|link/resume|link/start/[A-Za-z0-9_-]{1,64})")
BOUND = "link_bound"  # in the signed browser cookie: [[link session id, asset type], ...]
PENDING = "pending_link"  # a callback that arrived before the customer signed in
MAX_BOUND = 4
ANONYMOUS_EVENT_WINDOW = 60  # seconds: one counted row per IP for callbacks nobody signed in made
log = logging.getLogger("idp.web.account")


def bind_browser(session: LinkSession) -> None:
    """Remember that this browser goes to NOX for `session` (it supersedes an earlier session
    of the same asset type in this browser)."""
    kept = [e for e in session_cookie.get(BOUND, []) if e[1] != session.asset_type]
    session_cookie[BOUND] = [*kept, [session.id, session.asset_type]][-MAX_BOUND:]


def bound_ids() -> list[str] | None:
    """The link sessions this browser was sent to NOX for; None when it never was."""
    entries = session_cookie.get(BOUND)
    return None if entries is None else [str(e[0]) for e in entries]


def unbind_browser(session_id: str) -> None:
    if BOUND in session_cookie:
        session_cookie[BOUND] = [e for e in session_cookie[BOUND] if e[0] != session_id]


def device_view(device: Device, today: dt.date) -> dict[str, Any]:
    ready = steerable_from(device.first_linked_at or device.linked_at)
    return {
        "device_id": device.device_id,
        "brand": device.brand,
        "asset_type": device.asset_type,
        "linked_since": format_date(
            dt.datetime.fromtimestamp(device.linked_at, dt.UTC).date(),
            "long",
            locale=current_language(),
        ),
        "steerable_from": format_date(ready, "long", locale=current_language())
        if ready > today
        else None,
    }


async def account_page(subject: Subject, status: int = 200, **extra: Any) -> Response:
    svc = services()
    today = dt.datetime.fromtimestamp(svc.clock.now(), dt.UTC).date()
    devices = await svc.store.links.devices_of(subject.id)
    return await page(
        "account.html",
        status=status,
        user=subject.user,
        devices=[device_view(d, today) for d in devices],
        brands=BRANDS,
        languages=LANGUAGE_NAMES,
        csrf_token=csrf_token(),
        **extra,
    )


def _pick_language() -> None:
    set_language(
        pick_language(request.args.get("language"), request.headers.get("Accept-Language"))
    )


@bp.get("/account")
async def account() -> Response:
    _pick_language()
    subject = await signed_in_subject()
    if subject is None:
        return go(f"/account/login?language={current_language()}")
    return await account_page(
        subject,
        linked=session_cookie.pop("linked", None),
        held=session_cookie.pop("link_held", None),
    )


async def account_login_page(
    status: int = 200, error: str | None = None, email: str = ""
) -> Response:
    next_path = request.args.get("next", "")
    query = {"language": current_language()}
    if NEXT.fullmatch(next_path):
        query["next"] = next_path
    action = "/account/login?" + urlencode(query)
    notice = None
    if next_path == "/link/resume":
        notice = _("NOX Energy has connected your device. Sign in to finish linking it.")
    return await page(
        "login.html",
        status=status,
        action=action,
        notice=notice,
        client_name=None,
        csrf_token=csrf_token(),
        error=error,
        email=email,
        password_reset_url=services().settings.password_reset_url,
    )


@bp.get("/account/login")
async def account_login() -> Response:
    _pick_language()
    return await account_login_page()


@bp.post("/account/login")
async def account_login_submit() -> Response:
    _pick_language()
    form: MultiDict[str, str] = await request.form
    if not csrf_ok(form.get("csrf_token")):
        return await forbidden_form()
    svc = services()
    email = form.get("email", "")
    result = await sign_in(
        svc, email, form.get("password", ""), client_ip(), user_agent(), {"page": "account"}
    )
    if result.user is None or result.raw_session_id is None:
        return await account_login_page(result.status, result.error, email.strip()[:320])
    next_path = request.args.get("next", "")
    response = go(next_path if NEXT.fullmatch(next_path) else "/account")
    set_signin_cookie(
        response,
        result.raw_session_id,
        svc.settings.login_session_seconds,
        svc.settings.cookie_secure,
    )
    return response


@bp.post("/account/logout")
async def account_logout() -> Response:
    form: MultiDict[str, str] = await request.form
    if not csrf_ok(form.get("csrf_token")):
        return await forbidden_form()
    response = go("/account/login")
    await sign_out(response)
    return response


@bp.post("/account/link")
async def start_link() -> Response:
    """Create a link session at NOX for the signed-in customer and send the browser there."""
    form: MultiDict[str, str] = await request.form
    subject = await signed_in_subject()
    if subject is None:
        return go("/account/login")
    language = form.get("language", "nl")
    set_language(language)
    if not csrf_ok(form.get("csrf_token")):
        return await forbidden_form()
    asset_type = form.get("asset_type", "")
    brand = form.get("brand") or None
    if valid_link_request(asset_type, language, brand):
        return await account_page(subject, 400, error=_("Choose what to connect, and try again."))
    svc = services()
    session_id = new_secret(24)
    redirect_url = None
    if svc.settings.link_callback_session_param:
        redirect_url = add_params_to_uri(
            svc.settings.link_callback_url,
            [(svc.settings.link_callback_session_param, session_id)],
        )
    try:
        created = await svc.nox.create(
            user_id=subject.user.supplier_user_id,
            asset_type=asset_type,
            language=language,
            brand=brand,
            redirect_url=redirect_url,
        )
    except NoxUnavailable:
        return await account_page(
            subject,
            502,
            error=_("NOX Energy could not be reached. Nothing was linked; please try again later."),
        )
    now = svc.clock.now()
    session = LinkSession(
        id=session_id,
        link_token=created.link_token,
        user_id=subject.id,
        supplier_user_id=subject.user.supplier_user_id,
        asset_type=asset_type,
        language=language,
        brand=brand,
        link_url=created.link_url,
        client_id=None,
        return_url=None,
        created_at=now,
        expires_at=session_expiry(created.expires_at, now),
        completed_at=None,
    )
    await svc.store.links.add_session(session)
    bind_browser(session)
    return go(created.link_url)


@bp.get("/link/start/<session_id>")
async def link_start(session_id: str) -> Response:
    """The link_url the API hands out: the customer signs in here first, then goes to NOX."""
    if not valid_id(session_id):
        return await page("error.html", status=404, message=_("This link was not found."))
    subject = await signed_in_subject()
    if subject is None:
        return go(f"/account/login?next=/link/start/{session_id}")
    svc = services()
    session = await svc.store.links.get_session(session_id)
    if session is None or session.user_id != subject.id:
        return await page("error.html", status=404, message=_("This link was not found."))
    set_language(session.language)
    if session.completed_at is not None or session.expires_at <= svc.clock.now():
        return await page(
            "error.html", status=400, message=_("This link has expired. Please start again.")
        )
    bind_browser(session)
    return go(session.link_url)


async def refuse(subject: Subject | None, reason: str, payload: LinkPayload | None) -> Response:
    """A refused callback: a security event and a 400 page in the customer's language. Anyone
    can call the callback URL, so rejections nobody signed in caused are counted, one row per IP
    and minute, rather than drowning the customers' own in the audit log."""
    svc = services()
    if subject is None:
        opened = await svc.store.events.count_anonymous(
            kind="link_callback_rejected",
            now=svc.clock.now(),
            ip=client_ip(),
            reason=reason,
            window=ANONYMOUS_EVENT_WINDOW,
        )
        if opened:
            log.warning("security event link_callback_rejected (anonymous; counted per minute)")
    else:
        await svc.security_event(
            "link_callback_rejected",
            subject.user.supplier_user_id,
            {
                "reason": reason,
                "payload_supplier_user_id": payload.supplier_user_id if payload else None,
            },
            client_ip(),
        )
    return await page(
        "error.html",
        status=400,
        message=_("This link could not be completed. Nothing was changed; please start again."),
        error_code=reason,
    )


def session_param() -> str | None:
    """The link session the callback URL names; "" (naming none of ours) when it is not an id."""
    name = services().settings.link_callback_session_param
    value = request.args.get(name) if name else None
    return value if value is None or valid_id(value) else ""


@bp.get("/link/callback")
async def link_callback() -> Response:
    """NOX sends the browser back with ?data=; accept it only if it is ours and this customer's.
    Before sign-in, the claim is kept in this browser until the customer has signed in."""
    svc = services()
    subject = await signed_in_subject()
    data = request.args.get("data")
    if subject is not None:
        return await finish_link(subject, data, session_param())
    _pick_language()
    try:
        decode_payload(data)
    except BadPayload as exc:
        return await refuse(None, str(exc), None)
    session_cookie[PENDING] = {"data": data, "named": session_param(), "at": svc.clock.now()}
    return go(f"/account/login?language={current_language()}&next=/link/resume")


@bp.get("/link/resume")
async def link_resume() -> Response:
    """The callback NOX delivered before the customer signed in, now checked and completed."""
    subject = await signed_in_subject()
    if subject is None:
        _pick_language()
        return go(f"/account/login?language={current_language()}&next=/link/resume")
    pending = session_cookie.pop(PENDING, None)
    if not isinstance(pending, dict) or not isinstance(pending.get("at"), int):
        return await refuse(subject, "no_pending_link", None)
    if services().clock.now() - pending["at"] >= LINK_SESSION_SECONDS:
        return await refuse(subject, "expired", None)
    named = pending.get("named")
    return await finish_link(
        subject, pending.get("data"), named if isinstance(named, str) else None
    )


async def finish_link(subject: Subject, data: str | None, named: str | None) -> Response:
    svc = services()
    newest = await svc.store.links.sessions_for(subject.id)
    set_language(newest[0].language if newest else current_language())
    payload: LinkPayload | None = None
    try:
        try:
            payload = decode_payload(data)
        except BadPayload as exc:
            raise Rejected(str(exc)) from None
        if payload.supplier_user_id != subject.user.supplier_user_id:
            raise Rejected("other_customer")
        now = svc.clock.now()
        bound = await bound_session(
            svc.store.links, subject.id, payload, bound=bound_ids(), named=named, now=now
        )
        session = bound.session
        set_language(session.language)
        decision = await complete_callback(svc.store.links, svc.nox_data, bound, payload, now)
    except Rejected as rejected:
        return await refuse(subject, str(rejected), payload)
    unbind_browser(session.id)
    status = "linked"
    if isinstance(decision, Held):
        status = "held"
        await svc.security_event(
            "link_move_held",
            subject.user.supplier_user_id,
            {
                "held_id": decision.held_id,
                "reason": decision.reason,
                "moved_from": decision.moved_from,
                "link_session_id": session.id,
            },
            client_ip(),
        )
    if session.return_url:  # started through the API: back to the supplier's app
        return go(
            add_params_to_uri(
                session.return_url,
                [("status", status), ("supplier_user_id", session.supplier_user_id)],
            )
        )
    # Post/redirect/get: a reload of the account page must not replay the callback.
    session_cookie["link_held" if status == "held" else "linked"] = payload.device_ids
    return go(f"/account?language={current_language()}")
