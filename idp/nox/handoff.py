"""The hand-off to NOX's POST /post-login-redirect (NOX-CONTRACT flow 1, step 5).

Written to the outbox with the code, attempted at once with a short timeout, then retried by a
background worker with exponential backoff and jitter until it succeeds or grows too old. A 4xx
(other than 408/425/429) is final. Every attempt carries the same Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from idp.config import Settings
from idp.metrics import metrics
from idp.records import Handoff
from idp.security.clock import Clock
from idp.security.tls import tls_context
from idp.store.outbox import Outbox

log = logging.getLogger("idp.handoff")
RETRYABLE_4XX = {408, 425, 429}
MAX_BACKOFF = 3600
KEPT_ANSWER = 500  # characters of NOX's answer kept with a failed delivery


def is_nox_url(settings: Settings, url: str) -> bool:
    """True for a URL on NOX's origin (IDP_NOX_AUTH_BASE): only these get the NOX API key."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() == settings.nox_origin


def handoff_url_problem(settings: Settings, url: str) -> str | None:
    """Why `url` may not receive hand-offs, or None: it must be on NOX's origin, or be listed
    by the operator in IDP_HANDOFF_ALLOWED_URLS."""
    if is_nox_url(settings, url) or url in settings.handoff_allowed_url_list:
        return None
    return (
        f"{url} is not on NOX's origin ({settings.nox_origin}, IDP_NOX_AUTH_BASE) and not "
        "listed in IDP_HANDOFF_ALLOWED_URLS"
    )


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
            timeout=httpx.Timeout(settings.handoff_timeout_seconds),
            follow_redirects=False,
            verify=tls_context(),
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
        now = self.clock.now()
        if handoff.expires_at is not None and now >= handoff.expires_at:
            # NOX's 15-minute window closed with the authentication session: a late hand-off
            # would map a customer NOX no longer waits for.
            await self.outbox.expired(handoff.id, now)
            log.warning("hand-off %s expired with its authentication session", handoff.id)
            metrics().handoffs.labels("expired").inc()
            return "expired"
        problem = handoff_url_problem(self.settings, handoff.url)
        if problem:
            await self.outbox.failed(handoff.id, now, None, f"not sent: {problem}")
            log.error("hand-off %s not sent: %s", handoff.id, problem)
            metrics().handoffs.labels("failed").inc()
            return "failed"
        headers = {"Idempotency-Key": handoff.id, "Content-Type": "application/json"}
        if is_nox_url(self.settings, handoff.url):
            if not self.settings.nox_api_key:
                return await self._later(handoff, None, "not sent: IDP_NOX_API_KEY is not set")
            headers["x-api-key"] = self.settings.nox_api_key
        status: int | None = None
        started = time.perf_counter()
        try:
            response = await self.http.post(handoff.url, json=handoff.body, headers=headers)
            status = response.status_code
            answer = response.text[:KEPT_ANSWER]
        except httpx.HTTPError as exc:
            answer = f"{type(exc).__name__}: {exc}"[:KEPT_ANSWER]
        metrics().nox_call("handoff", started, status)
        now = self.clock.now()
        if status is not None and 200 <= status < 300:
            await self.outbox.delivered(handoff.id, now, status)
            log.info("hand-off %s delivered (HTTP %s)", handoff.id, status)
            metrics().handoffs.labels("delivered").inc()
            metrics().handoff_age.observe(max(0, now - handoff.created_at))
            return "delivered"
        if status is not None and 300 <= status < 500 and status not in RETRYABLE_4XX:
            await self.outbox.failed(handoff.id, now, status, answer)
            log.warning("hand-off %s refused (HTTP %s), not retried", handoff.id, status)
            metrics().handoffs.labels("failed").inc()
            return "failed"
        return await self._later(handoff, status, answer)

    async def _later(self, handoff: Handoff, status: int | None, answer: str) -> str:
        """Try again after a backoff, unless the hand-off has grown too old."""
        now = self.clock.now()
        if now - handoff.created_at >= self.settings.handoff_max_age_seconds:
            await self.outbox.failed(handoff.id, now, status, f"gave up after max age: {answer}")
            log.error("hand-off %s given up after %s attempts", handoff.id, handoff.attempts)
            metrics().handoffs.labels("failed").inc()
            return "failed"
        delay = backoff_seconds(handoff.attempts, self.settings.handoff_retry_base_seconds)
        if handoff.expires_at is not None:  # come back no later than when it expires
            delay = max(0, min(delay, handoff.expires_at - now))
        await self.outbox.retry_later(handoff.id, now + delay, status, answer)
        metrics().handoffs.labels("retry").inc()
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
