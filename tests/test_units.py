"""Units of work (store/units.py): on SQLite the writer thread commits the units waiting in one
transaction; a unit that raises loses only its own changes; a result is handed back only once
committed; closing the store commits what was queued; two writers on one file take turns."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.engine import Connection

from idp.store import Store, units
from idp.store.tables import settings as kv
from idp.store.units import SqliteWriter


def put(key: str, value: str = "v") -> object:
    def unit(conn: Connection) -> str:
        conn.execute(insert(kv).values(key=key, value=value))
        return key

    return unit


def put_then_fail(key: str) -> object:
    def unit(conn: Connection) -> str:
        conn.execute(insert(kv).values(key=key, value="half"))
        raise LookupError(key)

    return unit


async def keys(store: Store) -> set[str]:
    async with store.engine.connect() as conn:
        return set((await conn.scalars(select(kv.c.key).where(kv.c.key.like("u%")))).all())


def writer_of(store: Store) -> SqliteWriter:
    if store.units.writer is None:
        pytest.skip("the writer thread is SQLite's; PostgreSQL runs units on the loop")
    return store.units.writer


async def test_a_unit_that_raises_loses_only_its_own_changes(store: Store) -> None:
    """Several units in flight at once, one of them failing half-way (on SQLite they share a
    batch: see the next test): every other unit's row is stored, none of the failing one's."""
    units = [put(f"u{n}") for n in range(20)]
    units[7] = put_then_fail("u7")
    outcomes = await asyncio.gather(
        *(store.units.run(u) for u in units),  # type: ignore[arg-type]
        return_exceptions=True,
    )
    assert isinstance(outcomes[7], LookupError)
    assert [o for i, o in enumerate(outcomes) if i != 7] == [f"u{n}" for n in range(20) if n != 7]
    assert await keys(store) == {f"u{n}" for n in range(20)} - {"u7"}


async def test_the_units_waiting_commit_in_one_transaction(store: Store) -> None:
    writer = writer_of(store)
    commits: list[int] = []
    event.listen(writer.engine, "commit", lambda conn: commits.append(1))
    held, release = threading.Event(), threading.Event()

    def hold(conn: Connection) -> None:
        held.set()
        release.wait(10)

    first = asyncio.ensure_future(store.units.run(hold))
    await asyncio.to_thread(held.wait, 10)  # the writer is busy: the next units queue up
    pending = [asyncio.ensure_future(store.units.run(put(f"u{n}"))) for n in range(30)]  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    release.set()
    await first
    assert await asyncio.gather(*pending) == [f"u{n}" for n in range(30)]
    assert len(commits) == 2, "the held unit's transaction, then one for all thirty"
    assert await keys(store) == {f"u{n}" for n in range(30)}


async def test_a_result_comes_back_only_once_committed(store: Store) -> None:
    """What a unit wrote is visible to every other connection when its caller gets the result."""
    for n in range(20):
        key = await store.units.run(put(f"u{n}"))  # type: ignore[arg-type]
        async with store.engine.connect() as conn:
            assert await conn.scalar(select(kv.c.value).where(kv.c.key == key)) == "v"


async def test_closing_commits_every_unit_queued_before(tmp_path: Path, settings: object) -> None:
    store = Store.connect(settings.database_url)  # type: ignore[attr-defined]
    pending = [asyncio.ensure_future(store.units.run(put(f"u{n}"))) for n in range(50)]  # type: ignore[arg-type]
    await asyncio.sleep(0)  # queued, most not yet committed
    await store.close()
    assert [await p for p in pending] == [f"u{n}" for n in range(50)]
    again = Store.connect(settings.database_url)  # type: ignore[attr-defined]
    try:
        assert await keys(again) == {f"u{n}" for n in range(50)}
        with pytest.raises(RuntimeError):
            await store.units.run(put("late"))  # type: ignore[arg-type]
    finally:
        await again.close()


async def test_two_writers_on_one_file_take_turns(store: Store, settings: object) -> None:
    """Two writers (as two worker processes have) increment one counter 200 times each, in
    parallel: no increment is lost and none fails on a locked database."""
    writer_of(store)
    other = Store.connect(settings.database_url)  # type: ignore[attr-defined]
    await store.units.run(put("u-counter", "0"))  # type: ignore[arg-type]

    def increment(conn: Connection) -> None:
        value = int(conn.scalar(select(kv.c.value).where(kv.c.key == "u-counter")) or 0)
        conn.execute(update(kv).where(kv.c.key == "u-counter").values(value=str(value + 1)))

    try:
        await asyncio.gather(*(s.units.run(increment) for _ in range(200) for s in (store, other)))
    finally:
        await other.close()
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(kv.c.value).where(kv.c.key == "u-counter")) == "400"


async def test_the_writer_waits_for_a_write_lock_held_elsewhere(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sign-in page's transaction holds SQLite's write lock: the unit waits for it, looking
    again every half millisecond itself (SQLite's own handler, which sleeps in steps of up to
    100 ms, is off on the writer's connection), then commits. Counted, not timed: a timed
    bound flakes on a shared machine."""
    polls: list[float] = []

    class CountingTime:
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def sleep(seconds: float) -> None:
            polls.append(seconds)
            time.sleep(seconds)

    monkeypatch.setattr(units, "time", CountingTime)
    writer_of(store)
    async with store.engine.begin() as conn:
        await conn.execute(insert(kv).values(key="u-held", value="v"))  # the lock is taken
        unit = asyncio.ensure_future(store.units.run(put("u-after")))  # type: ignore[arg-type]
        await asyncio.sleep(0.35)  # SQLite's handler would have looked 8 times by now
        assert not unit.done()
    assert await unit == "u-after"
    assert len(polls) > 20 and set(polls) == {units.LOCK_POLL_SECONDS}
    assert await keys(store) == {"u-held", "u-after"}


async def test_prepared_statements_run_in_the_units_transaction(store: Store) -> None:
    """units.Prepared runs on the unit's connection, so its writes commit or roll back with the
    unit's Core statements; scalar() of no row is None. On SQLite and PostgreSQL alike."""
    put_kv = units.Prepared(insert(kv).values(key=bindparam("key"), value=bindparam("value")))
    value_of = units.Prepared(select(kv.c.value).where(kv.c.key == bindparam("key")))

    def both(conn: Connection) -> object:
        put_kv.run(conn, {"key": "u-prepared", "value": "p"})
        conn.execute(insert(kv).values(key="u-core", value="c"))
        return value_of.scalar(conn, {"key": "u-prepared"}), value_of.scalar(conn, {"key": "x"})

    def then_fail(conn: Connection) -> None:
        put_kv.run(conn, {"key": "u-lost", "value": "p"})
        raise LookupError("u-lost")

    assert await store.units.run(both) == ("p", None)  # type: ignore[arg-type]
    with pytest.raises(LookupError):
        await store.units.run(then_fail)  # type: ignore[arg-type]
    assert await keys(store) == {"u-prepared", "u-core"}


def test_prepared_refuses_a_statement_whose_parameters_need_converting() -> None:
    from sqlalchemy import Column, DateTime, MetaData, Table
    from sqlalchemy.dialects import sqlite

    stamped = Table("stamped", MetaData(), Column("at", DateTime))
    prepared = units.Prepared(insert(stamped).values(at=bindparam("at")))
    with pytest.raises(TypeError, match="needs converting"):
        prepared._compile(sqlite.dialect())


async def test_the_checkpointer_keeps_the_log_short_under_writers_that_never_pause(
    store: Store, settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's connection never checkpoints (wal_autocheckpoint=0): the Checkpointer
    thread copies the log into the database file, and takes the writers' lock for a checkpoint
    once the log is long, since passive checkpoints cannot catch up with writers that never
    pause (on token load with 2 workers the log grew to 457 MiB in 12 s with only those). Two
    writers, as two worker processes have, write for 2 s without a pause: the log stays far
    shorter than what they wrote (20-33% here; about 190% without the locked checkpoints), and
    the database file holds it."""
    monkeypatch.setattr(units, "BIG_LOG_FRAMES", 200)
    writer = writer_of(store)
    path = Path(settings.database_url.split("///", 1)[1])  # type: ignore[attr-defined]
    wal = path.with_name(path.name + "-wal")
    with writer.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    size_before = path.stat().st_size
    other = Store.connect(settings.database_url)  # type: ignore[attr-defined]
    big = "x" * 8000  # two pages a row
    written: list[int] = []
    longest = 0
    deadline = time.monotonic() + 2

    async def stream(writer: Store, n: int) -> None:  # a unit always waiting for each writer
        nonlocal longest
        while time.monotonic() < deadline:
            await writer.units.run(put(f"u{n}-{len(written)}-{id(writer)}", big))  # type: ignore[arg-type]
            written.append(2)
            longest = max(longest, wal.stat().st_size // 4096)

    try:
        await asyncio.gather(*(stream(s, n) for n in range(4) for s in (store, other)))
    finally:
        await other.close()
    assert sum(written) > 1000  # pages
    assert longest < sum(written)  # with passive checkpoints only: about twice as long
    assert path.stat().st_size > size_before + sum(written) / 2 * 4096
