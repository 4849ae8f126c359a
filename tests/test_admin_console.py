"""The console as an operator reads it: times in their zone, readable audit lines, the outbox's
next retry, confirmations, paged customers, terms rolled back, the overview's charts."""

from __future__ import annotations

import pytest

from tests.conftest import failed_handoff, location
from tests.test_admin import admin_form, make_admin, owner, sign_in  # noqa: F401

NOW_AMSTERDAM = '<time datetime="2027-01-15T09:00:00+01:00">2027-01-15 09:00 CET</time>'
NOW_TOKYO = '<time datetime="2027-01-15T17:00:00+09:00">2027-01-15 17:00 JST</time>'


async def text(response) -> str:  # type: ignore[no-untyped-def]
    return str(await response.get_data(as_text=True))


# ---- times in the admin's zone --------------------------------------------------------------
async def test_times_show_as_dates_in_the_supplier_zone_then_the_admins_own(
    owner,
    store,
    clock,  # noqa: F811
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
async def test_an_unknown_zone_is_refused(owner, store, zone: str) -> None:  # noqa: F811
    csrf = await admin_form(owner, "/admin/preferences")
    refused = await owner.post("/admin/preferences", form={"csrf_token": csrf, "timezone": zone})
    assert refused.status_code == 400
    assert "Choose a time zone from the list." in await text(refused)
    assert (await store.admins.by_email("owner@supplier.example")).timezone is None
    assert await store.events.recent("admin.admin.timezone_changed") == []


async def test_preferences_need_the_csrf_token(owner, store) -> None:  # noqa: F811
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
async def test_audit_details_read_as_lines(app, owner, store, clock) -> None:  # noqa: F811
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


# ---- the outbox's next retry ----------------------------------------------------------------
async def test_the_outbox_shows_the_next_retry_and_the_attempts(owner, store, clock) -> None:  # noqa: F811
    await failed_handoff(store, "h1", clock.now())
    assert await store.outbox.retry_now("h1", clock.now())
    await store.outbox.retry_later("h1", clock.now() + 5 * 60, 503, "busy")
    page = await text(await owner.get("/admin/outbox"))
    waiting = page.split("<h2>Waiting for a retry</h2>")[1].split("<h2>")[0]
    assert "<th>Next try</th>" in waiting and "<th>Attempts</th>" in waiting
    assert '<time datetime="2027-01-15T09:05:00+01:00">2027-01-15 09:05 CET</time>' in waiting
    assert "HTTP 503 busy" in waiting
