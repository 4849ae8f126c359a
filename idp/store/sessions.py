"""Authentication sessions (one per visit to /authorize) and sign-in sessions (one per browser)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from idp.records import AuthSession, LoginSession
from idp.store.base import Repository, to_record
from idp.store.tables import auth_sessions, login_sessions
from idp.vocab import AUTH_PENDING as PENDING


class AuthSessions(Repository):
    async def add(self, session: AuthSession) -> None:
        await self.write(insert(auth_sessions).values(**session.__dict__))

    async def get(self, session_id: str) -> AuthSession | None:
        async with self.connect() as conn:
            row = (
                await conn.execute(select(auth_sessions).where(auth_sessions.c.id == session_id))
            ).first()
        return to_record(AuthSession, row)

    async def set_user(
        self, session_id: str, user_id: int, auth_time: int, *, signed_in_here: bool = False
    ) -> None:
        """Who this session is for; `signed_in_here` when the customer just signed in in it."""
        values: dict[str, object] = {"user_id": user_id, "auth_time": auth_time}
        if signed_in_here:
            values.update(force_login=False, interacted_at=auth_time)
        else:  # remembered from an earlier sign-in: nothing was done in this session yet
            values.update(interacted_at=None)
        await self.write(
            update(auth_sessions)
            .where(auth_sessions.c.id == session_id, auth_sessions.c.status == PENDING)
            .values(**values)
        )

    async def interacted(self, session_id: str, user_id: int, now: int) -> bool:
        """Record a step the customer took in this session (terms accepted, "Continue as");
        False when the session is no longer pending or is for someone else."""
        changed = await self.write(
            update(auth_sessions)
            .where(
                auth_sessions.c.id == session_id,
                auth_sessions.c.status == PENDING,
                auth_sessions.c.user_id == user_id,
            )
            .values(interacted_at=now)
        )
        return changed == 1

    async def set_language(self, session_id: str, language: str) -> None:
        """The customer chose another language: the rest of the session, and what the client is
        told, use it."""
        await self.write(
            update(auth_sessions)
            .where(auth_sessions.c.id == session_id, auth_sessions.c.status == PENDING)
            .values(language=language)
        )

    async def forget_user(self, session_id: str) -> None:
        """ "Not you?": the session goes on, but the customer must sign in first."""
        await self.write(
            update(auth_sessions)
            .where(auth_sessions.c.id == session_id, auth_sessions.c.status == PENDING)
            .values(user_id=None, auth_time=None, interacted_at=None, force_login=True)
        )

    async def finish(
        self,
        session_id: str,
        status: str,
        *,
        require_step: bool = False,
        user_id: int | None = None,
    ) -> bool:
        """Move a pending session to its final status; False when it was not pending (a replay),
        with `require_step` when the customer took no step in it, with `user_id` when it is
        someone else's by now (another tab said "Not you?")."""
        condition = [auth_sessions.c.id == session_id, auth_sessions.c.status == PENDING]
        if require_step:
            condition.append(auth_sessions.c.interacted_at.is_not(None))
        if user_id is not None:
            condition.append(auth_sessions.c.user_id == user_id)
        return await self.write(update(auth_sessions).where(*condition).values(status=status)) == 1


class LoginSessions(Repository):
    async def add(
        self,
        *,
        id_hash: str,
        user_id: int,
        auth_time: int,
        expires_at: int,
        ip: str | None,
        user_agent: str | None,
    ) -> None:
        await self.write(
            insert(login_sessions).values(
                id_hash=id_hash,
                user_id=user_id,
                auth_time=auth_time,
                expires_at=expires_at,
                ip=ip,
                user_agent=(user_agent or "")[:512] or None,
            )
        )

    async def get(self, id_hash: str, now: int) -> LoginSession | None:
        async with self.connect() as conn:
            row = (
                await conn.execute(
                    select(login_sessions).where(
                        login_sessions.c.id_hash == id_hash, login_sessions.c.expires_at > now
                    )
                )
            ).first()
        return to_record(LoginSession, row)

    async def for_user(self, user_id: int, limit: int = 20) -> list[dict[str, object]]:
        async with self.connect() as conn:
            rows = (
                await conn.execute(
                    select(login_sessions)
                    .where(login_sessions.c.user_id == user_id)
                    .order_by(login_sessions.c.auth_time.desc())
                    .limit(limit)
                )
            ).all()
        return [{k: v for k, v in r._mapping.items() if k != "id_hash"} for r in rows]

    async def auth_times(self, since: int) -> list[int]:
        """When the sign-ins since `since` happened, of those whose session is still kept
        (signing out or a new password removes it): the console's sign-ins per hour."""
        async with self.connect() as conn:
            found = await conn.scalars(
                select(login_sessions.c.auth_time).where(login_sessions.c.auth_time >= since)
            )
            return [int(t) for t in found]

    async def remove_for_user(self, user_id: int) -> None:
        await self.write(delete(login_sessions).where(login_sessions.c.user_id == user_id))

    async def remove(self, id_hash: str) -> None:
        await self.write(delete(login_sessions).where(login_sessions.c.id_hash == id_hash))
