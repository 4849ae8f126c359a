"""Signing keys for ID tokens. A retired key stays published until its last token expired."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, or_, select, update

from idp.records import SigningKey
from idp.store.base import Repository, to_record
from idp.store.tables import signing_keys


class SigningKeys(Repository):
    async def add_current(
        self, *, kid: str, alg: str, private_jwk: dict[str, Any], now: int
    ) -> None:
        """Insert a key and retire every other one, in one transaction."""
        async with self.begin() as conn:
            await conn.execute(
                update(signing_keys)
                .where(signing_keys.c.retired_at.is_(None))
                .values(retired_at=now)
            )
            await conn.execute(
                insert(signing_keys).values(
                    kid=kid, alg=alg, private_jwk=private_jwk, created_at=now, retired_at=None
                )
            )

    async def published(self, retired_after: int) -> list[SigningKey]:
        """The current key first, then retired keys still needed to verify live tokens."""
        async with self.connect() as conn:
            rows = (
                await conn.execute(
                    select(signing_keys)
                    .where(
                        or_(
                            signing_keys.c.retired_at.is_(None),
                            signing_keys.c.retired_at > retired_after,
                        )
                    )
                    .order_by(
                        signing_keys.c.retired_at.is_not(None), signing_keys.c.created_at.desc()
                    )
                )
            ).all()
        return [k for k in (to_record(SigningKey, r) for r in rows) if k is not None]
