"""Supplier admins: list, add, change role, remove; each admin re-enrols their own
authenticator."""

from __future__ import annotations

from quart import Blueprint, Response, request

from idp.admin.actions import ActionError
from idp.admin.signin import SignInRefused
from idp.web.admin.pages import ADMIN_COOKIE, Console, actor, admin
from idp.web.admin.qr import qr_data_uri
from idp.web.common import client_ip, go


def register(bp: Blueprint, console: Console) -> None:
    actions, queries = console.actions, console.queries

    @bp.get("/admins")
    async def admins() -> Response:
        return await console.page("admins.html", admins=await queries.admins())

    @bp.post("/admins")
    @console.requires("owner")
    async def add_admin() -> Response:
        form = await request.form
        try:
            uri = await actions.add_admin(
                actor(),
                form.get("email", "").strip(),
                form.get("role", ""),
                form.get("password", ""),
                console.settings.supplier_name,
            )
        except ActionError as exc:
            return await console.page(
                "admins.html", 400, admins=await queries.admins(), error=str(exc)
            )
        return await console.page(
            "admin_created.html", email=form.get("email"), totp_uri=uri, totp_qr=qr_data_uri(uri)
        )

    @bp.post("/admins/<int:admin_id>/role")
    @console.requires("owner")
    async def change_role(admin_id: int) -> Response:
        form = await request.form
        try:
            await actions.change_admin_role(actor(), admin_id, form.get("role", ""))
        except ActionError as exc:
            return await console.page(
                "admins.html", 400, admins=await queries.admins(), error=str(exc)
            )
        return go("/admin/admins")

    @bp.post("/admins/<int:admin_id>/remove")
    @console.requires("owner")
    async def remove(admin_id: int) -> Response:
        form = await request.form
        if form.get("confirm") != "yes":
            error = "Tick the box to confirm the removal."
            return await console.page(
                "admins.html", 400, admins=await queries.admins(), error=error
            )
        try:
            await actions.remove_admin(actor(), admin_id)
        except ActionError as exc:
            return await console.page(
                "admins.html", 400, admins=await queries.admins(), error=str(exc)
            )
        return go("/admin/admins")

    # ---- the admin's own authenticator --------------------------------------------------------
    @bp.get("/totp")
    async def totp_form() -> Response:
        return await console.page("totp.html")

    @bp.post("/totp")
    async def reenrol_totp() -> Response:
        """A new TOTP secret for the signed-in admin, after their password and a current code."""
        form = await request.form
        try:
            uri = await console.signin.reenrol_totp(
                admin(),
                form.get("password", "")[:1024],
                form.get("code", "")[:16],
                client_ip(),
                request.cookies.get(ADMIN_COOKIE, ""),
            )
        except SignInRefused as refused:
            return await console.page("totp.html", refused.status, error=refused.message)
        return await console.page("totp_enrolled.html", totp_uri=uri, totp_qr=qr_data_uri(uri))
