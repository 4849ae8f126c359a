"""An admin enrols through a one-time link: an owner's invitation, or a new authenticator after
an owner reset theirs (the rules of the links: idp/admin/accounts.py).

- Opening the link changes nothing (mail scanners open links); the page then asks the invited
  admin to choose a password, or the reset one for their current password (throttled like a
  sign-in), and shows a new TOTP secret as a QR code and a URI.
- One current code of that secret completes the enrolment: the link is used up (of two requests
  at once, one wins), the admin becomes active and is signed in. Until then nothing about the
  admin changes, and they cannot sign in.
- The owner sees the link once; with mail set up (IDP_SMTP_HOST) it is also mailed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyotp

from idp.admin.accounts import (
    INVITATION,
    MAX_PASSWORD,
    EnrolmentLink,
    admin_password_problem,
    totp_uri,
)
from idp.admin.actor import ActionError, Actor
from idp.admin.totp import matching_step
from idp.i18n import N_, current_language, in_language
from idp.i18n import gettext as _
from idp.mail import Mailer
from idp.security import passwords
from idp.security.secrets import digest
from idp.store.admin_enrolments import PendingEnrolment

if TYPE_CHECKING:
    from idp.admin.signin import AdminSignIn, ConsoleSession

MAX_CODE = 16
DEAD_LINK = N_("This link has expired or was already used. Ask an owner for a new one.")

__all__ = ["AdminEnrolment", "EnrolmentPage", "EnrolmentRefused", "PendingEnrolment", "SentLink"]


class EnrolmentRefused(Exception):
    """The step was refused: `status` (400 a dead link or bad input, 401 a wrong password, 429
    throttled) and `message` for the page. Nothing changed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class SentLink:
    """A link just issued, and whether it was also mailed."""

    link: EnrolmentLink
    mailed: bool | None  # None: mail is not set up


@dataclass(frozen=True)
class EnrolmentPage:
    """What the link's page shows: whose link, for what, and once a password step is done, the
    secret to enrol (as a URI; the web layer draws its QR code)."""

    email: str
    role: str
    purpose: str
    expires_at: int
    totp_uri: str | None

    @property
    def invitation(self) -> bool:
        return self.purpose == INVITATION


async def mail_link(mailer: Mailer, link: EnrolmentLink, language: str = "en") -> bool | None:
    """Mail the link to its admin, in `language`: None when mail is not set up, else whether
    the mail server took it (a failure is logged; whoever issued the link has it on screen)."""
    if not mailer.configured:
        return None
    with in_language(language):
        mail = mailer.render(
            link.email,
            "admin_enrolment",
            invitation=link.purpose == INVITATION,
            role=link.role,
            link=link.link,
            expires=datetime.fromtimestamp(link.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
    return await mailer.send(mail)  # the owner is told whether it went out


class AdminEnrolment:
    """Issuing enrolment links (invitation, TOTP reset) and the link's own pages."""

    def __init__(self, signin: AdminSignIn, mailer: Mailer) -> None:
        self.signin = signin
        self.store = signin.store
        self.clock = signin.clock
        self.settings = signin.settings
        self.actions = signin.actions
        self.mailer = mailer

    @property
    def mails(self) -> bool:
        return self.mailer.configured

    # ---- an owner issues a link ------------------------------------------------------------
    async def invite(self, actor: Actor, email: str, role: str) -> SentLink:
        """Invite an admin (ActionError when refused); the link is mailed if mail is set up."""
        link = await self.actions.invite_admin(actor, email, role)
        # In the inviting owner's language: the invited admin has chosen none yet.
        return SentLink(link, await mail_link(self.mailer, link, current_language()))

    async def reset_totp(self, actor: Actor, admin_id: int, by_admin_id: int | None) -> SentLink:
        """Reset another admin's authenticator (ActionError when refused); the link to enrol a
        new one is mailed to them if mail is set up."""
        link = await self.actions.reset_admin_totp(actor, admin_id, by_admin_id)
        found = await self.store.admins.by_id(admin_id)
        language = (found.language if found else None) or current_language()
        return SentLink(link, await mail_link(self.mailer, link, language))

    async def pending(self) -> list[PendingEnrolment]:
        """Admins who have not enrolled (yet, or again), with their newest link's expiry."""
        return await self.store.admin_enrolments.pending()

    # ---- the link's pages ------------------------------------------------------------------
    async def page(self, token: str) -> EnrolmentPage | None:
        """The link's page while it is live (opening it changes nothing); None when dead."""
        found = await self.store.admin_enrolments.live(digest(token), self.clock.now())
        if found is None:
            return None
        uri = (
            totp_uri(found.totp_secret, found.email, self.settings.supplier_name)
            if found.totp_secret
            else None
        )
        return EnrolmentPage(found.email, found.role, found.purpose, found.expires_at, uri)

    async def choose_password(self, token: str, password: str, confirm: str, ip: str) -> None:
        """The password step: an invited admin chooses theirs; one whose authenticator was reset
        proves theirs. Then the link shows a new TOTP secret (the same one if done again)."""
        password = password[: MAX_PASSWORD + 1]  # one more: a longer one is refused, not cut
        now = self.clock.now()
        found = await self.store.admin_enrolments.live(digest(token), now)
        if found is None:
            raise EnrolmentRefused(400, _(DEAD_LINK))
        password_hash: str | None = None
        if found.purpose == INVITATION:
            if password != confirm:
                raise EnrolmentRefused(400, _("The two passwords are not the same."))
            problem = admin_password_problem(password)
            if problem:
                raise EnrolmentRefused(400, problem)
            password_hash = await passwords.hash_async(password)
        else:
            await self._prove_password(found.admin_id, found.email, password, ip, now)
        chosen = await self.store.admin_enrolments.choose(
            digest(token), now, password_hash, pyotp.random_base32()
        )
        if not chosen:
            raise EnrolmentRefused(400, _(DEAD_LINK))

    async def _prove_password(
        self, admin_id: int, email: str, password: str, ip: str, now: int
    ) -> None:
        from idp.admin.signin import SignInRefused

        try:
            attempt = await self.signin.attempt(email, ip, now)
        except SignInRefused as refused:
            raise EnrolmentRefused(refused.status, refused.message) from None
        admin = await self.store.admins.by_id(admin_id)
        check = await self.signin.verify(password, admin.password_hash if admin else None, attempt)
        if not check.ok:
            await self.signin.security_event("admin_enrolment_failed", email, {}, ip)
            raise EnrolmentRefused(401, _("That password is not correct."))
        await self.signin.throttle.succeeded(attempt)

    async def confirm(
        self, token: str, code: str, ip: str, previous_cookie: str | None
    ) -> ConsoleSession:
        """A current code of the secret shown completes the enrolment, once; the admin is
        signed in."""
        now = self.clock.now()
        found = await self.store.admin_enrolments.live(digest(token), now)
        if found is None:
            raise EnrolmentRefused(400, _(DEAD_LINK))
        if found.totp_secret is None:
            raise EnrolmentRefused(400, _("Choose your password first."))
        step = matching_step(found.totp_secret, code[:MAX_CODE], now)
        if step is None:
            raise EnrolmentRefused(
                400, _("That code is not correct. Check the time on your phone and try again.")
            )
        try:
            admin = await self.actions.complete_enrolment(token, step, ip)
        except ActionError:
            raise EnrolmentRefused(400, _(DEAD_LINK)) from None
        return await self.signin.start_session(admin, ip, previous_cookie)
