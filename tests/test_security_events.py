"""Security events (store/misc.py): a burst of the same refused attempt stays one row."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from idp.store import Store
from idp.store.tables import security_events


async def test_parallel_once_within_events_write_one_row(store: Store) -> None:
    """Twenty events of one kind, actor and IP written at once, each only if none was written in
    the last minute: exactly one row, and exactly one call says it wrote it. On SQLite each is a
    unit of work, its read and its write under the write lock; on PostgreSQL (READ COMMITTED)
    two may each find none, so this holds on SQLite only."""
    if store.units.writer is None:
        pytest.skip("PostgreSQL does not serialise these; a duplicate row there is tolerated")

    async def throttled(now: int) -> bool:
        return await store.events.record(
            kind="signin_throttled",
            now=now,
            actor="a@example.com",
            ip="192.0.2.1",
            detail={"wait": 30},
            once_within=60,
        )

    for round_ in range(5):  # a minute and more apart: each round writes its own row
        now = 1_000 + 100 * round_
        wrote = await asyncio.gather(*(throttled(now) for _ in range(20)))
        async with store.engine.connect() as conn:
            rows = await conn.scalar(select(func.count()).where(security_events.c.at == now))
        assert (sum(wrote), rows) == (1, 1), f"round {round_}"
