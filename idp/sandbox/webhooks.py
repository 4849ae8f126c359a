"""NOX's webhooks, sent by the sandbox: signed as NOX signs them (X-Webhook-Id, -Timestamp,
-Signature keyed with the API key) and retried as NOX retries them: a 5xx or no answer is tried
again after a pause, a 2xx or a 4xx ends it. Each attempt is signed with its own timestamp.

POST /_sandbox/webhooks {"device_id", "event": "being_steered" | "needs_reauthentication",
"value", "copies"} sends one (with "copies": the same webhook that many times at once, as a NOX
retry racing the first delivery would) and answers with every attempt's status."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx
from quart import Quart, Response, jsonify, request

from idp.nox.webhook_signature import signature

if TYPE_CHECKING:
    from idp.sandbox.app import SandboxSettings, SandboxState

EVENT_TYPES = {
    "being_steered": "device.steerable_status.being_steered.updated",
    "needs_reauthentication": "device.needs_reauthentication.updated",
}
RETRY_DELAYS = (0.5, 1.0, 2.0)  # seconds before the 2nd, 3rd and 4th attempt


async def deliver(
    http: httpx.AsyncClient,
    url: str,
    api_key: str,
    template: str,
    webhook_id: str,
    event: dict[str, Any],
    delays: Sequence[float] = RETRY_DELAYS,
) -> list[int | str]:
    """Send one webhook until it is acknowledged (2xx), refused (4xx) or out of attempts;
    each attempt's status code, or the error's name when there was no answer."""
    body = json.dumps(event).encode()
    attempts: list[int | str] = []
    for delay in (0.0, *delays):
        await asyncio.sleep(delay)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Id": webhook_id,
            "X-Webhook-Timestamp": timestamp,
            "X-Webhook-Signature": signature(api_key, template, timestamp, webhook_id, body),
        }
        try:
            answer = await http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            attempts.append(type(exc).__name__)
            continue
        attempts.append(answer.status_code)
        if answer.status_code < 500:
            break
    return attempts


def register_webhooks(app: Quart, settings: SandboxSettings, state: SandboxState) -> None:
    @app.post("/_sandbox/webhooks")
    async def send_webhook() -> tuple[Response, int]:
        asked = await request.get_json(force=True, silent=True) or {}
        kind = EVENT_TYPES.get(str(asked.get("event", "being_steered")))
        device_id = str(asked.get("device_id", ""))
        if kind is None or not device_id:
            return jsonify({"error": "device_id and a known event are required"}), 400
        event_id = secrets.token_hex(8)
        webhook_id = f"{event_id}:{asked.get('event', 'being_steered')}"
        event = {
            "type": kind,
            "timestamp": int(time.time()),
            "id": event_id,
            "data": {"value": asked.get("value", True), "previous_value": None},
            "metadata": {"device_id": device_id, "energy_supplier": settings.supplier_slug},
        }
        copies = max(1, min(int(asked.get("copies", 1)), 8))
        async with httpx.AsyncClient(timeout=5) as http:
            results = await asyncio.gather(
                *(
                    deliver(
                        http,
                        settings.webhook_url,
                        settings.api_key,
                        settings.webhook_signed,
                        webhook_id,
                        event,
                    )
                    for _ in range(copies)
                )
            )
        state.record("webhook_sent", webhook_id=webhook_id, type=kind, attempts=results)
        return jsonify({"webhook_id": webhook_id, "attempts": results}), 200
