"""The hand-off to NOX's POST /post-login-redirect (NOX-CONTRACT flow 1, step 5).

Written to the outbox with the code, attempted at once with a short timeout, then retried by a
background worker with exponential backoff and jitter until it succeeds or grows too old. A 4xx
(other than 408/425/429) is final. Every attempt carries the same Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from typing import Any

import httpx

from idp.config import Settings
from idp.security.clock import Clock
from idp.store.outbox import Outbox
from idp.store.records import Handoff

log = logging.getLogger("idp.handoff")
RETRYABLE_4XX = {408, 425, 429}
MAX_BACKOFF = 3600
KEPT_ANSWER = 500  # characters of NOX's answer kept with a failed delivery


def build_handoff(
    settings: Settings, client: Any, supplier_user_id: str, state: str | None, auth_time: int
) -> dict[str, Any] | None:
    """The outbox row for a code issued to `client`, or None when the client has no hand-off."""
    if client.handoff_mode != "backchannel" or not client.post_login_redirect_url:
        return None
    body = {
        **settings.handoff_extra_fields,
        "supplier_user_id": supplier_user_id,
        "state": state,
        "client_id": client.client_id,
        "authenticated_at": auth_time,
    }
    return {
        "id": uuid.uuid4().hex,
        "client_id": client.client_id,
        "url": client.post_login_redirect_url,
        "body": body,
    }


def backoff_seconds(attempts: int, base: float) -> int:
    """Exponential backoff with full jitter between 50% and 150%, capped at an hour."""
    delay = min(base * 2 ** max(0, attempts - 1), MAX_BACKOFF)
    return max(1, round(delay * random.uniform(0.5, 1.5)))


class HandoffDelivery:
    def __init__(self, settings: Settings, outbox: Outbox, clock: Clock) -> None:
        self.settings = settings
        self.outbox = outbox
        self.clock = clock
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.handoff_timeout_seconds), follow_redirects=False
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def attempt(self, handoff_id: str) -> str | None:
        """One delivery attempt, if nobody else holds this hand-off; returns its new status."""
        lease = int(self.settings.handoff_timeout_seconds) + 30
        handoff = await self.outbox.claim(handoff_id, self.clock.now(), lease)
        if handoff is None:
            return None
        return await self._send(handoff)

    async def _send(self, handoff: Handoff) -> str:
        headers = {"Idempotency-Key": handoff.id, "Content-Type": "application/json"}
        if self.settings.nox_api_key:
            headers["x-api-key"] = self.settings.nox_api_key
        status: int | None = None
        try:
            response = await self.http.post(handoff.url, json=handoff.body, headers=headers)
            status = response.status_code
            answer = response.text[:KEPT_ANSWER]
        except httpx.HTTPError as exc:
            answer = f"{type(exc).__name__}: {exc}"[:KEPT_ANSWER]
        now = self.clock.now()
        if status is not None and 200 <= status < 300:
            await self.outbox.delivered(handoff.id, now, status)
            log.info("hand-off %s delivered (HTTP %s)", handoff.id, status)
            return "delivered"
        if status is not None and 300 <= status < 500 and status not in RETRYABLE_4XX:
            await self.outbox.failed(handoff.id, now, status, answer)
            log.warning("hand-off %s refused (HTTP %s), not retried", handoff.id, status)
            return "failed"
        if now - handoff.created_at >= self.settings.handoff_max_age_seconds:
            await self.outbox.failed(handoff.id, now, status, f"gave up after max age: {answer}")
            log.error("hand-off %s given up after %s attempts", handoff.id, handoff.attempts)
            return "failed"
        delay = backoff_seconds(handoff.attempts, self.settings.handoff_retry_base_seconds)
        await self.outbox.retry_later(handoff.id, now + delay, status, answer)
        log.warning(
            "hand-off %s attempt %s failed (%s); retry in %ss",
            handoff.id,
            handoff.attempts,
            status or answer,
            delay,
        )
        return "pending"

    async def run(self, stop: asyncio.Event) -> None:
        """The background worker: deliver what is due, then wait a little, until stopped."""
        while not stop.is_set():
            try:
                for handoff_id in await self.outbox.due(self.clock.now()):
                    await self.attempt(handoff_id)
            except Exception:  # the worker must outlive a database hiccup
                log.exception("hand-off worker round failed")
            try:
                await asyncio.wait_for(stop.wait(), self.settings.handoff_poll_seconds)
            except TimeoutError:
                pass
