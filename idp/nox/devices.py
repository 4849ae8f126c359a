"""NOX's data API: `GET {IDP_NOX_API_BASE}/v1/devices?user_id=<supplier_user_id>` with
`x-api-key`, the one source that can confirm which devices NOX linked to a customer.

NOX publishes no response shape beyond "lists devices with a steerable_status and a
needs_reauthentication flag", so the reading is tolerant: a top-level list, or an object with a
`data` (or `devices`) list; each device names itself by `device_id` or `id`. The sandbox answers
`{"data": [{"device_id", "brand", "asset_type", "nox_user_id", "steerable_status",
"needs_reauthentication"}]}`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from idp.config import Settings
from idp.nox.links import NoxUnavailable

log = logging.getLogger("idp.nox")
MAX_LISTED = 1000


@dataclass(frozen=True)
class NoxDevice:
    device_id: str
    nox_user_id: str | None = None
    brand: str | None = None
    asset_type: str | None = None


def parse_devices(body: Any) -> list[NoxDevice]:
    """The devices in a data-API answer; ValueError when there is no list of devices in it."""
    items = body
    if isinstance(body, dict):
        items = body.get("data", body.get("devices"))
    if not isinstance(items, list) or len(items) > MAX_LISTED:
        raise ValueError("no list of devices")
    found = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a device is not an object")
        device_id = item.get("device_id", item.get("id"))
        if not isinstance(device_id, str) or not device_id:
            raise ValueError("a device has no device_id")

        def text(name: str, item: dict[str, Any] = item) -> str | None:
            value = item.get(name)
            return value if isinstance(value, str) else None

        found.append(NoxDevice(device_id, text("nox_user_id"), text("brand"), text("asset_type")))
    return found


class NoxDataClient:
    def __init__(
        self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(
            base_url=settings.nox_api_base or "http://nox-data-api.invalid",
            timeout=httpx.Timeout(settings.nox_timeout_seconds),
            follow_redirects=False,
            transport=transport,
        )

    @property
    def configured(self) -> bool:
        return bool(self.settings.nox_api_base and self.settings.nox_api_key)

    async def close(self) -> None:
        await self.http.aclose()

    async def devices(self, supplier_user_id: str) -> list[NoxDevice]:
        """What NOX lists for this customer; NoxUnavailable on any failure (logged)."""
        if not self.configured:
            raise NoxUnavailable("the data API is not configured")
        try:
            response = await self.http.get(
                "/v1/devices",
                params={"user_id": supplier_user_id},
                headers={"x-api-key": self.settings.nox_api_key or ""},  # `configured`: set
            )
        except httpx.HTTPError as exc:
            log.error("NOX data API request failed: %s", type(exc).__name__)
            raise NoxUnavailable(type(exc).__name__) from None
        if not response.is_success:
            log.error("NOX data API answered HTTP %s", response.status_code)
            raise NoxUnavailable(f"HTTP {response.status_code}")
        try:
            return parse_devices(response.json())
        except ValueError as exc:
            log.error("NOX data API answer has the wrong shape: %s", exc)
            raise NoxUnavailable(f"malformed answer: {exc}") from None
