"""Flow 2 with NOX: creating link sessions (POST /v2/supplier/link-sessions) and reading the
unsigned `?data=` payload NOX sends the browser back with (NOX-CONTRACT, flow 2)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from idp.config import Settings
from idp.vocab import LANGUAGES

log = logging.getLogger("idp.nox")
ASSET_TYPES = ("hp", "pv")
# Makers NOX lists per asset type (the contract's examples; NOX may know more).
BRANDS = {
    "hp": (
        "daikin",
        "nibe",
        "vaillant",
        "viessmann",
        "mitsubishi",
        "saunier-duval",
        "alpha-innotec",
    ),
    "pv": ("sma", "fronius", "solaredge", "enphase", "huawei"),
}
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_DATA = 8192  # characters of ?data=
MAX_DEVICES = 50
MAX_ID = 128


STEERING_AFTER = dt.timedelta(days=30)  # NOX needs about 30 days of data before steering well
LINK_SESSION_SECONDS = 600  # NOX-CONTRACT, flow 2: a link session expires 10 minutes on


def steerable_from(first_linked_at: int) -> dt.date:
    """The day from which NOX can steer a device that first linked at `first_linked_at` (Unix
    seconds): re-links and owner moves do not restart NOX's 30 days."""
    return dt.datetime.fromtimestamp(first_linked_at, dt.UTC).date() + STEERING_AFTER


def session_expiry(nox_expires_at: int, now: int) -> int:
    """The earlier of NOX's `expires_at` and our own creation time + 600 s."""
    return min(nox_expires_at, now + LINK_SESSION_SECONDS)


def brand_fits(asset_type: str, brand: str) -> bool:
    """False when `brand` is a maker NOX lists only for the other asset type."""
    return brand in BRANDS.get(asset_type, ()) or not any(
        brand in makers for kind, makers in BRANDS.items() if kind != asset_type
    )


class NoxUnavailable(Exception):
    """NOX did not give a usable answer: timeout, connection error, non-2xx or wrong shape."""


@dataclass(frozen=True)
class CreatedLinkSession:
    link_url: str
    link_token: str
    created_at: int
    expires_at: int


@dataclass(frozen=True)
class LinkPayload:
    nox_user_id: str
    supplier_user_id: str
    brand: str
    device_ids: list[str]
    connected_at: int


class BadPayload(ValueError):
    """The ?data= payload is not what NOX sends; the message names the problem."""


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit


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
    def __init__(
        self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(
            base_url=settings.nox_auth_base,
            timeout=httpx.Timeout(settings.nox_timeout_seconds),
            follow_redirects=False,
            transport=transport,
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
        try:
            response = await self.http.post(
                "/v2/supplier/link-sessions",
                json=body,
                headers={"x-api-key": self.settings.nox_api_key},
            )
        except httpx.HTTPError as exc:
            log.error("NOX link-session request failed: %s", type(exc).__name__)
            raise NoxUnavailable(type(exc).__name__) from None
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
        if not _text(link_url, 2048) or not same_origin(link_url, self.settings.nox_auth_base):
            raise ValueError("link_url missing or not on NOX's host")
        if not _text(token, 512):
            raise ValueError("link_token missing")
        echoed = {"supplier_user_id": sent["user_id"], "brand": sent.get("brand")}
        echoed.update({k: sent[k] for k in ("redirect_url", "language")})
        for name, value in echoed.items():
            if data.get(name) != value:
                raise ValueError(f"{name} does not match what we sent")
        created: Any = data.get("created_at")
        expires: Any = data.get("expires_at")
        if not (_int(created) and _int(expires) and expires > created):
            raise ValueError("created_at/expires_at missing or inconsistent")
        return CreatedLinkSession(link_url, token, created, expires)


def decode_payload(data: str | None) -> LinkPayload:
    """Decode and strictly validate `?data=`: base64url JSON, padding optional."""
    if not data:
        raise BadPayload("missing")
    if len(data) > MAX_DATA:
        raise BadPayload("oversized")
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        raise BadPayload("bad_base64") from None
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadPayload("bad_json") from None
    if not isinstance(value, dict):
        raise BadPayload("bad_json")
    required = ("nox_user_id", "supplier_user_id", "brand", "device_ids", "connected_at")
    if any(name not in value for name in required):
        raise BadPayload("missing_fields")
    device_ids = value["device_ids"]
    if not (
        _text(value["nox_user_id"], MAX_ID)
        and _text(value["supplier_user_id"], 255)
        and isinstance(value["brand"], str)
        and SLUG.match(value["brand"])
        and isinstance(device_ids, list)
        and 0 < len(device_ids) <= MAX_DEVICES
        and all(_text(d, MAX_ID) for d in device_ids)
        and _int(value["connected_at"])
        and 0 < value["connected_at"] < 2**40
    ):
        raise BadPayload("wrong_types")
    return LinkPayload(
        nox_user_id=value["nox_user_id"],
        supplier_user_id=value["supplier_user_id"],
        brand=value["brand"],
        device_ids=list(dict.fromkeys(device_ids)),
        connected_at=value["connected_at"],
    )


def valid_link_request(asset_type: str, language: str, brand: str | None) -> str | None:
    """Why this link request cannot be sent to NOX, or None."""
    if asset_type not in ASSET_TYPES:
        return "asset_type must be hp or pv"
    if language not in LANGUAGES:
        return "language must be one of nl, en, fr, es"
    if brand and not SLUG.match(brand):
        return "brand must be a lowercase slug"
    return None
