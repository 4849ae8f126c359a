"""Admin console sessions: the CSRF token and the session are replaced at sign-in, a session
ends `IDP_ADMIN_SESSION_SECONDS` after sign-in however active, and an admin re-enrols their own
authenticator (password + current code; the new secret shown once, to them only; audited)."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pyotp
from quart.testing import QuartClient

from tests.conftest import location
from tests.test_admin import ADMIN_PASSWORD, Admin, admin_form, make_admin, sign_in


def admin_cookie(response) -> str:  # type: ignore[no-untyped-def]
    cookies = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie"):
        cookies.load(header)
    return cookies["idp_admin"].value


async def test_sign_in_replaces_the_csrf_token(app, seeded, clock) -> None:
    admin = await make_admin(app, "owner")
    client = app.test_client()
    before = await admin_form(client, "/admin/login")
    assert location(await sign_in(client, admin, clock)) == "/admin"
    after = await admin_form(client, "/admin")
    assert after != before
    stale = await client.post("/admin/logout", form={"csrf_token": before})
    assert stale.status_code == 403  # a token read before sign-in is worth nothing after


async def test_sign_in_ends_the_session_the_browser_had(app, seeded, clock, store) -> None:
    admin = await make_admin(app, "owner")
    client = app.test_client()
    first = admin_cookie(await sign_in(client, admin, clock))
    clock.advance(30)
    second = admin_cookie(await sign_in(client, admin, clock))
    assert first != second
    other = app.test_client()  # someone who kept (or planted) the first cookie
    response = await other.get("/admin", headers={"Cookie": f"idp_admin={first}"})
    assert location(response) == "/admin/login"
    assert (await client.get("/admin")).status_code == 200


async def test_absolute_session_lifetime(app, seeded, clock) -> None:
    owner = app.test_client()
    assert location(await sign_in(owner, await make_admin(app, "owner"), clock)) == "/admin"
    for _ in range(32):  # active every 15 minutes less a second: never idle
        clock.advance(15 * 60 - 1)
        assert (await owner.get("/admin")).status_code == 200
    clock.advance(8 * 3600 - 32 * (15 * 60 - 1))  # 8 hours after sign-in
    assert location(await owner.get("/admin")) == "/admin/login"


async def test_absolute_session_lifetime_is_a_setting(settings) -> None:
    from idp.config import ConfigError, load_settings

    env = {"IDP_DATABASE_URL": settings.database_url}
    assert load_settings(env).admin_session_seconds == 8 * 3600
    assert load_settings({**env, "IDP_ADMIN_SESSION_SECONDS": "3600"}).admin_session_seconds == 3600
    try:
        load_settings({**env, "IDP_ADMIN_SESSION_SECONDS": "0"})
    except ConfigError:
        pass
    else:
        raise AssertionError("0 accepted")


async def reenrol(client: QuartClient, admin: Admin, clock, password: str = ADMIN_PASSWORD):  # type: ignore[no-untyped-def]
    csrf = await admin_form(client, "/admin/totp")
    code = pyotp.TOTP(admin.secret).at(clock.now())
    return await client.post(
        "/admin/totp", form={"csrf_token": csrf, "password": password, "code": code}
    )


async def test_an_admin_re_enrols_their_own_authenticator(app, seeded, clock, store) -> None:
    viewer = await make_admin(app, "viewer")
    client = app.test_client()
    assert location(await sign_in(client, viewer, clock)) == "/admin"
    elsewhere = app.test_client()
    clock.advance(30)
    assert location(await sign_in(elsewhere, viewer, clock)) == "/admin"
    clock.advance(30)  # a code of a later step than the one used to sign in

    refused = await reenrol(client, viewer, clock, password="not my password!")
    assert refused.status_code == 401
    assert (await store.admins.by_email(viewer.email)).totp_secret == viewer.secret

    clock.advance(30)
    response = await reenrol(client, viewer, clock)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    new_secret = (await store.admins.by_email(viewer.email)).totp_secret
    assert new_secret != viewer.secret
    body = await response.get_data(as_text=True)
    assert f"secret={new_secret}" in body  # shown once, to them
    assert (await client.get("/admin")).status_code == 200  # this session goes on
    assert location(await elsewhere.get("/admin")) == "/admin/login"  # others end

    events = await store.events.recent("admin.admin.totp_reenrolled")
    assert [(e["actor"], e["detail"]) for e in events] == [
        (f"admin:{viewer.email}", {"email": viewer.email})
    ]
    assert new_secret not in str(await store.events.recent())

    clock.advance(60)  # the new secret signs in; the old one does not
    assert (await sign_in(app.test_client(), viewer, clock)).status_code == 401
    renewed = Admin(viewer.email, new_secret)
    assert location(await sign_in(app.test_client(), renewed, clock)) == "/admin"


async def test_the_owner_never_sees_another_admins_secret(app, seeded, clock, store) -> None:
    viewer = await make_admin(app, "viewer")
    owner = await make_admin(app, "owner")
    viewer_client, owner_client = app.test_client(), app.test_client()
    assert location(await sign_in(viewer_client, viewer, clock)) == "/admin"
    assert location(await sign_in(owner_client, owner, clock)) == "/admin"
    clock.advance(30)
    assert (await reenrol(viewer_client, viewer, clock)).status_code == 200
    secret = (await store.admins.by_email(viewer.email)).totp_secret
    for path in ("/admin/admins", "/admin/audit", "/admin/totp", "/admin"):
        assert secret not in await (await owner_client.get(path)).get_data(as_text=True)
    # The owner's re-enrolment changes the owner's secret only.
    clock.advance(30)
    assert (await reenrol(owner_client, owner, clock)).status_code == 200
    assert (await store.admins.by_email(viewer.email)).totp_secret == secret
