"""A customer's data handed over and erased (GDPR Art. 15, 17, 20): with rows in every table
that can name them, the export holds them all, the erasure leaves none of their personal data
anywhere in the database, keeps what must be kept under a pseudonym, and the remaining rows
still satisfy every constraint. Another customer's data is untouched."""

from __future__ import annotations

import json
from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import select, text

from idp.admin.actions import ActionError, Actor, AdminActions
from idp.records import User
from idp.security.clock import FrozenClock
from idp.store import Store
from idp.store.tables import metadata
from tests.conftest import (
    EMAIL,
    PASSWORD,
    REDIRECT_URI,
    SUPPLIER_USER_ID,
    Flow,
    add_user,
    csrf_of,
    location,
)
from tests.test_admin import make_admin, sign_in
from tests.test_links import open_session

BOB = ("bob@example.com", "cust-0002", "Bob Baker")
# What names Ada. Her device's id stays in its (pseudonymised) link history, the evidence of who
# held it when; Bob holds that device now anyway.
ADA_STRINGS = [EMAIL, SUPPLIER_USER_ID, "Ada Lovelace", "ada-nox-user", "ada-browser", "10.0.0.1"]
ACTOR = Actor("test-admin")


async def fill_every_table(
    app: Quart, flow: Flow, store: Store, clock: FrozenClock, user: User
) -> None:
    """Rows naming `user` in every table that can."""
    client = flow.client
    headers = {"User-Agent": "ada-browser"}
    # Audit rows naming them (a disable ends their sessions: so before they sign in).
    actions = AdminActions(store, clock, app.extensions["idp"].settings)
    await actions.set_customer_disabled(ACTOR, user.id, True)  # an audit row naming them
    await actions.set_customer_disabled(ACTOR, user.id, False)
    response = await flow.token(await flow.code(scope="openid offline_access"))
    assert response.status_code == 200
    # A sign-in from a browser of theirs, then a failed one: an event, and a throttle row
    # (a success clears it).
    for password in (PASSWORD, "wrong"):
        page = await client.get("/account/login", headers=headers)
        await client.post(
            "/account/login",
            form={
                "csrf_token": csrf_of(await page.get_data(as_text=True)),
                "email": user.email,
                "password": password,
            },
            headers=headers,
        )
    await store.password_resets.issue(
        user_id=user.id,
        token_hash="h-" + user.supplier_user_id,
        now=clock.now(),
        expires_at=clock.now() + 60,
        ip="10.0.0.1",
        not_since=0,
    )
    session = await open_session(
        store, clock, user_id=user.id, supplier_user_id=user.supplier_user_id
    )
    linked = dict(nox_user_id="ada-nox-user", brand="daikin", connected_at=1, now=clock.now())
    assert await store.links.complete(session, device_ids=["ada-pump"], **linked)
    await store.device_status.receive(
        "wh-1", clock.now(), "ada-pump", "steerable", {"steerable_status": "being_steered"}, 1
    )
    clock.advance(1)
    held = await open_session(store, clock, user_id=user.id, supplier_user_id=user.supplier_user_id)
    assert await store.links.hold(
        held,
        held_id="held-ada",
        nox_user_id="ada-nox-user",
        brand="daikin",
        device_ids=["other-pump"],
        connected_at=1,
        moved_from={},
        reason="browser_not_bound",
        now=clock.now(),
    )
    await store.grants.add_code(
        code_hash="code-ada-handoff",
        client_id="nox",
        user_id=user.id,
        redirect_uri=REDIRECT_URI,
        scope="openid",
        nonce=None,
        code_challenge=None,
        code_challenge_method=None,
        auth_time=clock.now(),
        auth_session_id=None,
        now=clock.now(),
        expires_at=clock.now() + 60,
        handoff={
            "id": "handoff-ada",
            "client_id": "nox",
            "url": "http://127.0.0.1:9/p",
            "body": {"supplier_user_id": user.supplier_user_id, "state": "s"},
        },
    )


@pytest.fixture
async def filled(app: Quart, flow: Flow, store: Store, clock: FrozenClock) -> tuple[User, User]:
    ada = await store.users.by_email(EMAIL)
    bob = await add_user(store, email=BOB[0], supplier_user_id=BOB[1], name=BOB[2])
    await fill_every_table(app, flow, store, clock, ada)
    # Bob's device was Ada's before: his held link names her as its previous holder.
    bob_session = await open_session(store, clock, user_id=bob.id, supplier_user_id=BOB[1])
    assert await store.links.hold(
        bob_session,
        held_id="held-bob",
        nox_user_id="bob-nox",
        brand="daikin",
        device_ids=["ada-pump"],
        connected_at=1,
        moved_from={"ada-pump": SUPPLIER_USER_ID},
        reason="data_api_not_configured",
        now=clock.now(),
    )
    return ada, bob


def actions_of(app: Quart, store: Store, clock: FrozenClock) -> AdminActions:
    return AdminActions(store, clock, app.extensions["idp"].settings)


async def every_row(store: Store) -> dict[str, list[dict[str, Any]]]:
    async with store.engine.connect() as conn:
        return {
            name: [dict(r._mapping) for r in (await conn.execute(select(table))).all()]
            for name, table in metadata.tables.items()
        }


def mentions(rows: dict[str, list[dict[str, Any]]], needle: str) -> list[str]:
    return [
        f"{table}: {row}"
        for table, found in rows.items()
        for row in found
        if needle in json.dumps(row, default=str)
    ]


async def test_the_export_holds_every_table(
    app: Quart, store: Store, clock: FrozenClock, filled: tuple[User, User]
) -> None:
    ada, _ = filled
    document = await actions_of(app, store, clock).export_customer(ACTOR, ada.id)
    tables = document["tables"]
    assert {name: len(rows) > 0 for name, rows in tables.items()} == dict.fromkeys(tables, True)
    assert tables["profile"][0]["email"] == EMAIL
    assert "password_hash" not in tables["profile"][0]
    assert all("access_token_hash" not in row for row in tables["tokens"])
    assert [d["device_id"] for d in tables["devices"]] == ["ada-pump"]
    assert json.dumps(document, default=str)  # one JSON document
    assert BOB[0] not in json.dumps(document, default=str)
    [event] = await store.events.recent("admin.customer.exported")
    assert event["detail"] == {"supplier_user_id": SUPPLIER_USER_ID}


async def test_the_erasure_leaves_no_personal_data_and_keeps_the_evidence(
    app: Quart, client: QuartClient, store: Store, clock: FrozenClock, filled: tuple[User, User]
) -> None:
    ada, bob = filled
    actions = actions_of(app, store, clock)
    bobs_before = await actions.export_customer(ACTOR, bob.id)
    pseudonym = await actions.erase_customer(ACTOR, ada.id)

    rows = await every_row(store)
    for needle in ADA_STRINGS:
        assert mentions(rows, needle) == [], needle
    erased = await store.users.by_id(ada.id)
    assert erased is not None and erased.disabled and erased.name is None
    assert erased.supplier_user_id == f"{pseudonym}-{ada.id}" and pseudonym.startswith("erased-")
    # What evidences the supplier's obligations stays, under the pseudonym.
    [accepted] = await store.terms.acceptances_of(ada.id)
    assert (accepted["version"], accepted["ip"], accepted["user_agent"]) == ("2026-01", None, None)
    assert {h["action"] for h in await store.links.history(supplier_user_id=pseudonym)} == {
        "linked"
    }
    [audit] = await store.events.recent("admin.customer.erased")
    assert audit["detail"] == {"pseudonym": pseudonym}
    # Bob's data is as it was (bar the pseudonym where his held link named Ada).
    bobs_after = await actions.export_customer(ACTOR, bob.id)
    bobs_before["tables"]["held_links"][0]["moved_from"] = {"ada-pump": pseudonym}
    # (Each export leaves an audit row naming him: the events differ by that one row.)
    assert bobs_after["tables"].pop("events")[:-1] == bobs_before["tables"].pop("events")
    assert bobs_after["tables"] == bobs_before["tables"]
    # Ada can no longer sign in, nor be exported or erased again.
    page = await client.get("/account/login")
    refused = await client.post(
        "/account/login",
        form={
            "csrf_token": csrf_of(await page.get_data(as_text=True)),
            "email": EMAIL,
            "password": PASSWORD,
        },
    )
    assert refused.status_code == 401
    for again in (actions.export_customer, actions.erase_customer):
        with pytest.raises(ActionError):
            await again(ACTOR, ada.id)


async def test_the_remaining_rows_satisfy_the_constraints(
    app: Quart, store: Store, clock: FrozenClock, filled: tuple[User, User]
) -> None:
    ada, _ = filled
    await actions_of(app, store, clock).erase_customer(ACTOR, ada.id)
    async with store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert (await conn.execute(text("PRAGMA foreign_key_check"))).all() == []
            assert (await conn.execute(text("PRAGMA integrity_check"))).scalar() == "ok"
    # The customer number is free again: the supplier may add the customer anew.
    again = await add_user(store, email=EMAIL, supplier_user_id=SUPPLIER_USER_ID)
    assert again.id != ada.id


async def test_the_same_pseudonym_for_the_same_customer_number(
    app: Quart, store: Store, clock: FrozenClock, seeded: Store
) -> None:
    """Whoever knows the customer number finds the kept evidence again (a keyed hash), and a
    customer added again under the number and erased again erases cleanly."""
    actions = actions_of(app, store, clock)
    ada = await store.users.by_email(EMAIL)
    first = await actions.erase_customer(ACTOR, ada.id)
    again = await add_user(store, email="new@example.com", supplier_user_id=SUPPLIER_USER_ID)
    assert await actions.erase_customer(ACTOR, again.id) == first
    rows = (await store.users.by_id(ada.id), await store.users.by_id(again.id))
    assert [u.supplier_user_id for u in rows] == [f"{first}-{ada.id}", f"{first}-{again.id}"]


async def test_the_console_exports_for_operators_and_erases_for_owners_only(
    app: Quart, store: Store, clock: FrozenClock, filled: tuple[User, User]
) -> None:
    ada, _ = filled
    operator, owner = app.test_client(), app.test_client()
    assert location(await sign_in(operator, await make_admin(app, "operator"), clock)) == "/admin"
    assert location(await sign_in(owner, await make_admin(app, "owner"), clock)) == "/admin"
    page = await (await operator.get(f"/admin/customers/{ada.id}")).get_data(as_text=True)
    exported = await operator.post(
        f"/admin/customers/{ada.id}/export", form={"csrf_token": csrf_of(page)}
    )
    assert exported.status_code == 200
    assert (
        exported.headers["Content-Disposition"] == f'attachment; filename="customer-{ada.id}.json"'
    )
    assert (await exported.get_json())["tables"]["profile"][0]["email"] == EMAIL

    refused = await operator.post(
        f"/admin/customers/{ada.id}/erase", form={"csrf_token": csrf_of(page), "confirm": "yes"}
    )
    assert refused.status_code == 403
    owners_page = await (await owner.get(f"/admin/customers/{ada.id}")).get_data(as_text=True)
    unconfirmed = await owner.post(
        f"/admin/customers/{ada.id}/erase", form={"csrf_token": csrf_of(owners_page)}
    )
    assert unconfirmed.status_code == 400
    assert (await store.users.by_id(ada.id)).email == EMAIL  # nothing erased
    erased = await owner.post(
        f"/admin/customers/{ada.id}/erase",
        form={"csrf_token": csrf_of(owners_page), "confirm": "yes"},
    )
    assert erased.status_code == 200
    assert (await store.users.by_id(ada.id)).email.endswith("@erased.invalid")
