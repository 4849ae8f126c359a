"""The customer's account pages and flow 2's browser side: start a NOX link session, take NOX's
`?data=` back.

The decisions are idp/nox's (link_sessions.py, callback.py); this module keeps what only a
browser has: the signed session cookie that remembers which link sessions this browser was sent
to NOX for, and a callback that arrived before the customer signed in.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_date
from quart import Blueprint, Response, request
from quart import session as session_cookie
from werkzeug.datastructures import MultiDict

from idp.config import Settings
from idp.i18n import LANGUAGE_NAMES, current_language, pick_language, set_language
from idp.i18n import gettext as _
from idp.nox.callback import (
    CallbackDone,
    CallbackRefused,
    LinkCallbacks,
    PendingCallback,
    Rejected,
)
from idp.nox.link_sessions import LinkExpired, LinkNotFound, LinkSessions, StartRefused
from idp.nox.linked_devices import LinkedDevice, LinkedDevices
from idp.nox.registry import BRANDS
from idp.oauth.models import Subject
from idp.records import LinkSession
from idp.security.browser import csrf_ok, csrf_token, set_signin_cookie
from idp.signin import SignIn
from idp.signin.account import AccountControls
from idp.web.common import client_ip, forbidden_form, go, page, user_agent, valid_id
from idp.web.signin_pages import current_subject, sign_out

# Where sign-in may send the browser on; matched against the whole string (fullmatch), so that
# no trailing newline or anything else rides along into a Location header. No open redirects.
NEXT = re.compile(r"/(account|link/resume|link/start/[A-Za-z0-9_-]{1,64})")
BOUND = "link_bound"  # in the signed browser cookie: [[link session id, asset type], ...]
PENDING = "pending_link"  # a callback that arrived before the customer signed in
NOTICE = "account_notice"  # what the last change on /account did, shown once
LINK_FAILED = "link_failed"  # why the last link could not start, shown once
MAX_BOUND = 4


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


def device_view(linked: LinkedDevice) -> dict[str, Any]:
    device = linked.device
    return {
        "device_id": device.device_id,
        "brand": device.brand,
        "asset_type": device.asset_type,
        "linked_since": format_date(linked.linked_on, "long", locale=current_language()),
        "steerable_from": None
        if linked.steerable_now
        else format_date(linked.steerable_from, "long", locale=current_language()),
        "steering": linked.steering,
        "needs_reauthentication": linked.needs_reauthentication,
    }


async def account_page(
    devices: LinkedDevices,
    controls: AccountControls,
    subject: Subject,
    status: int = 200,
    **extra: Any,
) -> Response:
    linked = await devices.of_customer(subject.id)
    return await page(
        "account.html",
        status=status,
        user=subject.user,
        overview=await controls.overview(subject.user),
        notice=session_cookie.pop(NOTICE, None),
        devices=[device_view(d) for d in linked],
        brands=BRANDS,
        languages=LANGUAGE_NAMES,
        csrf_token=csrf_token(),
        **extra,
    )


async def account_login_page(
    password_reset_url: str | None, status: int = 200, error: str | None = None, email: str = ""
) -> Response:
    next_path = request.args.get("next", "")
    query = {"language": current_language()}
    if NEXT.fullmatch(next_path):
        query["next"] = next_path
    notice = None
    if next_path == "/link/resume":
        notice = _("NOX Energy has connected your device. Sign in to finish linking it.")
    return await page(
        "login.html",
        status=status,
        action="/account/login?" + urlencode(query),
        notice=notice,
        client_name=None,
        csrf_token=csrf_token(),
        error=error,
        email=email,
        password_reset_url=password_reset_url,
    )


CHOSEN_LANGUAGE = "language"  # in the signed browser cookie: the language last chosen


def link_failure(reason: str | None) -> str | None:
    if reason == "choose":
        return _("Choose what to connect, and try again.")
    if reason == "unreachable":
        return _("NOX Energy could not be reached. Nothing was linked; please try again later.")
    return None


def pick_page_language() -> None:
    """The language ?language= asks for (remembered in this browser, so that it survives
    signing in and out), else the one chosen before, else the browser's, else Dutch."""
    asked = request.args.get("language")
    language = pick_language(
        asked, session_cookie.get(CHOSEN_LANGUAGE), request.headers.get("Accept-Language")
    )
    if asked and asked in LANGUAGE_NAMES and session_cookie.get(CHOSEN_LANGUAGE) != asked:
        session_cookie[CHOSEN_LANGUAGE] = asked
    set_language(language)


def session_param(settings: Settings) -> str | None:
    """The link session the callback URL names; "" (naming none of ours) when it is not an id."""
    name = settings.link_callback_session_param
    value = request.args.get(name) if name else None
    return value if value is None or valid_id(value) else ""


async def refused_page(reason: str) -> Response:
    return await page(
        "error.html",
        status=400,
        message=_("This link could not be completed. Nothing was changed; please start again."),
        error_code=reason,
    )


async def callback_page(decision: CallbackDone | CallbackRefused) -> Response:
    """A completed or refused callback as the browser sees it."""
    if isinstance(decision, CallbackRefused):
        if decision.language:
            set_language(decision.language)
        return await refused_page(decision.reason)
    set_language(decision.session.language)
    unbind_browser(decision.session.id)
    if decision.return_to:  # started through the API: back to the supplier's app
        return go(decision.return_to)
    # Post/redirect/get: a reload of the account page must not replay the callback.
    session_cookie["link_held" if decision.held else "linked"] = decision.device_ids
    return go(f"/account?language={current_language()}")


def blueprint(
    settings: Settings,
    signin: SignIn,
    link_sessions: LinkSessions,
    link_callbacks: LinkCallbacks,
    linked_devices: LinkedDevices,
) -> Blueprint:
    bp = Blueprint("account", __name__)
    customers, controls = signin.customers, signin.account

    @bp.get("/account")
    async def account() -> Response:
        pick_page_language()
        subject = await current_subject(customers)
        if subject is None:
            return go(f"/account/login?language={current_language()}")
        return await account_page(
            linked_devices,
            controls,
            subject,
            error=link_failure(session_cookie.pop(LINK_FAILED, None)),
            linked=session_cookie.pop("linked", None),
            held=session_cookie.pop("link_held", None),
        )

    @bp.get("/account/login")
    async def account_login() -> Response:
        pick_page_language()
        return await account_login_page(signin.password_reset_url)

    @bp.post("/account/login")
    async def account_login_submit() -> Response:
        pick_page_language()
        form: MultiDict[str, str] = await request.form
        if not csrf_ok(form.get("csrf_token")):
            return await forbidden_form()
        email = form.get("email", "")
        result = await customers.sign_in(
            email, form.get("password", ""), client_ip(), user_agent(), {"page": "account"}
        )
        if result.user is None or result.raw_session_id is None:
            refused = await account_login_page(
                signin.password_reset_url, result.status, result.error, email.strip()[:320]
            )
            if result.retry_after:
                refused.headers["Retry-After"] = str(result.retry_after)
            return refused
        next_path = request.args.get("next", "")
        response = go(next_path if NEXT.fullmatch(next_path) else "/account")
        set_signin_cookie(
            response,
            result.raw_session_id,
            settings.login_session_seconds,
            settings.cookie_secure,
        )
        return response

    @bp.post("/account/logout")
    async def account_logout() -> Response:
        form: MultiDict[str, str] = await request.form
        if not csrf_ok(form.get("csrf_token")):
            return await forbidden_form()
        response = go("/account/login")
        await sign_out(customers, response)
        return response

    @bp.post("/account/link")
    async def start_link() -> Response:
        """Create a link session at NOX for the signed-in customer and send the browser there."""
        form: MultiDict[str, str] = await request.form
        subject = await current_subject(customers)
        if subject is None:
            return go("/account/login")
        language = form.get("language", "nl")
        set_language(language)
        if not csrf_ok(form.get("csrf_token")):
            return await forbidden_form()
        try:
            session = await link_sessions.start_for_customer(
                subject.user, form.get("asset_type", ""), language, form.get("brand") or None
            )
        except StartRefused as refused:
            # Post/redirect/get: a reload of the page that says so must not try again.
            session_cookie[LINK_FAILED] = "choose" if refused.status == 400 else "unreachable"
            where = f"/account?language={current_language()}"
            return Response("", status=303, headers={"Location": where})
        bind_browser(session)
        return go(session.link_url)

    @bp.get("/link/start/<session_id>")
    async def link_start(session_id: str) -> Response:
        """The link_url the API hands out: the customer signs in here first, then goes to NOX."""
        not_found = _("This link was not found.")
        if not valid_id(session_id):
            return await page("error.html", status=404, message=not_found)
        subject = await current_subject(customers)
        if subject is None:
            return go(f"/account/login?next=/link/start/{session_id}")
        try:
            session = await link_sessions.reopen(subject.id, session_id)
        except LinkNotFound:
            return await page("error.html", status=404, message=not_found)
        except LinkExpired as expired:
            set_language(expired.language)
            return await page(
                "error.html", status=400, message=_("This link has expired. Please start again.")
            )
        set_language(session.language)
        bind_browser(session)
        return go(session.link_url)

    @bp.get("/link/callback")
    async def link_callback() -> Response:
        """NOX sends the browser back with ?data=; accept it only if it is ours and this
        customer's. Before sign-in, the claim is kept in this browser until they have signed in."""
        subject = await current_subject(customers)
        data = request.args.get("data")
        if subject is not None:
            return await callback_page(
                await link_callbacks.complete(
                    subject.user, data, session_param(settings), bound_ids(), client_ip()
                )
            )
        pick_page_language()
        try:
            pending = await link_callbacks.park(data, session_param(settings), client_ip())
        except Rejected as rejected:
            return await refused_page(str(rejected))
        session_cookie[PENDING] = pending.as_dict()
        return go(f"/account/login?language={current_language()}&next=/link/resume")

    @bp.get("/link/resume")
    async def link_resume() -> Response:
        """The callback NOX delivered before the customer signed in, now checked and completed."""
        subject = await current_subject(customers)
        if subject is None:
            pick_page_language()
            return go(f"/account/login?language={current_language()}&next=/link/resume")
        pending = PendingCallback.from_dict(session_cookie.pop(PENDING, None))
        return await callback_page(
            await link_callbacks.resume(subject.user, pending, bound_ids(), client_ip())
        )

    return bp
