"""What NOX's webhooks say about devices, and which webhooks were received already."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from idp.store.base import Repository
from idp.store.tables import device_status, devices, nox_webhook_receipts

# The two facts a webhook may update, each with the column of the time NOX gave it.
AT_COLUMNS = {"steerable": "steerable_at", "reauthentication": "reauthentication_at"}


async def _row_exists(conn: AsyncConnection, device_id: str) -> None:
    """device_status gets a row for the device, whoever inserts it first (no error). Each
    dialect's INSERT is imported here, so that a worker on SQLite never loads PostgreSQL's
    dialect (about 2 MiB of its memory) nor the other way round."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        await conn.execute(
            pg_insert(device_status).values(device_id=device_id).on_conflict_do_nothing()
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        await conn.execute(
            sqlite_insert(device_status).values(device_id=device_id).on_conflict_do_nothing()
        )


class DeviceStatuses(Repository):
    async def receive(
        self, webhook_id: str, now: int, device_id: str, fact: str, values: dict[str, Any], at: int
    ) -> str:
        """Apply one webhook, once: "applied", "duplicate" (this id was received before:
        nothing changes), "stale" (NOX said something newer already) or "unknown_device" (not
        linked here; recorded as received, nothing stored)."""
        at_column = AT_COLUMNS[fact]
        try:
            async with self.begin() as conn:
                await conn.execute(
                    insert(nox_webhook_receipts).values(id=webhook_id, received_at=now)
                )
                linked = await conn.scalar(
                    select(devices.c.device_id).where(devices.c.device_id == device_id)
                )
                if linked is None:
                    return "unknown_device"
                await _row_exists(conn, device_id)
                when = device_status.c[at_column]
                changed = await conn.execute(
                    update(device_status)
                    .where(
                        device_status.c.device_id == device_id,
                        or_(when.is_(None), when <= at),
                    )
                    .values({at_column: at, **values})
                )
                return "applied" if changed.rowcount == 1 else "stale"
        except IntegrityError:
            return "duplicate"

    async def of_devices(self, device_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not device_ids:
            return {}
        async with self.connect() as conn:
            rows = (
                await conn.execute(
                    select(device_status).where(device_status.c.device_id.in_(device_ids))
                )
            ).all()
        return {row.device_id: dict(row._mapping) for row in rows}
