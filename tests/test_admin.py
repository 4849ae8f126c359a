"""The admin console: TOTP sign-in, idle timeout, CSRF, roles (forbidden changes nothing) and
an audit row for every change."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pyotp
import pytest
from quart.testing import QuartClient

from idp.admin.actions import Actor
from tests.conftest import (
    REDIRECT_URI,
    Flow,
    add_client,
    csrf_of,
    failed_handoff,
    location,
    query_of,
)

ADMIN_PASSWORD = "admin password 0123"
NEW_URI = "https://nox.example/oauth/callback-2"


@dataclass
class Admin:
    email: str
    secret: str


async def make_admin(app, role: str) -> Admin:  # type: ignore[no-untyped-def]
    services = app.extensions["idp"]
    email = f"{role}@supplier.example"
    await services.actions.add_admin(Actor("test"), email, role, ADMIN_PASSWORD, "Test")
    found = await services.store.admins.by_email(email)
    return Admin(email, found.totp_secret)


async def admin_form(client: QuartClient, path: str) -> str:
    return csrf_of(await (await client.get(path)).get_data(as_text=True))


async def sign_in(client: QuartClient, admin: Admin, clock, code: str | None = None):  # type: ignore[no-untyped-def]
    csrf = await admin_form(client, "/admin/login")
    code = code or pyotp.TOTP(admin.secret).at(clock.now())
    return await client.post(
        "/admin/login",
        form={"csrf_token": csrf, "email": admin.email, "password": ADMIN_PASSWORD, "code": code},
    )


@pytest.fixture
async def owner(app, seeded, clock):  # type: ignore[no-untyped-def]
    admin = await make_admin(app, "owner")
    client = app.test_client()
    assert location(await sign_in(client, admin, clock)) == "/admin"
    return client


# ---- signing in ------------------------------------------------------------------------------
async def test_sign_in_needs_password_and_current_code(app, seeded, clock, store) -> None:
    admin = await make_admin(app, "viewer")
    client = app.test_client()
    wrong_code = await sign_in(client, admin, clock, code="000000")
    assert wrong_code.status_code == 401
    old_code = pyotp.TOTP(admin.secret).at(clock.now() - 120)
    assert (await sign_in(client, admin, clock, code=old_code)).status_code == 401
    ok = await sign_in(client, admin, clock)
    assert location(ok) == "/admin"
    cookie = ok.headers["Set-Cookie"]
    assert "idp_admin=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/admin" in cookie
    kinds = [e["kind"] for e in await store.events.recent()]
    assert kinds.count("admin_signin_failed") == 2 and "admin.signed_in" in kinds


async def test_a_code_is_accepted_only_once(app, seeded, clock, store) -> None:
    admin = await make_admin(app, "viewer")
    code = pyotp.TOTP(admin.secret).at(clock.now())
    assert location(await sign_in(app.test_client(), admin, clock, code=code)) == "/admin"
    reused = await sign_in(app.test_client(), admin, clock, code=code)
    assert reused.status_code == 401
    assert (await store.events.recent("admin_totp_reused"))[0]["actor"] == admin.email


async def test_wrong_password_with_right_code(app, seeded, clock) -> None:
    admin = await make_admin(app, "viewer")
    client = app.test_client()
    csrf = await admin_form(client, "/admin/login")
    response = await client.post(
        "/admin/login",
        form={
            "csrf_token": csrf,
            "email": admin.email,
            "password": "wrong password!",
            "code": pyotp.TOTP(admin.secret).at(clock.now()),
        },
    )
    assert response.status_code == 401


async def test_admin_sign_in_is_throttled(app, seeded, clock) -> None:
    admin = await make_admin(app, "viewer")
    client = app.test_client()
    for _ in range(5):
        await sign_in(client, admin, clock, code="000000")
    assert (await sign_in(client, admin, clock)).status_code == 429


async def test_pages_need_a_session(client, seeded) -> None:
    for path in ("/admin", "/admin/clients", "/admin/audit", "/admin/customers"):
        assert location(await client.get(path)) == "/admin/login"


async def test_idle_timeout(app, owner, clock) -> None:
    clock.advance(14 * 60)
    assert (await owner.get("/admin")).status_code == 200  # activity keeps it alive
    clock.advance(14 * 60)
    assert (await owner.get("/admin")).status_code == 200
    clock.advance(15 * 60)
    assert location(await owner.get("/admin")) == "/admin/login"


# ---- CSRF --------------------------------------------------------------------------------------
@pytest.mark.parametrize("token", [None, "forged"])
async def test_forms_without_the_csrf_token_change_nothing(owner, store, token) -> None:
    form = {"uri": NEW_URI}
    if token:
        form["csrf_token"] = token
    response = await owner.post("/admin/clients/nox/redirect-uris", form=form)
    assert response.status_code == 403
    assert (await store.clients.get("nox")).redirect_uris == [REDIRECT_URI]


# ---- roles: allowed actions change things and are audited; forbidden ones change nothing -------
async def customer_id(store) -> int:  # type: ignore[no-untyped-def]
    return (await store.users.by_email("ada@example.com")).id


ACTIONS = {
    # name: (needed role, path, form, audit kind, check that the change happened)
    "add_redirect_uri": (
        "owner",
        "/admin/clients/nox/redirect-uris",
        {"uri": NEW_URI},
        "admin.redirect_uri.added",
    ),
    "remove_redirect_uri": (
        "owner",
        "/admin/clients/nox/redirect-uris/remove",
        {"uri": REDIRECT_URI},
        "admin.redirect_uri.removed",
    ),
    "add_post_logout_uri": (
        "owner",
        "/admin/clients/nox/post-logout-uris",
        {"uri": NEW_URI},
        "admin.post_logout_redirect_uri.added",
    ),
    "rename_client": (
        "owner",
        "/admin/clients/nox",
        {"name": "NOX Renamed"},
        "admin.client.updated",
    ),
    "rotate_secret": (
        "owner",
        "/admin/clients/nox/rotate-secret",
        {"confirm": "yes"},
        "admin.client.secret_rotated",
    ),
    "disable_client": (
        "owner",
        "/admin/clients/nox/disable",
        {"disabled": "yes", "confirm": "yes"},
        "admin.client.disabled",
    ),
    "create_client": (
        "owner",
        "/admin/clients",
        {"client_id": "app2", "name": "App", "redirect_uris": "https://app.example/cb"},
        "admin.client.created",
    ),
    "upload_terms": (
        "owner",
        "/admin/terms",
        {"version": "2026-02", "language": "nl", "body": "# Nieuw"},
        "admin.terms.uploaded",
    ),
    "invite_admin": (
        "owner",
        "/admin/admins/invitations",
        {"email": "new@supplier.example", "role": "viewer"},
        "admin.admin.invited",
    ),
    "disable_customer": (
        "operator",
        "/admin/customers/{user}/disable",
        {"disabled": "yes", "confirm": "yes"},
        "admin.customer.disabled",
    ),
    "clear_throttle": (
        "operator",
        "/admin/customers/{user}/clear-throttle",
        {},
        "admin.customer.throttle_cleared",
    ),
    "retry_handoff": ("operator", "/admin/outbox/h1/retry", {}, "admin.outbox.retried"),
}


async def snapshot(store) -> tuple:  # type: ignore[no-untyped-def]
    client = await store.clients.get("nox")
    user = await store.users.by_email("ada@example.com")
    return (
        client,
        await store.clients.get("app2"),
        await store.terms.versions(),
        [a.email for a in await store.admins.all()],
        user.disabled,
        await store.throttles.get(["account:ada@example.com"]),
        await store.outbox.get("h1"),
    )


@pytest.mark.parametrize("role", ["viewer", "operator", "owner"])
@pytest.mark.parametrize("name", sorted(ACTIONS))
async def test_role_matrix(app, seeded, store, clock, role: str, name: str) -> None:
    needed, path, form, kind = ACTIONS[name]
    path = path.format(user=await customer_id(store))
    await failed_handoff(store, "h1", clock.now())
    await store.throttles.reserve("account:ada@example.com", clock.now(), lambda f, _: (0, f + 1))
    admin = await make_admin(app, role)
    client = app.test_client()
    await sign_in(client, admin, clock)
    before = await snapshot(store)
    csrf = await admin_form(client, "/admin")
    response = await client.post(path, form={"csrf_token": csrf, **form})
    allowed = ["viewer", "operator", "owner"].index(role) >= ["viewer", "operator", "owner"].index(
        needed
    )
    audited = [e for e in await store.events.recent(kind) if e["actor"] == f"admin:{admin.email}"]
    if allowed:
        assert response.status_code in (200, 302), await response.get_data(as_text=True)
        assert await snapshot(store) != before
        [event] = audited
        assert event["actor"] == f"admin:{admin.email}"
        assert event["ip"]
    else:
        assert response.status_code == 403
        assert await snapshot(store) == before
        assert audited == []
        assert (await store.events.recent("admin.forbidden"))[0]["detail"]["needed"] == needed


@pytest.mark.parametrize(
    "path",
    [
        "/admin",
        "/admin/clients",
        "/admin/clients/nox",
        "/admin/terms",
        "/admin/terms/2026-01/nl",
        "/admin/customers?q=ada",
        "/admin/customers/1",
        "/admin/outbox",
        "/admin/audit?kind=admin.",
        "/admin/settings",
        "/admin/admins",
    ],
)
async def test_a_viewer_reads_everything(app, seeded, clock, path: str) -> None:
    admin = await make_admin(app, "viewer")
    client = app.test_client()
    await sign_in(client, admin, clock)
    response = await client.get(path)
    assert response.status_code == 200


# ---- what the changes do -------------------------------------------------------------------------
async def test_a_new_redirect_uri_works_at_once_and_a_removed_one_stops(
    owner, client, store
) -> None:
    flow = Flow(client)
    assert (await flow.authorize(redirect_uri=NEW_URI)).status_code == 400
    csrf = await admin_form(owner, "/admin/clients/nox")
    await owner.post("/admin/clients/nox/redirect-uris", form={"csrf_token": csrf, "uri": NEW_URI})
    assert location(await flow.authorize(redirect_uri=NEW_URI)).endswith("/login")
    await owner.post(
        "/admin/clients/nox/redirect-uris/remove", form={"csrf_token": csrf, "uri": NEW_URI}
    )
    assert (await flow.authorize(redirect_uri=NEW_URI)).status_code == 400


async def test_a_post_logout_uri_works_at_once_and_a_removed_one_stops(
    owner, client, store
) -> None:
    """Registered in the console, matched exactly at /logout (RP-Initiated Logout 1.0 §3)."""
    out = {"client_id": "nox", "post_logout_redirect_uri": NEW_URI, "state": "s"}
    assert (await client.get("/logout", query_string=out)).status_code == 200  # not redirected
    csrf = await admin_form(owner, "/admin/clients/nox")
    added = await owner.post(
        "/admin/clients/nox/post-logout-uris", form={"csrf_token": csrf, "uri": NEW_URI}
    )
    assert location(added) == "/admin/clients/nox"
    client_page = await (await owner.get("/admin/clients/nox")).get_data(as_text=True)
    assert f'<input type="hidden" name="uri" value="{NEW_URI}">' in client_page
    assert location(await client.get("/logout", query_string=out)) == NEW_URI + "?state=s"
    again = await owner.post(
        "/admin/clients/nox/post-logout-uris", form={"csrf_token": csrf, "uri": NEW_URI}
    )
    assert again.status_code == 400
    assert "registered already" in await again.get_data(as_text=True)
    await owner.post(
        "/admin/clients/nox/post-logout-uris/remove", form={"csrf_token": csrf, "uri": NEW_URI}
    )
    assert (await client.get("/logout", query_string=out)).status_code == 200
    nox = await store.clients.get("nox")
    assert (nox.redirect_uris, nox.post_logout_redirect_uris) == ([REDIRECT_URI], [])


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://nox.example/cb", "https"),
        ("https://nox.example/cb#x", "fragment"),
        ("https://*.nox.example/cb", "wildcard"),
        ("/relative", "absolute"),
    ],
)
@pytest.mark.parametrize("kind", ["redirect-uris", "post-logout-uris"])
async def test_redirect_uri_validation(owner, store, uri: str, reason: str, kind: str) -> None:
    csrf = await admin_form(owner, "/admin/clients/nox")
    response = await owner.post(f"/admin/clients/nox/{kind}", form={"csrf_token": csrf, "uri": uri})
    assert response.status_code == 400
    assert reason in await response.get_data(as_text=True)
    nox = await store.clients.get("nox")
    assert (nox.redirect_uris, nox.post_logout_redirect_uris) == ([REDIRECT_URI], [])


async def test_rotated_secret_is_shown_once_and_replaces_the_old(owner, store, client) -> None:
    from tests.conftest import basic_auth

    csrf = await admin_form(owner, "/admin/clients/nox")
    page = await (
        await owner.post(
            "/admin/clients/nox/rotate-secret", form={"csrf_token": csrf, "confirm": "yes"}
        )
    ).get_data(as_text=True)
    secret = page.split('id="secret">')[1].split("<")[0]
    await add_client(
        store,
        client_id="cc",
        grant_types=["client_credentials"],
        scopes=["links:read"],
        redirect_uris=[],
    )
    old = await client.post(
        "/token", form={"grant_type": "client_credentials"}, headers=basic_auth("nox")
    )
    assert old.status_code in (400, 401)
    assert secret not in str(await store.events.recent())


async def test_publishing_terms_asks_customers_again(owner, client, store) -> None:
    flow = Flow(client)
    await flow.code()
    csrf = await admin_form(owner, "/admin/terms")
    await owner.post(
        "/admin/terms",
        form={"csrf_token": csrf, "version": "2026-02", "language": "nl", "body": "# Nieuw"},
    )
    assert location(await flow.authorize(prompt="none")).startswith(
        REDIRECT_URI + "?code="
    )  # a draft changes nothing
    preview = await owner.get("/admin/terms/2026-02/nl")
    assert "<h1>Nieuw</h1>" in await preview.get_data(as_text=True)
    await owner.post("/admin/terms/2026-02/publish", form={"csrf_token": csrf})
    assert query_of(location(await flow.authorize(prompt="none")))["error"] == "consent_required"
    versions = {
        (v["version"], v["language"]): v["acceptances"] for v in await store.terms.versions()
    }
    assert versions[("2026-01", "nl")] == 1 and versions[("2026-02", "nl")] == 0


async def test_disabled_customer_cannot_sign_in_and_loses_refresh_tokens(
    owner, client, store
) -> None:
    from tests.conftest import basic_auth

    flow = Flow(client)
    tokens = await (await flow.token(await flow.code())).get_json()
    csrf = await admin_form(owner, "/admin/customers/1")
    await owner.post(
        "/admin/customers/1/disable", form={"csrf_token": csrf, "disabled": "yes", "confirm": "yes"}
    )
    refresh = await client.post(
        "/token",
        form={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic_auth(),
    )
    assert (await refresh.get_json())["error"] == "invalid_grant"
    url = location(await flow.authorize())
    assert url.endswith("/login")  # the sign-in session ended too
    assert (await flow.sign_in(url)).status_code == 401


async def test_audit_log_filters(owner, store) -> None:
    csrf = await admin_form(owner, "/admin/clients/nox")
    await owner.post("/admin/clients/nox/redirect-uris", form={"csrf_token": csrf, "uri": NEW_URI})
    body = await (await owner.get("/admin/audit?kind=admin.redirect_uri")).get_data(as_text=True)
    assert "admin.redirect_uri.added" in body and "admin.signed_in" not in body
    body = await (await owner.get("/admin/audit?actor=admin:nobody@x")).get_data(as_text=True)
    assert "admin.redirect_uri.added" not in body
    body = await (await owner.get("/admin/audit?since=2000-01-01&until=2000-01-02")).get_data(
        as_text=True
    )
    assert "admin.redirect_uri.added" not in body


async def test_settings_mask_secrets(app, owner) -> None:
    body = await (await owner.get("/admin/settings")).get_data(as_text=True)
    assert "IDP_NOX_API_KEY" in body


async def test_settings_never_show_the_api_key(settings, clock, seeded) -> None:
    from idp.app import create_app

    app = create_app(settings.with_overrides(nox_api_key="super-secret-nox-key-123456"), clock)
    async with app.test_app() as test_app:
        admin = await make_admin(app, "viewer")
        client = test_app.test_client()
        await sign_in(client, admin, clock)
        body = await (await client.get("/admin/settings")).get_data(as_text=True)
        assert "super-secret-nox-key-123456" not in body
        assert "supe…" in body


async def test_a_change_and_its_audit_row_commit_together(app, seeded, store, monkeypatch) -> None:
    """If the audit row cannot be written, the change is rolled back with it."""
    from idp.store.misc import SecurityEvents

    async def disk_full(self, **_: object) -> None:  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    monkeypatch.setattr(SecurityEvents, "record", disk_full)
    with pytest.raises(OSError, match="disk full"):
        await app.extensions["idp"].actions.add_redirect_uri(Actor("t"), "nox", NEW_URI)
    monkeypatch.undo()
    assert (await store.clients.get("nox")).redirect_uris == [REDIRECT_URI]


# ---- the admins themselves ---------------------------------------------------------------------
async def admin_id(store, email: str) -> int:  # type: ignore[no-untyped-def]
    found = await store.admins.by_email(email)
    return int(found.id)


async def test_an_owner_changes_a_role_and_it_counts_at_once(app, owner, store, clock) -> None:
    operator = await make_admin(app, "operator")
    theirs = app.test_client()
    await sign_in(theirs, operator, clock)
    target = await admin_id(store, operator.email)
    csrf = await admin_form(owner, "/admin/admins")
    answer = await owner.post(
        f"/admin/admins/{target}/role", form={"csrf_token": csrf, "role": "viewer"}
    )
    assert location(answer) == "/admin/admins"
    assert (await store.admins.by_id(target)).role == "viewer"
    [event] = await store.events.recent("admin.admin.role_changed")
    assert event["detail"] == {"email": operator.email, "role": "viewer", "was": "operator"}
    # Their very next request is a viewer's: an operator's action is now forbidden.
    csrf = await admin_form(theirs, "/admin")
    user = await customer_id(store)
    refused = await theirs.post(
        f"/admin/customers/{user}/clear-throttle", form={"csrf_token": csrf}
    )
    assert refused.status_code == 403


async def test_a_removed_admin_is_signed_out_at_once(app, owner, store, clock) -> None:
    operator = await make_admin(app, "operator")
    theirs = app.test_client()
    await sign_in(theirs, operator, clock)
    assert (await theirs.get("/admin")).status_code == 200
    target = await admin_id(store, operator.email)
    csrf = await admin_form(owner, "/admin/admins")
    unconfirmed = await owner.post(f"/admin/admins/{target}/remove", form={"csrf_token": csrf})
    assert unconfirmed.status_code == 400 and await store.admins.by_id(target) is not None
    answer = await owner.post(
        f"/admin/admins/{target}/remove", form={"csrf_token": csrf, "confirm": "yes"}
    )
    assert location(answer) == "/admin/admins"
    assert await store.admins.by_id(target) is None
    assert location(await theirs.get("/admin")) == "/admin/login"
    [event] = await store.events.recent("admin.admin.removed")
    assert event["detail"] == {"email": operator.email, "role": "operator"}
    # Their email may be given to a new admin.
    await make_admin(app, "operator")


async def test_the_last_owner_can_be_neither_demoted_nor_removed(app, owner, store) -> None:
    me = await admin_id(store, "owner@supplier.example")
    csrf = await admin_form(owner, "/admin/admins")
    for path, form in ((f"/admin/admins/{me}/role", {"role": "operator"}),
                       (f"/admin/admins/{me}/remove", {"confirm": "yes"})):  # fmt: skip
        answer = await owner.post(path, form={"csrf_token": csrf, **form})
        assert answer.status_code == 400
        assert "last owner" in await answer.get_data(as_text=True)
    assert (await store.admins.by_id(me)).role == "owner"
    # With a second owner, the first may step down, and then leave.
    await make_admin(app, "operator")
    second = await admin_id(store, "operator@supplier.example")
    await owner.post(f"/admin/admins/{second}/role", form={"csrf_token": csrf, "role": "owner"})
    answer = await owner.post(
        f"/admin/admins/{me}/remove", form={"csrf_token": csrf, "confirm": "yes"}
    )
    assert location(answer) == "/admin/admins"
    assert [a.email for a in await store.admins.all()] == ["operator@supplier.example"]
    assert location(await owner.get("/admin")) == "/admin/login"  # their own session ended


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_only_an_owner_changes_admins(app, seeded, store, clock, role: str) -> None:
    admin = await make_admin(app, role)
    client = app.test_client()
    await sign_in(client, admin, clock)
    me = await admin_id(store, admin.email)
    csrf = await admin_form(client, "/admin")
    for path, form in ((f"/admin/admins/{me}/role", {"role": "owner"}),
                       (f"/admin/admins/{me}/remove", {"confirm": "yes"})):  # fmt: skip
        assert (await client.post(path, form={"csrf_token": csrf, **form})).status_code == 403
    assert (await store.admins.by_id(me)).role == role


async def test_owners_changing_each_other_in_parallel_transactions_leave_one(
    store, settings
) -> None:  # type: ignore[no-untyped-def]
    """The store's guard under real concurrency: two connections (on PostgreSQL, two
    transactions at once) each remove, or demote, the other owner: one wins, one gets
    LastOwner, one owner is left."""
    from sqlalchemy import update

    from idp.store import Store
    from idp.store.admins import LastOwner
    from idp.store.tables import admins

    other = Store.connect(settings.database_url)
    try:
        for round_ in range(6):
            async with store.engine.begin() as conn:  # no owner left from the round before
                await conn.execute(update(admins).values(role="viewer"))
            a, b = [
                await store.admins.add(
                    email=f"{n}{round_}@s.example",
                    password_hash="x",
                    role="owner",
                    totp_secret="S",
                    now=0,
                )
                for n in ("a", "b")
            ]
            if round_ % 2:
                changes = (store.admins.set_role(b, "viewer"), other.admins.set_role(a, "viewer"))
            else:
                changes = (store.admins.remove(b), other.admins.remove(a))
            outcomes = await asyncio.gather(*changes, return_exceptions=True)
            assert sum(isinstance(o, LastOwner) for o in outcomes) == 1, outcomes
            owners = [x.id for x in await store.admins.all() if x.role == "owner"]
            assert owners in ([a], [b]), (round_, outcomes)
    finally:
        await other.close()
