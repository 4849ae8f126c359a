"""What the protocol code needs from storage, as typed protocols (the store's repositories
satisfy them structurally). Nothing here knows SQL, and nothing in idp/oauth imports idp.store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from idp.records import (
    AuthorizationCode,
    Client,
    CodeConsumption,
    RefreshUse,
    SigningKey,
    Token,
    User,
)

# An outbox row to deliver with a code (idp.nox.handoff): id, client_id, url, JSON body and,
# set by the grant, expires_at. JSON all the way down, hence `Any` for the values.
HandoffRow = dict[str, Any]
# JSON details of a security event.
EventDetail = dict[str, Any]


class Clients(Protocol):
    async def get(self, client_id: str) -> Client | None: ...

    async def version(self, client_id: str) -> int | None:
        """The client's change counter: it moves with every change to the client."""
        ...


class Users(Protocol):
    async def by_id(self, user_id: int) -> User | None: ...


class Grants(Protocol):
    """Codes and tokens. Single use is the store's to enforce (conditional updates). A write
    given a `client_version` first checks that the client is still at it, and raises
    ClientChanged, storing nothing, when not."""

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
        handoff: HandoffRow | None = None,
    ) -> int: ...

    async def consume_code(
        self,
        code_hash: str,
        client_id: str,
        now: int,
        proves: Callable[[AuthorizationCode], bool] = ...,
        client_version: int | None = None,
    ) -> CodeConsumption: ...

    async def nonce_used(self, client_id: str, nonce: str) -> bool: ...

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
    ) -> bool: ...

    async def by_access_token(self, access_token_hash: str) -> Token | None: ...

    async def by_refresh_token(self, refresh_token_hash: str) -> Token | None: ...

    async def use_refresh_token(
        self,
        refresh_token_hash: str,
        client_id: str,
        now: int,
        absolute_seconds: int,
        client_version: int | None = None,
    ) -> RefreshUse: ...

    async def revoke(self, token_id: int, now: int, *, family: bool) -> None: ...


class SigningKeys(Protocol):
    async def published(self, retired_after: int) -> list[SigningKey]: ...

    async def add_current(
        self, *, kid: str, alg: str, private_jwk: dict[str, Any], now: int
    ) -> None: ...


class SecurityEvents(Protocol):
    async def record(
        self,
        *,
        kind: str,
        now: int,
        actor: str | None,
        ip: str | None,
        detail: EventDetail,
    ) -> bool: ...


class HandoffBuilder(Protocol):
    """The hand-off to make with a code issued to `client`, or None (idp.nox.handoff)."""

    def __call__(
        self, client: Client, supplier_user_id: str, state: str | None, auth_time: int, /
    ) -> HandoffRow | None: ...


@dataclass(frozen=True)
class Ports:
    """Everything the protocol package reaches outside itself."""

    clients: Clients
    users: Users
    grants: Grants
    keys: SigningKeys
    events: SecurityEvents
    handoff_for: HandoffBuilder
