"""OAuth clients and their registered redirect URIs (matched by exact string comparison)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import Update

from idp.records import Client
from idp.store.base import Repository, to_record
from idp.store.tables import client_redirect_uris, clients

NEXT_VERSION = clients.c.version + 1


def bump(client_id: str) -> Update:
    """A change to the client's redirect URIs is a change to the client."""
    return update(clients).where(clients.c.client_id == client_id).values(version=NEXT_VERSION)


class DuplicateClient(Exception):
    """A client with this client_id exists already."""


class Clients(Repository):
    async def add(
        self,
        *,
        client_id: str,
        name: str,
        secret_hash: str | None,
        token_endpoint_auth_method: str,
        grant_types: list[str],
        scopes: list[str],
        redirect_uris: list[str],
        now: int,
        handoff_mode: str = "redirect",
        post_login_redirect_url: str | None = None,
        preset: str | None = None,
    ) -> None:
        try:
            async with self.begin() as conn:
                await conn.execute(
                    insert(clients).values(
                        client_id=client_id,
                        name=name,
                        secret_hash=secret_hash,
                        token_endpoint_auth_method=token_endpoint_auth_method,
                        grant_types=grant_types,
                        scopes=scopes,
                        disabled=False,
                        handoff_mode=handoff_mode,
                        post_login_redirect_url=post_login_redirect_url,
                        preset=preset,
                        created_at=now,
                        updated_at=now,
                    )
                )
                if redirect_uris:
                    await conn.execute(
                        insert(client_redirect_uris),
                        [{"client_id": client_id, "uri": uri} for uri in redirect_uris],
                    )
        except IntegrityError:
            raise DuplicateClient(client_id) from None

    async def get(self, client_id: str) -> Client | None:
        async with self.connect() as conn:
            row = (
                await conn.execute(select(clients).where(clients.c.client_id == client_id))
            ).first()
            if row is None:
                return None
            uris = (
                await conn.scalars(
                    select(client_redirect_uris.c.uri)
                    .where(client_redirect_uris.c.client_id == client_id)
                    .order_by(client_redirect_uris.c.id)
                )
            ).all()
        return to_record(Client, row, redirect_uris=list(uris))

    async def all(self) -> list[Client]:
        async with self.connect() as conn:
            rows = (await conn.execute(select(clients).order_by(clients.c.client_id))).all()
            uri_rows = (
                await conn.execute(select(client_redirect_uris).order_by(client_redirect_uris.c.id))
            ).all()
        by_client: dict[str, list[str]] = {}
        for uri_row in uri_rows:
            by_client.setdefault(uri_row.client_id, []).append(uri_row.uri)
        found = [to_record(Client, r, redirect_uris=by_client.get(r.client_id, [])) for r in rows]
        return [c for c in found if c is not None]

    async def update(self, client_id: str, now: int, **values: Any) -> bool:
        """Change name, handoff_mode, post_login_redirect_url or disabled; False if unknown."""
        allowed = {"name", "handoff_mode", "post_login_redirect_url", "disabled"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        async with self.begin() as conn:
            result = await conn.execute(
                update(clients)
                .where(clients.c.client_id == client_id)
                .values(updated_at=now, version=NEXT_VERSION, **values)
            )
        return result.rowcount == 1

    async def set_secret_hash(self, client_id: str, secret_hash: str | None, now: int) -> None:
        async with self.begin() as conn:
            await conn.execute(
                update(clients)
                .where(clients.c.client_id == client_id)
                .values(secret_hash=secret_hash, updated_at=now, version=NEXT_VERSION)
            )

    async def add_redirect_uri(self, client_id: str, uri: str) -> bool:
        """False when the client already has this exact URI."""
        try:
            async with self.begin() as conn:
                await conn.execute(
                    insert(client_redirect_uris).values(client_id=client_id, uri=uri)
                )
                await conn.execute(bump(client_id))
        except IntegrityError:
            return False
        return True

    async def remove_redirect_uri(self, client_id: str, uri: str) -> bool:
        async with self.begin() as conn:
            result = await conn.execute(
                delete(client_redirect_uris).where(
                    client_redirect_uris.c.client_id == client_id, client_redirect_uris.c.uri == uri
                )
            )
            await conn.execute(bump(client_id))
        return result.rowcount == 1

    async def version(self, client_id: str) -> int | None:
        """The client's change counter (one indexed read), None when there is no such client."""
        async with self.connect() as conn:
            found = await conn.scalar(
                select(clients.c.version).where(clients.c.client_id == client_id)
            )
        return None if found is None else int(found)
