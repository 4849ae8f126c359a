"""The page of an admin's one-time enrolment link (the rules: idp/admin/enrolment.py).

The link carries its token in the query string (query strings are never logged); opening it
moves the token into this browser's signed session cookie and sends the browser on to
/admin/enrol without it, so the token leaves neither the address bar nor the history. Opening
it changes nothing: the password step and the code step are POSTs (with the CSRF token).
"""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart import session as session_cookie

from idp.admin.accounts import MIN_PASSWORD
from idp.admin.enrolment import DEAD_LINK, EnrolmentRefused
from idp.i18n import gettext as _
from idp.web.admin.pages import ADMIN_COOKIE, Console
from idp.web.admin.qr import qr_data_uri
from idp.web.admin.signin import signed_in
from idp.web.common import client_ip, go

# In the signed session cookie: the token of the enrolment link opened.
ENROL_TOKEN = "admin_enrolment"  # noqa: S105 - a cookie key, not a secret
OPEN = ("admin.enrol", "admin.enrol_password", "admin.enrol_confirm")


def register(bp: Blueprint, console: Console) -> None:
    enrolment = console.signin.enrolment

    async def dead_link(status: int = 400) -> Response:
        return await console.page(
            "error.html",
            status,
            message=_(DEAD_LINK),
            back_url="/admin/login",
            back_label=_("Admin sign-in"),
        )

    async def enrol_page(token: str, status: int = 200, error: str | None = None) -> Response:
        found = await enrolment.page(token)
        if found is None:
            return await dead_link()
        if found.totp_uri is None:
            return await console.page(
                "enrol_password.html", status, enrolment=found, error=error, min=MIN_PASSWORD
            )
        return await console.page(
            "enrol_totp.html",
            status,
            enrolment=found,
            error=error,
            totp_uri=found.totp_uri,
            totp_qr=qr_data_uri(found.totp_uri),
        )

    @bp.get("/enrol")
    async def enrol() -> Response:
        token = request.args.get("token")
        if token is not None:  # the link itself: keep the token, drop it from the URL
            if await enrolment.page(token[:128]) is None:
                return await dead_link()
            session_cookie[ENROL_TOKEN] = token[:128]
            return go("/admin/enrol")
        return await enrol_page(session_cookie.get(ENROL_TOKEN, ""))

    @bp.post("/enrol/password")
    async def enrol_password() -> Response:
        form = await request.form
        token = session_cookie.get(ENROL_TOKEN, "")
        try:
            await enrolment.choose_password(
                token, form.get("password", ""), form.get("confirm", ""), client_ip()
            )
        except EnrolmentRefused as refused:
            return await enrol_page(token, refused.status, refused.message)
        return go("/admin/enrol")

    @bp.post("/enrol/confirm")
    async def enrol_confirm() -> Response:
        form = await request.form
        token = session_cookie.get(ENROL_TOKEN, "")
        try:
            session = await enrolment.confirm(
                token, form.get("code", ""), client_ip(), request.cookies.get(ADMIN_COOKIE)
            )
        except EnrolmentRefused as refused:
            return await enrol_page(token, refused.status, refused.message)
        session_cookie.pop(ENROL_TOKEN, None)
        return signed_in(console, session)
