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
