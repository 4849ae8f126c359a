"""Signing in to and out of the console."""

from __future__ import annotations

from quart import Blueprint, Response, request

from idp.admin.signin import ConsoleSession, SignInRefused
from idp.security.browser import rotate_csrf
from idp.web.admin.pages import ADMIN_COOKIE, Console
from idp.web.common import client_ip, go


def signed_in(console: Console, session: ConsoleSession) -> Response:
    """On to the console with a new session; the CSRF token is replaced with it."""
    rotate_csrf()
    response = go("/admin")
    response.set_cookie(
        ADMIN_COOKIE,
        session.cookie,
        secure=console.settings.cookie_secure,
        httponly=True,
        samesite="Strict",
        path="/admin",
    )
    return response


def register(bp: Blueprint, console: Console) -> None:
    @bp.get("/login")
    async def login() -> Response:
        return await console.page("login.html")

    @bp.post("/login")
    async def login_submit() -> Response:
        form = await request.form
        email = form.get("email", "").strip()[:320]
        try:
            session = await console.signin.sign_in(
                email,
                form.get("password", "")[:1024],
                form.get("code", "")[:16],
                client_ip(),
                request.cookies.get(ADMIN_COOKIE),
            )
        except SignInRefused as refused:
            return await console.page(
                "login.html", refused.status, error=refused.message, email=email
            )
        return signed_in(console, session)

    @bp.post("/logout")
    async def logout() -> Response:
        await console.signin.sign_out(request.cookies.get(ADMIN_COOKIE))
        response = go("/admin/login")
        response.delete_cookie(ADMIN_COOKIE, path="/admin")
        return response
