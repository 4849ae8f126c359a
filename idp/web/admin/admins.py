"""Supplier admins: list, invite (and withdraw an invitation), change role, remove, reset
another admin's authenticator; each admin re-enrols their own authenticator."""

from __future__ import annotations

from quart import Blueprint, Response, request

from idp.admin.actions import ActionError
from idp.admin.enrolment import SentLink
from idp.admin.signin import SignInRefused
from idp.i18n import gettext as _
from idp.records import ADMIN_INVITED
from idp.web.admin.pages import ADMIN_COOKIE, Console, actor, admin
from idp.web.admin.qr import qr_data_uri
from idp.web.common import client_ip, go


def register(bp: Blueprint, console: Console) -> None:
    actions, queries, enrolment = console.actions, console.queries, console.signin.enrolment

    async def admins_page(status: int = 200, error: str | None = None) -> Response:
        """The enrolled admins, and those who have not enrolled (yet, or again) with their
        link's expiry."""
        now = console.signin.clock.now()
        pending = [
            {
                "p": p,
                "expires": p.expires_at,
                "expired": p.expires_at <= now,
            }
            for p in await enrolment.pending()
        ]
        listed = [a for a in await queries.admins() if a.status != ADMIN_INVITED]
        return await console.page(
            "admins.html",
            status,
            admins=listed,
            pending=pending,
            error=error,
            link_hours=console.settings.admin_invitation_seconds // 3600,
            mails=enrolment.mails,
        )

    async def link_page(sent: SentLink) -> Response:
        return await console.page(
            "admin_invited.html",
            sent=sent,
            link=sent.link,
            expires=sent.link.expires_at,
        )

    @bp.get("/admins")
    async def admins() -> Response:
        return await admins_page()

    @bp.post("/admins/invitations")
    @console.requires("owner")
    async def invite_admin() -> Response:
        form = await request.form
        try:
            sent = await enrolment.invite(
                actor(), form.get("email", "")[:400], form.get("role", "")[:16]
            )
        except ActionError as exc:
            return await admins_page(400, str(exc))
        return await link_page(sent)

    @bp.post("/admins/invitations/<int:admin_id>/revoke")
    @console.requires("owner")
    async def revoke_invitation(admin_id: int) -> Response:
        try:
            await actions.revoke_invitation(actor(), admin_id)
        except ActionError as exc:
            return await admins_page(400, str(exc))
        return go("/admin/admins")

    @bp.post("/admins/<int:admin_id>/reset-totp")
    @console.requires("owner")
    async def reset_totp(admin_id: int) -> Response:
        form = await request.form
        if form.get("confirm") != "yes":
            return await admins_page(400, _("Tick the box to confirm the reset."))
        try:
            sent = await enrolment.reset_totp(actor(), admin_id, admin().id)
        except ActionError as exc:
            return await admins_page(400, str(exc))
        return await link_page(sent)

    @bp.post("/admins/<int:admin_id>/role")
    @console.requires("owner")
    async def change_role(admin_id: int) -> Response:
        form = await request.form
        try:
            await actions.change_admin_role(actor(), admin_id, form.get("role", ""))
        except ActionError as exc:
            return await admins_page(400, str(exc))
        return go("/admin/admins")

    @bp.post("/admins/<int:admin_id>/remove")
    @console.requires("owner")
    async def remove(admin_id: int) -> Response:
        form = await request.form
        if form.get("confirm") != "yes":
            return await admins_page(400, _("Tick the box to confirm the removal."))
        try:
            await actions.remove_admin(actor(), admin_id)
        except ActionError as exc:
            return await admins_page(400, str(exc))
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
