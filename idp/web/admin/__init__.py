"""The supplier admin console at /admin: password + TOTP sign-in, roles, CSRF on every form.

A session ends after `IDP_ADMIN_IDLE_SECONDS` idle or `IDP_ADMIN_SESSION_SECONDS` after sign-in;
signing in replaces the session and the CSRF token (rules: idp/admin/signin.py).

Views parse the form, call one AdminActions method (which validates, changes and audits) or one
ConsoleQueries read, and render. A forbidden action is a 403 and changes nothing. The views are
split by subject, one module each; every module adds its views to the one "admin" blueprint.
"""

from __future__ import annotations

from quart import Blueprint, Response, g, request

from idp.admin.actions import AdminActions
from idp.admin.console import ConsoleQueries
from idp.admin.signin import AdminSignIn
from idp.config import Settings
from idp.security.browser import csrf_ok
from idp.web.admin import (
    admins,
    audit,
    clients,
    customers,
    invitation,
    outbox,
    overview,
    preferences,
    signin,
    terms,
)
from idp.web.admin.pages import ADMIN_COOKIE, Console, choose_language
from idp.web.common import forbidden_form, go

OPEN_ENDPOINTS = {"admin.login", "admin.login_submit", *invitation.OPEN}
TERMS_UPLOAD_BYTES = 1024 * 1024
SUBJECTS = (
    signin,
    invitation,
    preferences,
    overview,
    clients,
    terms,
    customers,
    outbox,
    audit,
    admins,
)


def blueprint(
    actions: AdminActions, queries: ConsoleQueries, sign_in: AdminSignIn, settings: Settings
) -> Blueprint:
    bp = Blueprint("admin", __name__, url_prefix="/admin")
    console = Console(actions, queries, sign_in, settings)

    @bp.before_request
    async def gate() -> Response | None:
        """Every admin request: a live session (idle timeout), the console's language, a valid
        CSRF token."""
        g.admin = await sign_in.signed_in_admin(request.cookies.get(ADMIN_COOKIE))
        choose_language(g.admin)
        if request.method == "POST":
            if request.path == "/admin/terms":
                request.max_content_length = TERMS_UPLOAD_BYTES
            form = await request.form
            if not csrf_ok(form.get("csrf_token")):
                return await forbidden_form()
        if g.admin is None and request.endpoint not in OPEN_ENDPOINTS:
            return go("/admin/login")
        return None

    for subject in SUBJECTS:
        subject.register(bp, console)
    return bp
