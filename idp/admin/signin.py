"""Signing in to the admin console: password and a TOTP code (RFC 6238), throttled, one console
session per sign-in, ended after `IDP_ADMIN_IDLE_SECONDS` idle or `IDP_ADMIN_SESSION_SECONDS`
after sign-in however active. Only an enrolled admin signs in (idp/admin/enrolment.py enrols
the invited ones, and those whose authenticator an owner reset). Also an admin's re-enrolment
of their own authenticator, which asks for the same proof.

The browser holds a random session id; only its digest is stored, so a copy of the database
signs nobody in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from idp.admin.actions import AdminActions
from idp.admin.actor import Actor
from idp.admin.totp import matching_step
from idp.config import Settings
from idp.i18n import gettext as _
from idp.mail import Mailer
from idp.records import Admin
from idp.security import passwords
from idp.security.clock import Clock
from idp.security.secrets import digest, new_secret
from idp.security.throttle import THROTTLED_EVENT_WINDOW, Attempt, SignInThrottle
from idp.store import Store

MAX_EMAIL = 320
MAX_PASSWORD = 1024
MAX_CODE = 16


class SecurityEvents(Protocol):
    """Records (and logs) a security event; Services.security_event is one."""

    async def __call__(
        self,
        kind: str,
        actor: str | None,
        detail: dict[str, Any],
        ip: str | None = None,
        once_within: int | None = None,
    ) -> None: ...


class SignInRefused(Exception):
    """Not signed in (or not re-enrolled): `status` 401 or 429, `message` for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ConsoleSession:
    """A new console session: its admin, and the raw id the browser keeps in its cookie."""

    admin: Admin
    cookie: str


class AdminSignIn:
    """The console's sign-in, sessions and the admin's own authenticator."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: Settings,
        throttle: SignInThrottle,
        actions: AdminActions,
        security_event: SecurityEvents,
        mailer: Mailer | None = None,
    ) -> None:
        from idp.admin.enrolment import AdminEnrolment  # it builds on this class

        self.store = store
        self.clock = clock
        self.settings = settings
        self.throttle = throttle
        self.actions = actions
        self.security_event = security_event
        self.enrolment = AdminEnrolment(self, mailer or Mailer(settings))

    async def signed_in_admin(self, cookie: str | None) -> Admin | None:
        """The admin of this live session, kept alive by this request; None when there is
        none, or it was idle too long, or it started too long ago."""
        if not cookie:
            return None
        return await self.store.admins.touch_session(
            digest(cookie),
            self.clock.now(),
            self.settings.admin_idle_seconds,
            self.settings.admin_session_seconds,
        )

    async def sign_in(
        self, email: str, password: str, code: str, ip: str, previous_cookie: str | None
    ) -> ConsoleSession:
        """A new session for the admin whose password and current code these are; raises
        SignInRefused. A wrong email, password or code read the same (no enumeration), and
        each code works once (its time step is remembered)."""
        email, password, code = email.strip()[:MAX_EMAIL], password[:MAX_PASSWORD], code[:MAX_CODE]
        now = self.clock.now()
        attempt = await self.attempt(email.lower(), ip, now)  # counted before checking
        found = await self.store.admins.by_email(email) if email else None
        if found is not None and not found.active:  # not enrolled (yet, or again), or disabled
            found = None
        check = await self.verify(password, found.password_hash if found else None, attempt)
        step = matching_step(found.totp_secret, code, now) if found else None
        if found is None or not check.ok or step is None:
            await self.security_event("admin_signin_failed", email.lower(), {}, ip)
            raise SignInRefused(401, _("The email, password or code is not correct."))
        if not await self.store.admins.use_totp_step(found.id, step):
            await self.security_event("admin_totp_reused", email.lower(), {}, ip)
            raise SignInRefused(401, _("That code was used already. Wait for the next one."))
        await self.throttle.succeeded(attempt)
        return await self.start_session(found, ip, previous_cookie)

    async def start_session(
        self, admin: Admin, ip: str, previous_cookie: str | None
    ) -> ConsoleSession:
        """A new console session for an admin who just proved who they are."""
        if previous_cookie:  # no session survives a sign-in: a planted or stale one is worthless
            await self.store.admins.end_session(digest(previous_cookie))
        cookie = new_secret(32)
        await self.store.admins.start_session(digest(cookie), admin.id, self.clock.now(), ip)
        await self.actions.audit("admin.signed_in", Actor(f"admin:{admin.email}", ip))
        return ConsoleSession(admin, cookie)

    async def sign_out(self, cookie: str | None) -> None:
        if cookie:
            await self.store.admins.end_session(digest(cookie))

    async def reenrol_totp(
        self, admin: Admin, password: str, code: str, ip: str, cookie: str
    ) -> str:
        """A new TOTP secret for the signed-in admin, after their password and a current code;
        returns the enrolment URI to show them once. Only ever for oneself: no admin, the
        owner included, sees another admin's secret. Their other sessions end."""
        password, code = password[:MAX_PASSWORD], code[:MAX_CODE]
        now = self.clock.now()
        attempt = await self.attempt(admin.email, ip, now)
        check = await self.verify(password, admin.password_hash, attempt)
        step = matching_step(admin.totp_secret, code, now)
        if (
            not check.ok
            or step is None
            or not await self.store.admins.use_totp_step(admin.id, step)
        ):
            await self.security_event("admin_totp_reenrol_failed", admin.email, {}, ip)
            raise SignInRefused(401, _("The password or code is not correct."))
        await self.throttle.succeeded(attempt)
        return await self.actions.reenrol_totp(
            Actor(f"admin:{admin.email}", ip),
            admin.id,
            digest(cookie),
            self.settings.supplier_name,
        )

    async def attempt(self, who: str, ip: str, now: int) -> Attempt:
        """Count the attempt; refuse it (429, one audit row a minute) while throttled."""
        attempt = await self.throttle.attempt(who, ip, now)
        if attempt.wait:
            await self.security_event(
                "admin_signin_throttled",
                who,
                {"wait": attempt.wait},
                ip,
                once_within=THROTTLED_EVENT_WINDOW,
            )
            raise SignInRefused(
                429,
                _("Too many failed attempts. Wait %(seconds)s seconds.")
                % {"seconds": attempt.wait},
            )
        return attempt

    async def verify(
        self, password: str, stored_hash: str | None, attempt: Attempt
    ) -> passwords.Verification:
        """The password check (a dummy hash when there is no admin: the same cost either way);
        an attempt the full pool never checked is not counted against anyone."""
        try:
            return await passwords.verify_async(password, stored_hash)
        except passwords.PasswordPoolFull:
            await self.throttle.not_checked(attempt)
            raise
