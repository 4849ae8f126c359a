"""OAuth clients and their registered URIs, matched by exact string comparison: the redirect URIs
(RFC 6749 §3.1.2) and the post-logout redirect URIs (RP-Initiated Logout 1.0 §3.1)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Update

from idp.records import Client
from idp.store.base import Repository, to_record
from idp.store.tables import client_post_logout_redirect_uris, client_redirect_uris, clients
from idp.vocab import UriKind

NEXT_VERSION = clients.c.version + 1

# Each kind of registered URI: its table, and the Client field that lists them.
URI_TABLES: dict[UriKind, tuple[Table, str]] = {
    "redirect": (client_redirect_uris, "redirect_uris"),
    "post_logout": (client_post_logout_redirect_uris, "post_logout_redirect_uris"),
}


async def registered_uris(
    conn: AsyncConnection, client_id: str | None = None
) -> dict[str, dict[str, list[str]]]:
    """{Client field: {client_id: [uri, ...]}} for one client or all, in registration order."""
    found: dict[str, dict[str, list[str]]] = {}
    for table, name in URI_TABLES.values():
        query = select(table.c.client_id, table.c.uri).order_by(table.c.id)
        if client_id is not None:
            query = query.where(table.c.client_id == client_id)
        by_client = found.setdefault(name, {})
        for row in (await conn.execute(query)).all():
            by_client.setdefault(row.client_id, []).append(row.uri)
    return found


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
        post_logout_redirect_uris: list[str] | None = None,
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
                for table, uris in (
                    (client_redirect_uris, redirect_uris),
                    (client_post_logout_redirect_uris, post_logout_redirect_uris or []),
                ):
                    if uris:
                        await conn.execute(
                            insert(table), [{"client_id": client_id, "uri": u} for u in uris]
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
            uris = await registered_uris(conn, client_id)
        return to_record(Client, row, **{k: v.get(client_id, []) for k, v in uris.items()})

    async def all(self) -> list[Client]:
        async with self.connect() as conn:
            rows = (await conn.execute(select(clients).order_by(clients.c.client_id))).all()
            uris = await registered_uris(conn)
        found = [
            to_record(Client, r, **{k: v.get(r.client_id, []) for k, v in uris.items()})
            for r in rows
        ]
        return [c for c in found if c is not None]

    async def update(self, client_id: str, now: int, **values: Any) -> bool:
        """Change name, handoff_mode, post_login_redirect_url, backchannel_logout_uri, disabled,
        grant_types or scopes; False if unknown."""
        allowed = {
            "name",
            "grant_types",
            "scopes",
            "handoff_mode",
            "post_login_redirect_url",
            "backchannel_logout_uri",
            "disabled",
        }
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

    async def add_redirect_uri(self, client_id: str, uri: str, kind: UriKind = "redirect") -> bool:
        """False when the client already has this exact URI of this kind."""
        table = URI_TABLES[kind][0]
        try:
            async with self.begin() as conn:
                await conn.execute(insert(table).values(client_id=client_id, uri=uri))
                await conn.execute(bump(client_id))
        except IntegrityError:
            return False
        return True

    async def remove_redirect_uri(
        self, client_id: str, uri: str, kind: UriKind = "redirect"
    ) -> bool:
        table = URI_TABLES[kind][0]
        async with self.begin() as conn:
            result = await conn.execute(
                delete(table).where(table.c.client_id == client_id, table.c.uri == uri)
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
