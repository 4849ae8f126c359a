"""What the customer changes on /account besides linking: an app's access withdrawn, a device
disconnected, every sign-in ended; and the terms as they accepted them.

Each change is a form with a CSRF token, answered with a redirect back to /account (post/
redirect/get: a reload repeats nothing) and a notice shown once (account.NOTICE).
"""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart import session as session_cookie
from werkzeug.datastructures import MultiDict

from idp.i18n import current_language
from idp.i18n import gettext as _
from idp.nox.linked_devices import LinkedDevices
from idp.oauth.models import Subject
from idp.security.browser import SIGNIN_COOKIE, csrf_ok
from idp.signin import SignIn
from idp.web.account import NOTICE, pick_page_language
from idp.web.common import client_ip, forbidden_form, go, page
from idp.web.signin_pages import current_subject, markdown


def blueprint(signin: SignIn, linked_devices: LinkedDevices) -> Blueprint:
    bp = Blueprint("account_controls", __name__)
    customers, controls = signin.customers, signin.account

    async def signed_in_form() -> tuple[Subject, MultiDict[str, str]] | Response:
        """The signed-in customer and their form with a valid CSRF token, or the answer."""
        form: MultiDict[str, str] = await request.form
        subject = await current_subject(customers)
        if subject is None:
            return go("/account/login")
        if not csrf_ok(form.get("csrf_token")):
            return await forbidden_form()
        return subject, form

    def back_to_account(notice: str | None) -> Response:
        if notice:
            session_cookie[NOTICE] = notice
        return go("/account")

    @bp.post("/account/access/withdraw")
    async def withdraw_access() -> Response:
        """Revoke every token an app holds for this customer."""
        posted = await signed_in_form()
        if isinstance(posted, Response):
            return posted
        subject, form = posted
        withdrawn = await controls.withdraw(subject.user, form.get("client_id", ""), client_ip())
        return back_to_account("withdrawn" if withdrawn else None)

    @bp.post("/account/devices/disconnect")
    async def disconnect_device() -> Response:
        """End the link of one of the customer's devices here."""
        posted = await signed_in_form()
        if isinstance(posted, Response):
            return posted
        subject, form = posted
        device = await linked_devices.disconnect(subject.id, form.get("device_id", ""))
        return back_to_account("disconnected" if device else None)

    @bp.post("/account/sign-out-everywhere")
    async def sign_out_everywhere() -> Response:
        posted = await signed_in_form()
        if isinstance(posted, Response):
            return posted
        await controls.sign_out_everywhere(posted[0].user)
        response = go(f"/account/login?language={current_language()}")
        response.delete_cookie(SIGNIN_COOKIE, path="/")
        return response

    @bp.get("/account/terms/<version>/<language>")
    async def accepted_terms(version: str, language: str) -> Response:
        """The terms as the customer accepted them: that version, in that language."""
        pick_page_language()
        subject = await current_subject(customers)
        if subject is None:
            return go(f"/account/login?language={current_language()}")
        text = await controls.accepted_text(subject.user, version, language)
        if text is None:
            return await page("error.html", status=404, message=_("These terms were not found."))
        return await page(
            "accepted_terms.html", version=text.version, terms_html=markdown.render(text.body_md)
        )

    return bp
