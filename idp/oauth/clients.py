"""The clients this process has seen, kept while they are current.

Every use checks the client's change counter (`clients.version`, one indexed read) and reloads the
client when it moved: a redirect URI removed, a secret rotated or a client disabled in the
console, by the CLI or in another process takes effect on the very next request here.

The token endpoint checks it later, in the transaction that stores its answer (`remembered`,
then the grant's first write is given the version and stores nothing when it moved): see
`OAuth.token`.
"""

from __future__ import annotations

from idp.oauth.ports import Clients
from idp.records import Client

MAX_CACHED = 1024  # clients are few; this only bounds what a flood of unknown ids could add


class ClientCache:
    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self._cached: dict[str, Client] = {}

    async def get(self, client_id: str) -> Client | None:
        """The client as stored now (disabled ones included: the caller decides)."""
        cached = self._cached.get(client_id)
        if cached is not None and await self.clients.version(client_id) == cached.version:
            return cached
        # Read after the version check: a change landing in between only makes the next
        # request read it again (the record's version is read with its row, before its URIs).
        fresh = await self.clients.get(client_id)
        if fresh is None:
            self._cached.pop(client_id, None)
            return None
        if len(self._cached) >= MAX_CACHED:
            self._cached.clear()
        self._cached[client_id] = fresh
        return fresh

    def remembered(self, client_id: str) -> Client | None:
        """The client as this process last read it, not checked against storage."""
        return self._cached.get(client_id)

    def forget(self, client_id: str) -> None:
        self._cached.pop(client_id, None)
