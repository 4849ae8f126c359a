"""HTTP to NOX, and nothing else: its link-session API (POST /v2/supplier/link-sessions on
IDP_NOX_AUTH_BASE) and its data API (GET /v1/devices on IDP_NOX_API_BASE). Every failure is one
exception, NoxUnavailable, logged here; the use cases decide what it means.

NOX's data API publishes no response shape beyond "lists devices with a steerable_status and a
needs_reauthentication flag", so its reading is tolerant: a top-level list, or an object with a
`data` (or `devices`) list; each device names itself by `device_id` or `id`. The sandbox answers
`{"data": [{"device_id", "brand", "asset_type", "nox_user_id", "steerable_status",
"needs_reauthentication"}]}`.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from idp.config import Settings
from idp.metrics import metrics
from idp.security.tls import tls_context

log = logging.getLogger("idp.nox")


def is_int(value: Any) -> bool:
    """A JSON integer (not a boolean, which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_text(value: Any, limit: int) -> bool:
    """A non-empty JSON string of at most `limit` characters."""
    return isinstance(value, str) and 0 < len(value) <= limit


class NoxUnavailable(Exception):
    """NOX did not give a usable answer: timeout, connection error, non-2xx or wrong shape."""


@dataclass(frozen=True)
class CreatedLinkSession:
    """NOX's answer to a link-session request, checked (NoxLinkClient.check_answer)."""

    link_url: str
    link_token: str
    created_at: int
    expires_at: int


DEFAULT_PORTS = {"https": 443, "http": 80}
# What a browser reads differently from urlsplit (WHATWG URL): "\" is a path separator in
# http(s) URLs, so "https://evil.example\@nox/" goes to evil.example; tabs and newlines are
# silently removed; "%" in a host is decoded. Such a URL is refused rather than interpreted.
URL_CHARS = re.compile(r"[!#-\[\]-~]+")  # printable ASCII without space, '"' and backslash
AUTHORITY = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?")  # host[:port]: no userinfo, no "%"


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an absolute http(s) URL as every browser reads it, or None when
    the URL is one that parsers disagree on (userinfo, backslashes, control characters, spaces,
    percent-encoded or trailing-dot hosts)."""
    if not URL_CHARS.fullmatch(url):
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not url[len(scheme) :].startswith("://"):
        return None
    if not AUTHORITY.fullmatch(parts.netloc):
        return None
    host = (parts.hostname or "").lower()
    if not host or host.endswith(".") or ".." in host:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return scheme, host, DEFAULT_PORTS[scheme] if port is None else port


def same_origin(url: str, base: str) -> bool:
    """True when a browser sent to `url` lands on `base`'s scheme, host and port exactly."""
    a = origin_of(url)
    return a is not None and a == origin_of(base)


class NoxLinkClient:
    """NOX's link-session API: creates the session the customer's browser is sent to."""

    def __init__(
        self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(
            base_url=settings.nox_auth_base,
            timeout=httpx.Timeout(settings.nox_timeout_seconds),
            follow_redirects=False,
            transport=transport,
            verify=tls_context(),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def create(
        self,
        *,
        user_id: str,
        asset_type: str,
        language: str,
        brand: str | None,
        redirect_url: str | None = None,
    ) -> CreatedLinkSession:
        """POST /v2/supplier/link-sessions; NoxUnavailable on any failure (logged, counted)."""
        try:
            created = await self._create(user_id, asset_type, language, brand, redirect_url)
        except NoxUnavailable:
            metrics().link_sessions.labels("failed").inc()
            raise
        metrics().link_sessions.labels("created").inc()
        return created

    async def _create(
        self,
        user_id: str,
        asset_type: str,
        language: str,
        brand: str | None,
        redirect_url: str | None,
    ) -> CreatedLinkSession:
        body: dict[str, Any] = {
            "user_id": user_id,
            "redirect_url": redirect_url or self.settings.link_callback_url,
            "asset_type": asset_type,
            "language": language,
        }
        if brand:
            body["brand"] = brand
        if not self.settings.nox_api_key:
            log.error("IDP_NOX_API_KEY is not set: no link session can be created at NOX")
            raise NoxUnavailable("IDP_NOX_API_KEY is not set")
        started = time.perf_counter()
        try:
            response = await self.http.post(
                "/v2/supplier/link-sessions",
                json=body,
                headers={"x-api-key": self.settings.nox_api_key},
            )
        except httpx.HTTPError as exc:
            metrics().nox_call("link_session", started, None)
            log.error("NOX link-session request failed: %s", type(exc).__name__)
            raise NoxUnavailable(type(exc).__name__) from None
        metrics().nox_call("link_session", started, response.status_code)
        if not response.is_success:
            log.error("NOX answered HTTP %s to a link-session request", response.status_code)
            raise NoxUnavailable(f"HTTP {response.status_code}")
        try:
            return self.check_answer(response.json(), body)
        except (ValueError, TypeError) as exc:
            log.error("NOX's link-session answer has the wrong shape: %s", exc)
            raise NoxUnavailable(f"malformed answer: {exc}") from None

    def check_answer(self, data: Any, sent: dict[str, Any]) -> CreatedLinkSession:
        """NOX's answer, checked: its shape, and that it echoes what we sent."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        link_url: Any = data.get("link_url")
        token: Any = data.get("link_token")
        if not is_text(link_url, 2048) or not same_origin(link_url, self.settings.nox_auth_base):
            raise ValueError("link_url missing or not on NOX's host")
        if not is_text(token, 512):
            raise ValueError("link_token missing")
        echoed = {"supplier_user_id": sent["user_id"], "brand": sent.get("brand")}
        echoed.update({k: sent[k] for k in ("redirect_url", "language")})
        for name, value in echoed.items():
            if data.get(name) != value:
                raise ValueError(f"{name} does not match what we sent")
        created: Any = data.get("created_at")
        expires: Any = data.get("expires_at")
        if not (is_int(created) and is_int(expires) and expires > created):
            raise ValueError("created_at/expires_at missing or inconsistent")
        return CreatedLinkSession(link_url, token, created, expires)


# ---- the data API ----------------------------------------------------------------------------
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
    """NOX's data API: the one source that can confirm which devices NOX linked to a customer."""

    def __init__(
        self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(
            base_url=settings.nox_api_base or "http://nox-data-api.invalid",
            timeout=httpx.Timeout(settings.nox_timeout_seconds),
            follow_redirects=False,
            transport=transport,
            verify=tls_context(),
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
        started = time.perf_counter()
        try:
            response = await self.http.get(
                "/v1/devices",
                params={"user_id": supplier_user_id},
                headers={"x-api-key": self.settings.nox_api_key or ""},  # `configured`: set
            )
        except httpx.HTTPError as exc:
            metrics().nox_call("devices", started, None)
            log.error("NOX data API request failed: %s", type(exc).__name__)
            raise NoxUnavailable(type(exc).__name__) from None
        metrics().nox_call("devices", started, response.status_code)
        if not response.is_success:
            log.error("NOX data API answered HTTP %s", response.status_code)
            raise NoxUnavailable(f"HTTP {response.status_code}")
        try:
            return parse_devices(response.json())
        except ValueError as exc:
            log.error("NOX data API answer has the wrong shape: %s", exc)
            raise NoxUnavailable(f"malformed answer: {exc}") from None
