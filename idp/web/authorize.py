"""GET/POST /authorize: parse the request, open the authentication session (signin/
authorize_checks.py), render the decision."""

from __future__ import annotations

from quart import Blueprint, Response, request

from idp.i18n import pick_language, set_language
from idp.security.browser import browser_id
from idp.signin import SignIn
from idp.web.common import client_ip, http_call
from idp.web.signin_pages import current_subject, render


def blueprint(signin: SignIn) -> Blueprint:
    bp = Blueprint("authorize", __name__)

    @bp.route("/authorize", methods=["GET", "POST"])
    async def authorize() -> Response:
        call = await http_call("/authorize")
        params = dict(reversed(call.form if request.method == "POST" else call.query))
        set_language(pick_language(params.get("language"), params.get("ui_locales")))
        subject = await current_subject(signin.customers)
        return await render(await signin.authorize.open(call, subject, browser_id(), client_ip()))

    @bp.before_app_request
    async def _default_language() -> None:
        set_language(pick_language(request.args.get("language"), request.args.get("ui_locales")))

    return bp
