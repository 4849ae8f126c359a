"""Who is signed in: the customer's email and password checked the same way wherever they sign in,
and the sign-in session their browser holds (only its digest is stored).

A wrong email and a wrong password cost the same (a dummy hash is checked) and read the same;
attempts are counted per account and per IP before the password is checked, and throttled after a
few failures; a legacy hash is upgraded on success; a new sign-in session id is issued every time
(no fixation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from idp.i18n import gettext as _
from idp.i18n import wait_until
from idp.metrics import metrics
from idp.oauth.models import Subject
from idp.records import User
from idp.security import passwords
from idp.security.clock import Clock
from idp.security.events import SecurityLog
from idp.security.secrets import digest, new_secret
from idp.security.throttle import THROTTLED_EVENT_WINDOW, SignInThrottle
from idp.signin.backchannel import BackchannelLogout
from idp.store.sessions import LoginSessions
from idp.store.users import Users

MAX_PASSWORD = 1024


@dataclass(frozen=True)
class SignInResult:
    """A user and the raw id of their new sign-in session, or a status and message."""

    user: User | None = None
    raw_session_id: str | None = None
    status: int = 200
    error: str | None = None
    retry_after: int | None = None  # with a 429: the seconds to wait


class Customers:
    def __init__(
        self,
        users: Users,
        login_sessions: LoginSessions,
        throttle: SignInThrottle,
        events: SecurityLog,
        clock: Clock,
        login_session_seconds: int,
        backchannel: BackchannelLogout,
        zone: tzinfo,
    ) -> None:
        self.users = users
        self.login_sessions = login_sessions
        self.throttle = throttle
        self.events = events
        self.clock = clock
        self.login_session_seconds = login_session_seconds
        self.backchannel = backchannel
        self.zone = zone

    async def sign_in(
        self, email: str, password: str, ip: str, user_agent: str, context: dict[str, str]
    ) -> SignInResult:
        email = email.strip()[:320]
        password = password[:MAX_PASSWORD]
        if not email or not password:
            return SignInResult(status=400, error=_("Enter your email address and password."))

        now = self.clock.now()
        attempt = await self.throttle.attempt(email, ip, now)  # counted before the check
        if attempt.wait:
            wait = attempt.wait
            await self.events.record(
                "signin_throttled",
                email.lower(),
                {"wait": wait},
                ip,
                once_within=THROTTLED_EVENT_WINDOW,
            )
            metrics().signins.labels("throttled").inc()
            message = _("Too many failed attempts. Please try again in %(wait)s, at %(time)s.")
            return SignInResult(
                status=429, error=message % wait_until(wait, now, self.zone), retry_after=wait
            )

        user = await self.users.by_email(email)
        try:
            check = await passwords.verify_async(password, user.password_hash if user else None)
        except passwords.PasswordPoolFull:
            await self.throttle.not_checked(attempt)
            metrics().signins.labels("busy").inc()
            raise
        if user is None or not check.ok or user.disabled:
            metrics().signins.labels("failed").inc()
            await self.events.record("signin_failed", email.lower(), context, ip)
            return SignInResult(
                status=401, error=_("The email address or password is not correct.")
            )

        await self.throttle.succeeded(attempt)
        metrics().signins.labels("succeeded").inc()
        if check.new_hash:  # a legacy or outdated hash: upgrade to argon2id now we know it
            await self.users.set_password_hash(user.id, check.new_hash, now)
        raw_session_id = new_secret(32)
        await self.login_sessions.add(
            id_hash=digest(raw_session_id),
            user_id=user.id,
            auth_time=now,
            expires_at=now + self.login_session_seconds,
            ip=ip,
            user_agent=user_agent,
        )
        return SignInResult(user=user, raw_session_id=raw_session_id)

    async def signed_in(self, session_digest: str | None) -> Subject | None:
        """The customer whose sign-in session this is, if any and still allowed in."""
        if not session_digest:
            return None
        login = await self.login_sessions.get(session_digest, self.clock.now())
        if login is None:
            return None
        user = await self.users.by_id(login.user_id)
        if user is None or user.disabled:
            return None
        return Subject(user, login.auth_time)

    async def sign_out(self, session_digest: str | None) -> None:
        """End a sign-in session (the browser's cookie is the web layer's to delete), and tell
        the clients that asked to know (Back-Channel Logout)."""
        if not session_digest:
            return
        login = await self.login_sessions.get(session_digest, self.clock.now())
        await self.login_sessions.remove(session_digest)
        user = await self.users.by_id(login.user_id) if login else None
        if user is not None:
            await self.backchannel.signed_out(user)
