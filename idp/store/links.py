"""Link sessions (flow 2) and the device registry, with NOX's rules and a history of changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from idp.records import Device, HeldLink, LinkSession
from idp.store.base import Repository, to_record
from idp.store.tables import (
    device_first_links,
    device_history,
    devices,
    held_links,
    link_sessions,
)
from idp.vocab import HELD, HELD_APPROVED, HELD_REJECTED


class MoveNotConfirmed(Exception):
    """Completing would move devices away from another customer without NOX's confirmation."""

    def __init__(self, moved_from: dict[str, str]) -> None:
        super().__init__(sorted(moved_from))
        self.moved_from = moved_from


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

    async def holders(self, device_ids: list[str], user_id: int) -> dict[str, str]:
        """The devices among `device_ids` another customer holds: device_id -> their
        supplier_user_id."""
        async with self.connect() as conn:
            return await self._holders(conn, device_ids, user_id)

    @staticmethod
    async def _holders(
        conn: AsyncConnection, device_ids: list[str], user_id: int
    ) -> dict[str, str]:
        rows = (
            await conn.execute(
                select(devices.c.device_id, devices.c.supplier_user_id).where(
                    devices.c.device_id.in_(device_ids), devices.c.user_id != user_id
                )
            )
        ).all()
        return {row.device_id: row.supplier_user_id for row in rows}

    async def complete(
        self,
        session: LinkSession,
        *,
        nox_user_id: str,
        brand: str,
        device_ids: list[str],
        connected_at: int,
        now: int,
        may_move: bool = True,
    ) -> LinkOutcome | None:
        """Complete the session (once) and apply NOX's rules, all in one transaction.

        Re-linking under the same supplier_user_id replaces that customer's devices of the same
        asset type; a device linked to another customer moves to this one, but only with
        `may_move` (NOX confirmed it): otherwise MoveNotConfirmed, and nothing is written, even
        when the other customer linked the device a moment after the caller looked. None when
        the session was completed meanwhile (a replay)."""
        async with self.begin() as conn:
            if not await self._claim(conn, session.id, now):
                return None
            if not may_move:
                holders = await self._holders(conn, device_ids, session.user_id)
                if holders:
                    raise MoveNotConfirmed(holders)  # rolls the claim back too
            return await self._apply(
                conn,
                user_id=session.user_id,
                supplier_user_id=session.supplier_user_id,
                asset_type=session.asset_type,
                link_session_id=session.id,
                nox_user_id=nox_user_id,
                brand=brand,
                device_ids=device_ids,
                connected_at=connected_at,
                now=now,
            )

    async def hold(
        self,
        session: LinkSession,
        *,
        held_id: str,
        nox_user_id: str,
        brand: str,
        device_ids: list[str],
        connected_at: int,
        moved_from: dict[str, str],
        reason: str,
        now: int,
    ) -> bool:
        """Complete the session (once) without touching the registry, keeping the claim for an
        operator. False when the session was completed meanwhile (a replay)."""
        async with self.begin() as conn:
            if not await self._claim(conn, session.id, now):
                return False
            await conn.execute(
                insert(held_links).values(
                    id=held_id,
                    link_session_id=session.id,
                    user_id=session.user_id,
                    supplier_user_id=session.supplier_user_id,
                    nox_user_id=nox_user_id,
                    brand=brand,
                    asset_type=session.asset_type,
                    device_ids=list(device_ids),
                    connected_at=connected_at,
                    moved_from=moved_from,
                    reason=reason,
                    status=HELD,
                    created_at=now,
                )
            )
        return True

    async def held(self, status: str | None = HELD) -> list[HeldLink]:
        query = select(held_links).order_by(held_links.c.created_at, held_links.c.id)
        if status:
            query = query.where(held_links.c.status == status)
        async with self.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [h for h in (to_record(HeldLink, r) for r in rows) if h is not None]

    async def decide_held(
        self, held_id: str, *, approve: bool, now: int, decided_by: str
    ) -> tuple[HeldLink, LinkOutcome | None] | None:
        """Approve (apply NOX's rules now) or reject a held claim, once. None when there is no
        held claim with this id."""
        async with self.begin() as conn:
            decided = await conn.execute(
                update(held_links)
                .where(held_links.c.id == held_id, held_links.c.status == HELD)
                .values(
                    status=HELD_APPROVED if approve else HELD_REJECTED,
                    decided_at=now,
                    decided_by=decided_by,
                )
            )
            if decided.rowcount != 1:
                return None
            row = (await conn.execute(select(held_links).where(held_links.c.id == held_id))).first()
            held = to_record(HeldLink, row)
            assert held is not None
            if not approve:
                return held, None
            outcome = await self._apply(
                conn,
                user_id=held.user_id,
                supplier_user_id=held.supplier_user_id,
                asset_type=held.asset_type,
                link_session_id=held.link_session_id,
                nox_user_id=held.nox_user_id,
                brand=held.brand,
                device_ids=held.device_ids,
                connected_at=held.connected_at,
                now=now,
            )
        return held, outcome

    @staticmethod
    async def _claim(conn: AsyncConnection, session_id: str, now: int) -> bool:
        claimed = await conn.execute(
            update(link_sessions)
            .where(link_sessions.c.id == session_id, link_sessions.c.completed_at.is_(None))
            .values(completed_at=now)
        )
        return claimed.rowcount == 1

    @staticmethod
    async def _apply(
        conn: AsyncConnection,
        *,
        user_id: int,
        supplier_user_id: str,
        asset_type: str,
        link_session_id: str,
        nox_user_id: str,
        brand: str,
        device_ids: list[str],
        connected_at: int,
        now: int,
    ) -> LinkOutcome:
        history: list[dict[str, Any]] = []

        def note(device_id: str, action: str, owner: str, nox_id: str | None) -> None:
            history.append(
                {
                    "at": now,
                    "device_id": device_id,
                    "action": action,
                    "supplier_user_id": owner,
                    "nox_user_id": nox_id,
                    "brand": brand,
                    "link_session_id": link_session_id,
                }
            )

        wanted = set(device_ids)
        own = (
            await conn.execute(
                select(devices).where(
                    devices.c.user_id == user_id, devices.c.asset_type == asset_type
                )
            )
        ).all()
        replaced = [row.device_id for row in own if row.device_id not in wanted]
        for device_id in replaced:
            note(device_id, "replaced", supplier_user_id, nox_user_id)
        if replaced:
            await conn.execute(delete(devices).where(devices.c.device_id.in_(replaced)))
        others = (
            await conn.execute(
                select(devices).where(devices.c.device_id.in_(wanted), devices.c.user_id != user_id)
            )
        ).all()
        moved_from = {row.device_id: row.supplier_user_id for row in others}
        for row in others:
            note(row.device_id, "moved_away", row.supplier_user_id, row.nox_user_id)
        await conn.execute(delete(devices).where(devices.c.device_id.in_(wanted)))
        first = {
            row.device_id: row.first_linked_at
            for row in (
                await conn.execute(
                    select(device_first_links).where(device_first_links.c.device_id.in_(wanted))
                )
            ).all()
        }
        new = [d for d in device_ids if d not in first]
        if new:
            await conn.execute(
                insert(device_first_links),
                [
                    {"device_id": d, "first_linked_at": now, "first_connected_at": connected_at}
                    for d in new
                ],
            )
        for device_id in device_ids:
            note(device_id, "linked", supplier_user_id, nox_user_id)
        await conn.execute(
            insert(devices),
            [
                {
                    "device_id": device_id,
                    "user_id": user_id,
                    "supplier_user_id": supplier_user_id,
                    "nox_user_id": nox_user_id,
                    "brand": brand,
                    "asset_type": asset_type,
                    "connected_at": connected_at,
                    "linked_at": now,
                    "link_session_id": link_session_id,
                    "first_linked_at": first.get(device_id, now),
                }
                for device_id in device_ids
            ],
        )
        await conn.execute(insert(device_history), history)
        return LinkOutcome(linked=list(device_ids), replaced=replaced, moved_from=moved_from)

    async def disconnect(self, user_id: int, device_id: str, now: int) -> Device | None:
        """Remove the customer's link to a device, keeping its history (`disconnected`); None
        when they hold no such device (nothing changed). The DELETE is conditional, so of two
        racing disconnects (or a disconnect racing a move) only one writes history."""
        async with self.begin() as conn:
            row = (
                await conn.execute(
                    select(devices).where(
                        devices.c.device_id == device_id, devices.c.user_id == user_id
                    )
                )
            ).first()
            device = to_record(Device, row)
            if device is None:
                return None
            removed = await conn.execute(
                delete(devices).where(
                    devices.c.device_id == device_id,
                    devices.c.user_id == user_id,
                    devices.c.linked_at == device.linked_at,
                )
            )
            if removed.rowcount != 1:
                return None
            await conn.execute(
                insert(device_history).values(
                    at=now,
                    device_id=device_id,
                    action="disconnected",
                    supplier_user_id=device.supplier_user_id,
                    nox_user_id=device.nox_user_id,
                    brand=device.brand,
                    link_session_id=device.link_session_id,
                )
            )
        return device

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
