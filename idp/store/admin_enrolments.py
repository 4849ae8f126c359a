"""One-time enrolment links of admins: an invitation, or a new authenticator after an owner's
TOTP reset. Only the SHA-256 of a link's token is stored; an admin's newest link replaces the
older; a link is used once (a conditional UPDATE) and only before it expires."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, func, insert, select, update

from idp.store.base import Repository
from idp.store.tables import admin_enrolments, admins


@dataclass(frozen=True)
class Enrolment:
    """A live link and the admin it is for, with what was chosen on its page so far."""

    admin_id: int
    email: str
    role: str
    purpose: str
    expires_at: int
    password_hash: str | None
    totp_secret: str | None


@dataclass(frozen=True)
class PendingEnrolment:
    """An admin who has not enrolled yet, and their newest unused link (perhaps expired)."""

    admin_id: int
    email: str
    role: str
    status: str
    created_by: str
    created_at: int
    expires_at: int


COLUMNS = (
    admin_enrolments.c.admin_id,
    admins.c.email,
    admins.c.role,
    admin_enrolments.c.purpose,
    admin_enrolments.c.expires_at,
    admin_enrolments.c.password_hash,
    admin_enrolments.c.totp_secret,
)


def _enrolment(row: Row[*tuple[Any, ...]] | None) -> Enrolment | None:
    return None if row is None else Enrolment(**row._asdict())


def _live(token_hash: str, now: int) -> ColumnElement[bool]:
    return (
        (admin_enrolments.c.token_hash == token_hash)
        & admin_enrolments.c.used_at.is_(None)
        & (admin_enrolments.c.expires_at > now)
    )


class AdminEnrolments(Repository):
    async def issue(
        self,
        *,
        admin_id: int,
        purpose: str,
        token_hash: str,
        now: int,
        expires_at: int,
        created_by: str,
    ) -> None:
        """A new link for the admin; any earlier one of theirs stops working."""
        async with self.begin() as conn:
            await conn.execute(
                update(admin_enrolments)
                .where(
                    admin_enrolments.c.admin_id == admin_id, admin_enrolments.c.used_at.is_(None)
                )
                .values(used_at=now)
            )
            await conn.execute(
                insert(admin_enrolments).values(
                    token_hash=token_hash,
                    admin_id=admin_id,
                    purpose=purpose,
                    created_at=now,
                    created_by=created_by,
                    expires_at=expires_at,
                )
            )

    async def live(self, token_hash: str, now: int) -> Enrolment | None:
        """The link while it is unused and unexpired, with its admin."""
        async with self.connect() as conn:
            row = (
                await conn.execute(
                    select(*COLUMNS)
                    .join(admins, admins.c.id == admin_enrolments.c.admin_id)
                    .where(_live(token_hash, now))
                )
            ).first()
        return _enrolment(row)

    async def choose(
        self, token_hash: str, now: int, password_hash: str | None, totp_secret: str
    ) -> bool:
        """Keep the password chosen (None: the admin keeps theirs) and the TOTP secret to show,
        while the link is live; a secret already chosen stays, so a second submission shows
        the same one. False when the link is dead."""
        async with self.begin() as conn:
            result = await conn.execute(
                update(admin_enrolments)
                .where(_live(token_hash, now))
                .values(
                    password_hash=password_hash,
                    totp_secret=func.coalesce(admin_enrolments.c.totp_secret, totp_secret),
                )
            )
        return result.rowcount == 1

    async def use(self, token_hash: str, now: int) -> Enrolment | None:
        """Use the link (once: a conditional UPDATE, so of two racing requests one wins); what
        it carried, or None when it was used, replaced, revoked, expired or never issued, or
        its secret was never shown."""
        async with self.begin() as conn:
            used = (
                await conn.execute(
                    update(admin_enrolments)
                    .where(_live(token_hash, now), admin_enrolments.c.totp_secret.is_not(None))
                    .values(used_at=now)
                    .returning(admin_enrolments.c.admin_id)
                )
            ).first()
            if used is None:
                return None
            row = (
                await conn.execute(
                    select(*COLUMNS)
                    .join(admins, admins.c.id == admin_enrolments.c.admin_id)
                    .where(admin_enrolments.c.token_hash == token_hash)
                )
            ).first()
        return _enrolment(row)

    async def end_for(self, admin_id: int, now: int) -> None:
        """No link of this admin works any more."""
        async with self.begin() as conn:
            await conn.execute(
                update(admin_enrolments)
                .where(
                    admin_enrolments.c.admin_id == admin_id, admin_enrolments.c.used_at.is_(None)
                )
                .values(used_at=now)
            )

    async def pending(self) -> list[PendingEnrolment]:
        """Every admin who has not enrolled (yet), with their newest unused link, oldest
        first; an expired link is listed too, so an owner sees it and can act on it."""
        async with self.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        admins.c.id.label("admin_id"),
                        admins.c.email,
                        admins.c.role,
                        admins.c.status,
                        admin_enrolments.c.created_by,
                        admin_enrolments.c.created_at,
                        admin_enrolments.c.expires_at,
                    )
                    .join(admins, admins.c.id == admin_enrolments.c.admin_id)
                    .where(admin_enrolments.c.used_at.is_(None), admins.c.status != "active")
                    .order_by(admin_enrolments.c.created_at, admins.c.email)
                )
            ).all()
        return [PendingEnrolment(**row._asdict()) for row in rows]
