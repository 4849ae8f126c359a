"""Small tables: service settings, sign-in throttles and the security event log."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from idp.store.base import Repository
from idp.store.tables import security_events, settings, throttles

MAX_RESERVE_TRIES = 100
# decide(failures, last_failure_at) of a throttle row: (seconds to wait, new count when 0)
Decide = Callable[[int, int], tuple[int, int]]


class ServiceSettings(Repository):
    async def get_or_create(self, key: str, value: str) -> str:
        """Return the stored value, storing `value` first when there is none (race-safe)."""
        async with self.connect() as conn:
            found = await conn.scalar(select(settings.c.value).where(settings.c.key == key))
        if found is not None:
            return str(found)
        try:
            async with self.begin() as conn:
                await conn.execute(insert(settings).values(key=key, value=value))
            return value
        except IntegrityError:
            async with self.connect() as conn:
                return str(await conn.scalar(select(settings.c.value).where(settings.c.key == key)))


class Throttles(Repository):
    """Counting, taking back and clearing attempts are units of work (units.py): on SQLite each
    is one hand-off to the writer thread, committed with whatever else is waiting, instead of a
    transaction of three to five statements through the async driver."""

    async def get(self, keys: list[str]) -> dict[str, tuple[int, int]]:
        async with self.connect() as conn:
            rows = (await conn.execute(select(throttles).where(throttles.c.key.in_(keys)))).all()
        return {r.key: (r.failures, r.last_failure_at) for r in rows}

    async def reserve(self, key: str, now: int, decide: Decide) -> int:
        """Count an attempt for `key` now, unless it must still wait; returns that wait (0: the
        attempt is counted). `decide(failures, last_failure_at)` of the stored row says how
        long to wait and, when that is 0, the new count.

        The transaction writes the row first (a no-op update), so it holds the row (PostgreSQL)
        or the database's write lock (SQLite) before it reads the count: concurrent attempts
        queue and each sees the count the others left. A burst can neither all pass the check
        before any is counted, nor starve one another (as a compare-and-set retried against a
        steady stream of attempts from one shared address could)."""
        return await self.units.run(partial(_reserve, key, now, decide), self.conn)

    async def reserve_all(self, reservations: list[tuple[str, Decide]], now: int) -> int:
        """`reserve` for each key in turn, in one unit of work: all are counted, or none. The
        first key that must wait refuses the attempt (its wait is returned) and the keys counted
        before it are taken back in the same transaction."""
        return await self.units.run(partial(_reserve_all, reservations, now), self.conn)

    async def clear(self, key: str) -> None:
        await self.settle(clear=[key])

    async def settle(self, *, clear: Sequence[str] = (), release: Sequence[str] = ()) -> None:
        """In one unit of work: forget the counts of `clear`, take back one attempt of each of
        `release`."""

        def unit(conn: Connection) -> None:
            for key in clear:
                conn.execute(delete(throttles).where(throttles.c.key == key))
            for key in release:
                _release(key, conn)

        await self.units.run(unit, self.conn)


def _release(key: str, conn: Connection) -> None:
    conn.execute(
        update(throttles)
        .where(throttles.c.key == key, throttles.c.failures > 0)
        .values(failures=throttles.c.failures - 1)
    )


def _reserve_all(reservations: list[tuple[str, Decide]], now: int, conn: Connection) -> int:
    counted: list[str] = []
    for key, decide in reservations:
        wait = _reserve(key, now, decide, conn)
        if wait:
            for done in counted:
                _release(done, conn)
            return wait
        counted.append(key)
    return 0


def _reserve(key: str, now: int, decide: Decide, conn: Connection) -> int:
    for _ in range(MAX_RESERVE_TRIES):
        held = conn.execute(
            update(throttles).where(throttles.c.key == key).values(key=throttles.c.key)
        )
        if held.rowcount == 0:
            try:
                with conn.begin_nested():
                    conn.execute(insert(throttles).values(key=key, failures=1, last_failure_at=now))
                return 0
            except IntegrityError:
                continue  # another attempt created it (PostgreSQL): decide on its row
        row = conn.execute(select(throttles).where(throttles.c.key == key)).one()
        wait, failures = decide(row.failures, row.last_failure_at)
        if wait > 0:
            return wait
        conn.execute(
            update(throttles)
            .where(throttles.c.key == key)
            .values(failures=failures, last_failure_at=now)
        )
        return 0
    return 1  # the row kept vanishing and reappearing: refuse this one rather than check it


class SecurityEvents(Repository):
    async def record(
        self,
        *,
        kind: str,
        now: int,
        actor: str | None,
        ip: str | None,
        detail: dict[str, Any],
        once_within: int | None = None,
    ) -> bool:
        """Write one event; with `once_within`, only when no event of this kind, actor and IP
        was written in the last `once_within` seconds (a refused burst stays one row). True
        when a row was written."""
        async with self.begin() as conn:
            if once_within is not None:
                recent = await conn.scalar(
                    select(security_events.c.id)
                    .where(
                        security_events.c.kind == kind,
                        security_events.c.at > now - once_within,
                        security_events.c.actor == actor,
                        security_events.c.ip == ip,
                    )
                    .limit(1)
                )
                if recent is not None:
                    return False
            await conn.execute(
                insert(security_events).values(at=now, kind=kind, actor=actor, ip=ip, detail=detail)
            )
        return True

    async def count_anonymous(
        self, *, kind: str, now: int, ip: str, reason: str, window: int
    ) -> bool:
        """Count an event nobody signed in caused in the row for `ip` opened less than `window`
        seconds ago, or open one: anonymous noise stays one row per IP and window. True when a
        row was opened."""
        async with self.begin() as conn:
            row = (
                await conn.execute(
                    select(security_events.c.id, security_events.c.detail)
                    .where(
                        security_events.c.kind == kind,
                        security_events.c.at > now - window,
                        security_events.c.actor.is_(None),
                        security_events.c.ip == ip,
                    )
                    .order_by(security_events.c.id.desc())
                    .limit(1)
                    .with_for_update()
                )
            ).first()
            detail = dict(row.detail) if row is not None else {}
            if row is None or not detail.get("anonymous"):
                detail = {"anonymous": True, "count": 1, "reasons": {reason: 1}, "last_at": now}
                await conn.execute(
                    insert(security_events).values(
                        at=now, kind=kind, actor=None, ip=ip, detail=detail
                    )
                )
                return True
            reasons = dict(detail.get("reasons") or {})
            reasons[reason] = int(reasons.get(reason, 0)) + 1
            detail.update(count=int(detail.get("count", 0)) + 1, reasons=reasons, last_at=now)
            await conn.execute(
                update(security_events).where(security_events.c.id == row.id).values(detail=detail)
            )
            return False

    async def recent(
        self,
        kind: str | None = None,
        limit: int = 100,
        actor: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[dict[str, Any]]:
        """The audit log, newest first: admin changes and security events."""
        query = select(security_events).order_by(security_events.c.id.desc()).limit(limit)
        if kind:
            query = query.where(security_events.c.kind.startswith(kind, autoescape=True))
        if actor:
            query = query.where(security_events.c.actor == actor)
        if since is not None:
            query = query.where(security_events.c.at >= since)
        if until is not None:
            query = query.where(security_events.c.at < until)
        async with self.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [dict(r._mapping) for r in rows]
