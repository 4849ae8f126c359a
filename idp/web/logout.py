"""The end_session_endpoint (OpenID Connect RP-Initiated Logout 1.0): GET or POST /logout.

A client's POST arrives cross-site, without the SameSite=Lax sign-in cookie, so it is sent on
as a GET with the same parameters (§2 allows both; the cookie comes with a top-level GET). The
customer's answer to "Sign out?" is our own form: a POST with `confirm` and a CSRF token.
"""

from __future__ import annotations

from urllib.parse import urlencode

from quart import Blueprint, Response, request

from idp.i18n import current_language, pick_language, set_language
from idp.i18n import gettext as _
from idp.security.browser import SIGNIN_COOKIE, csrf_ok, csrf_token, signin_cookie_digest
from idp.signin.logout import ConfirmSignOut, Logout, SignOutRefused, carried_fields
from idp.web.common import forbidden_form, go, http_call, page


def blueprint(logout: Logout) -> Blueprint:
    bp = Blueprint("logout", __name__)

    @bp.route("/logout", methods=["GET", "POST"])
    async def end_session() -> Response:
        params = request.args if request.method == "GET" else await request.form
        set_language(
            pick_language(params.get("ui_locales"), request.headers.get("Accept-Language"))
        )
        confirmed = request.method == "POST" and "confirm" in params
        if request.method == "POST" and not confirmed:
            fields = carried_fields(list(params.items(multi=True)))
            return Response("", status=303, headers={"Location": f"/logout?{urlencode(fields)}"})
        if confirmed and not csrf_ok(params.get("csrf_token")):
            return await forbidden_form()
        decision = await logout.request(await http_call(), signin_cookie_digest(), confirmed)
        if isinstance(decision, SignOutRefused):
            return await page(
                "error.html",
                status=400,
                message=_(
                    "This sign-out link is not valid, so you were not signed out. You can sign "
                    "out on your account page."
                ),
                error_code="invalid_request",
                error_description=decision.description,
                back_url=f"/account?language={current_language()}",
                back_label=_("Go to your account"),
            )
        if isinstance(decision, ConfirmSignOut):
            return await page(
                "logout.html",
                client_name=decision.client_name,
                fields=decision.fields,
                csrf_token=csrf_token(),
            )
        if decision.redirect_url:
            response = go(decision.redirect_url)
        else:
            response = await page("signed_out.html")
        response.delete_cookie(SIGNIN_COOKIE, path="/")
        return response

    return bp
