"""NOX's webhooks (NOX-CONTRACT, "Other NOX facts"): whether NOX is steering a device, and
whether the customer must sign in again at the device's maker.

- Signed: `X-Webhook-Signature: sha256=<hex HMAC-SHA256>` keyed with the NOX API key. NOX does
  not publish the exact string it signs, so IDP_NOX_WEBHOOK_SIGNED says how it is built (default
  `{timestamp}.{body}`). A bad signature is a 401 and a security event.
- Fresh: `X-Webhook-Timestamp` within IDP_NOX_WEBHOOK_TOLERANCE_SECONDS of our clock, else 400,
  so a captured webhook cannot be played back later.
- Once: `X-Webhook-Id` is recorded in the same transaction as the change; the same id again
  changes nothing. An older fact never overwrites a newer one.
- A 2xx tells NOX to stop; a 4xx is not retried by NOX; a 5xx is. So everything we understood,
  or chose to ignore (another event type, a device not linked here), is a 204.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

from idp.config import Settings
from idp.nox.webhook_signature import signature
from idp.security.clock import Clock
from idp.security.events import SecurityLog
from idp.store.device_status import DeviceStatuses

STEERABLE_PREFIX = "device.steerable_status."
REAUTHENTICATION = "device.needs_reauthentication.updated"
MAX_ID = 255


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    outcome: str  # applied, duplicate, stale, unknown_device, ignored, or why it was refused


def truthy(value: Any) -> bool:
    return value is True or value == 1 or str(value).lower() == "true"


def fact_of(event: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """What an event says, as (fact, column values); None for an event we do not use."""
    kind = str(event.get("type", ""))
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    value = data.get("value") if data else None
    if kind.startswith(STEERABLE_PREFIX) and kind.endswith(".updated"):
        # e.g. device.steerable_status.being_steered.updated, data.value: whether it is so.
        state = kind[len(STEERABLE_PREFIX) : -len(".updated")]
        if state and "." not in state and len(state) <= 64:
            return "steerable", {"steerable_status": state, "steerable": truthy(value)}
    if kind == REAUTHENTICATION:
        return "reauthentication", {"needs_reauthentication": truthy(value)}
    return None


class NoxWebhooks:
    def __init__(
        self, settings: Settings, statuses: DeviceStatuses, events: SecurityLog, clock: Clock
    ) -> None:
        self.settings = settings
        self.statuses = statuses
        self.events = events
        self.clock = clock

    async def receive(self, headers: dict[str, str], body: bytes, ip: str) -> WebhookAnswer:
        key = self.settings.nox_api_key
        if not key:
            return WebhookAnswer(503, "not_configured")  # NOX retries once we have the key
        webhook_id = headers.get("x-webhook-id", "")
        timestamp = headers.get("x-webhook-timestamp", "")
        given = headers.get("x-webhook-signature", "")
        if not webhook_id or len(webhook_id) > MAX_ID or not timestamp.isdigit() or not given:
            return WebhookAnswer(400, "missing_headers")
        expected = signature(key, self.settings.nox_webhook_signed, timestamp, webhook_id, body)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            await self.events.record(
                "nox_webhook_bad_signature", None, {"webhook_id": webhook_id[:80]}, ip, 60
            )
            return WebhookAnswer(401, "bad_signature")
        at, now = int(timestamp), self.clock.now()
        if at > 10**11:  # milliseconds
            at //= 1000
        if abs(now - at) > self.settings.nox_webhook_tolerance_seconds:
            return WebhookAnswer(400, "stale_timestamp")
        try:
            event = json.loads(body)
        except ValueError:
            return WebhookAnswer(400, "invalid_json")
        if not isinstance(event, dict):
            return WebhookAnswer(400, "invalid_json")
        metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
        device_id = str((metadata or {}).get("device_id") or "")
        found = fact_of(event)
        if found is None or not device_id or len(device_id) > 255:
            return WebhookAnswer(204, "ignored")
        fact, values = found
        outcome = await self.statuses.receive(webhook_id, now, device_id, fact, values, at)
        return WebhookAnswer(204, outcome)
