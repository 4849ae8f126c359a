"""The console's sign-in as a use case, without Quart (idp/admin/signin.py): its decisions, the
sessions it starts and ends, and the security events it records."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from idp.admin.signin import AdminSignIn, SignInRefused
from tests.test_admin import ADMIN_PASSWORD, Admin, make_admin

# Use cases called directly, outside a request: their messages in English (conftest).
pytestmark = pytest.mark.usefixtures("english")

IP = "192.0.2.7"
NOT_CORRECT = "The email, password or code is not correct."


class Events:
    """Records security events as (kind, actor, detail, ip), in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, dict[str, Any], str | None]] = []

    async def __call__(
        self,
        kind: str,
        actor: str | None,
        detail: dict[str, Any],
        ip: str | None = None,
        once_within: int | None = None,
    ) -> None:
        self.seen.append((kind, actor, detail, ip))


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def signin(app, clock, events: Events) -> AdminSignIn:  # type: ignore[no-untyped-def]
    svc = app.extensions["idp"]
    return AdminSignIn(
        svc.store, clock, svc.settings, svc.admin_signin.throttle, svc.actions, events
    )


def code(admin: Admin, clock, seconds_later: int = 0) -> str:  # type: ignore[no-untyped-def]
    return pyotp.TOTP(admin.secret).at(clock.now() + seconds_later)


async def test_password_and_current_code_start_a_session(app, clock, signin, store) -> None:  # type: ignore[no-untyped-def]
    admin = await make_admin(app, "viewer")
    session = await signin.sign_in(admin.email, ADMIN_PASSWORD, code(admin, clock), IP, None)
    assert session.admin.email == admin.email and len(session.cookie) >= 32
    assert (await signin.signed_in_admin(session.cookie)).email == admin.email
    assert await signin.signed_in_admin("forged") is None
    assert await signin.signed_in_admin(None) is None
    [row] = await store.events.recent("admin.signed_in")
    assert (row["actor"], row["ip"]) == (f"admin:{admin.email}", IP)


@pytest.mark.parametrize("wrong", ["email", "password", "code"])
async def test_a_wrong_email_password_or_code_reads_the_same(  # type: ignore[no-untyped-def]
    app, clock, signin, events: Events, wrong: str
) -> None:
    admin = await make_admin(app, "viewer")
    email = "nobody@supplier.example" if wrong == "email" else admin.email
    password = "not the password" if wrong == "password" else ADMIN_PASSWORD
    given = "000000" if wrong == "code" else code(admin, clock)
    with pytest.raises(SignInRefused) as refused:
        await signin.sign_in(email, password, given, IP, None)
    assert (refused.value.status, refused.value.message) == (401, NOT_CORRECT)
    assert events.seen == [("admin_signin_failed", email, {}, IP)]


async def test_a_code_works_once(app, clock, signin, events: Events) -> None:  # type: ignore[no-untyped-def]
    admin = await make_admin(app, "viewer")
    await signin.sign_in(admin.email, ADMIN_PASSWORD, code(admin, clock), IP, None)
    with pytest.raises(SignInRefused) as refused:
        await signin.sign_in(admin.email, ADMIN_PASSWORD, code(admin, clock), IP, None)
    assert refused.value.status == 401
    assert refused.value.message == "That code was used already. Wait for the next one."
    assert events.seen == [("admin_totp_reused", admin.email, {}, IP)]


async def test_signing_in_ends_the_browsers_previous_session(app, clock, signin) -> None:  # type: ignore[no-untyped-def]
    admin = await make_admin(app, "owner")
    first = await signin.sign_in(admin.email, ADMIN_PASSWORD, code(admin, clock), IP, None)
    clock.advance(30)
    second = await signin.sign_in(admin.email, ADMIN_PASSWORD, code(admin, clock), IP, first.cookie)
    assert await signin.signed_in_admin(first.cookie) is None
    assert await signin.signed_in_admin(second.cookie) is not None
    await signin.sign_out(second.cookie)
    assert await signin.signed_in_admin(second.cookie) is None


async def test_idle_and_absolute_lifetime(app, clock, signin, settings) -> None:  # type: ignore[no-untyped-def]
    admin = await make_admin(app, "owner")
    idle = await signin.sign_in(admin.email, ADMIN_PASSWORD, code(admin, clock), IP, None)
    clock.advance(settings.admin_idle_seconds)
    assert await signin.signed_in_admin(idle.cookie) is None
    active = await signin.sign_in(admin.email, ADMIN_PASSWORD, code(admin, clock), IP, None)
    started = clock.now()
    while clock.now() - started < settings.admin_session_seconds - settings.admin_idle_seconds:
        clock.advance(settings.admin_idle_seconds - 1)
        assert await signin.signed_in_admin(active.cookie) is not None
    clock.advance(started + settings.admin_session_seconds - clock.now())
    assert await signin.signed_in_admin(active.cookie) is None


async def test_failures_are_throttled(app, clock, signin, events: Events) -> None:  # type: ignore[no-untyped-def]
    admin = await make_admin(app, "viewer")
    for _ in range(5):
        with pytest.raises(SignInRefused):
            await signin.sign_in(admin.email, ADMIN_PASSWORD, "000000", IP, None)
    with pytest.raises(SignInRefused) as refused:
        await signin.sign_in(admin.email, ADMIN_PASSWORD, code(admin, clock), IP, None)
    assert refused.value.status == 429
    assert refused.value.message.startswith("Too many failed attempts. Wait ")
    assert events.seen[-1][0] == "admin_signin_throttled"


async def test_reenrolment_needs_the_password_and_a_fresh_code(app, clock, signin, store) -> None:  # type: ignore[no-untyped-def]
    viewer = await make_admin(app, "viewer")
    session = await signin.sign_in(viewer.email, ADMIN_PASSWORD, code(viewer, clock), IP, None)
    me = await store.admins.by_email(viewer.email)
    with pytest.raises(SignInRefused) as refused:  # the code that signed in is spent
        await signin.reenrol_totp(me, ADMIN_PASSWORD, code(viewer, clock), IP, session.cookie)
    assert (refused.value.status, refused.value.message) == (
        401,
        "The password or code is not correct.",
    )
    clock.advance(30)
    uri = await signin.reenrol_totp(me, ADMIN_PASSWORD, code(viewer, clock), IP, session.cookie)
    renewed = (await store.admins.by_email(viewer.email)).totp_secret
    assert renewed != viewer.secret and f"secret={renewed}" in uri
    assert await signin.signed_in_admin(session.cookie) is not None  # this session goes on
