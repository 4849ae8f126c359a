"""The retention job (issue 9): a year and more of traffic does not grow the tables without bound;
the background worker and `idp purge` run it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import insert, select

from idp import retention
from idp.app import create_app
from idp.config import Settings
from idp.security.clock import FrozenClock
from idp.store import Store
from idp.store.tables import (
    admin_enrolments,
    admin_sessions,
    admins,
    auth_sessions,
    authorization_codes,
    handoffs,
    link_sessions,
    login_sessions,
    nox_webhook_receipts,
    password_resets,
    security_events,
    throttles,
    token_families,
    tokens,
)
from tests.conftest import add_user

DAY = 24 * 3600
PER_DAY = 3  # rows of each kind a simulated day writes


async def day_of_traffic(store: Store, now: int, day: int) -> None:
    """What a day writes to each table the retention job looks after (user 1, admin 1)."""
    rows: dict[Any, list[dict[str, Any]]] = {t: [] for t in (auth_sessions, authorization_codes)}
    rows.update({t: [] for t in (tokens, link_sessions, login_sessions, admin_sessions)})
    rows[password_resets] = []
    rows[admin_enrolments] = []
    rows[nox_webhook_receipts] = []
    rows.update({t: [] for t in (throttles, handoffs, security_events, token_families)})
    for i in range(PER_DAY):
        key = f"{day}-{i}"
        rows[auth_sessions].append(
            dict(id=f"a{key}", browser_id="b", client_id="nox", query="", redirect_uri="r",
                 language="nl", force_login=False, status="pending", created_at=now,
                 expires_at=now + 900)
        )  # fmt: skip
        rows[authorization_codes].append(
            dict(code_hash=f"c{key}", client_id="nox", user_id=1, redirect_uri="r", scope="openid",
                 auth_time=now, created_at=now, expires_at=now + 60)
        )  # fmt: skip
        rows[tokens].append(
            dict(client_id="nox", user_id=1, scope="openid", access_token_hash=f"t{key}",
                 refresh_token_hash=f"r{key}", issued_at=now, expires_at=now + 3600,
                 refresh_expires_at=now + 30 * DAY, family_id=f"f{key}")
        )  # fmt: skip
        rows[token_families].append(
            dict(id=f"f{key}", client_id="nox", created_at=now, last_issued_at=now)
        )
        rows[link_sessions].append(
            dict(id=f"l{key}", link_token=f"lt{key}", user_id=1, supplier_user_id="cust-0001",
                 asset_type="hp", language="nl", link_url="https://nox/ui", created_at=now,
                 expires_at=now + 600)
        )  # fmt: skip
        rows[login_sessions].append(
            dict(id_hash=f"s{key}", user_id=1, auth_time=now, expires_at=now + 8 * 3600)
        )
        rows[password_resets].append(
            dict(token_hash=f"pr{key}", user_id=1, created_at=now, expires_at=now + 1800)
        )
        rows[nox_webhook_receipts].append(dict(id=f"w{key}", received_at=now))
        rows[admin_enrolments].append(
            dict(token_hash=f"ae{key}", admin_id=1, purpose="invitation", created_at=now,
                 created_by="o@example.com", expires_at=now + 3 * DAY, used_at=now)
        )  # fmt: skip
        rows[admin_sessions].append(
            dict(id_hash=f"as{key}", admin_id=1, created_at=now, last_seen_at=now)
        )
        rows[throttles].append(dict(key=f"ip:{key}", failures=1, last_failure_at=now))
        rows[handoffs].append(
            dict(id=f"h{key}", client_id="nox", url="https://nox/p", body={}, status="delivered",
                 attempts=1, created_at=now, next_attempt_at=now, finished_at=now)
        )  # fmt: skip
        rows[security_events].append(dict(at=now, kind="signin_failed", detail={}))
    async with store.engine.begin() as conn:
        for table, values in rows.items():
            await conn.execute(insert(table), values)


@pytest.fixture
async def populated(store: Store) -> Store:
    await add_user(store)
    async with store.engine.begin() as conn:
        await conn.execute(
            insert(admins).values(email="o@example.com", password_hash="x", role="owner",
                                  totp_secret="s", created_at=0)
        )  # fmt: skip
    return store


async def test_a_year_and_more_of_traffic_stays_bounded(
    populated: Store, settings: Settings, clock: FrozenClock
) -> None:
    store = populated
    sizes: list[dict[str, int]] = []
    for day in range(0, 450, 2):  # 450 days, two at a time, purged each time (the worker: hourly)
        await day_of_traffic(store, clock.now(), day)
        clock.advance(2 * DAY)
        await retention.purge(settings, store, clock)
        sizes.append(await store.retention.counts())
    final = sizes[-1]
    # What is still kept is what the periods say: a day of protocol rows, 30 days of sign-ins
    # and hand-offs, 400 days of security events (written every 2 days), nothing older.
    assert final == {
        "auth_sessions": 0,
        "authorization_codes": 0,
        "tokens": 15 * PER_DAY,  # refresh tokens live 30 days, then one day more
        "token_families": 15 * PER_DAY,  # each as long as its last token
        "link_sessions": 0,
        "password_resets": 0,
        "admin_enrolments": 0,
        "nox_webhook_receipts": 0,
        "login_sessions": 15 * PER_DAY,
        "admin_sessions": 0,
        "throttles": 0,
        "handoffs": 15 * PER_DAY,
        "security_events": 200 * PER_DAY,
    }
    # Bounded: after the first 400 days no table grows any more.
    assert sizes[-1] == sizes[-20]
    assert max(s["security_events"] for s in sizes) == 200 * PER_DAY


async def test_what_has_not_yet_expired_is_kept(
    populated: Store, settings: Settings, clock
) -> None:
    await day_of_traffic(populated, clock.now(), 0)
    clock.advance(DAY)  # the auth sessions ended 23h45 ago: a day has not passed yet
    deleted = await retention.purge(settings, populated, clock)
    assert deleted == dict.fromkeys(deleted, 0)
    clock.advance(3600)
    deleted = await retention.purge(settings, populated, clock)
    assert {k: v for k, v in deleted.items() if v} == {
        "auth_sessions": PER_DAY,
        "authorization_codes": PER_DAY,
        "link_sessions": PER_DAY,
        "password_resets": PER_DAY,
        "admin_enrolments": PER_DAY,
        "nox_webhook_receipts": PER_DAY,
        "admin_sessions": PER_DAY,
        "throttles": PER_DAY,
    }


async def test_purge_works_in_bounded_batches(populated: Store, settings: Settings, clock) -> None:
    for day in range(4):
        await day_of_traffic(populated, clock.now() - (10 + day) * DAY, day)
    small = settings.with_overrides(retention_batch=2)
    deleted = await populated.retention.purge(retention.cutoffs(small, clock.now()), 2, 3)
    assert deleted["auth_sessions"] == 6  # 3 batches of 2, of 12: the next run goes on
    assert (await populated.retention.counts())["auth_sessions"] == 6


@pytest.fixture
async def quick_worker(settings: Settings, clock: FrozenClock) -> AsyncIterator[Quart]:
    app = create_app(settings.with_overrides(retention_interval_seconds=0.05), clock)
    async with app.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


async def test_the_background_worker_purges(quick_worker: Quart, clock: FrozenClock) -> None:
    store: Store = quick_worker.extensions["idp"].store
    async with store.engine.begin() as conn:
        await conn.execute(
            insert(security_events).values(at=clock.now() - 401 * DAY, kind="old", detail={})
        )
        await conn.execute(insert(security_events).values(at=clock.now(), kind="new", detail={}))
    for _ in range(100):
        await asyncio.sleep(0.02)
        async with store.engine.connect() as conn:
            kinds = (await conn.execute(select(security_events.c.kind))).scalars().all()
        if kinds == ["new"]:
            break
    assert kinds == ["new"]


def test_idp_purge(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.test_cli import Cli

    cli = Cli(f"sqlite+aiosqlite:///{tmp_path / 'idp.sqlite3'}")
    cli.ok("migrate")

    async def seed(store: Store) -> None:
        async with store.engine.begin() as conn:
            await conn.execute(insert(security_events).values(at=1, kind="old", detail={}))
            await conn.execute(insert(throttles).values(key="ip:x", failures=1, last_failure_at=1))

    cli.query(seed)
    result = cli.ok("purge", "--json")
    deleted = json.loads(result.stdout)
    assert {k: v for k, v in deleted.items() if v} == {"security_events": 1, "throttles": 1}
    assert cli.ok("purge").stdout.splitlines()[0] == "auth_sessions\t0 deleted"


def test_migration_0008_creates_the_indexes_tables_py_declares(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine, inspect

    from idp.store.migrate import upgrade
    from idp.store.tables import metadata

    path = tmp_path / "idp.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    try:
        inspector = inspect(engine)
        for table in metadata.sorted_tables:
            declared = {i.name for i in table.indexes}
            found = {i["name"] for i in inspector.get_indexes(table.name)}
            assert declared <= found, (table.name, declared - found)
    finally:
        engine.dispose()


async def test_ips_and_browsers_are_forgotten_after_their_period(
    populated: Store, settings: Settings, clock: FrozenClock
) -> None:
    """An acceptance and a security event keep their row (for their own periods) but lose
    the IP address and browser after IDP_RETENTION_NETWORK_SECONDS (90 days)."""
    store = populated
    await store.terms.accept(
        user_id=1, version="v", language="nl", now=clock.now(), client_id="nox",
        ip="192.0.2.7", user_agent="Browser/1",
    )  # fmt: skip
    await store.events.record(
        kind="signin_failed", now=clock.now(), actor="a@example.com", ip="192.0.2.7", detail={}
    )

    async def recorded() -> list[tuple[Any, ...]]:
        [accepted] = await store.terms.acceptances_of(1)
        [event] = await store.events.recent("signin_failed")
        return [accepted["ip"], accepted["user_agent"], event["ip"]]

    clock.advance(89 * DAY)
    await retention.purge(settings, store, clock)
    assert await recorded() == ["192.0.2.7", "Browser/1", "192.0.2.7"]
    clock.advance(2 * DAY)
    await retention.purge(settings, store, clock)
    assert await recorded() == [None, None, None]


async def test_an_unused_admin_link_stays_listed_as_expired(
    populated: Store, settings: Settings, clock: FrozenClock
) -> None:
    async with populated.engine.begin() as conn:
        await conn.execute(
            insert(admin_enrolments).values(
                token_hash="unused", admin_id=1, purpose="invitation", created_at=clock.now(),
                created_by="o@example.com", expires_at=clock.now() + 3600,
            )
        )  # fmt: skip
    clock.advance(400 * DAY)
    await retention.purge(settings, populated, clock)
    assert (await populated.retention.counts())["admin_enrolments"] == 1
