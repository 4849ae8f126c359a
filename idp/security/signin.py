"""Checking a customer's email and password: the same rules wherever they sign in.

A wrong email and a wrong password cost the same (a dummy hash is checked) and read the same;
attempts are counted per account and per IP before the password is checked, and throttled
after a few failures; a legacy hash is upgraded on success; a new
sign-in session id is issued every time (no fixation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from idp.i18n import gettext as _
from idp.records import User
from idp.security import passwords
from idp.security.secrets import digest, new_secret

if TYPE_CHECKING:
    from idp.services import Services

MAX_PASSWORD = 1024


@dataclass(frozen=True)
class SignIn:
    """The outcome: a user and the raw id of their new sign-in session, or a status and message."""

    user: User | None = None
    raw_session_id: str | None = None
    status: int = 200
    error: str | None = None


THROTTLED_EVENT_WINDOW = 60  # a refused burst is one audit row per account, IP and minute


async def sign_in(
    svc: Services, email: str, password: str, ip: str, user_agent: str, context: dict[str, str]
) -> SignIn:
    email = email.strip()[:320]
    password = password[:MAX_PASSWORD]
    if not email or not password:
        return SignIn(status=400, error=_("Enter your email address and password."))

    now = svc.clock.now()
    attempt = await svc.throttle.attempt(email, ip, now)  # counted before the password is checked
    if attempt.wait:
        wait = attempt.wait
        await svc.security_event(
            "signin_throttled",
            email.lower(),
            {"wait": wait},
            ip,
            once_within=THROTTLED_EVENT_WINDOW,
        )
        message = _("Too many failed attempts. Please wait %(seconds)s seconds and try again.")
        return SignIn(status=429, error=message % {"seconds": wait})

    user = await svc.store.users.by_email(email)
    try:
        check = await passwords.verify_async(password, user.password_hash if user else None)
    except passwords.PasswordPoolFull:
        await svc.throttle.not_checked(attempt)
        raise
    if user is None or not check.ok or user.disabled:
        await svc.security_event("signin_failed", email.lower(), context, ip)
        return SignIn(status=401, error=_("The email address or password is not correct."))

    await svc.throttle.succeeded(attempt)
    if check.new_hash:  # a legacy or outdated hash: upgrade to argon2id now we know the password
        await svc.store.users.set_password_hash(user.id, check.new_hash, now)
    raw_session_id = new_secret(32)
    await svc.store.login_sessions.add(
        id_hash=digest(raw_session_id),
        user_id=user.id,
        auth_time=now,
        expires_at=now + svc.settings.login_session_seconds,
        ip=ip,
        user_agent=user_agent,
    )
    return SignIn(user=user, raw_session_id=raw_session_id)
