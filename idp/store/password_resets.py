"""Password-reset links: one live link per customer (a new one supersedes the last), used once,
only before it expires. Only the SHA-256 of a link's token is stored."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from idp.store.base import Repository
from idp.store.tables import password_resets, users


class PasswordResets(Repository):
    async def issue(
        self,
        *,
        user_id: int,
        token_hash: str,
        now: int,
        expires_at: int,
        ip: str | None,
        not_since: int,
    ) -> bool:
        """A new link for the customer, and any earlier one stops working; False (nothing
        issued) when one was issued after `not_since`: one mail a minute, not a flood."""
        async with self.begin() as conn:
            # A no-op write first takes the customer's row (PostgreSQL) or the write lock
            # (SQLite): two requests at once then see each other's link, and one mail goes out.
            await conn.execute(update(users).where(users.c.id == user_id).values(id=users.c.id))
            recent = await conn.scalar(
                select(password_resets.c.id)
                .where(
                    password_resets.c.user_id == user_id,
                    password_resets.c.created_at > not_since,
                )
                .limit(1)
            )
            if recent is not None:
                return False
            await conn.execute(
                update(password_resets)
                .where(password_resets.c.user_id == user_id, password_resets.c.used_at.is_(None))
                .values(used_at=now)
            )
            await conn.execute(
                insert(password_resets).values(
                    token_hash=token_hash,
                    user_id=user_id,
                    created_at=now,
                    expires_at=expires_at,
                    ip=ip,
                )
            )
        return True

    async def live(self, token_hash: str, now: int) -> int | None:
        """The customer a link is for, while it is unused and unexpired."""
        async with self.connect() as conn:
            found = await conn.scalar(
                select(password_resets.c.user_id).where(
                    password_resets.c.token_hash == token_hash,
                    password_resets.c.used_at.is_(None),
                    password_resets.c.expires_at > now,
                )
            )
        return None if found is None else int(found)

    async def use(self, token_hash: str, now: int) -> int | None:
        """Use the link (once: a conditional UPDATE, so of two racing requests one wins); the
        customer it is for, or None when it was used, superseded, expired or never issued."""
        async with self.begin() as conn:
            user_id = await conn.scalar(
                update(password_resets)
                .where(
                    password_resets.c.token_hash == token_hash,
                    password_resets.c.used_at.is_(None),
                    password_resets.c.expires_at > now,
                )
                .values(used_at=now)
                .returning(password_resets.c.user_id)
            )
        return None if user_id is None else int(user_id)
