"""Customers: the people who sign in. `supplier_user_id` is the id NOX knows them by."""

from __future__ import annotations

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from idp.records import User
from idp.store.base import Repository, to_record
from idp.store.tables import users


class DuplicateUser(Exception):
    """The email or the supplier_user_id is already taken."""


def normalize_email(email: str) -> str:
    return email.strip().lower()


class Users(Repository):
    async def add(
        self,
        *,
        email: str,
        supplier_user_id: str,
        name: str | None,
        password_hash: str,
        now: int,
    ) -> User:
        values = dict(
            email=normalize_email(email),
            supplier_user_id=supplier_user_id,
            name=name,
            password_hash=password_hash,
            disabled=False,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.begin() as conn:
                result = await conn.execute(insert(users).values(**values))
        except IntegrityError:
            raise DuplicateUser(email) from None
        return User(
            id=int(result.inserted_primary_key[0]),  # type: ignore[index]
            email=normalize_email(email),
            supplier_user_id=supplier_user_id,
            name=name,
            password_hash=password_hash,
            disabled=False,
            created_at=now,
        )

    async def exists(self, email: str, supplier_user_id: str) -> bool:
        async with self.connect() as conn:
            found = await conn.scalar(
                select(func.count())
                .select_from(users)
                .where(
                    or_(
                        users.c.email == normalize_email(email),
                        users.c.supplier_user_id == supplier_user_id,
                    )
                )
            )
        return bool(found)

    async def by_email(self, email: str) -> User | None:
        async with self.connect() as conn:
            row = (
                await conn.execute(select(users).where(users.c.email == normalize_email(email)))
            ).first()
        return to_record(User, row)

    async def by_supplier_user_id(self, supplier_user_id: str) -> User | None:
        async with self.connect() as conn:
            row = (
                await conn.execute(
                    select(users).where(users.c.supplier_user_id == supplier_user_id)
                )
            ).first()
        return to_record(User, row)

    async def by_id(self, user_id: int) -> User | None:
        async with self.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
        return to_record(User, row)

    async def set_password_hash(self, user_id: int, password_hash: str, now: int) -> None:
        async with self.begin() as conn:
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(password_hash=password_hash, updated_at=now)
            )

    async def set_disabled(self, user_id: int, disabled: bool, now: int) -> bool:
        async with self.begin() as conn:
            result = await conn.execute(
                update(users).where(users.c.id == user_id).values(disabled=disabled, updated_at=now)
            )
        return result.rowcount == 1

    async def search(self, query: str, limit: int = 50) -> list[User]:
        """Customers whose email or supplier_user_id contains `query` (case-insensitive)."""
        pattern = "%" + query.strip().lower().replace("%", r"\%").replace("_", r"\_") + "%"
        async with self.connect() as conn:
            rows = (
                await conn.execute(
                    select(users)
                    .where(
                        or_(
                            users.c.email.like(pattern, escape="\\"),
                            func.lower(users.c.supplier_user_id).like(pattern, escape="\\"),
                        )
                    )
                    .order_by(users.c.email)
                    .limit(limit)
                )
            ).all()
        return [u for u in (to_record(User, r) for r in rows) if u is not None]

    async def newest(
        self, limit: int, before: int | None = None, after: int | None = None
    ) -> tuple[list[User], bool, bool]:
        """A page of customers, newest first (keyset on id): those just older than id `before`,
        or just newer than id `after`, else the newest. With whether there are newer and older
        ones beyond the page."""
        query = select(users)
        if after is not None:
            query = query.where(users.c.id > after).order_by(users.c.id.asc())
        else:
            if before is not None:
                query = query.where(users.c.id < before)
            query = query.order_by(users.c.id.desc())
        async with self.connect() as conn:
            rows = (await conn.execute(query.limit(limit))).all()
            if after is not None:
                rows = rows[::-1]
            if not rows:
                return [], False, False
            newer = await conn.scalar(select(users.c.id).where(users.c.id > rows[0].id).limit(1))
            older = await conn.scalar(select(users.c.id).where(users.c.id < rows[-1].id).limit(1))
        found = [u for u in (to_record(User, r) for r in rows) if u is not None]
        return found, newer is not None, older is not None

    async def count(self) -> int:
        async with self.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(users)) or 0)
