"""The built-in "Forgot your password?" pages (the rules are idp/signin/password_reset.py).

The link in the mail carries its token in the query string (query strings are never logged);
opening it moves the token into this browser's signed session cookie and sends the browser on
to /password/reset without it, so the token leaves neither the address bar nor the history.
"""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart import session as session_cookie
from werkzeug.datastructures import MultiDict

from idp.i18n import current_language
from idp.i18n import gettext as _
from idp.security.browser import SIGNIN_COOKIE, csrf_ok, csrf_token
from idp.signin.password_reset import MIN_PASSWORD, PasswordReset
from idp.web.account import pick_page_language
from idp.web.common import client_ip, forbidden_form, go, page

# In the signed session cookie: the token of the link opened.
RESET_TOKEN = "password_reset"  # noqa: S105 - a cookie key, not a secret


def blueprint(reset: PasswordReset) -> Blueprint:
    bp = Blueprint("password_reset", __name__)

    async def not_offered() -> Response:
        return await page("error.html", status=404, message=_("This page does not exist."))

    async def link_dead() -> Response:
        return await page(
            "error.html",
            status=400,
            message=_("This link has expired or was already used. You can ask for a new one."),
            back_url=f"/password/forgot?language={current_language()}",
            back_label=_("Ask for a new link"),
        )

    async def form_page(status: int = 200, error: str | None = None) -> Response:
        return await page(
            "password_new.html",
            status=status,
            csrf_token=csrf_token(),
            error=error,
            min_length=MIN_PASSWORD,
        )

    @bp.get("/password/forgot")
    async def forgot() -> Response:
        pick_page_language()
        if not reset.enabled:
            return await not_offered()
        return await page("password_forgot.html", csrf_token=csrf_token())

    @bp.post("/password/forgot")
    async def forgot_submit() -> Response:
        pick_page_language()
        if not reset.enabled:
            return await not_offered()
        form: MultiDict[str, str] = await request.form
        if not csrf_ok(form.get("csrf_token")):
            return await forbidden_form()
        wait = await reset.request(form.get("email", ""), client_ip(), current_language())
        if wait:
            message = _("Too many requests. Please wait %(seconds)s seconds and try again.")
            response = await page(
                "password_forgot.html",
                status=429,
                csrf_token=csrf_token(),
                error=message % {"seconds": wait},
            )
            response.headers["Retry-After"] = str(wait)
            return response
        return await page("password_sent.html", minutes=reset.settings.password_reset_seconds // 60)

    @bp.get("/password/reset")
    async def reset_form() -> Response:
        pick_page_language()
        if not reset.enabled:
            return await not_offered()
        token = request.args.get("token")
        if token is not None:  # the link from the mail: keep the token, drop it from the URL
            if not await reset.usable(token):
                return await link_dead()
            session_cookie[RESET_TOKEN] = token
            return go(f"/password/reset?language={current_language()}")
        if not await reset.usable(session_cookie.get(RESET_TOKEN, "")):
            return await link_dead()
        return await form_page()

    @bp.post("/password/reset")
    async def reset_submit() -> Response:
        pick_page_language()
        if not reset.enabled:
            return await not_offered()
        form: MultiDict[str, str] = await request.form
        if not csrf_ok(form.get("csrf_token")):
            return await forbidden_form()
        token = session_cookie.get(RESET_TOKEN, "")
        refused = await reset.complete(
            token, form.get("password", ""), form.get("confirm", ""), client_ip()
        )
        if refused is not None:
            if not await reset.usable(token):
                return await link_dead()
            return await form_page(refused.status, refused.message)
        session_cookie.pop(RESET_TOKEN, None)
        response = await page("password_changed.html")
        response.delete_cookie(SIGNIN_COOKIE, path="/")
        return response

    return bp
