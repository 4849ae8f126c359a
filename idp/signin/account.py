"""What a signed-in customer controls on /account: the clients holding their tokens ("withdraw
access"), their sign-in sessions ("sign out everywhere"), and the terms they accepted."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from idp.records import TermsVersion, User
from idp.security.clock import Clock
from idp.security.events import SecurityLog
from idp.signin.backchannel import BackchannelLogout
from idp.store.grants import Grants
from idp.store.sessions import LoginSessions
from idp.store.terms import Terms


@dataclass(frozen=True)
class ClientAccess:
    """A client holding a live access or refresh token of the customer."""

    client_id: str
    name: str
    first_issued_at: int
    last_issued_at: int


@dataclass(frozen=True)
class SignInSession:
    auth_time: int
    expires_at: int
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class Acceptance:
    version: str
    language: str
    accepted_at: int


@dataclass(frozen=True)
class AccountOverview:
    access: list[ClientAccess]
    sessions: list[SignInSession]
    acceptances: list[Acceptance]


def fields_of(cls: Any, row: dict[str, Any]) -> Any:
    return cls(**{name: row[name] for name in cls.__dataclass_fields__})


class AccountControls:
    def __init__(
        self,
        grants: Grants,
        login_sessions: LoginSessions,
        terms: Terms,
        events: SecurityLog,
        clock: Clock,
        backchannel: BackchannelLogout,
    ) -> None:
        self.backchannel = backchannel
        self.grants = grants
        self.login_sessions = login_sessions
        self.terms = terms
        self.events = events
        self.clock = clock

    async def overview(self, user: User) -> AccountOverview:
        now = self.clock.now()
        sessions = await self.login_sessions.for_user(user.id)
        acceptances = await self.terms.acceptances_of(user.id)
        return AccountOverview(
            access=[
                fields_of(ClientAccess, r) for r in await self.grants.clients_holding(user.id, now)
            ],
            sessions=[
                s for s in map(partial(fields_of, SignInSession), sessions) if s.expires_at > now
            ],
            acceptances=[fields_of(Acceptance, r) for r in acceptances],
        )

    async def withdraw(self, user: User, client_id: str, ip: str) -> bool:
        """Revoke every token `client_id` holds for the customer, and record it; False when it
        holds none (nothing changed)."""
        now = self.clock.now()
        holding = await self.grants.clients_holding(user.id, now)
        if not any(r["client_id"] == client_id for r in holding):
            return False
        await self.grants.revoke_for_user(user.id, now, client_id)
        await self.events.record(
            "access_withdrawn", user.email.lower(), {"client_id": client_id}, ip
        )
        return True

    async def accepted_text(self, user: User, version: str, language: str) -> TermsVersion | None:
        """The text of terms the customer accepted, in the language they accepted it in; None
        for terms they did not accept."""
        accepted = await self.terms.acceptances_of(user.id)
        if not any(a["version"] == version and a["language"] == language for a in accepted):
            return None
        return await self.terms.text(version, [language])

    async def sign_out_everywhere(self, user: User) -> None:
        """End every sign-in session of the customer, this browser's included, and tell the
        clients that asked to know (Back-Channel Logout)."""
        await self.login_sessions.remove_for_user(user.id)
        await self.backchannel.signed_out(user)
