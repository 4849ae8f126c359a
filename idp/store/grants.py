"""Authorization codes and tokens. Single use is enforced by conditional UPDATEs, not by reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update

from idp.store.base import Repository, to_record
from idp.store.outbox import PENDING
from idp.store.records import AuthorizationCode, Token
from idp.store.tables import authorization_codes, handoffs, tokens


@dataclass(frozen=True)
class CodeConsumption:
    """What happened when a code was presented: the code when it was fresh, `replayed` when not."""

    code: AuthorizationCode | None
    replayed: bool = False


@dataclass(frozen=True)
class RefreshUse:
    token: Token | None
    reused: bool = False


class Grants(Repository):
    # ---- authorization codes -------------------------------------------------------------
    async def add_code(
        self,
        *,
        code_hash: str,
        client_id: str,
        user_id: int,
        redirect_uri: str,
        scope: str,
        nonce: str | None,
        code_challenge: str | None,
        code_challenge_method: str | None,
        auth_time: int,
        auth_session_id: str | None,
        now: int,
        expires_at: int,
        handoff: dict[str, Any] | None = None,
    ) -> int:
        """Store a code, and in the same transaction the hand-off to deliver for it, if any."""
        async with self.begin() as conn:
            if handoff is not None:
                await conn.execute(
                    insert(handoffs).values(
                        status=PENDING, attempts=0, created_at=now, next_attempt_at=now, **handoff
                    )
                )
            result = await conn.execute(
                insert(authorization_codes).values(
                    code_hash=code_hash,
                    client_id=client_id,
                    user_id=user_id,
                    redirect_uri=redirect_uri,
                    scope=scope,
                    nonce=nonce,
                    code_challenge=code_challenge,
                    code_challenge_method=code_challenge_method,
                    auth_time=auth_time,
                    auth_session_id=auth_session_id,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    async def consume_code(self, code_hash: str, client_id: str, now: int) -> CodeConsumption:
        """Mark the code used, atomically. RFC 6749 §4.1.2: a code is used at most once; a second
        presentation is reported as a replay so its tokens can be revoked."""
        async with self.begin() as conn:
            row = (
                await conn.execute(
                    select(authorization_codes).where(authorization_codes.c.code_hash == code_hash)
                )
            ).first()
            if row is None or row.client_id != client_id:
                return CodeConsumption(None)
            claimed = await conn.execute(
                update(authorization_codes)
                .where(authorization_codes.c.id == row.id, authorization_codes.c.used_at.is_(None))
                .values(used_at=now)
            )
            if claimed.rowcount != 1:
                await conn.execute(
                    update(tokens)
                    .where(tokens.c.code_id == row.id, tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                return CodeConsumption(to_record(AuthorizationCode, row), replayed=True)
        if row.expires_at <= now:
            return CodeConsumption(None)
        return CodeConsumption(to_record(AuthorizationCode, row))

    async def nonce_used(self, client_id: str, nonce: str) -> bool:
        async with self.connect() as conn:
            found = await conn.scalar(
                select(func.count())
                .select_from(authorization_codes)
                .where(
                    authorization_codes.c.client_id == client_id,
                    authorization_codes.c.nonce == nonce,
                )
            )
        return bool(found)

    # ---- tokens ----------------------------------------------------------------------------
    async def add_token(
        self,
        *,
        client_id: str,
        user_id: int | None,
        scope: str,
        access_token_hash: str,
        refresh_token_hash: str | None,
        issued_at: int,
        expires_at: int,
        refresh_expires_at: int | None,
        family_id: str,
        code_id: int | None,
        auth_time: int | None,
    ) -> None:
        async with self.begin() as conn:
            if code_id is not None:
                # A code replayed while its tokens were being issued leaves them born revoked.
                replay_seen = await conn.scalar(
                    select(func.count())
                    .select_from(tokens)
                    .where(tokens.c.code_id == code_id, tokens.c.revoked_at.is_not(None))
                )
                revoked_at = issued_at if replay_seen else None
            else:
                revoked_at = None
            await conn.execute(
                insert(tokens).values(
                    client_id=client_id,
                    user_id=user_id,
                    scope=scope,
                    access_token_hash=access_token_hash,
                    refresh_token_hash=refresh_token_hash,
                    issued_at=issued_at,
                    expires_at=expires_at,
                    refresh_expires_at=refresh_expires_at,
                    family_id=family_id,
                    code_id=code_id,
                    auth_time=auth_time,
                    revoked_at=revoked_at,
                )
            )

    async def by_access_token(self, access_token_hash: str) -> Token | None:
        async with self.connect() as conn:
            row = (
                await conn.execute(
                    select(tokens).where(tokens.c.access_token_hash == access_token_hash)
                )
            ).first()
        return to_record(Token, row)

    async def by_refresh_token(self, refresh_token_hash: str) -> Token | None:
        async with self.connect() as conn:
            row = (
                await conn.execute(
                    select(tokens).where(tokens.c.refresh_token_hash == refresh_token_hash)
                )
            ).first()
        return to_record(Token, row)

    async def use_refresh_token(self, refresh_token_hash: str, now: int) -> RefreshUse:
        """Rotate a refresh token, atomically. RFC 9700 §4.14.2: a rotated token presented again
        means it leaked, so its whole family is revoked."""
        async with self.begin() as conn:
            row = (
                await conn.execute(
                    select(tokens).where(tokens.c.refresh_token_hash == refresh_token_hash)
                )
            ).first()
            if row is None:
                return RefreshUse(None)
            claimed = await conn.execute(
                update(tokens)
                .where(
                    tokens.c.id == row.id,
                    tokens.c.rotated_at.is_(None),
                    tokens.c.revoked_at.is_(None),
                )
                .values(rotated_at=now)
            )
            if claimed.rowcount != 1:
                await self._revoke_family(conn, row.family_id, now)
                return RefreshUse(to_record(Token, row), reused=row.rotated_at is not None)
        if row.refresh_expires_at is not None and row.refresh_expires_at <= now:
            return RefreshUse(None)
        return RefreshUse(to_record(Token, row))

    async def revoke(self, token_id: int, now: int, *, family: bool) -> None:
        async with self.begin() as conn:
            if family:
                family_id = await conn.scalar(
                    select(tokens.c.family_id).where(tokens.c.id == token_id)
                )
                if family_id is not None:
                    await self._revoke_family(conn, family_id, now)
            else:
                await conn.execute(
                    update(tokens)
                    .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )

    async def revoke_for_user(self, user_id: int, now: int) -> None:
        async with self.begin() as conn:
            await conn.execute(
                update(tokens)
                .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )

    @staticmethod
    async def _revoke_family(conn, family_id: str, now: int) -> None:
        await conn.execute(
            update(tokens)
            .where(tokens.c.family_id == family_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
