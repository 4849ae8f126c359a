"""Link sessions (flow 2) and the device registry, with NOX's rules and a history of changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from idp.store.base import Repository, to_record
from idp.store.records import Device, LinkSession
from idp.store.tables import device_history, devices, link_sessions


@dataclass(frozen=True)
class LinkOutcome:
    """What completing a link session changed in the registry."""

    linked: list[str]
    replaced: list[str]
    moved_from: dict[str, str]  # device_id -> the supplier_user_id it was taken from


class Links(Repository):
    async def add_session(self, session: LinkSession) -> None:
        async with self.begin() as conn:
            await conn.execute(insert(link_sessions).values(**session.__dict__))

    async def get_session(self, session_id: str) -> LinkSession | None:
        async with self.connect() as conn:
            row = (
                await conn.execute(select(link_sessions).where(link_sessions.c.id == session_id))
            ).first()
        return to_record(LinkSession, row)

    async def open_session_for(self, user_id: int, now: int) -> LinkSession | None:
        """The newest link session of this customer that is neither completed nor expired."""
        async with self.connect() as conn:
            row = (
                await conn.execute(
                    select(link_sessions)
                    .where(
                        link_sessions.c.user_id == user_id,
                        link_sessions.c.completed_at.is_(None),
                        link_sessions.c.expires_at > now,
                    )
                    .order_by(link_sessions.c.created_at.desc(), link_sessions.c.id.desc())
                    .limit(1)
                )
            ).first()
        return to_record(LinkSession, row)

    async def sessions_for(self, user_id: int) -> list[LinkSession]:
        async with self.connect() as conn:
            rows = (
                await conn.execute(
                    select(link_sessions)
                    .where(link_sessions.c.user_id == user_id)
                    .order_by(link_sessions.c.created_at.desc())
                )
            ).all()
        return [s for s in (to_record(LinkSession, r) for r in rows) if s is not None]

    async def complete(
        self,
        session: LinkSession,
        *,
        nox_user_id: str,
        brand: str,
        device_ids: list[str],
        connected_at: int,
        now: int,
    ) -> LinkOutcome | None:
        """Complete the session (once) and apply NOX's rules, all in one transaction.

        Re-linking under the same supplier_user_id replaces that customer's devices of the same
        asset type; a device linked to another customer moves to this one. None when the session
        was completed meanwhile (a replay)."""
        async with self.begin() as conn:
            claimed = await conn.execute(
                update(link_sessions)
                .where(link_sessions.c.id == session.id, link_sessions.c.completed_at.is_(None))
                .values(completed_at=now)
            )
            if claimed.rowcount != 1:
                return None
            history: list[dict[str, Any]] = []

            def note(
                device_id: str, action: str, supplier_user_id: str, nox_id: str | None
            ) -> None:
                history.append(
                    {
                        "at": now,
                        "device_id": device_id,
                        "action": action,
                        "supplier_user_id": supplier_user_id,
                        "nox_user_id": nox_id,
                        "brand": brand,
                        "link_session_id": session.id,
                    }
                )

            wanted = set(device_ids)
            own = (
                await conn.execute(
                    select(devices).where(
                        devices.c.user_id == session.user_id,
                        devices.c.asset_type == session.asset_type,
                    )
                )
            ).all()
            replaced = [row.device_id for row in own if row.device_id not in wanted]
            for device_id in replaced:
                note(device_id, "replaced", session.supplier_user_id, nox_user_id)
            if replaced:
                await conn.execute(delete(devices).where(devices.c.device_id.in_(replaced)))
            others = (
                await conn.execute(
                    select(devices).where(
                        devices.c.device_id.in_(wanted), devices.c.user_id != session.user_id
                    )
                )
            ).all()
            moved_from = {row.device_id: row.supplier_user_id for row in others}
            for row in others:
                note(row.device_id, "moved_away", row.supplier_user_id, row.nox_user_id)
            await conn.execute(delete(devices).where(devices.c.device_id.in_(wanted)))
            for device_id in device_ids:
                note(device_id, "linked", session.supplier_user_id, nox_user_id)
            await conn.execute(
                insert(devices),
                [
                    {
                        "device_id": device_id,
                        "user_id": session.user_id,
                        "supplier_user_id": session.supplier_user_id,
                        "nox_user_id": nox_user_id,
                        "brand": brand,
                        "asset_type": session.asset_type,
                        "connected_at": connected_at,
                        "linked_at": now,
                        "link_session_id": session.id,
                    }
                    for device_id in device_ids
                ],
            )
            await conn.execute(insert(device_history), history)
        return LinkOutcome(linked=list(device_ids), replaced=replaced, moved_from=moved_from)

    async def devices_of(self, user_id: int) -> list[Device]:
        async with self.connect() as conn:
            rows = (
                await conn.execute(
                    select(devices)
                    .where(devices.c.user_id == user_id)
                    .order_by(devices.c.linked_at.desc(), devices.c.device_id)
                )
            ).all()
        return [d for d in (to_record(Device, r) for r in rows) if d is not None]

    async def all_devices(self) -> list[Device]:
        async with self.connect() as conn:
            rows = (await conn.execute(select(devices).order_by(devices.c.supplier_user_id))).all()
        return [d for d in (to_record(Device, r) for r in rows) if d is not None]

    async def history(
        self, device_id: str | None = None, supplier_user_id: str | None = None
    ) -> list[dict[str, Any]]:
        query = select(device_history).order_by(device_history.c.id)
        if device_id:
            query = query.where(device_history.c.device_id == device_id)
        if supplier_user_id:
            query = query.where(device_history.c.supplier_user_id == supplier_user_id)
        async with self.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query)).all()]
