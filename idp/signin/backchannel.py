"""Telling clients that a customer signed out (OpenID Connect Back-Channel Logout 1.0).

Each client that holds a live token of the customer and registered a backchannel_logout_uri
gets a logout token (idp/oauth/facade.py) by POST, in a task of its own: signing out never
waits for a client. A 200 or 204 ends it (§2.8); no answer or a 5xx is tried twice more; a 4xx
is the client's final word. What happened is logged.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from idp.oauth.clients import ClientCache
from idp.oauth.facade import OAuth
from idp.records import User
from idp.security.clock import Clock
from idp.security.tls import tls_context
from idp.store.grants import Grants

log = logging.getLogger("idp")
RETRY_DELAYS = (1.0, 4.0)
TIMEOUT = 5.0


class BackchannelLogout:
    def __init__(
        self,
        oauth: OAuth,
        grants: Grants,
        clients: ClientCache,
        clock: Clock,
        delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self.oauth = oauth
        self.grants = grants
        self.clients = clients
        self.clock = clock
        self.delays = delays
        self._sending: set[asyncio.Task[None]] = set()

    async def signed_out(self, user: User) -> None:
        """The customer's sign-in ended: tell the clients that asked to know."""
        for holding in await self.grants.clients_holding(user.id, self.clock.now()):
            client = await self.clients.get(holding["client_id"])
            if client is None or client.disabled or not client.backchannel_logout_uri:
                continue
            token = await self.oauth.logout_token(client.client_id, user.supplier_user_id)
            task = asyncio.create_task(self._deliver(client.backchannel_logout_uri, token))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _deliver(self, uri: str, token: str) -> None:
        async with httpx.AsyncClient(
            timeout=TIMEOUT, follow_redirects=False, verify=tls_context()
        ) as http:
            for delay in (0.0, *self.delays):
                await asyncio.sleep(delay)
                try:
                    answer = await http.post(uri, data={"logout_token": token})
                except httpx.HTTPError as exc:
                    log.warning("back-channel logout to %s: %s", uri, type(exc).__name__)
                    continue
                if answer.status_code in (200, 204):
                    return
                log.warning("back-channel logout to %s answered %s", uri, answer.status_code)
                if answer.status_code < 500:
                    return

    async def close(self) -> None:
        """Let the notices under way go out (bounded in time) before the process ends."""
        if self._sending:
            await asyncio.wait(self._sending, timeout=TIMEOUT * 2)
