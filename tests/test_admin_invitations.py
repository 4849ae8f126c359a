"""The admin lifecycle by one-time links (idp/admin/accounts.py, idp/admin/enrolment.py): an
owner invites by email and role, the invited admin chooses their own password and enrols their
own authenticator; the link expires, works once, is replaced by a newer one and can be
withdrawn; until enrolled nobody signs in as them. An owner's reset of another admin's
authenticator ends their sessions and sends them through the same kind of link."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
import segno
from quart import Quart
from quart.testing import QuartClient

from idp.config import Settings
from idp.sandbox.mail import MailCatcher
from idp.security.clock import FrozenClock
from idp.store import Store
from tests.conftest import ConsoleInEnglish, location
from tests.test_admin import ADMIN_PASSWORD, Admin, admin_form, make_admin, sign_in
from tests.test_password_reset import free_port

NEW_EMAIL = "new@supplier.example"
NEW_PASSWORD = "the new admin's own password"
DEAD = "This link has expired or was already used."


@pytest.fixture
async def owner(app: Quart, seeded: Store, clock: FrozenClock) -> QuartClient:
    client = app.test_client()
    assert location(await sign_in(client, await make_admin(app, "owner"), clock)) == "/admin"
    return client


async def invite(owner: QuartClient, email: str = NEW_EMAIL, role: str = "operator") -> Any:
    csrf = await admin_form(owner, "/admin/admins")
    return await owner.post(
        "/admin/admins/invitations", form={"csrf_token": csrf, "email": email, "role": role}
    )


def link_of(page: str) -> str:
    """The path and query of the link shown once on the page."""
    found = re.search(r'<code class="secret" id="enrolment-link">([^<]+)</code>', page)
    assert found, page
    return html.unescape(found.group(1)).removeprefix("http://127.0.0.1:8000")


async def invited(owner: QuartClient, email: str = NEW_EMAIL, role: str = "operator") -> str:
    answer = await invite(owner, email, role)
    assert answer.status_code == 200, await answer.get_data(as_text=True)
    return link_of(await answer.get_data(as_text=True))


async def open_link(client: QuartClient, link: str) -> str:
    """Open the link: the token moves into the cookie; returns the page it leads to."""
    opened = await client.get(link)
    assert location(opened) == "/admin/enrol", await opened.get_data(as_text=True)
    page = await client.get("/admin/enrol")
    assert page.status_code == 200
    return await page.get_data(as_text=True)


async def choose_password(
    client: QuartClient, password: str = NEW_PASSWORD, confirm: str | None = None
) -> Any:
    csrf = await admin_form(client, "/admin/login")  # the page of a dead link has no form
    form = {"csrf_token": csrf, "password": password, "confirm": confirm or password}
    return await client.post("/admin/enrol/password", form=form)


def secret_on(page: str) -> str:
    uri = html.unescape(re.search(r'<code class="secret">([^<]+)</code>', page).group(1))  # type: ignore[union-attr]
    return re.search(r"secret=([A-Z2-7]+)", uri).group(1)  # type: ignore[union-attr]


async def confirm(client: QuartClient, code: str) -> Any:
    csrf = await admin_form(client, "/admin/login")
    return await client.post("/admin/enrol/confirm", form={"csrf_token": csrf, "code": code})


async def enrol(app: Quart, link: str, clock: FrozenClock) -> tuple[QuartClient, str]:
    """The whole enrolment in a browser of its own; that browser and the secret enrolled."""
    theirs = app.test_client()
    await open_link(theirs, link)
    assert location(await choose_password(theirs)) == "/admin/enrol"
    secret = secret_on(await (await theirs.get("/admin/enrol")).get_data(as_text=True))
    assert location(await confirm(theirs, pyotp.TOTP(secret).at(clock.now()))) == "/admin"
    return theirs, secret


async def password_sign_in(app: Quart, password: str, code: str) -> Any:
    client = app.test_client()
    csrf = await admin_form(client, "/admin/login")
    form = {"csrf_token": csrf, "email": NEW_EMAIL, "password": password, "code": code}
    return await client.post("/admin/login", form=form)


async def enrolment_rows(store: Store) -> list[tuple[Any, ...]]:
    from sqlalchemy import select

    from idp.store.tables import admin_enrolments

    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(
                admin_enrolments.c.admin_id,
                admin_enrolments.c.purpose,
                admin_enrolments.c.used_at,
                admin_enrolments.c.password_hash.is_not(None),
                admin_enrolments.c.totp_secret.is_not(None),
            ).order_by(admin_enrolments.c.id)
        )
        return [tuple(r) for r in rows]


# ---- an invitation, start to end ----------------------------------------------------------------
async def test_an_invited_admin_enrols_themselves_and_is_signed_in(
    app: Quart, owner: QuartClient, store: Store, clock: FrozenClock
) -> None:
    answer = await invite(owner, "New@Supplier.example", "operator")
    page = await answer.get_data(as_text=True)
    assert answer.status_code == 200 and "is invited as operator" in page
    link = link_of(page)
    assert re.fullmatch(r"/admin/enrol\?token=[\w-]{43}", link)
    [event] = await store.events.recent("admin.admin.invited")
    assert event["actor"] == "admin:owner@supplier.example"
    assert event["detail"] == {
        "email": NEW_EMAIL,
        "role": "operator",
        "expires_at": clock.now() + 72 * 3600,
    }
    assert link.split("=")[1] not in str(await enrolment_rows(store))  # only its SHA-256
    listing = await (await owner.get("/admin/admins")).get_data(as_text=True)
    assert NEW_EMAIL in listing.split("Waiting to enrol")[1]
    invitee = await store.admins.by_email(NEW_EMAIL)
    assert (invitee.status, invitee.role, invitee.password_hash) == ("invited", "operator", "")

    theirs = app.test_client()
    first = await open_link(theirs, link)
    assert "Welcome, new@supplier.example" in first and "Choose this password" in first
    assert (await store.admins.by_email(NEW_EMAIL)) == invitee  # opening changed nothing
    assert await enrolment_rows(store) == [(invitee.id, "invitation", None, False, False)]

    refused = {
        "The two passwords are not the same.": await choose_password(theirs, NEW_PASSWORD, "x"),
        "at least 12 characters": await choose_password(theirs, "short"),
    }
    for message, answer in refused.items():
        assert answer.status_code == 400 and message in await answer.get_data(as_text=True)
    assert location(await choose_password(theirs)) == "/admin/enrol"
    qr_page = await (await theirs.get("/admin/enrol")).get_data(as_text=True)
    secret = secret_on(qr_page)
    uri = html.unescape(re.search(r'<code class="secret">([^<]+)</code>', qr_page).group(1))  # type: ignore[union-attr]
    src = html.unescape(re.search(r'<img src="([^"]+)" alt="QR code', qr_page).group(1))  # type: ignore[union-attr]
    assert src == segno.make(uri, error="m").svg_data_uri(scale=4, border=4)
    assert (await store.admins.by_email(NEW_EMAIL)) == invitee  # not yet: no code confirmed
    assert location(await choose_password(theirs)) == "/admin/enrol"  # again: the same secret
    assert secret_on(await (await theirs.get("/admin/enrol")).get_data(as_text=True)) == secret

    wrong = await confirm(theirs, "000000")
    assert wrong.status_code == 400 and "not correct" in await wrong.get_data(as_text=True)
    code = pyotp.TOTP(secret).at(clock.now())
    done = await confirm(theirs, code)
    assert location(done) == "/admin"
    assert "idp_admin=" in done.headers["Set-Cookie"]
    assert (await theirs.get("/admin/admins")).status_code == 200
    enrolled = await store.admins.by_email(NEW_EMAIL)
    assert (enrolled.status, enrolled.role, enrolled.totp_secret) == ("active", "operator", secret)
    [event] = await store.events.recent("admin.admin.enrolled")
    assert (event["actor"], event["detail"]) == (
        f"admin:{NEW_EMAIL}",
        {"email": NEW_EMAIL, "role": "operator", "purpose": "invitation"},
    )
    # The link is used up; the code that confirmed is used too; the password works from now on.
    dead = await app.test_client().get(link)
    assert dead.status_code == 400 and DEAD in await dead.get_data(as_text=True)
    again = await confirm(theirs, code)
    assert again.status_code == 400
    assert (await password_sign_in(app, NEW_PASSWORD, code)).status_code == 401  # code used
    clock.advance(30)
    later = await password_sign_in(app, NEW_PASSWORD, pyotp.TOTP(secret).at(clock.now()))
    assert location(later) == "/admin"
    listing = await (await owner.get("/admin/admins")).get_data(as_text=True)
    assert NEW_EMAIL not in listing.split("Waiting to enrol")[1]


async def test_an_invited_admin_cannot_sign_in(
    app: Quart, owner: QuartClient, store: Store, clock: FrozenClock
) -> None:
    """Not before enrolling, not with the password chosen on the link's page before a code
    confirmed it, and not with an empty password."""
    theirs = app.test_client()
    await open_link(theirs, await invited(owner))
    assert location(await choose_password(theirs)) == "/admin/enrol"
    secret = secret_on(await (await theirs.get("/admin/enrol")).get_data(as_text=True))
    signin = app.extensions["idp"].admin_signin
    from idp.admin.signin import SignInRefused

    for password, totp in ((NEW_PASSWORD, secret), ("", secret)):
        with pytest.raises(SignInRefused) as refused:
            await signin.sign_in(NEW_EMAIL, password, pyotp.TOTP(totp).now(), "192.0.2.1", None)
        assert refused.value.status == 401
    invitee = await store.admins.by_email(NEW_EMAIL)
    assert (invitee.status, invitee.password_hash, invitee.totp_secret) == ("invited", "", "")


# ---- the link's rules ---------------------------------------------------------------------------
async def test_the_link_expires(
    app: Quart, owner: QuartClient, store: Store, clock: FrozenClock
) -> None:
    link = await invited(owner)
    theirs = app.test_client()
    await open_link(theirs, link)
    clock.advance(72 * 3600 - 1)
    assert (await theirs.get("/admin/enrol")).status_code == 200
    assert location(await choose_password(theirs)) == "/admin/enrol"
    secret = secret_on(await (await theirs.get("/admin/enrol")).get_data(as_text=True))
    clock.advance(1)
    assert (await theirs.get("/admin/enrol")).status_code == 400
    assert (await app.test_client().get(link)).status_code == 400
    late = await theirs.post(
        "/admin/enrol/confirm",
        form={
            "csrf_token": await admin_form(theirs, "/admin/login"),
            "code": pyotp.TOTP(secret).at(clock.now()),
        },
    )
    assert late.status_code == 400 and DEAD in await late.get_data(as_text=True)
    again = app.test_client()  # the owner's session has long ended
    me = await store.admins.by_email("owner@supplier.example")
    assert location(await sign_in(again, Admin(me.email, me.totp_secret), clock)) == "/admin"
    listing = await (await again.get("/admin/admins")).get_data(as_text=True)
    assert "expired (" in listing.split("Waiting to enrol")[1]


def test_the_link_lifetime_is_a_setting(settings: Settings) -> None:
    from idp.config import ConfigError, load_settings

    env = {"IDP_DATABASE_URL": settings.database_url}
    assert load_settings(env).admin_invitation_seconds == 72 * 3600
    hours = load_settings({**env, "IDP_ADMIN_INVITATION_SECONDS": "3600"})
    assert hours.admin_invitation_seconds == 3600
    with pytest.raises(ConfigError, match="IDP_ADMIN_INVITATION_SECONDS"):
        load_settings({**env, "IDP_ADMIN_INVITATION_SECONDS": "0"})


async def test_a_newer_invitation_replaces_the_older(
    app: Quart, owner: QuartClient, store: Store, clock: FrozenClock
) -> None:
    older = await invited(owner, role="viewer")
    early = app.test_client()
    await open_link(early, older)  # opened, even half done, before the newer one was sent
    assert location(await choose_password(early)) == "/admin/enrol"
    newer = await invited(owner, role="owner")
    assert newer != older
    assert (await app.test_client().get(older)).status_code == 400
    assert (await early.get("/admin/enrol")).status_code == 400
    _, _secret = await enrol(app, newer, clock)
    assert (await store.admins.by_email(NEW_EMAIL)).role == "owner"
    assert [e["detail"]["role"] for e in await store.events.recent("admin.admin.invited")] == [
        "owner",
        "viewer",
    ]


async def test_an_enrolled_admin_cannot_be_invited_again(
    app: Quart, owner: QuartClient, store: Store
) -> None:
    answer = await invite(owner, "owner@supplier.example", "viewer")
    assert answer.status_code == 400
    assert "exists already" in await answer.get_data(as_text=True)
    assert (await store.admins.by_email("owner@supplier.example")).role == "owner"
    for email in ("not an address", "a b@c.example", "x" * 320 + "@s.example"):
        assert (await invite(owner, email)).status_code == 400
    assert (await invite(owner, role="superuser")).status_code == 400
    assert await store.events.recent("admin.admin.invited") == []


async def test_a_revoked_invitation_is_dead(
    app: Quart, owner: QuartClient, store: Store, clock: FrozenClock
) -> None:
    link = await invited(owner)
    theirs = app.test_client()
    await open_link(theirs, link)
    invitee = await store.admins.by_email(NEW_EMAIL)
    csrf = await admin_form(owner, "/admin/admins")
    answer = await owner.post(
        f"/admin/admins/invitations/{invitee.id}/revoke", form={"csrf_token": csrf}
    )
    assert location(answer) == "/admin/admins"
    assert await store.admins.by_email(NEW_EMAIL) is None
    assert await enrolment_rows(store) == []
    assert (await theirs.get("/admin/enrol")).status_code == 400
    assert (await app.test_client().get(link)).status_code == 400
    [event] = await store.events.recent("admin.admin.invitation_revoked")
    assert event["detail"] == {"email": NEW_EMAIL, "role": "operator"}
    # Only an open invitation is revoked, never an enrolled admin.
    me = await store.admins.by_email("owner@supplier.example")
    refused = await owner.post(
        f"/admin/admins/invitations/{me.id}/revoke", form={"csrf_token": csrf}
    )
    assert refused.status_code == 400 and await store.admins.by_id(me.id) is not None


async def test_an_invited_owner_does_not_count_as_an_owner(
    app: Quart, owner: QuartClient, store: Store, clock: FrozenClock
) -> None:
    link = await invited(owner, role="owner")
    me = await store.admins.by_email("owner@supplier.example")
    csrf = await admin_form(owner, "/admin/admins")
    step_down = await owner.post(
        f"/admin/admins/{me.id}/role", form={"csrf_token": csrf, "role": "viewer"}
    )
    assert step_down.status_code == 400 and "last owner" in await step_down.get_data(as_text=True)
    await enrol(app, link, clock)
    step_down = await owner.post(
        f"/admin/admins/{me.id}/role", form={"csrf_token": csrf, "role": "viewer"}
    )
    assert location(step_down) == "/admin/admins"


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_only_an_owner_invites_revokes_and_resets(
    app: Quart, owner: QuartClient, store: Store, clock: FrozenClock, role: str
) -> None:
    await invited(owner)
    invitee = await store.admins.by_email(NEW_EMAIL)
    other = await make_admin(app, role)
    client = app.test_client()
    await sign_in(client, other, clock)
    me = await store.admins.by_email("owner@supplier.example")
    csrf = await admin_form(client, "/admin")
    before = (await store.admins.all(), await enrolment_rows(store))
    for path, form in (
        ("/admin/admins/invitations", {"email": "x@supplier.example", "role": "owner"}),
        (f"/admin/admins/invitations/{invitee.id}/revoke", {}),
        (f"/admin/admins/{me.id}/reset-totp", {"confirm": "yes"}),
    ):
        assert (await client.post(path, form={"csrf_token": csrf, **form})).status_code == 403
    assert (await store.admins.all(), await enrolment_rows(store)) == before
    page = await (await client.get("/admin/admins")).get_data(as_text=True)
    assert "Revoke" not in page and "Invite" not in page and "Reset authenticator" not in page


# ---- an owner resets another admin's authenticator ----------------------------------------------
async def test_a_reset_ends_their_sessions_until_they_enrol_again(
    app: Quart, owner: QuartClient, store: Store, clock: FrozenClock
) -> None:
    operator = await make_admin(app, "operator")
    theirs = app.test_client()
    await sign_in(theirs, operator, clock)
    assert (await theirs.get("/admin")).status_code == 200
    target = await store.admins.by_email(operator.email)
    csrf = await admin_form(owner, "/admin/admins")
    unconfirmed = await owner.post(
        f"/admin/admins/{target.id}/reset-totp", form={"csrf_token": csrf}
    )
    assert unconfirmed.status_code == 400
    assert (await store.admins.by_id(target.id)) == target
    answer = await owner.post(
        f"/admin/admins/{target.id}/reset-totp", form={"csrf_token": csrf, "confirm": "yes"}
    )
    page = await answer.get_data(as_text=True)
    assert answer.status_code == 200 and "The authenticator of operator@" in page
    link = link_of(page)
    assert operator.secret not in page  # the owner never sees a secret
    assert location(await theirs.get("/admin")) == "/admin/login"  # their session ended
    reset = await store.admins.by_id(target.id)
    assert (reset.status, reset.totp_secret, reset.password_hash) == (
        "totp_reset",
        "",
        target.password_hash,
    )
    [event] = await store.events.recent("admin.admin.totp_reset")
    assert event["detail"] == {"email": operator.email, "expires_at": clock.now() + 72 * 3600}
    clock.advance(30)
    assert (await sign_in(app.test_client(), operator, clock)).status_code == 401  # old secret
    listing = await (await owner.get("/admin/admins")).get_data(as_text=True)
    assert "new authenticator" in listing.split("Waiting to enrol")[1]

    # The link asks for their password (not a new one), throttled like a sign-in.
    page = await open_link(theirs, link)
    assert "Confirm with your password" in page and "confirm" not in re.findall(
        r'name="(\w+)"', page
    )
    wrong = await choose_password(theirs, "not their password")
    assert wrong.status_code == 401
    assert (await store.events.recent("admin_enrolment_failed"))[0]["actor"] == operator.email
    assert location(await choose_password(theirs, ADMIN_PASSWORD)) == "/admin/enrol"
    secret = secret_on(await (await theirs.get("/admin/enrol")).get_data(as_text=True))
    assert secret != operator.secret
    assert location(await confirm(theirs, pyotp.TOTP(secret).at(clock.now()))) == "/admin"
    back = await store.admins.by_id(target.id)
    assert (back.status, back.totp_secret, back.password_hash) == (
        "active",
        secret,
        target.password_hash,
    )
    [enrolled] = await store.events.recent("admin.admin.enrolled")
    assert enrolled["detail"]["purpose"] == "totp_reset"


async def test_an_owner_cannot_reset_their_own_or_an_invitees_authenticator(
    app: Quart, owner: QuartClient, store: Store
) -> None:
    await invited(owner)
    me = await store.admins.by_email("owner@supplier.example")
    invitee = await store.admins.by_email(NEW_EMAIL)
    csrf = await admin_form(owner, "/admin/admins")
    for target in (me.id, invitee.id, 9999):
        answer = await owner.post(
            f"/admin/admins/{target}/reset-totp", form={"csrf_token": csrf, "confirm": "yes"}
        )
        assert answer.status_code == 400
    assert (await store.admins.by_id(me.id)) == me
    assert (await owner.get("/admin")).status_code == 200
    assert await store.events.recent("admin.admin.totp_reset") == []


async def test_the_reset_password_step_is_throttled(
    app: Quart, owner: QuartClient, store: Store, clock: FrozenClock
) -> None:
    operator = await make_admin(app, "operator")
    target = await store.admins.by_email(operator.email)
    csrf = await admin_form(owner, "/admin/admins")
    answer = await owner.post(
        f"/admin/admins/{target.id}/reset-totp", form={"csrf_token": csrf, "confirm": "yes"}
    )
    theirs = app.test_client()
    await open_link(theirs, link_of(await answer.get_data(as_text=True)))
    for _ in range(5):
        assert (await choose_password(theirs, "wrong password!")).status_code == 401
    assert (await choose_password(theirs, ADMIN_PASSWORD)).status_code == 429


# ---- the link by mail ---------------------------------------------------------------------------
@pytest.fixture
def catcher() -> Iterator[MailCatcher]:
    catcher = MailCatcher(free_port())
    catcher.start()
    yield catcher
    catcher.stop()


async def test_with_mail_set_up_the_link_is_also_mailed(
    settings: Settings, catcher: MailCatcher, clock: FrozenClock
) -> None:
    from idp.app import create_app

    app = create_app(
        settings.with_overrides(
            smtp_host="127.0.0.1", smtp_port=catcher.port, smtp_security="none"
        ),
        clock,
    )
    app.test_client_class = ConsoleInEnglish
    async with app.test_app():
        store: Store = app.extensions["idp"].store
        client = app.test_client()
        await sign_in(client, await make_admin(app, "owner"), clock)
        answer = await invite(client)
        page = await answer.get_data(as_text=True)
        assert f"It was also mailed to {NEW_EMAIL}." in page
        [mail] = catcher.messages
        assert mail["to"] == [NEW_EMAIL]
        assert mail["subject"] == f"You are invited to the {settings.supplier_name} admin console"
        link = "http://127.0.0.1:8000" + link_of(page)
        assert link in mail["text"] and "as operator" in mail["text"]
        assert link.replace("&", "&amp;") in mail["html"]
        assert store is not None


async def test_a_mail_that_cannot_go_out_is_said(settings: Settings, clock: FrozenClock) -> None:
    from idp.app import create_app

    nobody = settings.with_overrides(
        smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none"
    )
    app = create_app(nobody, clock)
    app.test_client_class = ConsoleInEnglish
    async with app.test_app():
        client = app.test_client()
        await sign_in(client, await make_admin(app, "owner"), clock)
        page = await (await invite(client)).get_data(as_text=True)
        assert f"It could not be mailed to {NEW_EMAIL}" in page
        assert link_of(page).startswith("/admin/enrol?token=")
