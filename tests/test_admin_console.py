"""The console as an operator reads it: times in their zone, readable audit lines, the outbox's
next retry, confirmations, paged customers, terms rolled back, the overview's charts."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from tests.conftest import failed_handoff, location
from tests.test_admin import admin_form, make_admin, sign_in

# Use cases called directly, outside a request: their messages in English (conftest).
pytestmark = pytest.mark.usefixtures("english")

NOW_AMSTERDAM = '<time datetime="2027-01-15T09:00:00+01:00">2027-01-15 09:00 CET</time>'
NOW_TOKYO = '<time datetime="2027-01-15T17:00:00+09:00">2027-01-15 17:00 JST</time>'


@pytest.fixture
async def owner(app, seeded, clock):  # type: ignore[no-untyped-def]
    admin = await make_admin(app, "owner")
    client = app.test_client()
    assert location(await sign_in(client, admin, clock)) == "/admin"
    return client


async def text(response) -> str:  # type: ignore[no-untyped-def]
    return str(await response.get_data(as_text=True))


# ---- times in the admin's zone --------------------------------------------------------------
async def test_times_show_as_dates_in_the_supplier_zone_then_the_admins_own(
    owner,
    store,
    clock,
) -> None:
    await failed_handoff(store, "h1", clock.now())
    assert NOW_AMSTERDAM in await text(await owner.get("/admin/outbox"))
    audit = await text(await owner.get("/admin/audit"))
    assert NOW_AMSTERDAM in audit and "1800000000" not in audit

    csrf = await admin_form(owner, "/admin/preferences")
    saved = await owner.post(
        "/admin/preferences", form={"csrf_token": csrf, "timezone": "Asia/Tokyo"}
    )
    assert location(saved) == "/admin/preferences"
    assert NOW_TOKYO in await text(await owner.get("/admin/outbox"))
    [event] = await store.events.recent("admin.admin.timezone_changed")
    assert event["detail"] == {
        "email": "owner@supplier.example",
        "timezone": "Asia/Tokyo",
        "was": None,
    }
    # "" goes back to IDP_TIMEZONE
    await owner.post("/admin/preferences", form={"csrf_token": csrf, "timezone": ""})
    assert NOW_AMSTERDAM in await text(await owner.get("/admin/outbox"))


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "x" * 200])
async def test_an_unknown_zone_is_refused(owner, store, zone: str) -> None:
    csrf = await admin_form(owner, "/admin/preferences")
    refused = await owner.post("/admin/preferences", form={"csrf_token": csrf, "timezone": zone})
    assert refused.status_code == 400
    assert "Choose a time zone from the list." in await text(refused)
    assert (await store.admins.by_email("owner@supplier.example")).timezone is None
    assert await store.events.recent("admin.admin.timezone_changed") == []


async def test_preferences_need_the_csrf_token(owner, store) -> None:
    refused = await owner.post("/admin/preferences", form={"timezone": "Asia/Tokyo"})
    assert refused.status_code == 403
    assert (await store.admins.by_email("owner@supplier.example")).timezone is None


async def test_a_viewer_sets_their_own_zone(app, seeded, clock, store) -> None:
    viewer = await make_admin(app, "viewer")
    client = app.test_client()
    await sign_in(client, viewer, clock)
    csrf = await admin_form(client, "/admin/preferences")
    await client.post("/admin/preferences", form={"csrf_token": csrf, "timezone": "UTC"})
    assert (await store.admins.by_email(viewer.email)).timezone == "UTC"


# ---- audit details as readable lines ----------------------------------------------------------
async def test_audit_details_read_as_lines(app, owner, store, clock) -> None:
    from idp.admin.actions import Actor

    actions = app.extensions["idp"].actions
    await actions.add_admin(Actor("cli:x"), "x@y.example", "operator", "long enough pass", "T")
    added = await store.admins.by_email("x@y.example")
    await actions.change_admin_role(Actor("cli:x"), added.id, "owner")
    await store.events.record(
        kind="some_new_kind",
        now=clock.now(),
        actor=None,
        ip=None,
        detail={"reason": "<script>alert(1)</script>", "devices": ["d1", "d2"]},
    )
    page = await text(await owner.get("/admin/audit"))
    assert "changed role of x@y.example from operator to owner" in page
    assert "added admin x@y.example as operator" in page
    assert "reason: &lt;script&gt;alert(1)&lt;/script&gt;; devices: d1, d2" in page
    assert "<script>alert(1)" not in page


def test_a_line_for_every_client_change_and_a_missing_detail() -> None:
    from idp.admin.audit_lines import audit_line

    updated = {
        "client_id": "nox",
        "before": {"name": "NOX", "scopes": ["openid", "email"]},
        "after": {"name": "NOX Energy", "scopes": ["openid"]},
    }
    assert audit_line("admin.client.updated", updated) == (
        "changed client nox: name from NOX to NOX Energy; scopes from openid, email to openid"
    )
    assert audit_line("admin.admin.role_changed", {"email": "a@b"}) == (
        "changed role of a@b from ? to ?"
    )
    assert audit_line("unknown", {}) == ""
    # `idp keys rotate` publishes the key; it signs only once every instance can have read it.
    assert audit_line("admin.keys.rotated", {"kid": "k1", "alg": "RS256"}) == (
        "published a new RS256 signing key (k1), which signs minutes later"
    )


# ---- the outbox's next retry ----------------------------------------------------------------
async def test_the_outbox_shows_the_next_retry_and_the_attempts(owner, store, clock) -> None:
    await failed_handoff(store, "h1", clock.now())
    assert await store.outbox.retry_now("h1", clock.now())
    await store.outbox.retry_later("h1", clock.now() + 5 * 60, 503, "busy")
    page = await text(await owner.get("/admin/outbox"))
    waiting = page.split("<h2>Waiting for a retry</h2>")[1].split("<h2>")[0]
    assert "<th>Next try</th>" in waiting and "<th>Attempts</th>" in waiting
    assert '<time datetime="2027-01-15T09:05:00+01:00">2027-01-15 09:05 CET</time>' in waiting
    assert "HTTP 503 busy" in waiting


# ---- clients: grant types and scopes; confirmations -------------------------------------------
def multi(form: dict[str, list[str]], csrf: str) -> str:
    """A form body with repeated fields (checkboxes), as a browser sends it."""
    return urlencode([("csrf_token", csrf), *((k, v) for k, vs in form.items() for v in vs)])


async def grants(owner, form: dict[str, list[str]], client_id: str = "nox"):  # type: ignore[no-untyped-def]
    csrf = await admin_form(owner, f"/admin/clients/{client_id}")
    return await owner.post(
        f"/admin/clients/{client_id}/grants",
        data=multi(form, csrf),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


async def test_a_removed_scope_is_refused_at_once(owner, client, store) -> None:
    from tests.conftest import REDIRECT_URI, Flow, query_of

    flow = Flow(client)
    assert location(await flow.authorize(scope="openid email")).endswith("/login")
    saved = await grants(
        owner,
        {"grant_type": ["authorization_code", "refresh_token"], "scope": ["openid", "profile"]},
    )
    assert location(saved) == "/admin/clients/nox"
    nox = await store.clients.get("nox")
    assert nox.scopes == ["openid", "profile"]
    url = location(await flow.authorize(scope="openid email"))
    assert url.startswith(REDIRECT_URI) and query_of(url)["error"] == "invalid_scope"
    [event] = await store.events.recent("admin.client.updated")
    assert event["detail"] == {
        "client_id": "nox",
        "before": {"scopes": ["openid", "profile", "email", "offline_access"]},
        "after": {"scopes": ["openid", "profile"]},
    }
    page = await text(await owner.get("/admin/audit"))
    assert "changed client nox: scopes from openid, profile, email, offline_access to" in page


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"grant_type": ["authorization_code"], "scope": ["openid", "root"]}, "Unknown scope"),
        ({"grant_type": ["password"], "scope": ["openid"]}, "The grant types must be among"),
        ({"grant_type": [], "scope": ["openid"]}, "at least one grant type"),
        ({"grant_type": ["authorization_code"], "scope": []}, "at least one scope"),
    ],
)
async def test_grants_and_scopes_follow_the_registration_rules(
    owner, store, form, reason: str
) -> None:
    before = await store.clients.get("nox")
    refused = await grants(owner, form)
    assert refused.status_code == 400
    assert reason in await text(refused)
    assert await store.clients.get("nox") == before
    assert await store.events.recent("admin.client.updated") == []


async def test_a_public_client_cannot_get_client_credentials(app, owner, store) -> None:
    from tests.conftest import add_client

    await add_client(store, client_id="spa", auth_method="none")
    refused = await grants(
        owner, {"grant_type": ["client_credentials"], "scope": ["openid"]}, client_id="spa"
    )
    assert refused.status_code == 400
    assert "A public client cannot use client_credentials." in await text(refused)


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/admin/clients/nox/rotate-secret", {}),
        ("/admin/clients/nox/disable", {"disabled": "yes"}),
        ("/admin/customers/1/disable", {"disabled": "yes"}),
    ],
)
async def test_without_the_tick_nothing_happens(owner, store, path: str, form) -> None:
    nox, ada = await store.clients.get("nox"), await store.users.by_id(1)
    csrf = await admin_form(owner, "/admin/clients/nox")
    refused = await owner.post(path, form={"csrf_token": csrf, **form})
    assert refused.status_code == 400
    assert "Tick the box to confirm" in await text(refused)
    assert (await store.clients.get("nox"), await store.users.by_id(1)) == (nox, ada)
    assert [e["kind"] for e in await store.events.recent("admin.client")] == []
    assert [e["kind"] for e in await store.events.recent("admin.customer")] == []
    ticked = await owner.post(path, form={"csrf_token": csrf, "confirm": "yes", **form})
    assert ticked.status_code in (200, 302)
    assert (await store.clients.get("nox"), await store.users.by_id(1)) != (nox, ada)


async def test_enabling_needs_no_tick(owner, store) -> None:
    await store.clients.update("nox", 1, disabled=True)
    csrf = await admin_form(owner, "/admin/clients/nox")
    await owner.post("/admin/clients/nox/disable", form={"csrf_token": csrf, "disabled": "no"})
    assert not (await store.clients.get("nox")).disabled


# ---- customers listed a page at a time --------------------------------------------------------
def listed(page: str) -> list[str]:
    return re.findall(r'<a href="/admin/customers/(\d+)">', page)


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="(/admin/customers\?[^"]+)" rel="{rel}">', page)
    return found.group(1) if found else None


async def test_customers_are_listed_newest_first_in_distinct_pages(owner, store, clock) -> None:
    total = await store.users.count()
    for n in range(120 - total):
        await store.users.add(
            email=f"c{n}@example.com",
            supplier_user_id=f"C{n}",
            name=None,
            password_hash="x",
            now=clock.now(),
        )
    first = await text(await owner.get("/admin/customers"))
    assert listed(first) == [str(i) for i in range(120, 70, -1)]
    assert link(first, "prev") is None
    second = await text(await owner.get(link(first, "next")))
    assert listed(second) == [str(i) for i in range(70, 20, -1)]
    third = await text(await owner.get(link(second, "next")))
    assert listed(third) == [str(i) for i in range(20, 0, -1)]
    assert link(third, "next") is None
    back = await text(await owner.get(link(third, "prev")))
    assert listed(back) == listed(second)
    assert listed(await text(await owner.get(link(back, "prev")))) == listed(first)
    # the search still narrows it down, without paging
    found = await text(await owner.get("/admin/customers?q=c11"))
    assert (
        sorted(listed(found)) == sorted(str(u.id) for u in await store.users.search("c11"))
        and 'rel="next"' not in found
    )


@pytest.mark.parametrize("query", ["before=abc", "before=-1", "after=99999999999999999999"])
async def test_a_bad_page_key_shows_the_first_page(owner, query: str) -> None:
    response = await owner.get(f"/admin/customers?{query}")
    assert response.status_code == 200
    assert "ada@example.com" in await text(response)


# ---- terms rolled back or taken back ----------------------------------------------------------
async def publish(owner, version: str, body: str) -> None:  # type: ignore[no-untyped-def]
    csrf = await admin_form(owner, "/admin/terms")
    form = {"csrf_token": csrf, "version": version, "language": "nl", "body": body}
    assert location(await owner.post("/admin/terms", form=form)) == "/admin/terms"
    published = await owner.post(f"/admin/terms/{version}/publish", form={"csrf_token": csrf})
    assert location(published) == "/admin/terms"


async def terms_post(owner, path: str, version: str):  # type: ignore[no-untyped-def]
    csrf = await admin_form(owner, "/admin/terms")
    return await owner.post(path, form={"csrf_token": csrf, "version": version})


async def test_a_rollback_makes_the_older_version_current_and_asks_who_had_not_accepted_it(
    app, owner, store, clock
) -> None:
    from tests.conftest import REDIRECT_URI, TERMS_NL, Flow, add_user, query_of

    ada = Flow(app.test_client())
    await ada.code()  # accepts 2026-01
    clock.advance(60)
    await publish(owner, "2026-02", "# Nieuwe voorwaarden")
    await ada.code()  # accepts 2026-02
    await add_user(store, email="bob@example.com", supplier_user_id="S-BOB", name=None)
    bob = Flow(app.test_client())
    response = await bob.authorize()
    terms_url = location(await bob.sign_in(location(response), email="bob@example.com"))
    assert "Nieuwe voorwaarden" in (await bob.page(terms_url))[1]
    assert location(await bob.accept_terms(terms_url)).startswith(REDIRECT_URI)  # 2026-02 only

    clock.advance(60)
    rolled = await terms_post(owner, "/admin/terms/current", "2026-01")
    assert location(rolled) == "/admin/terms"
    assert await store.terms.current_version() == "2026-01"
    [event] = await store.events.recent("admin.terms.made_current")
    assert event["detail"] == {"version": "2026-01", "was": "2026-02", "texts": 2}
    page = await text(await owner.get("/admin/terms"))
    assert "2026-01 <strong>(current)</strong>" in page

    # Ada accepted 2026-01 before: nothing to accept again.
    assert location(await ada.authorize(prompt="none")).startswith(REDIRECT_URI + "?code=")
    # Bob accepted only 2026-02: he is asked to accept 2026-01, its text shown.
    assert query_of(location(await bob.authorize(prompt="none")))["error"] == "consent_required"
    terms_url = location(await bob.authorize())
    assert terms_url.endswith("/terms")
    shown = (await bob.page(terms_url))[1]
    assert 'name="version" value="2026-01"' in shown
    assert "Nieuwe voorwaarden" not in shown and TERMS_NL.splitlines()[0].lstrip("# ") in shown
    assert location(await bob.accept_terms(terms_url)).startswith(REDIRECT_URI + "?code=")
    accepted = {(a["version"]) for a in await store.terms.acceptances_of(2)}
    assert accepted == {"2026-01", "2026-02"}


async def test_the_current_version_or_an_unknown_one_cannot_be_made_current(owner, store) -> None:
    for version in ("2026-01", "1999-01"):
        refused = await terms_post(owner, "/admin/terms/current", version)
        assert refused.status_code == 400
    assert await store.events.recent("admin.terms.made_current") == []


async def test_unpublishing_a_version_nobody_accepted(app, owner, store, clock) -> None:
    from tests.conftest import Flow

    clock.advance(60)
    await publish(owner, "2026-02", "# Nieuw")
    assert await store.terms.current_version() == "2026-02"
    taken = await terms_post(owner, "/admin/terms/unpublish", "2026-02")
    assert location(taken) == "/admin/terms"
    assert await store.terms.current_version() == "2026-01"
    [event] = await store.events.recent("admin.terms.unpublished")
    assert event["detail"] == {"version": "2026-02", "texts": 1}
    # accepted by a customer: it stays published
    await Flow(app.test_client()).code()  # accepts 2026-01
    clock.advance(60)
    await publish(owner, "2026-03", "# Derde")
    refused = await terms_post(owner, "/admin/terms/unpublish", "2026-01")
    assert refused.status_code == 400
    assert "customers accepted it already" in await text(refused)
    assert (await store.terms.text("2026-01", ["nl"])) is not None


# ---- the overview's charts ----------------------------------------------------------------------
def test_counts_per_hour_cover_the_last_24_whole_hours() -> None:
    from idp.admin.charts import hourly

    now = 1_800_000_000 + 1800  # 08:30 UTC
    chart = hourly(now, a=[now, now - 1800, now - 1801, now - 23 * 3600 - 1800, now - 86400], b=[])
    assert chart.starts[0] == 1_800_000_000 - 23 * 3600 and chart.starts[-1] == 1_800_000_000
    assert chart.series["a"][-1] == 2 and chart.series["a"][-2] == 1 and chart.series["a"][0] == 1
    assert chart.totals == {"a": 4, "b": 0} and chart.peak == 2


async def test_the_overview_charts_sign_ins_and_hand_offs_with_their_numbers(
    app, owner, store, clock
) -> None:
    from tests.conftest import Flow

    await Flow(app.test_client()).code()  # one sign-in now (the owner's own sign-in is an admin)
    await failed_handoff(store, "h1", clock.now() - 2 * 3600)
    await failed_handoff(store, "h2", clock.now())
    assert await store.outbox.retry_now("h2", clock.now())
    await store.outbox.delivered("h2", clock.now(), 200)
    page = await text(await owner.get("/admin"))
    assert page.count("<svg") == 2 and "<script" not in page
    signins = page.split('id="signins-caption"')[1].split("</figure>")[0]
    assert "1 sign-ins\n    in the last 24 hours" in signins
    assert (
        'id="signins-title">Sign-ins per hour, 10:00 to now: 09:00 1 sign-ins;</title>' in signins
    )
    assert signins.count('class="bar-signins"') == 1
    handoffs = page.split('id="handoffs-caption"')[1].split("</figure>")[0]
    assert "1 delivered, " in handoffs and "1 failed" in handoffs
    assert "07:00 0 delivered and 1 failed; 09:00 1 delivered and 0 failed;" in handoffs
    assert (
        '<tr><td><time datetime="2027-01-15T09:00:00+01:00">2027-01-15 09:00 CET</time></td>'
        "<td>1</td><td>0</td></tr>" in handoffs
    )
    assert "Ready, with" in page  # the test settings leave IDP_NOX_API_BASE empty: a warning
