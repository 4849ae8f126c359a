"""The admins themselves: invite (a one-time link; the admin chooses their own password and
enrols their own authenticator), withdraw an invitation, change a role, remove, reset another
admin's authenticator (a link again), and an admin's re-enrolment of their own.

An enrolment link is a random token; only its SHA-256 is stored. It works for
IDP_ADMIN_INVITATION_SECONDS, once, and an admin's newest link replaces the older. Until they
enrol, an invited admin (or one whose authenticator an owner reset) cannot sign in, and an
owner among them counts for none when the last owner is guarded.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyotp

from idp.admin.actor import ActionError, Actor
from idp.admin.audited import AuditedActions, transactional
from idp.i18n import N_
from idp.i18n import gettext as _
from idp.records import Admin
from idp.security import passwords
from idp.security.secrets import digest, new_secret
from idp.store.admins import DuplicateAdmin, LastOwner
from idp.vocab import ADMIN_ROLES

LAST_OWNER = N_("This is the last owner: make another admin owner first.")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_EMAIL = 320
INVITATION = "invitation"
TOTP_RESET = "totp_reset"
ENROL_PATH = "/admin/enrol"


def admin_password_problem(password: str) -> str | None:
    """Why an admin cannot have this password; None when they can."""
    if len(password) < MIN_PASSWORD:
        return _("An admin password must be at least %(min)s characters.") % {"min": MIN_PASSWORD}
    if len(password) > MAX_PASSWORD:
        return _("An admin password must be at most %(max)s characters.") % {"max": MAX_PASSWORD}
    return None


def totp_uri(secret: str, email: str, issuer_name: str) -> str:
    """The authenticator enrolment URI (RFC 6238, Key Uri Format) of `secret`."""
    return str(pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer_name))


@dataclass(frozen=True)
class EnrolmentLink:
    """A link just issued: shown once to whoever issued it (and mailed, if mail is set up)."""

    email: str
    role: str
    purpose: str
    link: str
    expires_at: int


class AdminAccountActions(AuditedActions):
    """The changes to admins; each validates, changes and audits in one transaction."""

    def _check_role(self, role: str) -> None:
        if role not in ADMIN_ROLES:
            raise ActionError(
                _("The role must be one of %(roles)s.") % {"roles": ", ".join(ADMIN_ROLES)}
            )

    async def _issue_link(self, actor: Actor, admin_id: int, purpose: str) -> tuple[str, int]:
        token, now = new_secret(32), self.clock.now()
        expires_at = now + self.settings.admin_invitation_seconds
        await self.store.admin_enrolments.issue(
            admin_id=admin_id,
            purpose=purpose,
            token_hash=digest(token),
            now=now,
            expires_at=expires_at,
            created_by=actor.name,
        )
        # In the query string, which no log line records (web/hardening.py).
        return self.settings.url(f"{ENROL_PATH}?token={token}"), expires_at

    @transactional
    async def add_admin(
        self, actor: Actor, email: str, role: str, password: str, issuer_name: str
    ) -> str:
        """Create an enrolled admin with this password (the command line's way to the first
        owner, before anyone can invite); returns the TOTP enrolment URI to show once."""
        self._check_role(role)
        if "@" not in email or len(email) > MAX_EMAIL:
            raise ActionError(_("That is not an email address."))
        problem = admin_password_problem(password)
        if problem:
            raise ActionError(problem)
        secret = pyotp.random_base32()
        try:
            await self.store.admins.add(
                email=email,
                password_hash=await passwords.hash_async(password),
                role=role,
                totp_secret=secret,
                now=self.clock.now(),
            )
        except DuplicateAdmin:
            raise ActionError(_("An admin %(email)s exists already.") % {"email": email}) from None
        await self.audit("admin.admin.created", actor, email=email.lower(), role=role)
        return totp_uri(secret, email, issuer_name)

    @transactional
    async def invite_admin(self, actor: Actor, email: str, role: str) -> EnrolmentLink:
        """Invite an admin: a one-time link with which they choose their password and enrol
        their authenticator. Inviting the same email again gives the newest role and link;
        the older link stops working."""
        email = email.strip().lower()
        self._check_role(role)
        if "@" not in email or len(email) > MAX_EMAIL or any(c.isspace() for c in email):
            raise ActionError(_("That is not an email address."))
        try:
            admin_id = await self.store.admins.invite(email=email, role=role, now=self.clock.now())
        except DuplicateAdmin:
            raise ActionError(_("An admin %(email)s exists already.") % {"email": email}) from None
        link, expires_at = await self._issue_link(actor, admin_id, INVITATION)
        await self.audit(
            "admin.admin.invited", actor, email=email, role=role, expires_at=expires_at
        )
        return EnrolmentLink(email, role, INVITATION, link, expires_at)

    @transactional
    async def revoke_invitation(self, actor: Actor, admin_id: int) -> str:
        """Withdraw an invitation not used yet: its link stops working, the invited admin goes.
        Returns their email."""
        removed = await self.store.admins.remove_invited(admin_id)
        if removed is None:
            raise ActionError(_("There is no open invitation with this id."))
        await self.audit(
            "admin.admin.invitation_revoked", actor, email=removed.email, role=removed.role
        )
        return removed.email

    @transactional
    async def reset_admin_totp(
        self, actor: Actor, admin_id: int, by_admin_id: int | None
    ) -> EnrolmentLink:
        """Clear another admin's authenticator (a lost phone, say): their console sessions end,
        they cannot sign in, and a one-time link lets them enrol a new one themselves.
        `by_admin_id` is the owner doing it (None: the command line)."""
        if admin_id == by_admin_id:
            raise ActionError(_("Renew your own authenticator under 'Your authenticator'."))
        before = await self.store.admins.reset_totp(admin_id)
        if before is None:
            raise ActionError(_("There is no enrolled admin with this id."))
        link, expires_at = await self._issue_link(actor, admin_id, TOTP_RESET)
        await self.audit("admin.admin.totp_reset", actor, email=before.email, expires_at=expires_at)
        return EnrolmentLink(before.email, before.role, TOTP_RESET, link, expires_at)

    @transactional
    async def complete_enrolment(self, token: str, totp_step: int, ip: str | None) -> Admin:
        """The link's admin enrolled (the current code of the secret shown matched): the link
        is used up (of two requests at once, one wins) and the admin may sign in."""
        now = self.clock.now()
        used = await self.store.admin_enrolments.use(digest(token), now)
        if used is None or used.totp_secret is None:
            raise ActionError(_("This link has expired or was already used."))
        admin = await self.store.admins.activate(
            used.admin_id,
            password_hash=used.password_hash,
            totp_secret=used.totp_secret,
            totp_step=totp_step,
        )
        if admin is None:
            raise ActionError(_("This link has expired or was already used."))
        await self.audit(
            "admin.admin.enrolled",
            Actor(f"admin:{admin.email}", ip),
            email=admin.email,
            role=admin.role,
            purpose=used.purpose,
        )
        found = await self.store.admins.by_id(admin.id)
        assert found is not None  # activated within this very transaction
        return found

    @transactional
    async def change_admin_role(self, actor: Actor, admin_id: int, role: str) -> None:
        """Give an admin another role; it counts from their next request."""
        self._check_role(role)
        try:
            before = await self.store.admins.set_role(admin_id, role)
        except LastOwner:
            raise ActionError(_(LAST_OWNER)) from None
        if before is None:
            raise ActionError(_("There is no such admin."))
        if before.role != role:
            await self.audit(
                "admin.admin.role_changed", actor, email=before.email, role=role, was=before.role
            )

    @transactional
    async def remove_admin(self, actor: Actor, admin_id: int) -> str:
        """Remove an admin; their console sessions end with them. Returns their email."""
        try:
            removed = await self.store.admins.remove(admin_id)
        except LastOwner:
            raise ActionError(_(LAST_OWNER)) from None
        if removed is None:
            raise ActionError(_("There is no such admin."))
        await self.audit("admin.admin.removed", actor, email=removed.email, role=removed.role)
        return removed.email

    @transactional
    async def reenrol_totp(
        self, actor: Actor, admin_id: int, keep_session_hash: str, issuer_name: str
    ) -> str:
        """A new TOTP secret for the signed-in admin themself (who proved their password and a
        current code); returns the enrolment URI to show them once. Their other console
        sessions end: whoever holds the old secret is signed out."""
        admin = await self.store.admins.by_id(admin_id)
        if admin is None or not admin.active:
            raise ActionError(_("There is no such admin."))
        secret = pyotp.random_base32()
        await self.store.admins.set_totp_secret(admin.id, secret)
        await self.store.admins.end_other_sessions(admin.id, keep_session_hash)
        await self.audit("admin.admin.totp_reenrolled", actor, email=admin.email)
        return totp_uri(secret, admin.email, issuer_name)
