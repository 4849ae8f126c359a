"""NOX's `?data=` payload, decoded strictly: base64url (padding optional) of a JSON object with
exactly the fields NOX sends, each of the right type and within bounds (NOX-CONTRACT, flow 2).
NOX does not sign it: what it claims is bound and verified in idp/nox/callback.py."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from idp.nox.client import is_int, is_text
from idp.nox.registry import SLUG

MAX_DATA = 8192  # characters of ?data=
MAX_DEVICES = 50
MAX_ID = 128


@dataclass(frozen=True)
class LinkPayload:
    nox_user_id: str
    supplier_user_id: str
    brand: str
    device_ids: list[str]
    connected_at: int


class BadPayload(ValueError):
    """The ?data= payload is not what NOX sends; the message names the problem."""


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
        is_text(value["nox_user_id"], MAX_ID)
        and is_text(value["supplier_user_id"], 255)
        and isinstance(value["brand"], str)
        and SLUG.match(value["brand"])
        and isinstance(device_ids, list)
        and 0 < len(device_ids) <= MAX_DEVICES
        and all(is_text(d, MAX_ID) for d in device_ids)
        and is_int(value["connected_at"])
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
