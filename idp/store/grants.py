"""Authorization codes and tokens. Single use is enforced by conditional UPDATEs, not by reads."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from idp.records import AuthorizationCode, ClientChanged, CodeConsumption, RefreshUse, Token
from idp.store.base import Repository, to_record
from idp.store.tables import authorization_codes, clients, handoffs, token_families, tokens
from idp.store.units import Prepared
from idp.vocab import HANDOFF_PENDING as PENDING


class Grants(Repository):
    """The token endpoint's writes are units of work (units.py): one hand-off per write on
    SQLite, committed in groups. Each takes the `client_version` the client was read at, when
    the caller has not confirmed it yet, and stores nothing (ClientChanged) if it moved."""

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

    async def consume_code(
        self,
        code_hash: str,
        client_id: str,
        now: int,
        proves: Callable[[AuthorizationCode], bool] = lambda code: True,
        client_version: int | None = None,
    ) -> CodeConsumption:
        """Mark the code used, atomically. RFC 6749 §4.1.2: a code is used at most once; a second
        presentation marks it replayed and revokes every token issued from it (the families, so
        rotated refresh tokens too); `add_token` then refuses to store any for it.

        A presentation that does not `prove` possession (the PKCE verifier) changes nothing: a
        stolen code alone can neither burn the code nor revoke the customer's tokens."""
        unit = partial(_consume_code, code_hash, client_id, now, proves, client_version)
        return await self.units.run(unit, self.conn)

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
        refresh_seconds: int,
        refresh_absolute_seconds: int,
        family_id: str,
        new_family: bool,
        code_id: int | None,
        auth_time: int | None,
        client_version: int | None = None,
    ) -> bool:
        """Store a token: the first of a new family (from a code, or client_credentials), or the
        next of a family (a refresh). False, and nothing stored, when the code was replayed or
        already exchanged, or the family was revoked, meanwhile: each is checked by the first
        write of this transaction, a conditional UPDATE that holds the row until commit.

        The refresh token lives `refresh_seconds` (sliding), and never beyond
        `refresh_absolute_seconds` after the family's first issue."""
        row = dict(
            client_id=client_id,
            user_id=user_id,
            scope=scope,
            access_token_hash=access_token_hash,
            refresh_token_hash=refresh_token_hash,
            issued_at=issued_at,
            expires_at=expires_at,
            refresh_expires_at=None,
            family_id=family_id,
            code_id=code_id,
            auth_time=auth_time,
        )
        unit = partial(
            _add_token, row, refresh_seconds, refresh_absolute_seconds, new_family, client_version
        )
        return await self.units.run(unit, self.conn)

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

    async def use_refresh_token(
        self,
        refresh_token_hash: str,
        client_id: str,
        now: int,
        absolute_seconds: int,
        client_version: int | None = None,
    ) -> RefreshUse:
        """Rotate a refresh token of `client_id`, atomically. Another client's token is left
        untouched (RFC 6749 §6: it must be bound to the client), so it cannot burn it.
        RFC 9700 §4.14.2: a token presented again, and a rotation lost to a parallel request,
        mean it leaked: its whole family is revoked. The family's absolute lifetime
        (`absolute_seconds` from its first issue) ends it whatever the sliding expiry says."""
        unit = partial(
            _use_refresh_token, refresh_token_hash, client_id, now, absolute_seconds, client_version
        )
        return await self.units.run(unit, self.conn)

    async def revoke(self, token_id: int, now: int, *, family: bool) -> None:
        await self.units.run(partial(_revoke, token_id, now, family), self.conn)

    async def revoke_for_user(self, user_id: int, now: int, client_id: str | None = None) -> None:
        """Revoke every token of the customer (of one client only, with `client_id`), with their
        families, so that a refresh racing this cannot leave a live token behind."""
        await self.units.run(partial(_revoke_for_user, user_id, now, client_id), self.conn)

    async def clients_holding(self, user_id: int, now: int) -> list[dict[str, Any]]:
        """The clients holding a live token (access or refresh) of the customer: client_id,
        name, and when they were first and last given one, newest first."""
        live = (tokens.c.expires_at > now) | (tokens.c.refresh_expires_at > now)
        query = (
            select(
                tokens.c.client_id,
                clients.c.name,
                func.min(tokens.c.issued_at).label("first_issued_at"),
                func.max(tokens.c.issued_at).label("last_issued_at"),
            )
            .join(clients, clients.c.client_id == tokens.c.client_id)
            .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None), live)
            .group_by(tokens.c.client_id, clients.c.name)
            .order_by(func.max(tokens.c.issued_at).desc())
        )
        async with self.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query)).all()]


# ---- the units of work -----------------------------------------------------------------------
# The statements every token runs, compiled once and run on the DB-API cursor (units.Prepared).
FAMILY_COLUMNS = ("id", "client_id", "code_id", "created_at", "last_issued_at")
TOKEN_COLUMNS = (
    "client_id",
    "user_id",
    "scope",
    "access_token_hash",
    "refresh_token_hash",
    "issued_at",
    "expires_at",
    "refresh_expires_at",
    "family_id",
    "code_id",
    "auth_time",
)
CLIENT_VERSION = Prepared(
    select(clients.c.version).where(clients.c.client_id == bindparam("client_id"))
)
INSERT_FAMILY = Prepared(
    insert(token_families).values({name: bindparam(name) for name in FAMILY_COLUMNS}).inline()
)
INSERT_TOKEN = Prepared(
    insert(tokens).values({name: bindparam(name) for name in TOKEN_COLUMNS}).inline()
)


def _confirm_client(conn: Connection, client_id: str, version: int | None) -> None:
    """Raise ClientChanged when the client is no longer at `version` (None: confirmed already)."""
    if version is None:
        return
    found = CLIENT_VERSION.scalar(conn, {"client_id": client_id})
    if found is None or int(found) != version:
        raise ClientChanged(client_id)


def _consume_code(
    code_hash: str,
    client_id: str,
    now: int,
    proves: Callable[[AuthorizationCode], bool],
    client_version: int | None,
    conn: Connection,
) -> CodeConsumption:
    _confirm_client(conn, client_id, client_version)
    row = conn.execute(
        select(authorization_codes).where(authorization_codes.c.code_hash == code_hash)
    ).first()
    if row is None or row.client_id != client_id:
        return CodeConsumption(None)
    record = to_record(AuthorizationCode, row)
    if record is None or not proves(record):
        return CodeConsumption(None)
    claimed = conn.execute(
        update(authorization_codes)
        .where(authorization_codes.c.id == row.id, authorization_codes.c.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        # This UPDATE waits for an exchange that is storing its tokens (it holds the code's
        # row), so the revocation below sees them; or that exchange, coming later, sees
        # `replayed_at` and stores nothing.
        conn.execute(
            update(authorization_codes)
            .where(authorization_codes.c.id == row.id)
            .values(replayed_at=func.coalesce(authorization_codes.c.replayed_at, now))
        )
        _revoke_families(conn, token_families.c.code_id == row.id, now)
        return CodeConsumption(record, replayed=True)
    if row.expires_at <= now:
        return CodeConsumption(None)
    return CodeConsumption(record)


def _add_token(
    row: dict[str, Any],
    refresh_seconds: int,
    refresh_absolute_seconds: int,
    new_family: bool,
    client_version: int | None,
    conn: Connection,
) -> bool:
    _confirm_client(conn, row["client_id"], client_version)
    issued_at, family_id, code_id = row["issued_at"], row["family_id"], row["code_id"]
    if new_family:
        if code_id is not None:
            claimed = conn.execute(
                update(authorization_codes)
                .where(
                    authorization_codes.c.id == code_id,
                    authorization_codes.c.replayed_at.is_(None),
                    authorization_codes.c.exchanged_at.is_(None),
                )
                .values(exchanged_at=issued_at)
            )
            if claimed.rowcount != 1:
                return False
        INSERT_FAMILY.run(
            conn,
            dict(
                id=family_id,
                client_id=row["client_id"],
                code_id=code_id,
                created_at=issued_at,
                last_issued_at=issued_at,
            ),
        )
        family_started = issued_at
    else:
        # RFC 9700 §4.14.2: a family revoked (reuse detected) after this refresh won its
        # rotation gets no new token.
        claimed = conn.execute(
            update(token_families)
            .where(token_families.c.id == family_id, token_families.c.revoked_at.is_(None))
            .values(last_issued_at=issued_at)
        )
        if claimed.rowcount != 1:
            return False
        started = conn.scalar(
            select(token_families.c.created_at).where(token_families.c.id == family_id)
        )
        assert started is not None  # the UPDATE above has just matched this row
        family_started = int(started)
    if row["refresh_token_hash"] is not None:
        row = row | dict(
            refresh_expires_at=min(
                issued_at + refresh_seconds, family_started + refresh_absolute_seconds
            )
        )
    INSERT_TOKEN.run(conn, row)
    return True


def _use_refresh_token(
    refresh_token_hash: str,
    client_id: str,
    now: int,
    absolute_seconds: int,
    client_version: int | None,
    conn: Connection,
) -> RefreshUse:
    _confirm_client(conn, client_id, client_version)
    row = conn.execute(
        select(tokens).where(
            tokens.c.refresh_token_hash == refresh_token_hash, tokens.c.client_id == client_id
        )
    ).first()
    if row is None:
        return RefreshUse(None)
    # Rows are locked family first, then its tokens, as every revocation does (PostgreSQL; one
    # writer at a time on SQLite). A losing rotation below locks the token row even though it
    # changes nothing; were the family not held first, a third request that revokes the family
    # (family row, then this token) would wait for it while it waits for the family: deadlock.
    conn.execute(
        select(token_families.c.id).where(token_families.c.id == row.family_id).with_for_update()
    )
    claimed = conn.execute(
        update(tokens)
        .where(
            tokens.c.id == row.id,
            tokens.c.client_id == client_id,
            tokens.c.rotated_at.is_(None),
            tokens.c.revoked_at.is_(None),
        )
        .values(rotated_at=now)
    )
    if claimed.rowcount != 1:
        _revoke_families(conn, token_families.c.id == row.family_id, now)
        # Revoked outright is not reuse; rotated (before, or by the race's winner) is.
        return RefreshUse(to_record(Token, row), reused=row.revoked_at is None)
    family_started = conn.scalar(
        select(token_families.c.created_at).where(token_families.c.id == row.family_id)
    )
    if row.refresh_expires_at is not None and row.refresh_expires_at <= now:
        return RefreshUse(None)
    if family_started is None or family_started + absolute_seconds <= now:
        return RefreshUse(None)
    return RefreshUse(to_record(Token, row))


def _revoke(token_id: int, now: int, family: bool, conn: Connection) -> None:
    if family:
        family_id = conn.scalar(select(tokens.c.family_id).where(tokens.c.id == token_id))
        if family_id is not None:
            _revoke_families(conn, token_families.c.id == family_id, now)
    else:
        conn.execute(
            update(tokens)
            .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )


def _revoke_for_user(user_id: int, now: int, client_id: str | None, conn: Connection) -> None:
    whose = tokens.c.user_id == user_id
    if client_id is not None:
        whose = whose & (tokens.c.client_id == client_id)
    families = select(tokens.c.family_id).where(whose)
    _revoke_families(conn, token_families.c.id.in_(families), now)
    conn.execute(update(tokens).where(whose, tokens.c.revoked_at.is_(None)).values(revoked_at=now))


def _revoke_families(conn: Connection, which: Any, now: int) -> None:
    """Revoke the families `which` selects, then every token in them. The family rows go first:
    that waits for a token being added to one of them, and the token UPDATE after it then sees
    that token."""
    conn.execute(
        update(token_families)
        .where(which, token_families.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    conn.execute(
        update(tokens)
        .where(
            tokens.c.family_id.in_(select(token_families.c.id).where(which)),
            tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
