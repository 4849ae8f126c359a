"""The hand-off outbox. Claims are conditional UPDATEs with a lease, so two workers (or two
processes) never attempt one delivery at the same time, and a delivered row is never claimed."""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select, update

from idp.records import Handoff
from idp.store.base import Repository, to_record
from idp.store.tables import handoffs
from idp.vocab import HANDOFF_DELIVERED as DELIVERED
from idp.vocab import HANDOFF_EXPIRED as EXPIRED
from idp.vocab import HANDOFF_FAILED as FAILED
from idp.vocab import HANDOFF_PENDING as PENDING


def _claimable(now: int):
    return and_(
        handoffs.c.status == PENDING,
        or_(handoffs.c.lease_until.is_(None), handoffs.c.lease_until <= now),
    )


class Outbox(Repository):
    async def get(self, handoff_id: str) -> Handoff | None:
        async with self.connect() as conn:
            row = (await conn.execute(select(handoffs).where(handoffs.c.id == handoff_id))).first()
        return to_record(Handoff, row)

    async def claim(self, handoff_id: str, now: int, lease_seconds: int) -> Handoff | None:
        async with self.begin() as conn:
            result = await conn.execute(
                update(handoffs)
                .where(handoffs.c.id == handoff_id, _claimable(now))
                .values(lease_until=now + lease_seconds, attempts=handoffs.c.attempts + 1)
            )
            if result.rowcount != 1:
                return None
            row = (await conn.execute(select(handoffs).where(handoffs.c.id == handoff_id))).first()
        return to_record(Handoff, row)

    async def due(self, now: int, limit: int = 20) -> list[str]:
        async with self.connect() as conn:
            ids = await conn.scalars(
                select(handoffs.c.id)
                .where(_claimable(now), handoffs.c.next_attempt_at <= now)
                .order_by(handoffs.c.next_attempt_at)
                .limit(limit)
            )
            return list(ids)

    async def _finish(self, handoff_id: str, **values: object) -> None:
        async with self.begin() as conn:
            await conn.execute(
                update(handoffs)
                .where(handoffs.c.id == handoff_id, handoffs.c.status == PENDING)
                .values(lease_until=None, **values)
            )

    async def delivered(self, handoff_id: str, now: int, status: int) -> None:
        await self._finish(
            handoff_id, status=DELIVERED, finished_at=now, last_status=status, last_error=None
        )

    async def failed(self, handoff_id: str, now: int, status: int | None, error: str) -> None:
        await self._finish(
            handoff_id, status=FAILED, finished_at=now, last_status=status, last_error=error
        )

    async def expired(self, handoff_id: str, now: int) -> None:
        await self._finish(
            handoff_id,
            status=EXPIRED,
            finished_at=now,
            last_error="the authentication session ended before NOX received it",
        )

    async def retry_later(
        self, handoff_id: str, next_attempt_at: int, status: int | None, error: str
    ) -> None:
        await self._finish(
            handoff_id, next_attempt_at=next_attempt_at, last_status=status, last_error=error
        )

    async def retry_now(self, handoff_id: str, now: int) -> bool:
        """Put a failed (or waiting) hand-off back in line; a delivered one stays delivered, and
        one whose authentication session has ended cannot mean anything to NOX any more."""
        async with self.begin() as conn:
            result = await conn.execute(
                update(handoffs)
                .where(
                    handoffs.c.id == handoff_id,
                    handoffs.c.status.in_((PENDING, FAILED)),
                    or_(handoffs.c.expires_at.is_(None), handoffs.c.expires_at > now),
                )
                .values(status=PENDING, next_attempt_at=now, lease_until=None, finished_at=None)
            )
        return result.rowcount == 1

    async def finished_since(self, since: int) -> list[tuple[int, str]]:
        """(finished_at, status) of the hand-offs delivered or given up since `since`."""
        query = select(handoffs.c.finished_at, handoffs.c.status).where(
            handoffs.c.finished_at >= since, handoffs.c.status.in_((DELIVERED, FAILED))
        )
        async with self.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(int(r.finished_at), str(r.status)) for r in rows]

    async def count(self, status: str) -> int:
        async with self.connect() as conn:
            found = await conn.scalar(
                select(func.count()).select_from(handoffs).where(handoffs.c.status == status)
            )
        return int(found or 0)

    async def list(self, status: str | None = None, limit: int = 200) -> list[Handoff]:
        query = select(handoffs).order_by(handoffs.c.created_at.desc()).limit(limit)
        if status:
            query = query.where(handoffs.c.status == status)
        async with self.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [h for h in (to_record(Handoff, r) for r in rows) if h is not None]
