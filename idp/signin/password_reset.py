"""The built-in "Forgot your password?": a reset link by mail, then a new password.

- The request page answers the same whatever the address, and at once: the lookup, the link and
  the mail happen after the answer, so neither the words nor the time tell whether an address
  has an account.
- A link is a random token (only its SHA-256 is stored), works once, for IDP_PASSWORD_RESET_
  SECONDS, and only the newest one per customer works; one mail a minute per customer at most.
- Opening the link changes nothing (mail scanners open links); the new password is set by a
  POST, which also ends every sign-in session and revokes every token of the customer, in the
  same transaction.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from idp.config import Settings
from idp.i18n import gettext as _
from idp.i18n import set_language
from idp.mail import Mailer
from idp.security import passwords
from idp.security.clock import Clock
from idp.security.events import SecurityLog
from idp.security.secrets import digest, new_secret
from idp.security.throttle import RateLimit
from idp.store import Store

log = logging.getLogger("idp")
MIN_PASSWORD = 12  # a password the customer chooses (NIST SP 800-63B §3.1.1.2)
MAX_PASSWORD = 1024
MAIL_INTERVAL = 60  # seconds between two links for one customer


@dataclass(frozen=True)
class ResetRefused:
    status: int
    message: str


def new_password_problem(password: str, confirm: str, email: str) -> str | None:
    """Why the customer cannot choose this password, in their language; None when they can."""
    if password != confirm:
        return _("The two passwords are not the same.")
    if len(password) < MIN_PASSWORD:
        return _("Choose a password of at least %(count)s characters.") % {"count": MIN_PASSWORD}
    if len(password) > MAX_PASSWORD:
        return _("Choose a password of at most %(count)s characters.") % {"count": MAX_PASSWORD}
    if email.split("@")[0].lower() in password.lower():
        return _("Choose a password that does not contain your email address.")
    return None


class PasswordReset:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        mailer: Mailer,
        per_ip: RateLimit,
        events: SecurityLog,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.mailer = mailer
        self.per_ip = per_ip
        self.events = events
        self.clock = clock
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return self.mailer.configured

    async def request(self, email: str, ip: str, language: str) -> int:
        """Take a request for a reset link; 0, or the seconds this network must wait first.
        Whether a mail goes out is decided after the answer (see the module's docstring)."""
        wait = await self.per_ip.wait(ip, self.clock.now())
        if wait:
            return wait
        task = asyncio.create_task(self._send_link(email.strip()[:320], ip, language))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        return 0

    async def _send_link(self, email: str, ip: str, language: str) -> None:
        try:
            user = await self.store.users.by_email(email) if email else None
            if user is None or user.disabled:
                return
            token, now = new_secret(32), self.clock.now()
            issued = await self.store.password_resets.issue(
                user_id=user.id,
                token_hash=digest(token),
                now=now,
                expires_at=now + self.settings.password_reset_seconds,
                ip=ip,
                not_since=now - MAIL_INTERVAL,
            )
            if not issued:
                return
            set_language(language)  # this task's own context: the mail's language
            mail = self.mailer.render(
                user.email,
                "password_reset",
                name=user.name,
                # In the query string, which no log line records (web/hardening.py).
                link=self.settings.url(f"/password/reset?token={token}&language={language}"),
                minutes=self.settings.password_reset_seconds // 60,
            )
            await self.mailer.send(mail)
        except Exception:
            log.exception("a password-reset link could not be sent")

    async def usable(self, token: str) -> bool:
        """Whether a link still works (opening it changes nothing)."""
        return await self.store.password_resets.live(digest(token), self.clock.now()) is not None

    async def complete(
        self, token: str, password: str, confirm: str, ip: str
    ) -> ResetRefused | None:
        """Set the new password: the link used up, every sign-in session ended and every token
        revoked, in one transaction. None when done."""
        now = self.clock.now()
        user_id = await self.store.password_resets.live(digest(token), now)
        user = await self.store.users.by_id(user_id) if user_id is not None else None
        if user is None or user.disabled:
            return ResetRefused(400, _("This link has expired or was already used."))
        problem = new_password_problem(password, confirm, user.email)
        if problem:
            return ResetRefused(400, problem)
        password_hash = await passwords.hash_async(password)
        async with self.store.transaction() as tx:
            if await tx.password_resets.use(digest(token), now) != user.id:
                return ResetRefused(400, _("This link has expired or was already used."))
            await tx.users.set_password_hash(user.id, password_hash, now)
            await tx.login_sessions.remove_for_user(user.id)
            await tx.grants.revoke_for_user(user.id, now)
        await self.events.record("password_reset", user.email.lower(), {}, ip)
        return None

    async def close(self) -> None:
        """Let the links being sent go out (bounded in time) before the process ends."""
        if self._sending:
            await asyncio.wait(self._sending, timeout=15)
