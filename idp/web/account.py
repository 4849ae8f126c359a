"""The customer's account pages and flow 2: start a NOX link session, take NOX's `?data=` back.

NOX's payload is not signed, so the callback accepts it only for the signed-in customer, and only
for an open link session we started for that customer (NOX-CONTRACT, flow 2).
"""

from __future__ import annotations

import datetime as dt
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
from idp.nox.links import (
    BRANDS,
    BadPayload,
    LinkPayload,
    NoxUnavailable,
    decode_payload,
    steerable_from,
    valid_link_request,
)
from idp.protocol.models import Subject
from idp.security.browser import (
    csrf_ok,
    csrf_token,
    set_signin_cookie,
)
from idp.security.secrets import new_secret
from idp.security.signin import sign_in
from idp.store.records import Device, LinkSession
from idp.web.common import client_ip, forbidden_form, go, page, services, user_agent
from idp.web.flow import sign_out, signed_in_subject

bp = Blueprint("account", __name__)
NEXT = re.compile(r"^/(account|link/start/[A-Za-z0-9_-]{1,64})$")  # no open redirects


def device_view(device: Device, today: dt.date) -> dict[str, Any]:
    ready = steerable_from(device.linked_at)
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
    return await account_page(subject, linked=session_cookie.pop("linked", None))


async def account_login_page(
    status: int = 200, error: str | None = None, email: str = ""
) -> Response:
    next_path = request.args.get("next", "")
    query = {"language": current_language()}
    if NEXT.match(next_path):
        query["next"] = next_path
    action = "/account/login?" + urlencode(query)
    return await page(
        "login.html",
        status=status,
        action=action,
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
    response = go(next_path if NEXT.match(next_path) else "/account")
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
    try:
        created = await svc.nox.create(
            user_id=subject.user.supplier_user_id,
            asset_type=asset_type,
            language=language,
            brand=brand,
        )
    except NoxUnavailable:
        return await account_page(
            subject,
            502,
            error=_("NOX Energy could not be reached. Nothing was linked; please try again later."),
        )
    await svc.store.links.add_session(
        LinkSession(
            id=new_secret(24),
            link_token=created.link_token,
            user_id=subject.id,
            supplier_user_id=subject.user.supplier_user_id,
            asset_type=asset_type,
            language=language,
            brand=brand,
            link_url=created.link_url,
            client_id=None,
            return_url=None,
            created_at=svc.clock.now(),
            expires_at=created.expires_at,
            completed_at=None,
        )
    )
    return go(created.link_url)


@bp.get("/link/start/<session_id>")
async def link_start(session_id: str) -> Response:
    """The link_url the API hands out: the customer signs in here first, then goes to NOX."""
    subject = await signed_in_subject()
    if subject is None:
        return go(f"/account/login?next=/link/start/{session_id[:64]}")
    svc = services()
    session = await svc.store.links.get_session(session_id[:64])
    if session is None or session.user_id != subject.id:
        return await page("error.html", status=404, message=_("This link was not found."))
    set_language(session.language)
    if session.completed_at is not None or session.expires_at <= svc.clock.now():
        return await page(
            "error.html", status=400, message=_("This link has expired. Please start again.")
        )
    return go(session.link_url)


class Rejected(Exception):
    """The callback is refused; the message is the reason recorded with the security event."""


async def acceptable_session(subject: Subject | None, payload: LinkPayload) -> LinkSession:
    """The open link session this payload may complete, or Rejected with the reason."""
    if subject is None:
        raise Rejected("not_signed_in")
    if payload.supplier_user_id != subject.user.supplier_user_id:
        raise Rejected("other_customer")
    links = services().store.links
    session = await links.open_session_for(subject.id, services().clock.now())
    if session is None:
        sessions = await links.sessions_for(subject.id)
        if not sessions:
            raise Rejected("unknown_session")
        raise Rejected("replayed" if sessions[0].completed_at is not None else "expired")
    return session


@bp.get("/link/callback")
async def link_callback() -> Response:
    """NOX sends the browser back with ?data=; accept it only if it is ours and this customer's."""
    svc = services()
    subject = await signed_in_subject()
    payload: LinkPayload | None = None
    if subject is not None:
        newest = await svc.store.links.sessions_for(subject.id)
        set_language(newest[0].language if newest else current_language())
    try:
        try:
            payload = decode_payload(request.args.get("data"))
        except BadPayload as exc:
            raise Rejected(str(exc)) from None
        session = await acceptable_session(subject, payload)
        outcome = await svc.store.links.complete(
            session,
            nox_user_id=payload.nox_user_id,
            brand=payload.brand,
            device_ids=payload.device_ids,
            connected_at=payload.connected_at,
            now=svc.clock.now(),
        )
        if outcome is None:  # completed by a concurrent request a moment ago
            raise Rejected("replayed")
    except Rejected as rejected:
        await svc.security_event(
            "link_callback_rejected",
            subject.user.supplier_user_id if subject else None,
            {
                "reason": str(rejected),
                "payload_supplier_user_id": payload.supplier_user_id if payload else None,
            },
            client_ip(),
        )
        return await page(
            "error.html",
            status=400,
            message=_("This link could not be completed. Nothing was changed; please start again."),
            error_code=str(rejected),
        )
    if session.return_url:  # started through the API: back to the supplier's app
        return go(
            add_params_to_uri(
                session.return_url,
                [("status", "linked"), ("supplier_user_id", session.supplier_user_id)],
            )
        )
    # Post/redirect/get: a reload of the account page must not replay the callback.
    session_cookie["linked"] = payload.device_ids
    return go(f"/account?language={current_language()}")
