"""Everything stored about one customer, table by table: to hand it over (GDPR Art. 15 and 20)
and to erase it (Art. 17), keeping only what the supplier must keep, pseudonymised.

The lists below are the one place that says where a customer's data lives; a new table that
holds any must be added here (tests/test_customer_data.py fills every table and checks).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from idp.records import User
from idp.store.base import Repository
from idp.store.tables import (
    auth_sessions,
    authorization_codes,
    device_history,
    device_status,
    devices,
    handoffs,
    held_links,
    link_sessions,
    login_sessions,
    password_resets,
    security_events,
    terms_acceptances,
    throttles,
    tokens,
    users,
)

# Secrets stored as hashes: never exported (they are not the customer's data, and a hash of a
# live token is a handle on it).
NOT_EXPORTED = {
    "password_hash",
    "id_hash",
    "code_hash",
    "access_token_hash",
    "refresh_token_hash",
    "token_hash",
    "link_token",
}


def _where(user: User) -> list[tuple[str, Table, ColumnElement[bool]]]:
    """Each table holding the customer's rows, and which rows."""
    sid = user.supplier_user_id
    return [
        ("profile", users, users.c.id == user.id),
        ("terms_acceptances", terms_acceptances, terms_acceptances.c.user_id == user.id),
        ("sign_ins", login_sessions, login_sessions.c.user_id == user.id),
        ("authentication_sessions", auth_sessions, auth_sessions.c.user_id == user.id),
        ("authorization_codes", authorization_codes, authorization_codes.c.user_id == user.id),
        ("tokens", tokens, tokens.c.user_id == user.id),
        ("password_resets", password_resets, password_resets.c.user_id == user.id),
        ("devices", devices, devices.c.user_id == user.id),
        ("device_history", device_history, device_history.c.supplier_user_id == sid),
        (
            "device_status",
            device_status,
            device_status.c.device_id.in_(
                select(devices.c.device_id).where(devices.c.user_id == user.id)
            ),
        ),
        ("link_sessions", link_sessions, link_sessions.c.user_id == user.id),
        ("held_links", held_links, held_links.c.user_id == user.id),
        ("handoffs", handoffs, handoffs.c.body["supplier_user_id"].as_string() == sid),
        (
            "events",
            security_events,
            or_(
                security_events.c.actor.in_({user.email, user.email.lower(), sid}),
                security_events.c.detail["supplier_user_id"].as_string() == sid,
            ),
        ),
        ("sign_in_throttle", throttles, throttles.c.key == f"account:{user.email}"),
    ]


def _exported(row: Any) -> dict[str, Any]:
    return {k: v for k, v in row._mapping.items() if k not in NOT_EXPORTED}


def _replaced(value: Any, personal: set[str], pseudonym: str) -> Any:
    """`value` (a JSON detail) with every personal string in it replaced by the pseudonym."""
    if isinstance(value, dict):
        return {k: _replaced(v, personal, pseudonym) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, personal, pseudonym) for v in value]
    if isinstance(value, str) and value in personal:
        return pseudonym
    return value


class CustomerData(Repository):
    async def export(self, user: User) -> dict[str, list[dict[str, Any]]]:
        """Every row that names the customer, by table (hashed secrets left out)."""
        found: dict[str, list[dict[str, Any]]] = {}
        async with self.connect() as conn:
            for name, table, which in _where(user):
                order = list(table.primary_key.columns)
                rows = (await conn.execute(select(table).where(which).order_by(*order))).all()
                found[name] = [_exported(r) for r in rows]
        return found

    async def erase(self, user: User, pseudonym: str, now: int) -> None:
        """Delete what names the customer; keep, under `pseudonym`, what evidences the supplier's
        obligations: the terms accepted (without IP or browser), the devices' history, the
        audit trail. The customer row stays (rows that are kept point at it), unusable: no
        email, name or password, disabled."""
        personal = {user.email, user.email.lower(), user.supplier_user_id}
        personal |= {user.name} if user.name else set()
        where = {name: (table, which) for name, table, which in _where(user)}
        async with self.begin() as conn:
            for name in (
                "sign_ins",
                "authentication_sessions",
                "authorization_codes",
                "tokens",
                "password_resets",
                "devices",
                "link_sessions",
                "held_links",
                "handoffs",
                "sign_in_throttle",
            ):
                table, which = where[name]
                await conn.execute(delete(table).where(which))
            await conn.execute(
                update(terms_acceptances)
                .where(terms_acceptances.c.user_id == user.id)
                .values(ip=None, user_agent=None)
            )
            await conn.execute(
                update(device_history)
                .where(device_history.c.supplier_user_id == user.supplier_user_id)
                .values(supplier_user_id=pseudonym, nox_user_id=None, link_session_id=None)
            )
            await self._pseudonymise_events(conn, where["events"][1], personal, pseudonym)
            # Another customer's held link may name this one as the device's previous holder.
            for held in (
                await conn.execute(select(held_links.c.id, held_links.c.moved_from))
            ).all():
                if user.supplier_user_id in held.moved_from.values():
                    await conn.execute(
                        update(held_links)
                        .where(held_links.c.id == held.id)
                        .values(moved_from=_replaced(held.moved_from, personal, pseudonym))
                    )
            await conn.execute(
                update(users)
                .where(users.c.id == user.id)
                .values(
                    # Unique per row: a customer added again under the number may be erased too.
                    email=f"{pseudonym}-{user.id}@erased.invalid",  # see ERASED_DOMAIN
                    supplier_user_id=f"{pseudonym}-{user.id}",
                    name=None,
                    password_hash="!erased",  # noqa: S106 - not a hash: matches no password
                    disabled=True,
                    updated_at=now,
                )
            )

    @staticmethod
    async def _pseudonymise_events(
        conn: AsyncConnection, which: ColumnElement[bool], personal: set[str], pseudonym: str
    ) -> None:
        rows = (await conn.execute(select(security_events).where(which))).all()
        for row in rows:
            await conn.execute(
                update(security_events)
                .where(security_events.c.id == row.id)
                .values(
                    actor=pseudonym if row.actor in personal else row.actor,
                    ip=None if row.actor in personal else row.ip,  # an admin's stays
                    detail=_replaced(row.detail, personal, pseudonym),
                )
            )
