"""Supplier admins and their console sessions (idle timeout and absolute lifetime enforced by
the caller's clock)."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from idp.records import ADMIN_ACTIVE, ADMIN_INVITED, ADMIN_TOTP_RESET, Admin
from idp.store.base import Repository, to_record
from idp.store.tables import admin_enrolments, admin_sessions, admins
from idp.store.users import normalize_email


class DuplicateAdmin(Exception):
    pass


class LastOwner(Exception):
    """The change would leave no active owner, and nobody able to manage the admins."""


OWNER = "owner"


class Admins(Repository):
    async def add(
        self, *, email: str, password_hash: str, role: str, totp_secret: str, now: int
    ) -> int:
        try:
            async with self.begin() as conn:
                result = await conn.execute(
                    insert(admins).values(
                        email=normalize_email(email),
                        password_hash=password_hash,
                        role=role,
                        totp_secret=totp_secret,
                        disabled=False,
                        created_at=now,
                    )
                )
        except IntegrityError:
            raise DuplicateAdmin(email) from None
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    async def invite(self, *, email: str, role: str, now: int) -> int:
        """An invited admin (no password, no authenticator: cannot sign in) with this email and
        role; an admin invited before gets the role. DuplicateAdmin when an admin with this
        email has enrolled."""
        try:
            async with self.begin() as conn:
                row = (
                    await conn.execute(
                        select(admins.c.id, admins.c.status).where(
                            admins.c.email == normalize_email(email)
                        )
                    )
                ).first()
                if row is not None:
                    if row.status != ADMIN_INVITED:
                        raise DuplicateAdmin(email)
                    await conn.execute(
                        update(admins).where(admins.c.id == row.id).values(role=role)
                    )
                    return int(row.id)
                result = await conn.execute(
                    insert(admins).values(
                        email=normalize_email(email),
                        password_hash="",
                        role=role,
                        totp_secret="",
                        disabled=False,
                        created_at=now,
                        status=ADMIN_INVITED,
                    )
                )
        except IntegrityError:  # invited at the same moment by someone else
            raise DuplicateAdmin(email) from None
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    async def activate(
        self, admin_id: int, *, password_hash: str | None, totp_secret: str, totp_step: int
    ) -> Admin | None:
        """The admin enrolled: their authenticator (and, if given, their password) is set and
        they may sign in; the code that confirmed it is used. The admin as it was; None, nothing
        changed, when there is no such admin or they had enrolled already."""
        values: dict[str, object] = {
            "status": ADMIN_ACTIVE,
            "totp_secret": totp_secret,
            "last_totp_step": totp_step,
        }
        if password_hash is not None:
            values["password_hash"] = password_hash
        async with self.begin() as conn:
            before = (await conn.execute(select(admins).where(admins.c.id == admin_id))).first()
            result = await conn.execute(
                update(admins)
                .where(admins.c.id == admin_id, admins.c.status != ADMIN_ACTIVE)
                .values(**values)
            )
        return to_record(Admin, before) if result.rowcount == 1 else None

    async def reset_totp(self, admin_id: int) -> Admin | None:
        """Clear an enrolled admin's authenticator and end their console sessions: they cannot
        sign in until they enrol again. The admin as it was; None, nothing changed, when there
        is no such admin or they were never enrolled (an invitation)."""
        async with self.begin() as conn:
            before = (await conn.execute(select(admins).where(admins.c.id == admin_id))).first()
            result = await conn.execute(
                update(admins)
                .where(
                    admins.c.id == admin_id,
                    admins.c.status.in_((ADMIN_ACTIVE, ADMIN_TOTP_RESET)),
                )
                .values(status=ADMIN_TOTP_RESET, totp_secret="", last_totp_step=None)
            )
            if result.rowcount != 1:
                return None
            await conn.execute(delete(admin_sessions).where(admin_sessions.c.admin_id == admin_id))
        return to_record(Admin, before)

    async def remove_invited(self, admin_id: int) -> Admin | None:
        """Withdraw an invitation: the invited admin and their links go. The admin removed;
        None when there is no such admin or they have enrolled."""
        async with self.begin() as conn:
            row = (
                await conn.execute(
                    select(admins).where(admins.c.id == admin_id, admins.c.status == ADMIN_INVITED)
                )
            ).first()
            if row is not None:
                await conn.execute(
                    delete(admin_enrolments).where(admin_enrolments.c.admin_id == admin_id)
                )
                await conn.execute(delete(admins).where(admins.c.id == admin_id))
        return to_record(Admin, row)

    async def by_email(self, email: str) -> Admin | None:
        async with self.connect() as conn:
            row = (
                await conn.execute(select(admins).where(admins.c.email == normalize_email(email)))
            ).first()
        return to_record(Admin, row)

    async def by_id(self, admin_id: int) -> Admin | None:
        async with self.connect() as conn:
            row = (await conn.execute(select(admins).where(admins.c.id == admin_id))).first()
        return to_record(Admin, row)

    async def all(self) -> list[Admin]:
        async with self.connect() as conn:
            rows = (await conn.execute(select(admins).order_by(admins.c.email))).all()
        return [a for a in (to_record(Admin, r) for r in rows) if a is not None]

    async def use_totp_step(self, admin_id: int, step: int) -> bool:
        """Record that the code of `step` was used; False when it (or a later one) already was."""
        async with self.begin() as conn:
            result = await conn.execute(
                update(admins)
                .where(
                    admins.c.id == admin_id,
                    (admins.c.last_totp_step.is_(None)) | (admins.c.last_totp_step < step),
                )
                .values(last_totp_step=step)
            )
        return result.rowcount == 1

    async def start_session(self, id_hash: str, admin_id: int, now: int, ip: str | None) -> None:
        async with self.begin() as conn:
            await conn.execute(
                insert(admin_sessions).values(
                    id_hash=id_hash, admin_id=admin_id, created_at=now, last_seen_at=now, ip=ip
                )
            )

    async def touch_session(
        self, id_hash: str, now: int, idle_seconds: int, lifetime_seconds: int
    ) -> Admin | None:
        """The admin of a live session, which is kept alive; one idle for `idle_seconds`, or
        started `lifetime_seconds` ago however active, is ended."""
        async with self.begin() as conn:
            row = (
                await conn.execute(
                    select(admin_sessions).where(admin_sessions.c.id_hash == id_hash)
                )
            ).first()
            if row is None:
                return None
            if now - row.last_seen_at >= idle_seconds or now - row.created_at >= lifetime_seconds:
                await conn.execute(
                    delete(admin_sessions).where(admin_sessions.c.id_hash == id_hash)
                )
                return None
            await conn.execute(
                update(admin_sessions)
                .where(admin_sessions.c.id_hash == id_hash)
                .values(last_seen_at=now)
            )
            admin = (await conn.execute(select(admins).where(admins.c.id == row.admin_id))).first()
        found = to_record(Admin, admin)
        return found if found is not None and found.active else None

    async def set_totp_secret(self, admin_id: int, secret: str) -> None:
        async with self.begin() as conn:
            await conn.execute(
                update(admins).where(admins.c.id == admin_id).values(totp_secret=secret)
            )

    async def end_other_sessions(self, admin_id: int, keep_id_hash: str) -> None:
        """End every console session of this admin but the one whose digest is `keep_id_hash`."""
        async with self.begin() as conn:
            await conn.execute(
                delete(admin_sessions).where(
                    admin_sessions.c.admin_id == admin_id, admin_sessions.c.id_hash != keep_id_hash
                )
            )

    async def set_timezone(self, admin_id: int, timezone: str | None) -> Admin | None:
        """Set the zone the admin reads the console's times in (None: IDP_TIMEZONE); the admin
        as it was, None when there is no such admin."""
        async with self.begin() as conn:
            row = (await conn.execute(select(admins).where(admins.c.id == admin_id))).first()
            if row is not None:
                await conn.execute(
                    update(admins).where(admins.c.id == admin_id).values(timezone=timezone)
                )
        return to_record(Admin, row)

    async def set_language(self, admin_id: int, language: str | None) -> Admin | None:
        """Set the language the admin reads the console in (None: the browser's); the admin as
        it was, None when there is no such admin."""
        async with self.begin() as conn:
            row = (await conn.execute(select(admins).where(admins.c.id == admin_id))).first()
            if row is not None:
                await conn.execute(
                    update(admins).where(admins.c.id == admin_id).values(language=language)
                )
        return to_record(Admin, row)

    async def end_session(self, id_hash: str) -> None:
        async with self.begin() as conn:
            await conn.execute(delete(admin_sessions).where(admin_sessions.c.id_hash == id_hash))

    async def set_role(self, admin_id: int, role: str) -> Admin | None:
        """Give the admin `role`; the admin as it was, None when there is no such admin.
        LastOwner, nothing changed, when it is the last active owner and `role` is not owner."""
        async with self.begin() as conn:
            admin = await self._owners_held(conn, admin_id, leaving=role != OWNER)
            if admin is not None:
                await conn.execute(update(admins).where(admins.c.id == admin_id).values(role=role))
        return admin

    async def remove(self, admin_id: int) -> Admin | None:
        """Remove the admin and end their console sessions; the admin removed, None when there
        is no such admin. LastOwner, nothing changed, when it is the last active owner."""
        async with self.begin() as conn:
            admin = await self._owners_held(conn, admin_id, leaving=True)
            if admin is not None:
                await conn.execute(
                    delete(admin_sessions).where(admin_sessions.c.admin_id == admin_id)
                )
                await conn.execute(
                    delete(admin_enrolments).where(admin_enrolments.c.admin_id == admin_id)
                )
                await conn.execute(delete(admins).where(admins.c.id == admin_id))
        return admin

    @staticmethod
    async def _owners_held(conn: AsyncConnection, admin_id: int, leaving: bool) -> Admin | None:
        """The admin `admin_id`, after taking the rows of every active owner and of that admin
        for this transaction (a no-op UPDATE: row locks on PostgreSQL, the write lock on SQLite),
        so two owners demoting or removing each other at once are decided one after the other
        and the second sees the first's change. LastOwner when it is the only active owner and
        `leaving` that role. An owner who has not enrolled (yet, or again) counts for none."""
        active_owner = (
            (admins.c.role == OWNER)
            & admins.c.disabled.is_(False)
            & (admins.c.status == ADMIN_ACTIVE)
        )
        await conn.execute(
            update(admins)
            .where(active_owner | (admins.c.id == admin_id))
            .values(role=admins.c.role)
        )
        row = (await conn.execute(select(admins).where(admins.c.id == admin_id))).first()
        admin = to_record(Admin, row)
        if admin is None or not leaving or admin.role != OWNER or not admin.active:
            return admin
        others = await conn.scalar(
            select(func.count()).select_from(admins).where(active_owner, admins.c.id != admin_id)
        )
        if not others:
            raise LastOwner(admin.email)
        return admin
